"""Find the real programs some unit tests run (haproxy, PostgreSQL's binaries).

They live outside a normal user's PATH (``/usr/sbin``, ``/usr/lib/postgresql/<major>/bin``),
so they are looked up there too. A missing one skips the test on a workstation, but fails it
in CI (``CI=true``): CI installs them, and a test that skips there proves nothing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket

import pytest

SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing(what: str) -> None:
    """Skip (or, in CI, fail) the calling test: `what` is not installed."""
    if in_ci():
        pytest.fail(f"{what} not found, and CI=true: CI must install it", pytrace=False)
    pytest.skip(f"{what} not found")


def find_program(name: str) -> str | None:
    """`name` on PATH or in an sbin directory, else None."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN_DIRS))


def find_postgres_bin() -> str | None:
    """The bin directory of the newest PostgreSQL installed (Debian layout), else None."""
    found = [path for path in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(path, "initdb"))]
    return max(found, key=lambda path: int(path.split("/")[-2]), default=None)


def require_program(name: str) -> str:
    path = find_program(name)
    if path is None:
        missing(f"{name} (searched PATH and {', '.join(SBIN_DIRS)})")
    return path


def require_postgres_bin() -> str:
    path = find_postgres_bin()
    if path is None:
        missing("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (for a real server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
