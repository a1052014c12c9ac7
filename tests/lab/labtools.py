"""Drive the rehearsal lab from tests: ssh into lab hosts, run pyinfra, read its results.

Traffic goes only to the lab's own addresses (its slot's network in hosts.json, hosts in
namespaces the lab made). MAAS_HA_LAB_SLOT picks which of the machine's labs (lab/lib/slot.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
sys.path.insert(0, str(REPO))

from lab.lib import hosts as lab_hosts  # noqa: E402
from lab.lib import net as lab_net  # noqa: E402
from lab.lib import slot as lab_slot  # noqa: E402
from operations.maas_api_client import MaasClient  # noqa: E402

SLOT = lab_slot.current()
LAB_DIR = Path(lab_slot.state_dir())


def planned_address(name: str) -> str:
    """The address a lab host has in this slot, by the lab's own plan (usable before the lab
    is up, e.g. in test parameters)."""
    return lab_hosts.host_info(name)["address"]


def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` until it holds (bounded), else fail naming what was awaited."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class DeployResult:
    returncode: int
    output: str

    @property
    def changed_hosts(self) -> dict[str, int]:
        """Host -> number of operations that changed something (pyinfra's `Success` lines)."""
        return {name: len(ops) for name, ops in self.changed_ops.items()}

    @property
    def changed_ops(self) -> dict[str, list[str]]:
        """Host -> names of the operations that changed something on it."""
        changes: dict[str, list[str]] = {}
        operation = None
        for line in self.output.splitlines():
            started = re.match(r"^--> Starting (?:serial )?operation: (.*?)\s*$", line)
            if started:
                operation = started.group(1)
                continue
            match = re.match(r"^\s*\[([^\]]+)\]\s+Success\b", line)
            if match:
                changes.setdefault(match.group(1), []).append(operation)
        return changes

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


class Lab:
    """The running lab, as hosts.json describes it."""

    def __init__(self, artefacts: Path):
        self.artefacts = artefacts
        self.reload()

    def reload(self) -> None:
        self.spec = json.loads((LAB_DIR / "hosts.json").read_text())
        self.hosts = self.spec["hosts"]

    def ctl(self, *args: str, timeout: int = 1500) -> None:
        subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), *args], check=True,
                       timeout=timeout)
        self.reload()

    def address(self, name: str) -> str:
        return self.hosts[name]["address"]

    @property
    def api_vip(self) -> str:
        """The load balancers' floating API address (on the lab's network; no host has it)."""
        return self.spec["api_vip"]

    def stop_hosts(self, *names: str) -> None:
        """Power hosts off as on a power cut (link down, then the container), disks kept."""
        self.ctl("stop", *names, timeout=120)

    def start_hosts(self, *names: str) -> None:
        """Boot hosts `stop_hosts` powered off, from their own disks; back when ssh answers."""
        self.ctl("start", *names, timeout=600)

    def reset_ssh_sessions(self, name: str) -> None:
        """Tear down every established ssh session to `name` with a TCP reset, from this
        machine inside the host's own network namespace (the lab made it): a link lost
        mid-run. pyinfra takes a reset as the host's failure at any instant; sessions killed
        on the host close cleanly instead, and a channel opened at that instant gets
        paramiko's EOFError, which pyinfra does not catch (an internal error ends the run)."""
        subprocess.run(["ip", "netns", "exec", lab_net.ns_name(name), "ss", "-K", "state", "established",
                        "( sport = :22 )"], check=True, capture_output=True, timeout=30)

    def group(self, group: str) -> list[str]:
        return [name for name, spec in self.hosts.items() if spec["group"] == group]

    @property
    def ssh_user(self) -> str:
        """The user ssh logs in as (the lab's operator, or root in the root variant)."""
        return self.spec.get("ssh_user", "root")

    def ssh(self, name: str, command: str, check: bool = True, timeout: int = 120,
            as_root: bool = True, user: str | None = None, stdin: str | None = None) -> str:
        """Run a shell command on a lab host, as root (through `sudo -n` when the login user
        is not root) or, with `as_root=False`, as the login user itself; `stdin` is its
        standard input (how a test hands a secret to a host)."""
        user = user or self.ssh_user
        if as_root and user != "root":
            command = f"sudo -n sh -c {shlex.quote(command)}"
        result = subprocess.run(
            ["ssh", "-i", self.spec["ssh_key"], "-o", "StrictHostKeyChecking=no", "-o",
             "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
             f"{user}@{self.address(name)}", command],
            capture_output=True, text=True, timeout=timeout, check=False,
            input=stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"{name}: `{command}` exited {result.returncode}: {result.stderr}")
        return result.stdout

    def read_yaml(self, name: str, path: str) -> dict:
        return yaml.safe_load(self.ssh(name, f"cat {path}")) or {}

    def stat(self, name: str, path: str) -> str:
        return self.ssh(name, f"stat -c '%U:%G %a' {path}").strip()

    def secrets(self) -> dict:
        return json.loads((LAB_DIR / "secrets.json").read_text())

    def deploy(self, env: dict | None = None, deploy_file: str = "deploy.py", args=(),
               label: str = "deploy", on_line=None, verbosity: str = "-vv") -> DeployResult:
        """Run pyinfra on the lab inventory (at -vv unless told); keep its output as a test
        artefact. -vvv also prints every command's input and output, and every fact's output.

        `on_line(line)` sees each output line as it comes (to inject a fault mid-run); while
        it runs, `self.running` is pyinfra's process (to interrupt it)."""
        # pyinfra of the interpreter running the tests (the project virtualenv under `make`),
        # not whichever `pyinfra` is first on PATH.
        command = [sys.executable, "-m", "pyinfra", "-y", verbosity, "inventories/lab.py", deploy_file, *args]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, **(env or {})})
        self.running = process
        lines = []
        deadline = time.monotonic() + 1800
        for line in process.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(ANSI.sub("", line))
            if time.monotonic() > deadline:
                process.kill()
        returncode = process.wait()
        output = ANSI.sub("", "".join(lines))
        self.artefacts.mkdir(parents=True, exist_ok=True)
        log = self.artefacts / f"{label}.log"
        log.write_text(f"$ {' '.join(command)}  # {time.monotonic() - started:.0f}s\n{output}")
        return DeployResult(returncode, output)

    def api_key(self, region: str) -> str:
        command = ("if [ -s /var/snap/maas/common/snap_mode ]; then /snap/bin/maas apikey "
                   "--username admin; else maas-region apikey --username admin; fi | head -n 1")
        return self.ssh(region, command).strip()

    def client(self, url: str, key: str) -> MaasClient:
        return MaasClient(url, key)

    def anonymous_get(self, url: str) -> dict:
        """An unauthenticated API read (e.g. version/), as MAAS allows."""
        response = requests.get(url, timeout=10)
        response.raise_for_status()
        return response.json()
