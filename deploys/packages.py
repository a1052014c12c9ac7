"""Small helpers deploys share to pick arguments for pyinfra's package operations."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages

import config


def packages_present(names, installed=None) -> bool:
    """True when every deb package is installed: then there is no need to refresh apt lists,
    which would otherwise show as a change on every run. `installed` is the host's
    DebPackages when the run already read it (the topology's round), else it is read now."""
    if installed is None:
        installed = host.get_fact(DebPackages) or {}
    return all(name.split("=")[0] in installed for name in names)


def deb_spec(name: str, version: str | None) -> str:
    """`name` or `name=version` when the inventory pins a version."""
    return f"{name}={version}" if version else name


def maas_software_present(topology, host, flavour: str, modes) -> bool:
    """True when the host's MaasInstall (gathered once by the topology) shows exactly what the
    install step would ensure: the snap on the wanted channel, or the unpinned deb package
    (its run mode in `modes`). Then the step is left out: pyinfra's operation would only ask
    dpkg or snapd again. Anything else (absent, other channel, a pinned version) goes through
    pyinfra's operation."""
    install = topology.installs.get(host.name) or {}
    if install.get("flavours") != [flavour]:
        return False
    if flavour == "snap":
        return install.get("snap_channel") == config.snap_channel(host)
    return install.get("mode") in modes and not config.get(host, "maas_deb_version")
