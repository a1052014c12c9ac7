"""Small helpers deploys share to pick arguments for pyinfra's package operations."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages


def packages_present(names) -> bool:
    """True when every deb package is installed: then there is no need to refresh apt lists,
    which would otherwise show as a change on every run."""
    installed = host.get_fact(DebPackages) or {}
    return all(name.split("=")[0] in installed for name in names)


def deb_spec(name: str, version: str | None) -> str:
    """`name` or `name=version` when the inventory pins a version."""
    return f"{name}={version}" if version else name
