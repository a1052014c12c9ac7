"""MAAS agrees that the racks are up: each rack's rackd reported ``running`` in its
``service_set`` (connected to every region), as MAAS's UI shows it.

A rack host whose rackd runs may still be dead to MAAS (wrong secret, regions unreachable);
a deploy that ends there would leave a DHCP peer that cannot serve. The wait runs on the
primary region through its ``maas`` CLI profile, after the racks' own steps.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import OperationValueError, StringCommand, operation

from facts.maas_api import MaasRackControllers
from facts.memo import recall

# Runs on the host: prints the racks (of argv) whose rackd is not "running", with its status.
_NOT_RUNNING = """
import json, sys
wanted = sys.argv[1:]
try:
    nodes = json.load(sys.stdin)
except ValueError:
    nodes = []
status = {}
for node in nodes:
    services = {s.get("name"): s.get("status") for s in node.get("service_set") or []}
    status[node.get("hostname")] = services.get("rackd") or "unknown"
print(" ".join("%s(rackd %s)" % (name, status.get(name, "not registered"))
               for name in wanted if status.get(name) != "running"))
"""


def rackd_states(racks: list, controllers: list | None) -> dict:
    """{rack hostname: rackd status} as MAAS reports it; "not registered" when absent."""
    by_name = {node.get("hostname"): (node.get("services") or {}).get("rackd") for node in controllers or []}
    return {name: by_name.get(name) or "not registered" for name in racks}


@operation()
def racks_running(racks: list, profile: str, maas_cli: str = "maas", timeout: int = 90,
                  changed: bool = False):
    """Wait (bounded) until MAAS reports every rack's rackd running.

    + racks: the racks' hostnames as MAAS knows them (short)
    + profile, maas_cli: the CLI profile and command on this region
    + timeout: seconds; after that the operation fails naming each rack and its rackd status
    + changed: a rack was started, registered or reconfigured in this run: wait even when the
      planning-time read already showed every rack running

    Noop when nothing changed and MAAS already reported every rack running when the run began.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise OperationValueError(f"{host.name}: rack wait timeout must be a positive number of seconds, "
                                  f"got {timeout!r}")
    if not racks:
        host.noop("no racks")
        return
    if not changed:
        controllers = recall(host, MaasRackControllers, profile=profile, maas_cli=maas_cli)
        states = rackd_states(racks, controllers)
        if controllers is not None and all(state == "running" for state in states.values()):
            host.noop("MAAS reports rackd running on " + ", ".join(racks))
            return
    cli = f"{shlex.quote(maas_cli)} {shlex.quote(profile)} rack-controllers read"
    names = " ".join(shlex.quote(name) for name in racks)
    yield StringCommand(
        f"end=$(( $(date +%s) + {timeout} )); "
        f"while left=$({cli} 2>/dev/null | python3 -c {shlex.quote(_NOT_RUNNING)} {names}); "
        '[ -n "$left" ]; do '
        f'if [ "$(date +%s)" -ge "$end" ]; then echo "MAAS does not report rackd running within {timeout}s '
        f'on: $left" >&2; exit 1; fi; sleep 2; done'
    )
