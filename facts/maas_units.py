"""Which systemd units run a MAAS region, and where a region logs, per flavour and version.

A MAAS 3.5+ deb region is four units: ``maas-temporal``, ``maas-temporal-worker`` and
``maas-apiserver`` beside ``maas-regiond``, and each reads regiond.conf's database settings
once, at start (``src/maasapiserver/settings.py``, ``src/maasserver/temporal_script.py``), so
after a regiond.conf change all of them restart. The snap runs them under its own service
manager (pebble on 3.5+, supervisord on 3.4), which ``maas init``/``maas config`` and
``snap restart maas`` restart as a whole.
"""

from __future__ import annotations

REGIOND = "maas-regiond"
SIDE_UNITS_35 = ("maas-temporal", "maas-temporal-worker", "maas-apiserver")

# Where a restarted region's start-up errors show: journal units, and regiond's log file.
REGION_LOGS = {
    "deb": {"units": (REGIOND,), "file": "/var/log/maas/regiond.log"},
    # pebble (3.5+) or supervisord (3.4) runs regiond inside the snap's one systemd unit
    "snap": {"units": ("snap.maas.pebble", "snap.maas.supervisor"),
             "file": "/var/snap/maas/common/log/regiond.log"},
}


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
