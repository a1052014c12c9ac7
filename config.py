"""Every tunable of maas-ha, with its default, in one place.

Operators set these as host or group data in their inventory (``inventories/group_data/``).
This module also holds the checks that refuse bad inventory data: they run before pyinfra
executes anything, and every refusal names the host and the setting.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
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
    "maas_snap_channel": (None, "snap channel; default `<maas_version>/stable`; its track must be "
                          "`maas_version`"),
    "maas_package_mirror": (None, "deb hosts: where MAAS's packages come from instead of MAAS's PPA "
                            "(`ppa:maas/<maas_version>`), e.g. for air-gapped sites: an apt source "
                            "line (`deb [signed-by=...] URI SUITE [COMPONENT...]`), or the URL of a "
                            "mirror laid out like the PPA (then `deb URL <host's series> main`)"),
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
                        "dynamic_range: {start, end}, subnet} (racks by inventory name; the range "
                        "must lie in `subnet`, a CIDR, or else in the racks' /24 or /64)"),
    "maas_dhcp_rack_interface_timeout": (120, "seconds DHCP HA waits for MAAS to know an interface "
                                         "of each of its racks on the VLAN (MAAS learns a rack's "
                                         "interfaces at its network refresh, tens of seconds after "
                                         "it registers, and refuses a rack it does not know there)"),
    # PostgreSQL
    "maas_db_name": ("maasdb", "MAAS database"),
    "maas_db_user": ("maas", "MAAS database role"),
    "maas_db_password": (None, "password of that role (required, secret)"),
    "maas_db_port": (5432, "PostgreSQL port"),
    "maas_pg_max_connections": (None, "PostgreSQL max_connections; default: sized for the "
                                "regions plus `maas_pg_spare_regions`, each at 8 workers, with MAAS's "
                                "own per-version connection counts; below what the regions need, or "
                                "above 10000, is refused. Never lowered (that needs a restart)"),
    "maas_pg_spare_regions": (2, "regions beyond the inventory's that max_connections has room for, "
                              "so that adding one (or changing `maas_num_workers`) needs no "
                              "PostgreSQL restart"),
    "maas_pg_connection_headroom": (20, "connections kept free for admin tools and backups"),
    "maas_pg_restart_allowed": (False, "allow restarting PostgreSQL (under every region) when the "
                                "regions need more connections than its max_connections; else such a "
                                "run is refused before it starts (give it for one run with `--data`)"),
    "maas_pg_listen_addresses": (None, "PostgreSQL listen_addresses; default: the host's own "
                                 "address (`maas_address`) and `localhost`"),
    "maas_pg_backup_dir": ("/var/backups/maas-ha", "where pg_dump backups go before a PG change; "
                           "created `postgres` 0700 when missing, an existing one is used as it is"),
    "maas_pg_backup_keep": (5, "how many backups (dumps of each database) to keep in "
                            "`maas_pg_backup_dir`; older ones are deleted after a new one"),
    # PostgreSQL cluster: three (or five, ...) maas_postgres hosts run Patroni with etcd
    "maas_pg_cluster_name": ("maas", "Patroni's cluster name (its `scope` in etcd)"),
    "maas_pg_superuser_password": (None, "cluster: password of the `postgres` superuser (Patroni "
                                   "and pg_rewind use it; required with 3+ database hosts, secret)"),
    "maas_pg_replication_password": (None, "cluster: password of the `replicator` role the replicas "
                                     "stream with (required with 3+ database hosts, secret)"),
    "maas_patroni_rest_password": (None, "cluster: password of Patroni's REST API for changes "
                                   "(`patronictl`; reads stay open for health checks; required with "
                                   "3+ database hosts, secret)"),
    "maas_etcd_root_password": (None, "cluster: password of etcd's `root` user (the deploy "
                                "manages etcd's users with it once authentication is on; required "
                                "with 3+ database hosts, secret)"),
    "maas_etcd_patroni_password": (None, "cluster: password of etcd's `patroni` user, the only one "
                                   "that may read and write Patroni's keys (required with 3+ "
                                   "database hosts, secret)"),
    "maas_db_route_port": (5433, "cluster: port of each region's local route to the primary "
                           "(an HAProxy instance health-checking Patroni's `/primary`)"),
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
    # Floating API address: keepalived (VRRP) among two or more HAProxy hosts (deploys/vip.py)
    "maas_api_vip": (None, "virtual IP address the `maas_haproxy` hosts share (two or more; "
                     "keepalived, VRRP between their own addresses): in their subnet, no host's "
                     "address; `maas_url` defaults to it. Unset: each load balancer serves on its own"),
    "maas_vrrp_router_id": (None, "VRRP `virtual_router_id` (1-255) of that address; default: "
                            "derived from `maas_api_vip`; give each cluster on one network its own"),
    # Rack lifecycle: set for one run with `--data NAME=<rack>` (racks by inventory name)
    "maas_remove_rack": (None, "`remove_rack.py`: the rack to delete from MAAS and strip of its software"),
    "maas_move_rack": (None, "`move_rack.py`: the rack to move to the MAAS of group `maas_move_target`"),
    "maas_dhcp_move_to": (None, "`remove_rack.py`/`move_rack.py`: the rack that takes over the "
                          "leaving rack's DHCP HA duties (needed only when it has some)"),
    # Region lifecycle, the same way (regions by inventory name)
    "maas_remove_region": (None, "`remove_region.py`: the region to take out of HAProxy, the racks, "
                           "MAAS and pg_hba (never the last one)"),
    "maas_new_primary_region": (None, "`remove_region.py`: the region that takes over as primary when "
                                "the leaving region is the primary (list it first in `maas_region` after)"),
}

SECRET_SETTINGS = ("maas_db_password", "maas_admin_password", "maas_pg_superuser_password",
                   "maas_pg_replication_password", "maas_patroni_rest_password",
                   "maas_etcd_root_password", "maas_etcd_patroni_password")
CLUSTER_SECRETS = SECRET_SETTINGS[2:]
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
        return str(reachable_address(value))
    except ValueError as error:
        raise SettingError(host.name, setting, str(error)) from None


def host_network(host) -> str:
    """``host``'s address as a one-address network: ``10.0.0.5/32``, ``fd00::5/128`` (pg_hba)."""
    address = ipaddress.ip_address(address_of(host))
    return f"{address}/{address.max_prefixlen}"


