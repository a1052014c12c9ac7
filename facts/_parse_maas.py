"""Reading what ``dpkg-query``, ``snap list`` / ``snap info`` and MAAS's ``snap_mode`` file
say about a MAAS install: plain text in, plain data out, no host.

``facts/maas.py``'s ``MaasInstall`` runs the commands (one section each, after a ``##name``
line) and hands their output here.
"""

from __future__ import annotations

import re

DEB_REGION_PACKAGE = "maas-region-api"
DEB_RACK_PACKAGE = "maas-rack-controller"
SNAP_MODES = ("region", "rack", "region+rack")
_CHANNEL_RE = re.compile(r"^[\w.-]+/[\w.-]+(/[\w.-]+)?$")


def short_version(package_version: str | None) -> str | None:
    """``1:3.5.13-0ubuntu1`` / ``3.5.13-16524-g.5f3c2e1a7`` -> ``3.5.13``."""
    if not package_version:
        return None
    match = re.match(r"^(?:\d+:)?(\d+)\.(\d+)(?:\.(\d+))?", package_version.strip())
    if not match:
        return None
    major, minor, patch = match.groups()
    return f"{major}.{minor}.{patch or 0}"


def sections(output) -> dict[str, list[str]]:
    """{section name: its non-empty lines, stripped} of output split by ``##name`` lines."""
    found: dict[str, list[str]] = {}
    section = None
    for raw_line in output:
        line = raw_line.strip()
        if line.startswith("##"):
            section = line[2:]
            found.setdefault(section, [])
        elif line and section is not None:
            found[section].append(line)
    return found


def installed_debs(lines) -> dict[str, str]:
    """{package: version} of the installed ones in ``<package> <status> <version>`` lines."""
    packages = {}
    for line in lines:
        bits = line.split()
        if len(bits) >= 5 and bits[1:4] == ["install", "ok", "installed"]:
            packages[bits[0]] = bits[4]
    return packages


def maas_snap(lines) -> tuple[str | None, str | None]:
    """(version, channel tracked) of the ``maas`` snap from ``snap list maas`` (and, for a
    channel with a branch, ``snap info``'s ``tracking:`` line, which wins)."""
    version = tracking = listed = None
    for line in lines:
        if line.startswith("tracking:"):
            tracking = line.split(":", 1)[1].strip()
            continue
        bits = line.split()
        if bits[0] == "maas" and len(bits) >= 4:
            version = bits[1]
            listed = listed or bits[3]
    return version, listed if tracking is None else tracking


def install_summary(debs: dict, snap_version, snap_tracking, snap_mode) -> dict:
    """``MaasInstall``'s value from what the commands found (see its docstring)."""
    flavours = (["deb"] if debs else []) + (["snap"] if snap_version else [])
    flavour = flavours[0] if flavours else None
    package_version, mode, channel = None, "none", None
    if flavour == "deb":
        package_version = debs.get(DEB_REGION_PACKAGE) or debs.get(DEB_RACK_PACKAGE)
        region, rack = DEB_REGION_PACKAGE in debs, DEB_RACK_PACKAGE in debs
        mode = "region+rack" if region and rack else "region" if region else "rack"
    elif flavour == "snap":
        package_version = snap_version
        mode = snap_mode if snap_mode in SNAP_MODES else "none"
        if snap_tracking and _CHANNEL_RE.match(snap_tracking):
            channel = snap_tracking
    version = short_version(package_version)
    return {
        "flavour": flavour,
        "flavours": flavours,
        "version": version,
        "series": version.rsplit(".", 1)[0] if version else None,
        "package_version": package_version,
        "mode": mode,
        "snap_channel": channel,
    }


def parse_install(output) -> dict:
    """``MaasInstall``'s value from its command's output (sections dpkg, snap, mode)."""
    found = sections(output)
    snap_version, snap_tracking = maas_snap(found.get("snap", []))
    modes = found.get("mode", [])
    return install_summary(installed_debs(found.get("dpkg", [])), snap_version, snap_tracking,
                           modes[-1] if modes else None)
