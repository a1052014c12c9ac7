"""A fact asked the wrong way answers with one line naming the fact and what it takes.

The CLI tests run pyinfra's own `fact` command on @local: the usage errors run no real
command there (only `echo ... >&2; exit 2`), and RegiondConf/RackdConf only look for files.
"""

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api import FactBase

import facts
import run
from facts.usage import Fact

REPO = Path(__file__).resolve().parents[2]


def package_facts() -> list[type]:
    """Every concrete fact class defined in facts/*.py and run/*.py."""
    found = []
    modules = [f"{package.__name__}.{info.name}" for package in (facts, run)
               for info in pkgutil.iter_modules(package.__path__)]
    for module in map(importlib.import_module, modules):
        for _, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, FactBase) and value.__module__ == module.__name__
                    and not value.__dict__.get("abstract", False)):
                found.append(value)
    return sorted(found, key=lambda cls: cls.name)


def required_arguments(fact_cls) -> list[str]:
    params = list(inspect.signature(fact_cls.command).parameters.values())[1:]
    return [p.name for p in params if p.default is p.empty or repr(p.default) == "<missing>"]


FACTS = package_facts()
WITH_REQUIRED = [cls for cls in FACTS if required_arguments(cls)]


def run_on_shell(command: str) -> tuple[int, str]:
    """Exit status and stderr of a fact's command run by sh (usage errors run nothing else)."""
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10)
    return result.returncode, result.stderr


def pyinfra_fact(*words: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyinfra", "@local", "fact", *words], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_package_has_facts_with_and_without_required_arguments():
    assert len(FACTS) >= 15 and WITH_REQUIRED, [cls.name for cls in FACTS]


@pytest.mark.parametrize("fact_cls", FACTS, ids=lambda cls: cls.name)
def test_every_fact_checks_its_arguments(fact_cls):
    assert issubclass(fact_cls, Fact), f"{fact_cls.name} should derive from facts.usage.Fact"


@pytest.mark.parametrize("fact_cls", FACTS, ids=lambda cls: cls.name)
def test_an_unknown_argument_is_one_line(fact_cls):
    status, stderr = run_on_shell(fact_cls().command(bogus=1))
    assert status == 2 and stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"{fact_cls.name}: unknown argument bogus; it takes"), stderr


@pytest.mark.parametrize("fact_cls", WITH_REQUIRED, ids=lambda cls: cls.name)
def test_a_missing_argument_is_one_line(fact_cls):
    assert inspect.getcallargs(fact_cls().command, **{})  # pyinfra binds them first: no TypeError
    status, stderr = run_on_shell(fact_cls().command())
    missing = ", ".join(required_arguments(fact_cls))
    assert status == 2 and stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"{fact_cls.name}: missing argument {missing}; it takes"), stderr


def test_a_wrong_value_is_one_line():
    from facts.maas import MaasAdminUser

    status, stderr = run_on_shell(MaasAdminUser().command(username="admin", flavour="rpm"))
    assert status == 2 and stderr.count("\n") == 1, stderr
    assert stderr.startswith("facts.maas.MaasAdminUser: unknown MAAS flavour 'rpm'"), stderr


def test_the_fact_cli_shows_usage_errors_without_a_traceback():
    words = [cls.name for cls in WITH_REQUIRED] + ["facts.maas.MaasAdminUser", "username=admin", "flavour=rpm"]
    result = pyinfra_fact(*words)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal exception" not in output, output
    for fact_cls in WITH_REQUIRED:
        assert f"{fact_cls.name}: missing argument" in output, output
    assert "facts.maas.MaasAdminUser: unknown MAAS flavour 'rpm'" in output, output


@pytest.mark.skipif(any(os.path.exists(p) for p in ("/etc/maas", "/var/snap/maas")),
                    reason="MAAS is installed on this machine")
def test_the_config_facts_answer_without_arguments():
    result = pyinfra_fact("facts.maas_config.RegiondConf", "facts.maas_config.RackdConf")
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output
    assert "could not load fact" not in output, output
    assert output.count('"@local": "not installed"') == 2, output