def url_host(address: str) -> str:
    """An address as the host part of a URL: IPv6 in brackets (``http://[fd00::5]:5240``)."""
    return f"[{address}]" if ":" in address else address


def hosts_of(inventory, group: str) -> list:
    """Hosts of a group in inventory order (the first region is the primary)."""
    return list(inventory.get_group(group, [])) if group in inventory.groups else []


def pg_listen_addresses(host) -> str:
    """PostgreSQL's ``listen_addresses``: the setting, else the address the regions reach the
    host at and ``localhost`` (not ``*``: no other interface of the host is opened)."""
    return get(host, "maas_pg_listen_addresses") or f"{address_of(host)},localhost"


def region_url(host) -> str:
    return f"http://{url_host(address_of(host))}:{get(host, 'maas_region_port')}/MAAS"


def loopback_api_url(host, tls=None) -> str:
    """The region API of region ``host`` as that host reaches it on its own loopback: where
    the deploy's calls signed with the admin's API key go (run on the host, ``region_api.py``),
    so the key never crosses the network. With MAAS TLS on (``tls``: the ``MaasTls`` fact),
    its HTTPS port: on the plain port the API is only nginx's redirect."""
    if tls:
        return f"https://localhost:{tls['port']}/MAAS/"
    return f"http://localhost:{get(host, 'maas_region_port')}/MAAS/"


def cli_profile_url(host, tls=None) -> str:
    """The URL the ``maas`` CLI profile on region ``host`` logs in on: that region's own API.
    With MAAS TLS on, its HTTPS port at the region's own address (the request stays on the
    host): MAAS's CLI checks the certificate's names, and a certificate for the cluster names
    its regions' addresses rather than ``localhost``."""
    if not tls:
        return loopback_api_url(host)
    return f"https://{url_host(address_of(host))}:{tls['port']}/MAAS/"


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
        return f"http://{url_host(api_vip(inventory) or address_of(lbs[0]))}{suffix}/MAAS"
    return region_url(hosts_of(inventory, GROUP_REGION)[0])


