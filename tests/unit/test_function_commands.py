"""Every function an operation yields as a ``FunctionCommand`` must take pyinfra's
``state`` and ``host`` by those names: pyinfra 3 passes them only when both parameter names
are present (``FunctionCommand.execute`` reads the argspec), and otherwise calls the function
with its listed arguments alone. A renamed parameter passes every fixture test (they compare
names and arguments) and fails only when a real run reaches the command."""

import ast
import importlib
from inspect import getfullargspec
from pathlib import Path

import pytest
from pyinfra.api.command import FunctionCommand

from operations._remote import say

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("operations", "deploys", "run")


def _function_commands():
    """(module, function name) for each ``FunctionCommand(<name>, ...)`` in production code."""
    found = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).glob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FunctionCommand"
                        and node.args and isinstance(node.args[0], ast.Name)):
                    found.append((f"{package}.{path.stem}", node.args[0].id))
    return found


def test_the_scan_finds_the_function_commands():
    names = {name for _module, name in _function_commands()}
    assert {"say", "register_rack", "deregister_rack", "delete_region"} <= names


@pytest.mark.parametrize("module,name", _function_commands())
def test_function_command_takes_state_and_host(module, name):
    function = getattr(importlib.import_module(module), name)
    args = getfullargspec(function).args
    assert args[:2] == ["state", "host"], f"{module}.{name}{tuple(args)}: pyinfra would not pass state, host"


class _Host:
    def __init__(self):
        self.said = []

    def log_styled(self, message, **_kwargs):
        self.said.append(message)


def test_say_runs_as_pyinfra_runs_it():
    host = _Host()
    assert FunctionCommand(say, ["done"], {}).execute(object(), host, {}) is True
    assert host.said == ["done"]
