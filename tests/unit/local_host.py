"""Run one operation on this machine, the way pyinfra runs it on a host: its facts are read by
running their commands here, the operation decides from them, and its commands run here in
order, stopping at the first that fails. For testing an operation's safety nets against real
programs (a throwaway PostgreSQL or HAProxy started by the test), not against fixtures.

Commands meant for another user (``_sudo_user``) run as that user with ``runuser``; an upload
writes the file. ``stand_ins`` replaces the parts of commands that would reach this machine's
services (``systemctl ...``) with test-local ones, wherever they appear in a command; ``facts``
answers facts that would read this machine's own set-up (``pg_lsclusters``) instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field

from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.api.arguments import all_argument_meta
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState

from real_tools import find_program

RUNUSER = find_program("runuser") or "runuser"  # /usr/sbin: not on every PATH


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on, for a throwaway service."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Outcome:
    """What running the operation's commands did: each command run (raw), and how it ended."""

    ok: bool = True
    ran: list = field(default_factory=list)
    stderr: str = ""


class LocalHost:
    def __init__(self, name: str = "localhost", env: dict | None = None,
                 stand_ins: dict | None = None, facts: dict | None = None):
        self.name = name
        self.env = {**os.environ, **(env or {})}
        self.stand_ins = stand_ins or {}
        self.facts = facts or {}
        self.state = FakeState()  # not executing: run/memo.py's recall() asks the host
        self.noop_description = None

    # What operations use of pyinfra's host.

    def noop(self, description: str) -> None:
        self.noop_description = description

    def get_fact(self, fact_cls, *args, **kwargs):
        if fact_cls in self.facts:
            return self.facts[fact_cls]
        user = kwargs.get("_sudo_user") if kwargs.get("_sudo") else None
        kwargs = {key: value for key, value in kwargs.items() if key not in all_argument_meta}
        fact = fact_cls()
        command = fact.command(*args, **kwargs)
        raw = command.get_raw_value() if isinstance(command, StringCommand) else command
        result = self.shell(raw, user)
        assert result.returncode == 0, f"fact {fact_cls.__name__}: {raw}: {result.stderr}"
        lines = result.stdout.splitlines()
        return fact.process(lines) if lines else fact.default()

    # Running commands here.

    def shell(self, command: str, user: str | None = None) -> subprocess.CompletedProcess:
        argv = ["sh", "-c", command]
        if user and os.geteuid() == 0 and user != "root":
            # runuser keeps the environment we pass (PATH, PGHOST) through `env`
            argv = [RUNUSER, "-u", user, "--", "env",
                    *[f"{key}={self.env[key]}" for key in ("PATH", "PGHOST") if key in self.env],
                    *argv]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60,
                              cwd="/tmp")

    def standing_in(self, raw: str) -> str:
        for real, stand_in in self.stand_ins.items():
            raw = raw.replace(real, stand_in)
        return raw

    def run(self, operation, *args, **kwargs) -> Outcome:
        """Plan ``operation`` from this machine's facts, then run its commands here."""
        with ctx_state.use(self.state), ctx_host.use(self):
            commands = list(operation._inner(*args, **kwargs))
        outcome = Outcome()
        for command in commands:
            if isinstance(command, str):
                command = StringCommand(command.strip())
            if isinstance(command, FileUploadCommand):
                command.src.seek(0)
                with open(command.dest, "w") as dest:
                    dest.write(command.src.read())
                outcome.ran.append(f"upload {command.dest}")
                continue
            raw = command.get_raw_value()
            arguments = command.connector_arguments or {}
            user = arguments.get("_sudo_user") if arguments.get("_sudo") else None
            outcome.ran.append(raw)
            result = self.shell(self.standing_in(raw), user)
            if result.returncode != 0:
                outcome.ok, outcome.stderr = False, result.stderr
                break
        return outcome