def api_vip(inventory) -> str | None:
    """The load balancers' floating address (``maas_api_vip``, one value for all), or None."""
    lbs = hosts_of(inventory, GROUP_HAPROXY)
    return get(lbs[0], "maas_api_vip") if lbs else None


def vrrp_router_id(inventory) -> int:
    """``maas_vrrp_router_id``, else one derived from the address (1-255): two clusters on one
    network with different addresses then rarely share an id."""
    lbs = hosts_of(inventory, GROUP_HAPROXY)
    explicit = get(lbs[0], "maas_vrrp_router_id")
    return explicit or int(ipaddress.ip_address(api_vip(inventory))) % 255 + 1


def default_num_workers(cpus: int | None) -> int:
    """MAAS's advice: one worker per CPU, at most 8."""
    return max(1, min(int(cpus or 1), MAX_WORKERS))


# --- validation -------------------------------------------------------------------------
#
# Every setting has a check in CHECKS: an allow-list (type, then pattern or range), never a
# list of forbidden characters. A value passes whole (``re.fullmatch``: no trailing newline
# slips through) or the run stops before any host is asked anything, naming the host and the
# setting. The values that pass hold nothing a shell, an HAProxy or PostgreSQL config line or a
# URL would read as syntax; where they land they are quoted all the same.

MAX_PG_CONNECTIONS = 10000  # PostgreSQL takes up to 262143; each connection is a process
MAX_TIMEOUT = 86400  # seconds: a day

# pieces of the patterns below
_DNS_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
_IP_CHARS = re.compile(r"[0-9A-Fa-f:.]{2,45}")  # no zone (%eth0), no spaces, nothing else
_PATH = re.compile(r"(?:/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,254})+/?")
_INVENTORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}")
_URL = re.compile(r"(?:http|https)://(?P<host>\[[0-9A-Fa-f:.]{2,45}\]|" + _DNS_NAME + r")"
                  r"(?::(?P<port>[0-9]{1,5}))?/MAAS/?")


def _integer(low: int, high: int):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
    return check


def _text(pattern: str, what: str):
    """A string matching ``pattern`` whole (``what`` says what that is, for the error)."""
    regex = re.compile(pattern)

    def check(value):
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise ValueError(f"must be {what}, got {value!r}")
    return check


def _boolean(value) -> None:
    """``True``/``False``, or as ``--data`` gives it: ``true``/``false`` (any case)."""
    if not (isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))):
        raise ValueError(f"must be true or false, got {value!r}")


def is_true(value) -> bool:
    """A setting checked by ``_boolean`` as a bool."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _one_of(*choices):
    def check(value):
        if value not in choices:
            raise ValueError(f"must be {' or '.join(f'`{c}`' for c in choices)}, got {value!r}")
    return check


def _secret(value) -> None:
    """Any printable text: quotes, ``$``, spaces, ``#``, a leading ``-`` are valid in a
    password (it is passed hidden and quoted). Control characters and line breaks are not,
    and the value is never repeated in the error."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in value):
        raise ValueError("holds a control character or a line break (value not shown)")


def _ip(value) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``value`` (a string of address characters only) as an IP address, else ValueError."""
    try:
        if not isinstance(value, str) or not _IP_CHARS.fullmatch(value):
            raise ValueError
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def reachable_address(value) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``value`` as an IP address other hosts can reach this host at, else ValueError."""
    address = _ip(value)
    for unusable, kind in (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
                           ("is_multicast", "a multicast address"), ("is_link_local", "a link-local address"),
                           ("is_reserved", "a reserved address")):
        if getattr(address, unusable):
            raise ValueError(f"{value} is {kind}: other hosts cannot reach this host there")
    if address.version == 6 and address.ipv4_mapped:
        raise ValueError(f"{value} is an IPv4-mapped address: write it as {address.ipv4_mapped}")
    return address


def _address(value) -> None:
    reachable_address(value)


