"""MAAS agrees that the racks are up: each rack's rackd reported ``running`` in its
``service_set`` (connected to every region), as MAAS's UI shows it.

A rack host whose rackd runs may still be dead to MAAS (wrong secret, regions unreachable);
a deploy that ends there would leave a DHCP peer that cannot serve. The wait runs on the
primary region through its ``maas`` CLI profile, after the racks' own steps.
"""

from __future__ import annotations

import json
import shlex

from pyinfra import host
from pyinfra.api import OperationValueError, StringCommand, operation

from facts.maas_api import MaasRackControllers
from run.memo import recall

# Runs on the host: prints the racks (argv 2...) whose rackd is not "running", with its
# status and the rack's note (argv 1: JSON {rack: note}, e.g. the DHCP HA it serves).
_NOT_RUNNING = """
import json, sys
notes, wanted = json.loads(sys.argv[1]), sys.argv[2:]
try:
    nodes = json.load(sys.stdin)
except ValueError:
    nodes = []
status = {}
for node in nodes:
    services = {s.get("name"): s.get("status") for s in node.get("service_set") or []}
    status[node.get("hostname")] = services.get("rackd") or "unknown"
print("; ".join("%s (rackd %s)%s" % (name, status.get(name, "not registered"),
                                      ": " + notes[name] if notes.get(name) else "")
                for name in wanted if status.get(name) != "running"))
"""


def rackd_states(racks: list, controllers: list | None) -> dict:
    """{rack hostname: rackd status} as MAAS reports it; "not registered" when absent."""
    by_name = {node.get("hostname"): (node.get("services") or {}).get("rackd") for node in controllers or []}
    return {name: by_name.get(name) or "not registered" for name in racks}


def wait_script(racks: list, profile: str, maas_cli: str, timeout: int, notes: dict) -> str:
    """Shell: poll ``rack-controllers read`` every 2 s until each rack's rackd is running;
    after `timeout` seconds fail, naming each rack that is not, its status and its note."""
    cli = f"{shlex.quote(maas_cli)} {shlex.quote(profile)} rack-controllers read"
    args = " ".join(shlex.quote(arg) for arg in [json.dumps(notes, sort_keys=True), *racks])
    return (
        f"end=$(( $(date +%s) + {timeout} )); "
        f"while left=$({cli} 2>/dev/null | python3 -c {shlex.quote(_NOT_RUNNING)} {args}); "
        '[ -n "$left" ]; do '
        f'if [ "$(date +%s)" -ge "$end" ]; then echo "MAAS does not report rackd running within {timeout}s '
        f'on: $left" >&2; exit 1; fi; sleep 2; done'
    )


@operation()
def racks_running(racks: list, profile: str, maas_cli: str = "maas", timeout: int = 90,
                  changed: bool = False, notes: dict | None = None):
    """Wait (bounded) until MAAS reports every rack's rackd running.

    + racks: the racks' hostnames as MAAS knows them (short)
    + profile, maas_cli: the CLI profile and command on this region
    + timeout: seconds; after that the operation fails naming each rack and its rackd status
    + changed: a rack was started, registered or reconfigured in this run: wait even when the
      planning-time read already showed every rack running
    + notes: {rack: text} added to a failing rack's line (the DHCP HA it is a peer of)

    Noop when nothing changed and MAAS already reported every rack running when the run began.

    **Example:**

    .. code:: python

        from operations import maas_rack_health

        # on the primary region, after the racks' steps
        maas_rack_health.racks_running(
            name="MAAS reports rackd running on every rack",
            racks=["rack1", "rack2"],
            profile="maas-ha",
            timeout=90,
        )
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
    yield StringCommand(wait_script(racks, profile, maas_cli, timeout, notes or {}))
