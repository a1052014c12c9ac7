"""The commands that put a new config file live only once its own program accepted it.

HAProxy's and keepalived's configs go live the same way: the new text is uploaded beside the
live file, checked by the program itself (a rejected file is removed and the live one stays
untouched, the program's complaints shown), the live file is backed up, the new one moved in
and the service reloaded (started when it was not running).
"""

from __future__ import annotations

import hashlib
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationValueError, QuoteString, StringCommand
from pyinfra.facts.files import Sha1File
from pyinfra.operations.util import files as files_util


def validated_swap(content: str, path: str, check: str, program: str, service: str, host_name: str,
                   live_exists: bool, before_swap=(), reload: bool = True):
    """The commands, in order. ``check`` is the program's config test, given the new file's
    path as its last word (``haproxy -c -f``); ``live_exists``: a live file to back up;
    ``before_swap``: commands run after the backup, just before the new file moves in;
    ``reload``: reload the service here (False when the caller reloads in its own step)."""
    new_path = f"{path}.maas-ha-new"
    yield FileUploadCommand(StringIO(content), new_path)
    yield StringCommand(
        check,
        QuoteString(new_path),
        "|| {",
        "rm -f",
        QuoteString(new_path),
        ";",
        "echo",
        QuoteString(f"{program} rejected the new config ({host_name}); {path} is unchanged"),
        ">&2; exit 1; }",
    )
    if live_exists:
        yield StringCommand(
            "cp -a", QuoteString(path), QuoteString(f"{path}.bak-{files_util.get_timestamp()}"),
        )
    yield from before_swap
    yield StringCommand("mv", QuoteString(new_path), QuoteString(path))
    if reload:
        yield f"systemctl reload-or-restart {service}"


def swap_due(content: str, path: str, program: str) -> tuple[bool, str | None]:
    """Whether ``content`` differs from the live file (compared by sha1; a noop says so when
    it does not), and the live file's sha1 (None: no live file). Empty content is refused."""
    if not content or not content.strip():
        raise OperationValueError(f"{program} config for {host.name} is empty")
    current = host.get_fact(Sha1File, path=path)
    if current == hashlib.sha1(content.encode("utf-8")).hexdigest():
        host.noop(f"{program} config {path} is up to date")
        return False, current
    return True, current