def _url(value) -> None:
    """``http(s)://HOST[:PORT]/MAAS``: HOST a DNS name, an IPv4 address or ``[IPv6]``."""
    what = "a URL like http://HOST[:PORT]/MAAS (IPv6 in brackets)"
    match = _URL.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"must be {what}, got {value!r}")
    host, port = match["host"], match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"must be {what}, got {value!r}: port {port} is not a TCP port")
    if host.startswith("[") or re.fullmatch(r"[0-9.]+", host):
        literal = host.strip("[]")
        try:
            address = reachable_address(literal)
        except ValueError as error:
            raise ValueError(f"must be {what}, got {value!r}: {error}") from None
        if host.startswith("[") != (address.version == 6):
            raise ValueError(f"must be {what}, got {value!r}")


def _listen_addresses(value) -> None:
    """PostgreSQL's ``listen_addresses``: ``*``, or addresses and host names, comma-separated
    (a string or a list)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"must be `*` or a comma-separated list of addresses and host names, got {value!r}")
    for item in items:
        word = item.strip(" ") if isinstance(item, str) else item
        if word == "*" or (isinstance(word, str) and re.fullmatch(_DNS_NAME, word)):
            continue
        try:
            _ip(word)
        except ValueError:
            raise ValueError(f"{item!r} is not `*`, an IP address or a host name (in {value!r})") from None


def _absolute_path(value) -> None:
    """An absolute path of plain names: no part starting with a dot (so no ``.``/``..``), no
    empty part, no spaces or quotes."""
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        raise ValueError(f"must be an absolute path of letters, digits and . _ @ + - "
                         f"(no part starting with a dot), got {value!r}")


def _inventory_name(value) -> None:
    if not isinstance(value, str) or not _INVENTORY_NAME.fullmatch(value):
        raise ValueError(f"must be an inventory host name, got {value!r}")


def _vlans(value) -> None:
    """The shape of ``maas_dhcp_vlans``; each entry is checked in ``validate_dhcp_vlans``."""
    if not isinstance(value, list):
        raise ValueError("must be a list of VLAN mappings")


_APT_SOURCE_LINE = re.compile(r"deb(\s+\[[^\]\n]*\])?\s+[a-z+]+:\S+\s+\S+(\s+[\w.-]+)*")
_MIRROR_URL = re.compile(r"(https?|file):[^\s'\"`$;#\\]+")


def _package_mirror(value) -> None:
    """Where MAAS's debs come from instead of its PPA: one apt source line or a mirror's URL."""
    if not isinstance(value, str) or not (_APT_SOURCE_LINE.fullmatch(value) or _MIRROR_URL.fullmatch(value)) \
            or any(c in value for c in "\n\r'\"`$;#\\"):
        raise ValueError("must be an apt source line (`deb [signed-by=/etc/apt/keyrings/maas.gpg] "
                         "http://mirror/maas/3.5/ubuntu jammy main`) or a mirror's URL "
                         f"(`http://mirror/maas/3.5/ubuntu`), got {value!r}")


def validate_snap_track(host) -> None:
    """A snap channel on another track than `maas_version` would mix versions."""
    channel = host.data.get("maas_snap_channel")
    version = str(get(host, "maas_version"))
    if channel is not None and get(host, "maas_flavour") == "snap" and str(channel).split("/")[0] != version:
        raise SettingError(host.name, "maas_snap_channel", f"{channel!r} is not on the track of "
                           f"maas_version {version}: use `{version}/<risk>` (e.g. `{version}/stable`)")


_IDENTIFIER = (r"[A-Za-z_][A-Za-z0-9_]{0,62}", "a plain identifier (letters, digits, _; at most 63)")
_NAME = (r"[A-Za-z_][A-Za-z0-9_.-]{0,62}", "a plain identifier (letters, digits, _ . -; at most 63)")
_DURATION = (r"[0-9]{1,9}(?:us|ms|s|m|h|d)?", "an HAProxy duration like 2s or 500ms")

# setting -> its check; tests/unit/test_setting_allow_lists.py fails for a setting without one
CHECKS = {
    "maas_flavour": _one_of("deb", "snap"),
    "maas_version": _text(r"[0-9]{1,3}\.[0-9]{1,3}", "a MAAS series like `3.5` (a string)"),
    "maas_snap_channel": _text(r"(?:[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}/)?(?:stable|candidate|beta|edge)"
                               r"(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,63})?",
                               "a snap channel like `3.5/stable` ([track/]risk[/branch])"),
    "maas_package_mirror": _package_mirror,
    "maas_deb_version": _text(r"(?:[0-9]{1,5}:)?[0-9][A-Za-z0-9.+~-]{0,127}",
                              "a Debian version like `1:3.5.13-0ubuntu1`"),
    "maas_address": _address,
    "maas_url": _url,
    "maas_region_port": _integer(1, 65535),
    "maas_num_workers": _integer(1, MAX_WORKERS),
    "maas_admin_username": _text(*_NAME),
    "maas_admin_password": _secret,
    "maas_admin_email": _text(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,63}@" + _DNS_NAME,
                              "an email address like admin@example.com"),
    "maas_cli_profile": _text(*_NAME),
    "maas_rack_register_timeout": _integer(1, MAX_TIMEOUT),
    "maas_region_restart_timeout": _integer(1, MAX_TIMEOUT),
    "maas_dhcp_vlans": _vlans,
    "maas_dhcp_rack_interface_timeout": _integer(1, MAX_TIMEOUT),
    "maas_db_name": _text(*_IDENTIFIER),
    "maas_db_user": _text(*_IDENTIFIER),
    "maas_db_password": _secret,
    "maas_db_port": _integer(1, 65535),
    "maas_pg_max_connections": _integer(1, MAX_PG_CONNECTIONS),
    "maas_pg_spare_regions": _integer(0, 50),
    "maas_pg_connection_headroom": _integer(0, 1000),
    "maas_pg_restart_allowed": _boolean,
    "maas_pg_listen_addresses": _listen_addresses,
    "maas_pg_backup_dir": _absolute_path,
    "maas_pg_backup_keep": _integer(1, 1000),
    "maas_pg_cluster_name": _text(r"[a-z][a-z0-9-]{0,30}", "a cluster name: lower-case letters, "
                                  "digits and -, starting with a letter, at most 31"),
    "maas_pg_superuser_password": _secret,
    "maas_pg_replication_password": _secret,
    "maas_patroni_rest_password": _secret,
    "maas_etcd_root_password": _secret,
    "maas_etcd_patroni_password": _secret,
    "maas_db_route_port": _integer(1, 65535),
    "maas_haproxy_frontend_port": _integer(1, 65535),
    "maas_haproxy_maxconn": _integer(1, 1000000),
    "maas_haproxy_check_inter": _text(*_DURATION),
    "maas_haproxy_check_fall": _integer(1, 1000),
    "maas_haproxy_check_rise": _integer(1, 1000),
    "maas_haproxy_timeout_connect": _text(*_DURATION),
    "maas_haproxy_timeout_client": _text(*_DURATION),
    "maas_haproxy_timeout_server": _text(*_DURATION),
    "maas_haproxy_admin_socket": _absolute_path,
    "maas_haproxy_drain_timeout": _integer(0, MAX_TIMEOUT),
    "maas_api_vip": _address,
    "maas_vrrp_router_id": _integer(1, 255),
    # given with --data to move_rack.py / remove_rack.py
    "maas_move_rack": _inventory_name,
    "maas_remove_rack": _inventory_name,
    "maas_dhcp_move_to": _inventory_name,
    "maas_remove_region": _inventory_name,
    "maas_new_primary_region": _inventory_name,
}


def check_setting(host, name: str, value) -> None:
    """Refuse ``value`` for setting ``name`` on ``host`` unless its check accepts it."""
    try:
        CHECKS[name](value)
    except ValueError as error:
        raise SettingError(host.name, name, str(error)) from None


def check_settings(host) -> None:
    """Every setting ``host``'s data sets (unset ones take their defaults, which pass)."""
    for name in CHECKS:
        value = host.data.get(name)
        if value is not None:
            check_setting(host, name, value)


