"""Which load balancer holds the MAAS API's floating address right now.

The address moves between hosts by itself (keepalived, VRRP), so the inventory cannot say
where it is: only each host's interfaces can. Asked of every load balancer, exactly one
answers ``holds: true`` while the address is up::

    pyinfra inventories/production.py fact facts.keepalived.ApiVip
"""

from __future__ import annotations

import ipaddress

from operations._render_keepalived import CONFIG_PATH, VIP_MARKER
from facts.usage import Fact

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
