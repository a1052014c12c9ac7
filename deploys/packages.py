"""Where MAAS's packages come from, and small helpers deploys share to pick arguments for
pyinfra's package operations."""

import shlex

from pyinfra import host
from pyinfra.facts.apt import AptSources
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, snap

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


def wanted_maas_software(host) -> dict:
    """What the MAAS install step ensures on `host`, the one answer its operation and its skip
    rule both use: the flavour, and the snap's channel or the deb's pinned version (None:
    whatever apt installs)."""
    flavour = config.get(host, "maas_flavour")
    if flavour == "snap":
        return {"flavour": "snap", "channel": config.snap_channel(host)}
    return {"flavour": flavour, "version": config.get(host, "maas_deb_version")}


def install_shows(install, wanted: dict, modes) -> bool:
    """True when a MaasInstall value shows exactly what `wanted` (``wanted_maas_software``)
    asks for: the snap on the wanted channel, or the unpinned deb package (its run mode in
    `modes`, which says the package is the role's). A pinned version is never taken as shown:
    MaasInstall reads the installed version, not what apt would pick."""
    install = install or {}
    if install.get("flavours") != [wanted["flavour"]]:
        return False
    if wanted["flavour"] == "snap":
        return install.get("snap_channel") == wanted["channel"]
    return install.get("mode") in modes and not wanted["version"]


def maas_software_present(topology, host, flavour: str, modes) -> bool:
    """True when the host's MaasInstall (gathered once by the topology) shows what the
    install step would ensure (``install_shows``). Then the step is left out: pyinfra's
    operation would only ask dpkg or snapd again. Anything else (absent, other channel, a
    pinned version) goes through pyinfra's operation."""
    wanted = wanted_maas_software(host)
    return flavour == wanted["flavour"] and install_shows(topology.installs.get(host.name), wanted, modes)


def maas_install_step(wanted: dict, deb_packages):
    """pyinfra's operation that installs `wanted` (``wanted_maas_software``) and its
    arguments: the deb package(s) `deb_packages` (a name or several; pinned when asked), or
    the snap on its channel."""
    if wanted["flavour"] == "snap":
        # pyinfra puts the channel into `snap install` unquoted (a valid channel quotes to itself)
        return snap.package, {"name": "Install the maas snap", "packages": ["maas"],
                              "channel": shlex.quote(wanted["channel"])}
    names = [deb_packages] if isinstance(deb_packages, str) else list(deb_packages)
    return apt.packages, {"name": f"Install {' and '.join(names)}",
                          "packages": [deb_spec(name, wanted["version"]) for name in names]}


def install_maas_software(topology, deb_package, modes) -> None:
    """Install MAAS as ``wanted_maas_software`` says, left out when the topology's
    MaasInstall already shows it. Installing starts nothing."""
    wanted = wanted_maas_software(host)
    if maas_software_present(topology, host, wanted["flavour"], modes):
        return
    operation, arguments = maas_install_step(wanted, deb_package)
    if operation is snap.package:
        snap.package(**arguments)
        return
    maas_package_source(topology)
    apt.packages(**arguments, update=not packages_present(arguments["packages"]))


# The Ubuntu series MAAS's deb packages are built for, per MAAS version (the distribution of
# each release in debian/changelog of canonical/maas: 3.4.x and 3.5.x jammy, 3.6.x noble).
# MAAS's PPA (ppa:maas/<version>) publishes for these series only.
DEB_SERIES = {"3.4": ("jammy",), "3.5": ("jammy",), "3.6": ("noble",)}


def series_problem(version: str, release: dict) -> str | None:
    """Why MAAS `version`'s debs cannot go on a host whose OsRelease is `release`; None when
    they can."""
    builds = DEB_SERIES.get(version)
    known = "; ".join(f"{v}: {', '.join(s)}" for v, s in DEB_SERIES.items())
    if builds is None:
        return f"MAAS {version} has no deb build this deploy knows (known: {known})"
    if release.get("id") == "ubuntu" and release.get("codename") in builds:
        return None
    runs = " ".join(part for part in (release.get("id"), release.get("codename")) if part)
    return (f"MAAS {version} deb packages are built for Ubuntu {' or '.join(builds)} only, but this host "
            f"runs {runs or 'an unknown system (no os-release)'}; choose the maas_version built for "
            f"its series ({known}) or the snap flavour")


def mirror_source_line(mirror: str, series: str) -> str:
    """The apt source line for a `maas_package_mirror` value: a line is used as it is; a URL
    is a mirror laid out like MAAS's PPA (``<URL> <series> main``)."""
    if mirror.startswith("deb"):
        return mirror
    return f"deb {mirror} {series} main"


def ppa_present(sources, version: str) -> bool:
    """True when the host's apt sources (pyinfra's AptSources) already hold ppa:maas/<version>
    (apt-add-repository writes either Launchpad host, as .list or .sources)."""
    return any("launchpad" in (repo.get("url") or "") and f"/maas/{version}/ubuntu" in repo.get("url")
               for repo in sources or [])


def maas_package_source(topology) -> None:
    """Make MAAS's deb packages installable on this host: the `maas_package_mirror` source
    when set (air-gapped sites), else MAAS's PPA for `maas_version`, as Canonical's install
    guide does. Call only when a MAAS package is about to be installed."""
    mirror = config.get(host, "maas_package_mirror")
    if mirror:
        series = (topology.os_releases.get(host.name) or {}).get("codename")
        apt.repo(name="MAAS package source (maas_package_mirror)",
                 src=mirror_source_line(mirror, series), filename="maas")
        return
    version = str(config.get(host, "maas_version"))
    if ppa_present(host.get_fact(AptSources), version):
        return  # pyinfra's apt.ppa would run apt-add-repository again
    if not packages_present(["software-properties-common"]):
        apt.packages(name="Install apt-add-repository", packages=["software-properties-common"],
                     update=True)
    apt.ppa(name=f"Add MAAS's PPA ppa:maas/{version}", src=f"ppa:maas/{version}")
