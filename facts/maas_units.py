"""Which systemd units run a MAAS region, and where a region logs, per flavour and version.

A MAAS 3.5+ deb region is four units: ``maas-temporal``, ``maas-temporal-worker`` and
``maas-apiserver`` beside ``maas-regiond``, and each reads regiond.conf's database settings
once, at start (``src/maasapiserver/settings.py``, ``src/maasserver/temporal_script.py``), so
after a regiond.conf change all of them restart. The snap runs them under its own service
manager (pebble on 3.5+, supervisord on 3.4), which ``maas init``/``maas config`` and
``snap restart maas`` restart as a whole.
"""

from __future__ import annotations

import shlex

REGIOND = "maas-regiond"
SIDE_UNITS_35 = ("maas-temporal", "maas-temporal-worker", "maas-apiserver")

SNAP_LOG_DIR = "/var/snap/maas/common/log"


def service_log(flavour: str, version, service: str) -> dict:
    """Where a MAAS daemon (``regiond`` or ``rackd``) logs on this flavour and version:
    ``{"journal": [journalctl match arguments], "file": path or None}``.

    Deb: the journal of its unit (3.4's units also tee to ``/var/log/maas``, 3.5+ log only to the
    journal). Snap 3.4: supervisord sends each program's output to
    ``$SNAP_COMMON/log/<program>.log`` and nothing of it to the journal
    (``snap/local/tree/usr/share/maas/supervisord.conf.template``). Snap 3.5+: pebble runs each
    service through ``systemd-cat -t maas-<service>``, journal only, and every service of the
    snap shares the one unit ``snap.maas.pebble``, so only the identifier tells regiond's lines
    from rackd's (``snap/local/tree/usr/share/maas/pebble/layers/*.yaml``)."""
    if service not in ("regiond", "rackd"):
        raise ValueError(f"MAAS service {service!r} is not one of regiond, rackd")
    if flavour == "deb":
        return {"journal": ["-u", f"maas-{service}"], "file": None}
    if flavour != "snap":
        raise ValueError(f"MAAS flavour {flavour!r} is not one of deb, snap")
    if _series(version) >= (3, 5):
        return {"journal": ["-t", f"maas-{service}"], "file": None}
    return {"journal": [], "file": f"{SNAP_LOG_DIR}/{service}.log"}


def log_tail_command(log: dict, lines: int = 5) -> str:
    """Shell printing the last ``lines`` lines a daemon logged (``service_log``)."""
    if log["file"]:
        return f"tail -n {int(lines)} {shlex.quote(log['file'])}"
    match = " ".join(shlex.quote(arg) for arg in log["journal"])
    return f"journalctl {match} -n {int(lines)} --no-pager -o cat"


def _series(version) -> tuple:
    try:
        return tuple(int(part) for part in str(version).split(".")[:2])
    except ValueError:
        raise ValueError(f"MAAS version {version!r} does not look like 3.5") from None


def region_units(flavour: str, version) -> list[str]:
    """The systemd units of a deb region, ``maas-regiond`` last; [] for the snap."""
    if flavour == "snap":
        return []
    if flavour != "deb":
        raise ValueError(f"MAAS flavour {flavour!r} is not one of deb, snap")
    side = list(SIDE_UNITS_35) if _series(version) >= (3, 5) else []
    return side + [REGIOND]


def snap_unit(version) -> str:
    """The snap's service manager: ``snap.maas.pebble`` (3.5+) or ``snap.maas.supervisor`` (3.4)."""
    return "snap.maas.pebble" if _series(version) >= (3, 5) else "snap.maas.supervisor"


def rack_unit(flavour: str, version) -> str:
    """The systemd unit that runs a rack's rackd: ``maas-rackd`` (deb), or the snap's."""
    if flavour == "deb":
        return "maas-rackd"
    if flavour != "snap":
        raise ValueError(f"MAAS flavour {flavour!r} is not one of deb, snap")
    return snap_unit(version)


def region_service_units(flavour: str, version) -> list[str]:
    """Every unit a region needs running: deb, its region units and bind9 (``named``, the
    real unit; ``bind9.service`` is an alias); snap, the snap's service manager."""
    if flavour == "snap":
        return [snap_unit(version)]
    return ["named", *region_units(flavour, version)]