def check_inventory_name(host) -> None:
    """Inventory names become HAProxy server names and appear in shell commands and logs."""
    if not _INVENTORY_NAME.fullmatch(host.name):
        raise SettingError(repr(host.name), "inventory name", "may hold only letters, digits and "
                           ". _ : - (starting with a letter or digit), at most 253 characters")


def validate_host(inventory, host) -> None:
    """Checks that need only this host's data (and, for DHCP, the racks' addresses)."""
    is_region = host in hosts_of(inventory, GROUP_REGION)
    required = {"maas_db_password": is_region or host in hosts_of(inventory, GROUP_POSTGRES),
                "maas_admin_password": is_region}
    for name, needed in required.items():
        value = host.data.get(name)
        if needed and (not isinstance(value, str) or not value.strip()):
            raise SettingError(host.name, name, "is required (a non-empty string)")
    check_settings(host)
    address_of(host)
    validate_snap_track(host)
    validate_dhcp_vlans(inventory, host)


_VLAN_KEYS = {"fabric", "vid", "primary_rack", "secondary_rack", "dynamic_range", "subnet"}
_FABRIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,255}")
_CIDR = re.compile(r"[0-9A-Fa-f:.]{2,45}/[0-9]{1,3}")
# Without a declared subnet, a DHCP range must lie in the network the racks' addresses are
# in; their prefix is not known before connecting, so the usual one is assumed.
_ASSUMED_PREFIX = {4: 24, 6: 64}


