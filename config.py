"""Every tunable of maas-ha, with its default, in one place.

Operators set these as host or group data in their inventory (``inventories/group_data/``).
This module also holds the checks that refuse bad inventory data: they run before pyinfra
executes anything, and every refusal names the host and the setting.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api.exceptions import PyinfraError

GROUP_POSTGRES = "maas_postgres"
GROUP_REGION = "maas_region"
GROUP_RACK = "maas_rack"
GROUP_HAPROXY = "maas_haproxy"
GROUPS = (GROUP_POSTGRES, GROUP_REGION, GROUP_RACK, GROUP_HAPROXY)

# name: (default, what it is). Keep this table the single source of defaults: the README's
# settings table is generated from it (`python config.py` prints it).
SETTINGS: dict[str, tuple[Any, str]] = {
    # MAAS itself
    "maas_flavour": ("deb", "how MAAS is installed on this host: `deb` or `snap`"),
    "maas_version": ("3.5", "MAAS series (x.y) for every host; mixing versions is refused"),
    "maas_snap_channel": (None, "snap channel; default `<maas_version>/stable`"),
    "maas_deb_version": (None, "exact deb version to pin (e.g. `1:3.5.13-0ubuntu1`); default: "
                         "the repository's candidate, which must be of `maas_version`"),
    "maas_address": (None, "IP address the other hosts use for this host; default: "
                     "`ssh_hostname`, which must then be an IP address"),
    "maas_url": (None, "URL machines and racks use for the region API; default: "
                 "`http://<first maas_haproxy host>:<frontend port>/MAAS`, or the primary region"),
    "maas_region_port": (5240, "region API port (MAAS fixed)"),
    "maas_num_workers": (None, "regiond worker processes; default: CPUs of the region, at most 8"),
    "maas_admin_username": ("admin", "MAAS admin the deploy creates and uses for the API"),
    "maas_admin_password": (None, "password of that admin (required, secret)"),
    "maas_admin_email": ("admin@localhost", "email of that admin"),
    "maas_cli_profile": ("maas-ha", "name of the `maas` CLI profile logged in on each region"),
    "maas_rack_register_timeout": (90, "seconds to wait for a rack to register before failing"),
    "maas_region_restart_timeout": (120, "seconds a restarted region may take to answer its API "
                                    "and be UP in HAProxy before the rolling restart stops"),
    "maas_dhcp_vlans": ([], "DHCP HA: list of {fabric, vid, primary_rack, secondary_rack, "
                        "dynamic_range: {start, end}} (racks by inventory name)"),
    # PostgreSQL
    "maas_db_name": ("maasdb", "MAAS database"),
    "maas_db_user": ("maas", "MAAS database role"),
    "maas_db_password": (None, "password of that role (required, secret)"),
    "maas_db_port": (5432, "PostgreSQL port"),
    "maas_pg_max_connections": (None, "PostgreSQL max_connections; default: the connection "
                                "budget (see below); a value below the budget is refused"),
    "maas_pg_connections_per_worker": (11, "DB connections one regiond worker may hold"),
    "maas_pg_min_connections_per_region": (40, "DB connections every region may need under load"),
    "maas_pg_connection_headroom": (20, "connections kept free for admin tools and backups"),
    "maas_pg_listen_addresses": ("*", "PostgreSQL listen_addresses"),
    "maas_pg_backup_dir": ("/var/backups/maas-ha", "where pg_dump backups go before a PG change"),
    # HAProxy
    "maas_haproxy_frontend_port": (80, "port HAProxy serves the region API on"),
    "maas_haproxy_maxconn": (2000, "HAProxy global maxconn"),
    "maas_haproxy_check_inter": ("2s", "interval of the region health check"),
    "maas_haproxy_check_fall": (3, "failed checks before a region is marked down"),
    "maas_haproxy_check_rise": (2, "passed checks before a region is marked up"),
    "maas_haproxy_timeout_connect": ("5s", "HAProxy connect timeout"),
    "maas_haproxy_timeout_client": ("90s", "HAProxy client timeout"),
    "maas_haproxy_timeout_server": ("90s", "HAProxy server timeout"),
    "maas_haproxy_admin_socket": ("/run/haproxy/admin.sock", "HAProxy runtime API socket (root only)"),
    "maas_haproxy_drain_timeout": (30, "seconds a drained region's open sessions may take to "
                                   "finish before it is restarted anyway"),
    # Rack lifecycle: set for one run with `--data NAME=<rack>` (racks by inventory name)
    "maas_remove_rack": (None, "`remove_rack.py`: the rack to delete from MAAS and strip of its software"),
    "maas_move_rack": (None, "`move_rack.py`: the rack to move to the MAAS of group `maas_move_target`"),
    "maas_dhcp_move_to": (None, "`remove_rack.py`/`move_rack.py`: the rack that takes over the "
                          "leaving rack's DHCP HA duties (needed only when it has some)"),
}

SECRET_SETTINGS = ("maas_db_password", "maas_admin_password")
MAX_WORKERS = 8


class SettingError(PyinfraError):
    """Bad inventory data, reported before any host is changed."""

    def __init__(self, host_name: str | None, setting: str, problem: str):
        where = f"host {host_name}" if host_name else "inventory"
        super().__init__(f"{where}: setting `{setting}`: {problem}")
        self.host_name = host_name
        self.setting = setting


def get(host, name: str):
    """A setting for one host: its host/group data, else the default from SETTINGS."""
    default = SETTINGS[name][0]
    value = host.data.get(name)
    if value is None:
        return list(default) if isinstance(default, list) else default
    return value


def address_of(host) -> str:
    """The IP address other hosts use for ``host`` (pg_hba, HAProxy, rack URLs)."""
    value = host.data.get("maas_address") or host.data.get("ssh_hostname") or host.name
    setting = "maas_address" if host.data.get("maas_address") else "maas_address (or ssh_hostname)"
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise SettingError(host.name, setting, f"{value!r} is not an IP address") from None


def hosts_of(inventory, group: str) -> list:
    """Hosts of a group in inventory order (the first region is the primary)."""
    return list(inventory.get_group(group, [])) if group in inventory.groups else []


def region_url(host) -> str:
    return f"http://{address_of(host)}:{get(host, 'maas_region_port')}/MAAS"


def snap_channel(host) -> str:
    return get(host, "maas_snap_channel") or f"{get(host, 'maas_version')}/stable"


def maas_url(inventory, host) -> str:
    """The URL the regions advertise: the load balancer when there is one."""
    explicit = host.data.get("maas_url")
    if explicit:
        return explicit
    lbs = hosts_of(inventory, GROUP_HAPROXY)
    if lbs:
        port = get(lbs[0], "maas_haproxy_frontend_port")
        suffix = "" if int(port) == 80 else f":{port}"
        return f"http://{address_of(lbs[0])}{suffix}/MAAS"
    return region_url(hosts_of(inventory, GROUP_REGION)[0])


def default_num_workers(cpus: int | None) -> int:
    """MAAS's advice: one worker per CPU, at most 8."""
    return max(1, min(int(cpus or 1), MAX_WORKERS))


