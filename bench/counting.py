"""Run the pyinfra CLI with every remote command counted per host.

    .venv/bin/python bench/counting.py OUT.json -- <pyinfra arguments>

Wraps the SSH connector's ``run_shell_command`` / ``put_file`` / ``get_file`` (facts,
operations and execution-time function commands all go through them), then hands over to
pyinfra's own CLI. Writes ``{"hosts": {name: {"commands": n, "transfers": n,
"log": [[seconds, kind, text], ...]}}}`` to OUT.json when pyinfra exits, whatever its exit
status. The log keeps each command's first 300 characters (secrets are already masked by
pyinfra's ``StringCommand.get_masked_value``) so waste can be traced back to its source.
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from collections import defaultdict

from pyinfra.connectors.ssh import SSHConnector

_T0 = time.monotonic()
_HOSTS: dict = defaultdict(lambda: {"commands": 0, "transfers": 0, "log": []})


def _text(command) -> str:
    masked = getattr(command, "get_masked_value", None)
    return (masked() if callable(masked) else str(command))[:300]


def _wrap_run(original):
    def run_shell_command(self, command, *args, **kwargs):
        entry = _HOSTS[self.host.name]
        entry["commands"] += 1
        entry["log"].append([round(time.monotonic() - _T0, 3), "cmd", _text(command)])
        return original(self, command, *args, **kwargs)
    return run_shell_command


def _wrap_transfer(original, kind):
    def transfer(self, *args, **kwargs):
        entry = _HOSTS[self.host.name]
        entry["transfers"] += 1
        index = 1 if kind == "put" else 0
        remote = args[index] if len(args) > index else kwargs.get("remote_filename", "")
        entry["log"].append([round(time.monotonic() - _T0, 3), kind, str(remote)[:300]])
        # A transfer runs its own helper commands (mv, chmod) through run_shell_command;
        # those are counted as commands too.
        return original(self, *args, **kwargs)
    return transfer


def install() -> None:
    """Wrap the SSH connector once (idempotent)."""
    if getattr(SSHConnector, "_bench_counting", False):
        return
    SSHConnector.run_shell_command = _wrap_run(SSHConnector.run_shell_command)
    SSHConnector.put_file = _wrap_transfer(SSHConnector.put_file, "put")
    SSHConnector.get_file = _wrap_transfer(SSHConnector.get_file, "get")
    SSHConnector._bench_counting = True


def main() -> None:
    """Count, run the pyinfra CLI with the arguments after ``--``, write the counts."""
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        raise SystemExit("usage: counting.py OUT.json -- <pyinfra arguments>")
    out = sys.argv[1]
    install()

    def write() -> None:
        with open(out, "w") as handle:
            json.dump({"hosts": _HOSTS}, handle, indent=1, sort_keys=True)

    atexit.register(write)
    from pyinfra_cli.main import main as pyinfra_main

    sys.argv = ["pyinfra"] + sys.argv[3:]
    pyinfra_main()


if __name__ == "__main__":
    main()
