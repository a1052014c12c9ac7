"""Services the deploy sets up stay running: a stopped one is started, a masked or failing
one is an error naming the host, the unit and what it last logged.

pyinfra's ``systemd.service`` starts a stopped unit, but says nothing useful when the unit is
masked (``Unit ... is masked``, no log) and reports success for a unit that exits right after
it started (``Restart=always`` hides it as ``auto-restart``). ``units_running`` reads the
units' state (``facts.systemd_units.SystemdUnits``), refuses a masked unit before anything
runs, and after a start watches the unit for a few seconds.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import OperationValueError, StringCommand, operation

from facts.systemd_units import SystemdUnitLog, SystemdUnits, unit_running as is_running
from run.memo import recall

SETTLE_SECONDS = 5


def start_script(host_name: str, unit: str, enable: bool, settle: int = SETTLE_SECONDS) -> str:
    """Shell: enable and start `unit`, then fail when systemd reports it failing (or masked)
    during `settle` seconds, with its last log lines. A pure function of its arguments."""
    q = shlex.quote(unit)
    why = f"why=$(journalctl _SYSTEMD_UNIT={q}.service -n 5 --no-pager -o cat 2>/dev/null | tail -n 5); "
    script = (
        f'if [ "$(systemctl show -p LoadState --value {q})" = masked ]; then {why}'
        f'echo "{unit} on {host_name} is masked and cannot run; it last logged: $why" >&2; exit 1; fi; '
    )
    if enable:
        script += f"systemctl enable {q} || exit 1; "
    script += (
        f"systemctl start {q} || {{ {why}echo \"{unit} on {host_name} did not start; it last logged: $why\" >&2; "
        "exit 1; }; "
        f"end=$(( $(date +%s) + {int(settle)} )); "
        'while [ "$(date +%s)" -lt "$end" ]; do '
        f"sub=$(systemctl show -p SubState --value {q}); "
        'case "$sub" in auto-restart|failed|dead) '
        f'{why}echo "{unit} on {host_name} does not stay running ($sub); it last logged: $why" >&2; exit 1;; '
        "esac; sleep 1; done"
    )
    return script


@operation()
def units_running(units: list):
    """Systemd units running and enabled (pyinfra: ``systemd.service(running, enabled)``,
    plus the checks above).

    + units: the units' names (``maas-rackd``, ``snap.maas.pebble``, ``named``...)

    A masked unit: refused before anything runs, naming the host, the unit and its last log
    lines. All running and enabled: noop. Otherwise each unit that is not is enabled, started
    and watched for a few seconds; one that does not stay up fails the operation with its
    last log lines. A unit the run is about to install (not found yet) is started the same way.

    **Example:**

    .. code:: python

        from operations import maas_services

        maas_services.units_running(
            name="rackd running and enabled",
            units=["maas-rackd"],
        )
    """
    units = list(units)
    states = recall(host, SystemdUnits, units=units) or {}
    for unit in units:
        if (states.get(unit) or {}).get("load") == "masked":
            lines = recall(host, SystemdUnitLog, unit=unit) or ["(nothing)"]
            raise OperationValueError(f"{host.name}: {unit} is masked and cannot run (systemctl unmask {unit}); "
                                      f"it last logged: {' | '.join(lines)}")
    due = [unit for unit in units if not is_running(states.get(unit))]
    if not due:
        host.noop(f"{', '.join(units)} running and enabled")
        return
    for unit in due:
        enable = (states.get(unit) or {}).get("enabled") not in ("enabled", "static", "alias")
        yield StringCommand(start_script(host.name, unit, enable))
