"""keepalived's config for the MAAS API's floating address, and the health check it runs:
pure text, no host.

The load balancers (``maas_haproxy``) run one VRRP instance together. Every one starts as
BACKUP with ``nopreempt``: the first to win the election keeps the address until it fails,
so a load balancer that comes back does not take the address away again (a second
interruption for nothing). VRRP goes unicast between the load balancers' own addresses (no
multicast, no VRRP password, which VRRP sends in clear text anyway). A host whose HAProxy
stops serving goes to FAULT and gives the address up at once; a host that dies stops
advertising and the next one takes over after three missed adverts.

Every value is checked before it goes into a file (a bad one raises ``ValueError`` naming
it), and the same input gives the same bytes, so ``operations/keepalived.config`` can compare
checksums with the live file.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

CONFIG_PATH = "/etc/keepalived/keepalived.conf"
# keepalived refuses (enable_script_security) a script in a directory anyone but root may
# write; /etc/keepalived is root's on every Debian and Ubuntu release, /usr/local/lib is not
CHECK_SCRIPT_PATH = "/etc/keepalived/maas-ha-haproxy-serves"
INSTANCE = "maas_api"
# written into the config so that the ``ApiVip`` fact knows which address to look for; it
# also marks the config as maas-ha's own (the ``KeepalivedFiles`` fact)
VIP_MARKER = "# maas_api_vip "
# the check script's own mark, for the same fact (the line every release has written)
CHECK_MARKER = "# Managed by maas-ha: keepalived's check"
ADVERT_SECONDS = 1
TOP_PRIORITY = 250  # the first load balancer; each next one a step lower

_INTERFACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}")
_ROUTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}")
_SOCKET_RE = re.compile(r"(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)+")


def priority(index: int) -> int:
    """VRRP priority of the load balancer at ``index`` in the inventory's group (1..254)."""
    return max(1, TOP_PRIORITY - index)


def vrrp_link(devices: dict, address: str) -> tuple[str, int] | None:
    """(interface, prefix length) carrying ``address``, from pyinfra's ``NetworkDevices``
    fact; None when no interface has it."""
    wanted = ipaddress.ip_address(address)
    family = "ipv4" if wanted.version == 4 else "ipv6"
    for name, device in sorted((devices or {}).items()):
        block = device.get(family) or {}
        for entry in [block, *block.get("additional_ips", [])]:
            try:
                if entry.get("address") and ipaddress.ip_address(entry["address"]) == wanted:
                    return name, int(entry.get("mask_bits") or wanted.max_prefixlen)
            except ValueError:
                continue
    return None


def _ip(name: str, value) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise ValueError(f"keepalived setting {name} must be an IP address, got {value!r}") from None


def render_config(*, host_name: str, interface: str, vip: str, prefixlen: int, router_id: int,
                  priority: int, own_address: str, peers: list[str],
                  check_script: str = CHECK_SCRIPT_PATH) -> str:
    """``keepalived.conf``: one VRRP instance holding ``vip`` on ``interface``, unicast from
    ``own_address`` to ``peers``, tracking the HAProxy check. Raises ``ValueError`` naming
    the bad value."""
    if not isinstance(host_name, str) or not _ROUTER_NAME_RE.fullmatch(host_name):
        raise ValueError(f"keepalived router name {host_name!r} is not a plain host name")
    if not isinstance(interface, str) or not _INTERFACE_RE.fullmatch(interface):
        raise ValueError(f"keepalived interface {interface!r} is not an interface name")
    address, own = _ip("vip", vip), _ip("own_address", own_address)
    others = [_ip("peers", peer) for peer in peers]
    if not others:
        raise ValueError("keepalived needs at least one peer (two or more load balancers)")
    if any(one.version != address.version for one in [own, *others]):
        raise ValueError(f"keepalived: {vip}, {own_address} and the peers {peers} are not of one family")
    if own in others or address in [own, *others]:
        raise ValueError(f"keepalived: {vip}, {own_address} and the peers {peers} must all differ")
    for name, value, low, high in (("router_id", router_id, 1, 255), ("priority", priority, 1, 254),
                                   ("prefixlen", prefixlen, 1, address.max_prefixlen)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"keepalived setting {name} must be between {low} and {high}, got {value!r}")
    if not _SOCKET_RE.fullmatch(check_script):
        raise ValueError(f"keepalived check script {check_script!r} is not an absolute path")
    version = "    version 3\n" if address.version == 6 else ""  # VRRP for IPv6 is VRRPv3
    peer_lines = "".join(f"        {peer}\n" for peer in others)
    return f"""\
# Managed by maas-ha: the MAAS API's floating address among the load balancers (VRRP).
# Changes here are overwritten on the next deploy.
{VIP_MARKER}{address}
global_defs {{
    router_id {host_name}
    enable_script_security
    script_user root
}}

# HAProxy serves here: its process answers on the admin socket and its frontend accepts
# connections. Two failures in a row (a reload is one at most) put this host in FAULT.
vrrp_script haproxy_serves {{
    script "{check_script}"
    interval 1
    timeout 2
    fall 2
    rise 2
}}

vrrp_instance {INSTANCE} {{
    state BACKUP
    nopreempt
{version}    interface {interface}
    virtual_router_id {router_id}
    priority {priority}
    advert_int {ADVERT_SECONDS}
    unicast_src_ip {own}
    unicast_peer {{
{peer_lines}    }}
    virtual_ipaddress {{
        {address}/{prefixlen} dev {interface}
    }}
    track_script {{
        haproxy_serves
    }}
}}
"""


def render_check_script(admin_socket: str, frontend_port: int) -> str:
    """The shell script keepalived runs every second: exit 0 while HAProxy serves here."""
    if not isinstance(admin_socket, str) or not _SOCKET_RE.fullmatch(admin_socket):
        raise ValueError(f"haproxy admin socket {admin_socket!r} is not an absolute path")
    if isinstance(frontend_port, bool) or not isinstance(frontend_port, int) or not 1 <= frontend_port <= 65535:
        raise ValueError(f"haproxy frontend port {frontend_port!r} is not a TCP port")
    socket = shlex.quote(f"UNIX-CONNECT:{admin_socket}")
    return f"""\
#!/bin/sh
{CHECK_MARKER} that HAProxy serves the MAAS API on this host.
# Exit 0: it does. Anything else: this host gives up the API's floating address.
# The process runs and is not stuck: it answers on its admin socket...
echo 'show info' | socat -t 2 -T 2 stdio {socket} 2>/dev/null | grep -q '^Pid: ' || exit 1
# ...and the frontend accepts connections (it binds every address, the floating one too).
exec socat -T 2 /dev/null TCP:127.0.0.1:{frontend_port},connect-timeout=2 2>/dev/null
"""