def _range_address(host, setting, value):
    try:
        return _ip(value)
    except ValueError as error:
        raise SettingError(host.name, setting, str(error)) from None


def _declared_subnet(host, setting, value):
    try:
        if not isinstance(value, str) or not _CIDR.fullmatch(value):
            raise ValueError
        return ipaddress.ip_network(value)  # strict: 10.0.0.1/24 is refused
    except ValueError:
        raise SettingError(host.name, setting, f"must be a network like 10.0.0.0/24 (no host bits set), "
                           f"got {value!r}") from None


def validate_dhcp_vlans(inventory, host) -> None:
    """Each VLAN: fabric, vid, two racks of the inventory, a dynamic range that lies in the
    VLAN's subnet (declared, else the racks' network) and leases no inventory host's address."""
    vlans = get(host, "maas_dhcp_vlans")  # a list: checked with every setting before
    racks = {rack.name: rack for rack in hosts_of(inventory, GROUP_RACK)}
    for index, vlan in enumerate(vlans):
        name = f"maas_dhcp_vlans[{index}]"
        if not isinstance(vlan, dict):
            raise SettingError(host.name, name, "must be a mapping")
        unknown = set(vlan) - _VLAN_KEYS
        if unknown:
            raise SettingError(host.name, name, f"unknown keys {sorted(map(str, unknown))}")
        fabric = vlan.get("fabric")
        by_id = isinstance(fabric, int) and not isinstance(fabric, bool) and fabric >= 0
        if not by_id and not (isinstance(fabric, str) and _FABRIC.fullmatch(fabric)):
            raise SettingError(host.name, f"{name}.fabric", f"is required: a fabric name or id, got {fabric!r}")
        vid = vlan.get("vid", 0)
        if isinstance(vid, bool) or not isinstance(vid, int) or not 0 <= vid <= 4094:
            raise SettingError(host.name, f"{name}.vid", f"must be 0..4094, got {vid!r}")
        for key in ("primary_rack", "secondary_rack"):
            if not isinstance(vlan.get(key), str) or vlan.get(key) not in racks:
                raise SettingError(host.name, f"{name}.{key}",
                                   f"{vlan.get(key)!r} is not a host of group {GROUP_RACK}")
        if vlan["primary_rack"] == vlan["secondary_rack"]:
            raise SettingError(host.name, f"{name}.secondary_rack",
                               "must be a different rack from primary_rack")
        subnet = _declared_subnet(host, f"{name}.subnet", vlan["subnet"]) if "subnet" in vlan else None
        dynamic = vlan.get("dynamic_range")
        if dynamic is not None:
            _check_dynamic_range(inventory, host, f"{name}.dynamic_range", dynamic, subnet,
                                 racks[vlan["primary_rack"]])


