"""The set-up path a newcomer takes: `make install` on a stock Debian/Ubuntu Python.

Debian's /usr/bin/python3 refuses `pip install` into itself (PEP 668), so the Makefile builds
the project virtualenv .venv and installs there. This runs the real Makefile, in a copy of the
working tree, with the distribution's interpreter; it downloads the dependencies from PyPI
(pip's cache makes later runs quicker).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTION_PYTHON = "/usr/bin/python3"


def project_files() -> list[str]:
    """What a fresh clone of the working tree has: tracked and new files, not ignored ones
    (outside a git checkout: every file but the virtualenv and caches)."""
    listing = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, text=True)
    if listing.returncode == 0:
        return [name for name in listing.stdout.split("\0") if name and (REPO / name).is_file()]
    skip = {".venv", ".git", "__pycache__", ".pytest_cache"}
    return [str(path.relative_to(REPO)) for path in REPO.rglob("*")
            if path.is_file() and not skip & set(path.relative_to(REPO).parts)]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("newcomer") / "maas-ha"
    for name in project_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target / name)
    return target


def clean_env() -> dict[str, str]:
    """The environment of a fresh shell: no virtualenv, no PYTHONPATH pointing into a checkout."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKEFLAGS", "MAKELEVEL")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def make(clone: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(clone), *args], capture_output=True, text=True,
                          env=clean_env(), timeout=timeout)


@pytest.fixture(scope="module")
def installed(clone: Path) -> Path:
    if not os.path.exists(DISTRIBUTION_PYTHON):
        pytest.skip(f"no distribution Python at {DISTRIBUTION_PYTHON}")
    done = make(clone, "install", f"PYTHON={DISTRIBUTION_PYTHON}")
    assert done.returncode == 0, f"make install failed:\n{done.stdout}\n{done.stderr}"
    return clone


def test_make_install_builds_the_venv_from_the_distribution_python(installed: Path):
    config = (installed / ".venv" / "pyvenv.cfg").read_text()
    home = next(line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("home"))
    assert Path(home) == Path(DISTRIBUTION_PYTHON).parent


def test_venv_pyinfra_runs(installed: Path):
    done = subprocess.run([str(installed / ".venv" / "bin" / "pyinfra"), "--version"], capture_output=True,
                          text=True, env=clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pyinfra: v3."), done.stdout


def test_venv_imports_the_project_from_the_checkout(installed: Path, tmp_path: Path):
    """An editable install: the venv finds this checkout's packages from any directory."""
    code = "import config, deploys, facts, operations; print(facts.__file__)"
    done = subprocess.run([str(installed / ".venv" / "bin" / "python"), "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, env=clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == installed / "facts" / "__init__.py"
    tools = subprocess.run([str(installed / ".venv" / "bin" / "python"), "-m", "pytest", "--version"],
                           capture_output=True, text=True, env=clean_env(), timeout=120)
    assert tools.returncode == 0, tools.stderr


def test_second_make_install_has_nothing_to_do(installed: Path):
    assert make(installed, "-q", "install", f"PYTHON={DISTRIBUTION_PYTHON}").returncode == 0


def test_make_install_without_venv_support_says_what_to_install(tmp_path: Path, clone: Path):
    """A Python without python3-venv: a clear message, and no half-made .venv left behind.

    The stand-in interpreter fails as Debian's does then: after making the directory."""
    fresh = tmp_path / "maas-ha"
    shutil.copytree(clone, fresh, ignore=shutil.ignore_patterns(".venv"))
    python = tmp_path / "python-without-venv"
    python.write_text('#!/bin/sh\n# called as: python -m venv DIR\nmkdir -p "$3/bin" && : > "$3/bin/python"\n'
                      'echo "The virtual environment was not created successfully because ensurepip is not '
                      'available." >&2\nexit 1\n')
    python.chmod(0o755)
    done = make(fresh, "install", f"PYTHON={python}")
    assert done.returncode != 0
    assert f"cannot create .venv with {python}; on Debian/Ubuntu: apt-get install python3-venv" in done.stderr
    assert not (fresh / ".venv").exists()