@dataclass
class ConnectionBudget:
    """How many PostgreSQL connections the regions may open, and what max_connections holds."""

    per_region: dict[str, int] = field(default_factory=dict)
    headroom: int = 0

    @property
    def needed(self) -> int:
        return sum(self.per_region.values()) + self.headroom


def connection_budget(workers_by_region: dict[str, int], per_worker: int,
                      min_per_region: int, headroom: int) -> ConnectionBudget:
    """regions x workers x connections-per-worker, at least `min_per_region` each, plus headroom."""
    return ConnectionBudget(
        per_region={name: max(workers * per_worker, min_per_region)
                    for name, workers in workers_by_region.items()},
        headroom=headroom,
    )


# --- validation -------------------------------------------------------------------------

_SERIES = re.compile(r"^\d+\.\d+$")


def _int_in(host, name, low, high=None):
    value = host.data.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(host.name, name, f"must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingError(host.name, name, f"must be {bound}, got {value}")


def _ip(host, name, value):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise SettingError(host.name, name, f"{value!r} is not an IP address") from None


def validate_host(inventory, host) -> None:
    """Checks that need only this host's data."""
    flavour = get(host, "maas_flavour")
    if flavour not in ("deb", "snap"):
        raise SettingError(host.name, "maas_flavour", f"must be `deb` or `snap`, got {flavour!r}")
    series = str(get(host, "maas_version"))
    if not _SERIES.match(series):
        raise SettingError(host.name, "maas_version", f"must look like `3.5`, got {series!r}")
    address_of(host)
    _int_in(host, "maas_num_workers", 1, MAX_WORKERS)
    _int_in(host, "maas_db_port", 1, 65535)
    _int_in(host, "maas_haproxy_frontend_port", 1, 65535)
    _int_in(host, "maas_pg_max_connections", 1)
    _int_in(host, "maas_rack_register_timeout", 1)
    _int_in(host, "maas_region_restart_timeout", 1)
    _int_in(host, "maas_haproxy_drain_timeout", 0)
    is_region = host in hosts_of(inventory, GROUP_REGION)
    required = {"maas_db_password": is_region or host in hosts_of(inventory, GROUP_POSTGRES),
                "maas_admin_password": is_region}
    for name, needed in required.items():
        value = host.data.get(name)
        if needed and (not isinstance(value, str) or not value.strip()):
            raise SettingError(host.name, name, "is required (a non-empty string)")
    if is_region and host in hosts_of(inventory, GROUP_RACK) and flavour == "snap":
        raise SettingError(host.name, "maas_flavour", "a snap host in both maas_region and "
                           "maas_rack (region+rack) is not supported; use deb or separate hosts")
    for name in ("maas_db_name", "maas_db_user", "maas_admin_username", "maas_cli_profile"):
        value = get(host, name)
        if not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", value):
            raise SettingError(host.name, name, f"must be a plain identifier, got {value!r}")
    if host in hosts_of(inventory, GROUP_REGION) or host in hosts_of(inventory, GROUP_RACK):
        url = host.data.get("maas_url")
        if url is not None and not re.match(r"^https?://[^/\s]+/MAAS/?$", str(url)):
            raise SettingError(host.name, "maas_url", f"must look like http://HOST[:PORT]/MAAS, got {url!r}")
    if host in hosts_of(inventory, GROUP_HAPROXY):
        validate_haproxy(host)
    validate_dhcp_vlans(inventory, host)


_DURATION = re.compile(r"^\d+(us|ms|s|m|h|d)?$")


def validate_haproxy(host) -> None:
    """HAProxy tunables, checked here so a bad one never reaches a host's config."""
    for name in ("maas_haproxy_maxconn", "maas_haproxy_check_fall", "maas_haproxy_check_rise"):
        _int_in(host, name, 1)
    for name in ("maas_haproxy_check_inter", "maas_haproxy_timeout_connect",
                 "maas_haproxy_timeout_client", "maas_haproxy_timeout_server"):
        value = get(host, name)
        if not isinstance(value, str) or not _DURATION.match(value):
            raise SettingError(host.name, name, f"must be an HAProxy duration like 2s or 500ms, got {value!r}")
    socket = get(host, "maas_haproxy_admin_socket")
    if not isinstance(socket, str) or not socket.startswith("/"):
        raise SettingError(host.name, "maas_haproxy_admin_socket", f"must be an absolute path, got {socket!r}")


def validate_dhcp_vlans(inventory, host) -> None:
    vlans = get(host, "maas_dhcp_vlans")
    if not isinstance(vlans, list):
        raise SettingError(host.name, "maas_dhcp_vlans", "must be a list of VLAN mappings")
    rack_names = {rack.name for rack in hosts_of(inventory, GROUP_RACK)}
    for index, vlan in enumerate(vlans):
        name = f"maas_dhcp_vlans[{index}]"
        if not isinstance(vlan, dict):
            raise SettingError(host.name, name, "must be a mapping")
        unknown = set(vlan) - {"fabric", "vid", "primary_rack", "secondary_rack", "dynamic_range"}
        if unknown:
            raise SettingError(host.name, name, f"unknown keys {sorted(unknown)}")
        if not isinstance(vlan.get("fabric"), (str, int)) or isinstance(vlan.get("fabric"), bool):
            raise SettingError(host.name, f"{name}.fabric", "is required (fabric name or id)")
        vid = vlan.get("vid", 0)
        if isinstance(vid, bool) or not isinstance(vid, int) or not 0 <= vid <= 4094:
            raise SettingError(host.name, f"{name}.vid", f"must be 0..4094, got {vid!r}")
        for key in ("primary_rack", "secondary_rack"):
            if vlan.get(key) not in rack_names:
                raise SettingError(host.name, f"{name}.{key}",
                                   f"{vlan.get(key)!r} is not a host of group {GROUP_RACK}")
        if vlan["primary_rack"] == vlan["secondary_rack"]:
            raise SettingError(host.name, f"{name}.secondary_rack",
                               "must be a different rack from primary_rack")
        dynamic = vlan.get("dynamic_range")
        if dynamic is not None:
            if not isinstance(dynamic, dict) or set(dynamic) != {"start", "end"}:
                raise SettingError(host.name, f"{name}.dynamic_range", "must be {start, end}")
            start = _ip(host, f"{name}.dynamic_range.start", dynamic["start"])
            end = _ip(host, f"{name}.dynamic_range.end", dynamic["end"])
            if start > end:
                raise SettingError(host.name, f"{name}.dynamic_range", "start is after end")


LIFECYCLE_SETTINGS = ("maas_remove_rack", "maas_move_rack", "maas_dhcp_move_to")


def validate_rack_lifecycle(inventory, host) -> None:
    """The lifecycle settings as the primary region (where the lifecycle deploys read them)
    holds them: each names a rack of this inventory, and DHCP never moves to the leaving rack."""
    rack_names = [rack.name for rack in hosts_of(inventory, GROUP_RACK)]
    for name in LIFECYCLE_SETTINGS:
        value = host.data.get(name)
        if value is not None and value not in rack_names:
            raise SettingError(host.name, name, f"{value!r} is not a host of group {GROUP_RACK} "
                               f"(racks: {', '.join(rack_names) or 'none'})")
    takeover = host.data.get("maas_dhcp_move_to")
    for name in ("maas_remove_rack", "maas_move_rack"):
        if takeover is not None and host.data.get(name) == takeover:
            raise SettingError(host.name, "maas_dhcp_move_to", f"must be another rack than {name} ({takeover})")


def validate_inventory(inventory) -> None:
    """Whole-inventory checks: groups, one MAAS version, distinct addresses, then each host."""
    for group in (GROUP_POSTGRES, GROUP_REGION):
        if not hosts_of(inventory, group):
            raise SettingError(None, f"group {group}", "needs at least one host")
    if len(hosts_of(inventory, GROUP_POSTGRES)) != 1:
        names = [h.name for h in hosts_of(inventory, GROUP_POSTGRES)]
        raise SettingError(None, f"group {GROUP_POSTGRES}",
                           f"must hold exactly one host (the shared database), got {names}")
    maas_hosts = [h for g in GROUPS for h in hosts_of(inventory, g)]
    for host in dict.fromkeys(maas_hosts):
        validate_host(inventory, host)
    validate_rack_lifecycle(inventory, hosts_of(inventory, GROUP_REGION)[0])
    versions = {}
    for host in hosts_of(inventory, GROUP_REGION) + hosts_of(inventory, GROUP_RACK):
        versions.setdefault(str(get(host, "maas_version")), []).append(host.name)
    if len(versions) > 1:
        first, *others = sorted(versions.items(), key=lambda kv: -len(kv[1]))
        odd = others[0][1][0]
        raise SettingError(odd, "maas_version", f"{others[0][0]} differs from {first[0]} on "
                           f"{', '.join(first[1])}: all regions and racks must run one MAAS version")
    seen: dict[str, str] = {}
    for host in dict.fromkeys(maas_hosts):
        address = address_of(host)
        if address in seen and seen[address] != host.name:
            raise SettingError(host.name, "maas_address", f"{address} is also used by {seen[address]}")
        seen[address] = host.name
    passwords = {get(h, "maas_db_password") for h in maas_hosts if h in hosts_of(inventory, GROUP_REGION)
                 or h in hosts_of(inventory, GROUP_POSTGRES)}
    if len(passwords) > 1:
        raise SettingError(None, "maas_db_password",
                           "differs between hosts of maas_postgres and maas_region: set it once, as group data")


if __name__ == "__main__":  # pragma: no cover - documentation helper
    print("| setting | default | what it is |\n|---|---|---|")
    for key, (default, doc) in SETTINGS.items():
        shown = "(required)" if key in SECRET_SETTINGS else f"`{default!r}`"
        print(f"| `{key}` | {shown} | {doc} |")
