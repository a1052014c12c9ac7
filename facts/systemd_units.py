"""The state of a few systemd units in one ``systemctl show`` (one line per property).

pyinfra's ``SystemdStatus``/``SystemdEnabled`` list every unit of the host and leave out
masked ones; a deploy that must tell "stopped" from "masked" from "failing" reads these four
properties of its own units instead.
"""

from __future__ import annotations

import shlex

from facts.usage import Fact

PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState")
_KEYS = {"LoadState": "load", "ActiveState": "active", "SubState": "sub", "UnitFileState": "enabled"}


def _service(unit: str) -> str:
    return unit if unit.endswith((".service", ".socket", ".timer", ".target")) else unit + ".service"


class SystemdUnits(Fact):
    """
    ``{unit: {"load", "active", "sub", "enabled"}}`` for the given units (names without
    ``.service``), as ``systemctl show`` reports them: ``load`` is ``loaded``, ``masked`` or
    ``not-found``; ``active`` ``active``, ``inactive``, ``failed``, ``activating``...;
    ``enabled`` ``enabled``, ``disabled``, ``masked``, ``static`` or empty.

    .. code:: python

        {"maas-rackd": {"load": "loaded", "active": "active", "sub": "running", "enabled": "enabled"}}
    """

    default = dict

    def command(self, units) -> str:
        names = " ".join(shlex.quote(_service(unit)) for unit in units)
        return f"systemctl show -p {','.join(PROPERTIES)} {names}"

    def process(self, output):
        units: dict = {}
        blocks: list = [{}]
        for line in output:
            key, sep, value = line.strip().partition("=")
            if not sep or key not in PROPERTIES:
                if blocks[-1]:
                    blocks.append({})  # a blank line ends a unit's block
                continue
            if key in blocks[-1]:  # the next unit, without a blank line between
                blocks.append({})
            blocks[-1][key] = value
        for block in blocks:
            if block.get("Id"):
                units[block["Id"].removesuffix(".service")] = {_KEYS[key]: block.get(key, "") for key in _KEYS}
        return units


def unit_running(state: dict | None) -> bool:
    """True when a unit's state (from ``SystemdUnits``) is active and enabled (or static)."""
    state = state or {}
    return state.get("active") == "active" and state.get("enabled") in ("enabled", "static", "alias")


class SystemdUnitLog(Fact):
    """The last lines a unit logged (its own output, not systemd's lines about it), or []."""

    default = list

    def command(self, unit, lines=5) -> str:
        return (f"journalctl _SYSTEMD_UNIT={shlex.quote(_service(unit))} -n {int(lines)} --no-pager -o cat "
                "2>/dev/null || true")

    def process(self, output):
        return [line for line in output if line.strip()]