def _check_dynamic_range(inventory, host, setting, dynamic, subnet, primary_rack) -> None:
    if not isinstance(dynamic, dict) or set(dynamic) != {"start", "end"}:
        raise SettingError(host.name, setting, "must be {start, end}")
    start = _range_address(host, f"{setting}.start", dynamic["start"])
    end = _range_address(host, f"{setting}.end", dynamic["end"])
    if start.version != end.version:
        raise SettingError(host.name, setting, f"start {start} and end {end} are not of one address family")
    if start > end:
        raise SettingError(host.name, setting, "start is after end")
    shown = f"{start}-{end}"
    if subnet is None:
        rack_address = ipaddress.ip_address(address_of(primary_rack))
        prefix = _ASSUMED_PREFIX[rack_address.version]
        network = ipaddress.ip_network(f"{rack_address}/{prefix}", strict=False)
        outside = (f"is not in the racks' network {network} (from {primary_rack.name}'s address, "
                   f"/{network.prefixlen} assumed): declare the VLAN's `subnet` (CIDR) when the range is "
                   "in another one")
    else:
        network, outside = subnet, f"is not inside the subnet {subnet}"
    if start.version != network.version or start not in network or end not in network:
        raise SettingError(host.name, setting, f"{shown} {outside}")
    edges = {network.network_address}
    if network.version == 4 and network.prefixlen < 31:
        edges.add(network.broadcast_address)
    if any(start <= edge <= end for edge in edges):
        raise SettingError(host.name, setting, f"{shown} holds the network or broadcast address of {network}")
    for other in dict.fromkeys(h for group in GROUPS for h in hosts_of(inventory, group)):
        address = ipaddress.ip_address(address_of(other))
        if address.version == start.version and start <= address <= end:
            raise SettingError(host.name, setting, f"{shown} holds the address of {other.name} ({address}): "
                               "MAAS would lease it to machines")


def validate_api_vip(inventory, maas_hosts) -> None:
    """One floating address for all load balancers (two or more), of their address family,
    and not the address of any host. That it lies in their subnet is checked against each
    host's interface when the deploy reads it (deploys/vip.py)."""
    lbs = hosts_of(inventory, GROUP_HAPROXY)
    vip = api_vip(inventory)
    for name in ("maas_api_vip", "maas_vrrp_router_id"):
        first = lbs[0].data.get(name) if lbs else None
        source = f"{lbs[0].name}'s {first!r}" if lbs else f"no {GROUP_HAPROXY} host"
        for other in inventory:
            if other.data.get(name) is not None and other.data.get(name) != first:
                raise SettingError(other.name, name, f"{other.data.get(name)!r} differs from {source}: "
                                   f"set it once, as group data of {GROUP_HAPROXY}")
    if vip is None:
        if lbs and lbs[0].data.get("maas_vrrp_router_id") is not None:
            raise SettingError(lbs[0].name, "maas_vrrp_router_id", "is set but maas_api_vip is not")
        return
    if len(lbs) < 2:
        raise SettingError(lbs[0].name, "maas_api_vip", f"needs two or more hosts in {GROUP_HAPROXY} "
                           f"(got {lbs[0].name} alone); one load balancer serves on its own address: "
                           "unset maas_api_vip")
    address = ipaddress.ip_address(vip)
    for other in maas_hosts:
        if ipaddress.ip_address(address_of(other)) == address:
            raise SettingError(lbs[0].name, "maas_api_vip", f"{vip} is the address of {other.name}: "
                               "the floating address must be one no host has")
    for lb in lbs:
        own = ipaddress.ip_address(address_of(lb))
        if own.version != address.version:
            raise SettingError(lb.name, "maas_api_vip", f"{vip} is IPv{address.version} but "
                               f"{lb.name}'s address {own} is IPv{own.version}: VRRP runs between the "
                               "load balancers' own addresses, of the floating address's family")


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


