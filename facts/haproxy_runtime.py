"""HAProxy runtime state, read through its admin socket.

The config file says which servers exist; only the running process knows whether a
region is drained, in maintenance or failing its health check. Rolling restarts read
this to drain one region at a time and to leave servers that are already right alone.
"""

from __future__ import annotations

from facts.pg_cluster import shell_double_quote
from facts.usage import Fact

# srv_op_state (enum srv_state, HAProxy 2.6 include/haproxy/server-t.h)
OP_STATES = {0: "down", 1: "starting", 2: "up", 3: "stopping"}

# srv_admin_state bits (enum srv_admin)
ADMF_FMAINT = 0x01  # forced maintenance (set server state maint)
ADMF_IMAINT = 0x02  # inherited maintenance (tracked server)
ADMF_CMAINT = 0x04  # "disabled" in the config
ADMF_FDRAIN = 0x08  # forced drain (set server state drain)
ADMF_IDRAIN = 0x10  # inherited drain
ADMF_RMAINT = 0x20  # DNS resolution failed
ADMF_HMAINT = 0x40  # hostname/address changed at runtime
MAINT_MASK = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT | ADMF_HMAINT
DRAIN_MASK = ADMF_FDRAIN | ADMF_IDRAIN


def admin_state_name(flags: int) -> str:
    """``maint`` if any maintenance bit is set, else ``drain`` if any drain bit, else ``ready``."""
    if flags & MAINT_MASK:
        return "maint"
    if flags & DRAIN_MASK:
        return "drain"
    return "ready"


class HaproxyServers(Fact):
    """Servers per backend from ``show servers state`` on the admin socket (run as root).

    .. code:: python

        {"maas_regions": {"region1": {"address": "10.77.0.11", "port": 5240,
                                      "admin_state": "ready", "op_state": "up"}}}

    ``{}`` when the socket is absent (HAProxy not installed or not running).
    """

    default = dict

    def command(self, socket="/run/haproxy/admin.sock"):
        quoted = shell_double_quote(socket)
        connect = shell_double_quote(f"UNIX-CONNECT:{socket}")
        return (
            f"if [ -S {quoted} ]; then "
            f'echo "show servers state" | socat stdio {connect}; fi'
        )

    def process(self, output):
        columns = None
        servers: dict = {}
        for line in output:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                columns = line.lstrip("#").split()
                continue
            if columns is None:
                continue  # the format version line ("1")
            row = dict(zip(columns, line.split()))
            try:
                backend = row["be_name"]
                name = row["srv_name"]
                op_state = int(row["srv_op_state"])
                admin_flags = int(row["srv_admin_state"])
            except (KeyError, ValueError):
                continue
            port = row.get("srv_port", "0")
            servers.setdefault(backend, {})[name] = {
                "address": row.get("srv_addr"),
                "port": int(port) if port.isdigit() else None,
                "admin_state": admin_state_name(admin_flags),
                "op_state": OP_STATES.get(op_state, f"unknown({op_state})"),
            }
        return servers
