"""Which load balancer holds the MAAS API's floating address right now, and which hosts
still have maas-ha's keepalived files.

The address moves between hosts by itself (keepalived, VRRP), so the inventory cannot say
where it is: only each host's interfaces can. Asked of every load balancer, exactly one
answers ``holds: true`` while the address is up::

    pyinfra inventories/production.py fact facts.keepalived.ApiVip
"""

from __future__ import annotations

import ipaddress
import shlex

from operations._render_keepalived import CHECK_MARKER, CHECK_SCRIPT_PATH, CONFIG_PATH, VIP_MARKER
from facts.usage import Fact

# each file maas-ha writes for keepalived, and the line that marks it as maas-ha's
OWN_FILES = {CONFIG_PATH: VIP_MARKER, CHECK_SCRIPT_PATH: CHECK_MARKER}

_SEPARATOR = "--maas-ha--"


class ApiVip(Fact):
    """
    The floating address the deploy gave this host's keepalived (``None``: no keepalived
    config of ours), whether the host holds it now, and the keepalived service's state
    (``systemctl is-active``).

    .. code:: python

        {"vip": "10.0.0.20", "holds": True, "keepalived": "active"}
    """

    default = dict

    def command(self) -> str:
        return (f"grep -m1 '^{VIP_MARKER}' {CONFIG_PATH} 2>/dev/null; echo {_SEPARATOR}; "
                f"ip -o addr show 2>/dev/null; echo {_SEPARATOR}; "
                "systemctl is-active keepalived 2>/dev/null || true")

    def process(self, output):
        parts: list[list[str]] = [[]]
        for line in output:
            if line.strip() == _SEPARATOR:
                parts.append([])
            else:
                parts[-1].append(line)
        marker, addresses, state = (parts + [[], [], []])[:3]
        vip = None
        for line in marker:
            try:
                vip = str(ipaddress.ip_address(line[len(VIP_MARKER):].strip()))
            except ValueError:
                continue
        held = set()
        for line in addresses:  # "2: eth0    inet 10.0.0.20/24 scope global secondary eth0"
            words = line.split()
            if len(words) > 3 and words[2] in ("inet", "inet6"):
                try:
                    held.add(str(ipaddress.ip_interface(words[3]).ip))
                except ValueError:
                    continue
        return {"vip": vip, "holds": vip is not None and vip in held,
                "keepalived": state[0].strip() if state else None}


class KeepalivedFiles(Fact):
    """
    The keepalived files maas-ha wrote on this host (its config, its HAProxy check), known
    by the line maas-ha marks each with: a ``keepalived.conf`` someone else wrote is not
    listed. Empty where maas-ha never set up the floating address, or has retired it.

    .. code:: python

        ["/etc/keepalived/keepalived.conf", "/etc/keepalived/maas-ha-haproxy-serves"]
    """

    default = list

    def command(self) -> str:
        # grep -l names the file when a line starts with the mark; -s: a missing file is no error
        return "; ".join([*(f"grep -ls {shlex.quote('^' + mark)} {path}" for path, mark in OWN_FILES.items()),
                          "true"])

    def process(self, output):
        return [line.strip() for line in output if line.strip() in OWN_FILES]