def validate_region_lifecycle(inventory, host) -> None:
    """``remove_region.py``'s settings as the primary region holds them: each names a region of
    this inventory; the last region is never removed, nor the primary without a new one."""
    regions = [region.name for region in hosts_of(inventory, GROUP_REGION)]
    for name in ("maas_remove_region", "maas_new_primary_region"):
        value = host.data.get(name)
        if value is not None and value not in regions:
            raise SettingError(host.name, name, f"{value!r} is not a host of group {GROUP_REGION} "
                               f"(regions: {', '.join(regions)})")
    leaving, new_primary = host.data.get("maas_remove_region"), host.data.get("maas_new_primary_region")
    if leaving is None:
        return
    if regions == [leaving]:
        raise SettingError(host.name, "maas_remove_region", f"{leaving} is the only region: MAAS needs "
                           "at least one (add another region first)")
    if new_primary == leaving:
        raise SettingError(host.name, "maas_new_primary_region", f"must be another region than {leaving}")
    if leaving == regions[0] and new_primary is None:
        raise SettingError(host.name, "maas_new_primary_region", f"{leaving} is the primary region: name "
                           "the region that takes over (--data maas_new_primary_region=<region>)")


def is_cluster(inventory) -> bool:
    """True when the database is a Patroni cluster (three or more maas_postgres hosts)."""
    return len(hosts_of(inventory, GROUP_POSTGRES)) >= 3


def validate_database_hosts(inventory) -> None:
    """One database host (a single server) or an odd number of at least three (a Patroni
    cluster whose etcd keeps a majority when one host is lost); a cluster's secrets are set."""
    postgres = hosts_of(inventory, GROUP_POSTGRES)
    names = [h.name for h in postgres]
    if len(postgres) != 1 and (len(postgres) < 3 or len(postgres) % 2 == 0):
        raise SettingError(None, f"group {GROUP_POSTGRES}",
                           f"must hold one host (a single database server) or an odd number of at "
                           f"least three (a Patroni cluster: etcd needs a majority of its members to "
                           f"agree, so an even count adds no safety), got {len(names)}: {names}")
    if not is_cluster(inventory):
        return
    for host in postgres:
        for name in CLUSTER_SECRETS:
            value = host.data.get(name)
            if not isinstance(value, str) or not value.strip():
                raise SettingError(host.name, name, "is required with a PostgreSQL cluster "
                                   "(a non-empty string)")
        for name in ("maas_pg_cluster_name", "maas_db_port", *CLUSTER_SECRETS):
            if get(host, name) != get(postgres[0], name):
                raise SettingError(host.name, name, f"differs from {postgres[0].name}'s: every "
                                   "member of the cluster needs the same value (set it as group data)")


def validate_inventory(inventory) -> None:
    """Whole-inventory checks: names, groups, one MAAS version, distinct addresses, then each host.

    Runs first in ``deploys.topology`` (every deploy's first step), before any fact is read."""
    for host in inventory:
        check_inventory_name(host)
    for group in (GROUP_POSTGRES, GROUP_REGION):
        if not hosts_of(inventory, group):
            raise SettingError(None, f"group {group}", "needs at least one host")
    validate_database_hosts(inventory)
    maas_hosts = list(dict.fromkeys(h for g in GROUPS for h in hosts_of(inventory, g)))
    for host in maas_hosts:
        validate_host(inventory, host)
    for host in inventory:  # any other host (e.g. a move target) holds no unchecked value either
        if host not in maas_hosts:
            check_settings(host)


    validate_rack_lifecycle(inventory, hosts_of(inventory, GROUP_REGION)[0])
    validate_region_lifecycle(inventory, hosts_of(inventory, GROUP_REGION)[0])
    validate_api_vip(inventory, maas_hosts)
    versions = {}
    for host in hosts_of(inventory, GROUP_REGION) + hosts_of(inventory, GROUP_RACK):
        versions.setdefault(str(get(host, "maas_version")), []).append(host.name)
    if len(versions) > 1:
        first, *others = sorted(versions.items(), key=lambda kv: -len(kv[1]))
        odd = others[0][1][0]
        raise SettingError(odd, "maas_version", f"{others[0][0]} differs from {first[0]} on "
                           f"{', '.join(first[1])}: all regions and racks must run one MAAS version")
    seen: dict[str, str] = {}
    for host in maas_hosts:
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
