"""The README's commands, checked without a lab: each is one the lab test can run
(tests/lab/test_readme_commands.py runs them all), names hosts the lab has, asks facts of this
package with arguments they take, and sets only settings config.py knows."""

import importlib
import inspect
import sys
from pathlib import Path

import pytest

import config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from readme_commands import ReadmeCommand, readme_commands  # noqa: E402

# The lab as tests/lab/test_readme_commands.py brings it up.
LAB_HOSTS = {"pg1", "region1", "region2", "lb1", "rack1", "rack2", "rack3", "rack4", "b-pg1", "b-region1"}
COMMANDS = readme_commands()


def test_the_readme_has_questions_and_lifecycle_commands():
    kinds = [command.kind for command in COMMANDS]
    assert kinds.count("fact") >= 9 and kinds.count("lifecycle") == 3 and "deploy" in kinds
    assert kinds == sorted(kinds, key=("deploy", "fact", "lifecycle").index)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.line)
def test_the_command_maps_onto_the_lab(command):
    words = command.for_lab(LAB_HOSTS)
    assert "inventories/lab.py" in words and not any("maas-" in w and w[-1].isdigit() for w in words)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.kind == "fact"], ids=lambda c: c.line)
def test_the_fact_and_its_arguments_exist(command):
    words = command.words[command.words.index("fact") + 1:]
    module_name, _, class_name = words[0].rpartition(".")
    fact_cls = getattr(importlib.import_module(module_name), class_name)
    takes = list(inspect.signature(fact_cls.command).parameters)[1:]
    for word in words[1:]:
        assert word.partition("=")[0] in takes, f"{fact_cls.name} takes {takes}, not {word}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.kind != "fact"], ids=lambda c: c.line)
def test_the_deploy_file_and_its_settings_exist(command):
    files = [word for word in command.words if word.endswith(".py") and "/" not in word]
    assert files and all((REPO / name).is_file() for name in files)
    data = [command.words[i + 1] for i, word in enumerate(command.words) if word == "--data"]
    for item in data:
        assert item.partition("=")[0] in config.SETTINGS, item
    assert "--limit" not in command.words


def test_an_unknown_line_in_a_fenced_block_is_refused():
    with pytest.raises(ValueError, match="cannot run: curl"):
        readme_commands("```\nmake demo\ncurl http://example.invalid/\n```\n")


def test_a_host_the_lab_lacks_is_refused():
    command = ReadmeCommand("pyinfra inventories/production.py --limit maas-rack9 fact facts.vmhost.VmHostSoftware",
                            ["inventories/production.py", "--limit", "maas-rack9", "fact", "facts.vmhost.VmHostSoftware"])
    with pytest.raises(ValueError, match="README names maas-rack9, which is rack9 on the lab"):
        command.for_lab(LAB_HOSTS)
