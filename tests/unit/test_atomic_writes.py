"""Config files are replaced in one step: an operation that uploads a file uploads it under a
name of its own in the same directory and renames it over the live file afterwards.

pyinfra writes an upload in place (over SFTP, or under sudo with ``cp`` from its temporary
directory onto the destination): a service, or a crash, could meet a half-written file. A
rename within one directory (one file system) is atomic. Checked on every operation fixture,
so a new upload is covered as soon as it has one.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest
import yaml

FIXTURES = Path(__file__).parent / "operations"


def command_text(command) -> str:
    if isinstance(command, dict):
        command = command.get("command")
    return command if isinstance(command, str) else ""


def uploads():
    """(fixture, destination of an upload, the commands after it) for every upload in a fixture."""
    for path in sorted(FIXTURES.glob("*/*.yaml")):
        commands = yaml.safe_load(path.read_text()).get("commands") or []
        for index, command in enumerate(commands):
            if isinstance(command, dict):
                command = command.get("command")
            if isinstance(command, list) and command and command[0] == "upload":
                yield pytest.param(command[2], [command_text(later) for later in commands[index + 1:]],
                                   id=f"{path.parent.name}/{path.stem}")


@pytest.mark.parametrize(("destination", "later"), list(uploads()))
def test_an_upload_is_renamed_over_the_live_file(destination, later):
    rename = re.compile(rf"\bmv (?:-f )?{re.escape(destination)} (\S+)")
    targets = [match.group(1) for text in later for match in [rename.search(text)] if match]
    assert targets, f"{destination} is uploaded where it is used: no rename follows"
    live = targets[0]
    assert live != destination
    assert posixpath.dirname(live) == posixpath.dirname(destination), \
        f"{destination} is renamed over {live} from another directory (not atomic across file systems)"


def test_the_fixtures_hold_uploads():
    """The positive control: there are uploads to check."""
    assert len(list(uploads())) >= 3
