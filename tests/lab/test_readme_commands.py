"""Every command the README shows runs on the lab: it exits 0 and prints no traceback or
error. Deploys first, then the ad-hoc questions, then the lifecycle commands (which remove
and move racks, then a region), each exactly as the README writes it with the lab's inventory and host
names (tests/lab/readme_commands.py). Secrets come from the lab, as the environment the
production inventory reads them from; nothing secret is kept in the artefacts."""

import os
import re
import subprocess
import time

import pytest

from labtools import ANSI, REPO
from readme_commands import readme_commands

RACKS = ["rack1", "rack2", "rack3", "rack4"]
LAB_ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "snap",
           "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_DHCP_VLAN": "rack1,rack2"}
B_ENV = {"MAAS_HA_INSTANCE": "b", "MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_HAPROXY": "",
         "MAAS_HA_RACKS": ""}
MOVE_TARGET = {"MAAS_HA_MOVE_TARGET": "b-region1"}  # the operator adds it for the move
# by then rack1 is removed and rack4 moved: as the README says, they left the inventory
AFTER_RACK_LIFECYCLE = {"MAAS_HA_RACKS": "rack2,rack3", "MAAS_HA_DHCP_VLAN": "rack3,rack2"}
TROUBLE = re.compile(r"Traceback|internal exception|pyinfra error|could not load fact|\] Error\b")
NOT_INSTALLED = '"not installed"'  # every host a question is limited to runs MAAS here

COMMANDS = readme_commands()


@pytest.fixture(scope="module")
def readme_lab(lab):
    """A bare lab with four racks and a second MAAS deployed (the target of the move)."""
    lab.ctl("up", "--racks", "4", "--extra", "b-pg1,b-region1")
    lab.ctl("reset", "pg1", "region1", "region2", "lb1", *RACKS, "b-pg1", "b-region1")
    second = lab.deploy(B_ENV, label="readme-second-maas")
    assert second.returncode == 0, second.tail()
    return lab


def _secret_values(lab) -> list[str]:
    values = [value for value in lab.secrets().values() if value]
    values.append(lab.ssh("region1", "cat /var/lib/maas/secret 2>/dev/null || true").strip())
    return [value for value in values if value]


def test_the_readme_shows_every_kind_of_command():
    assert [c.kind for c in COMMANDS].count("deploy") >= 1
    assert [c.kind for c in COMMANDS].count("fact") >= 9
    assert {"remove_rack.py", "move_rack.py", "remove_region.py"} <= {w for c in COMMANDS for w in c.words}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.line)
def test_readme_command_runs_on_the_lab(readme_lab, command):
    lab = readme_lab
    words = command.for_lab(lab.hosts)
    env = {**os.environ, **LAB_ENV, "MAAS_DB_PASSWORD": lab.secrets()["maas_db_password"],
           "MAAS_ADMIN_PASSWORD": lab.secrets()["maas_admin_password"]}
    if "move_rack.py" in words:
        env.update(MOVE_TARGET)
    if "remove_region.py" in words:
        env.update(AFTER_RACK_LIFECYCLE)
    started = time.monotonic()
    # as an operator runs it: pyinfra shows the changes and waits for Enter
    result = subprocess.run(["pyinfra", *words], cwd=REPO, env=env, input="\n", capture_output=True,
                            text=True, timeout=1800)
    output = ANSI.sub("", result.stdout + result.stderr)
    for secret in _secret_values(lab):
        output = output.replace(secret, "<secret>")
    lab.artefacts.mkdir(parents=True, exist_ok=True)
    label = re.sub(r"[^\w.-]+", "_", " ".join(words))[:120]
    (lab.artefacts / f"readme-{COMMANDS.index(command):02d}-{label}.log").write_text(
        f"$ pyinfra {' '.join(words)}  # {time.monotonic() - started:.0f}s, exit {result.returncode}\n{output}")
    assert result.returncode == 0, output[-4000:]
    trouble = [line for line in output.splitlines() if TROUBLE.search(line)]
    assert not trouble, "\n".join(trouble)
    if command.kind == "fact":
        assert NOT_INSTALLED not in output, output[-4000:]
    else:
        assert "--> Results:" in output, output[-4000:]
