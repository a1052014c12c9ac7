"""HAProxy in front of the MAAS region API: the rendered config and its validated install.

Unlike a plain file upload, a new config only goes live after ``haproxy -c`` accepted it
(the live file is never touched by a rejected one), and HAProxy is reloaded (open connections
survive) only when the content changed. Draining regions through the admin socket for rolling
restarts is in ``operations/maas_rolling.py``.
"""

from __future__ import annotations

import hashlib
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationValueError, QuoteString, StringCommand, operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations.util import files as files_util

from operations._render_haproxy import DEFAULT_SOCKET, render_config  # noqa: F401  (the deploy's entry)


@operation()
def config(content: str, path: str = "/etc/haproxy/haproxy.cfg"):
    """Install ``content`` as the HAProxy config, validated first, and reload HAProxy.

    Compares the sha1 of ``content`` with the live file; when they differ the new file is
    uploaded beside the live one, checked with ``haproxy -c`` (its complaints shown) (a rejected file is removed
    and the live config stays untouched), the live file is backed up to
    ``PATH.bak-<timestamp>``, swapped in with ``mv`` and HAProxy reloaded (started when it
    was not running). Noop when the content is already live.

    + content: the whole config file (``render_config`` builds it from the regions)
    + path: the live config file

    **Example:**

    .. code:: python

        from operations import haproxy

        haproxy.config(
            name="haproxy.cfg: region API backends",
            content=haproxy.render_config(
                backends=[
                    {"name": "region1", "address": "10.0.0.11", "port": 5240},
                    {"name": "region2", "address": "10.0.0.12", "port": 5240},
                ],
            ),
        )
    """
    if not content or not content.strip():
        raise OperationValueError(f"haproxy config for {host.name} is empty")

    wanted = hashlib.sha1(content.encode("utf-8")).hexdigest()
    current = host.get_fact(Sha1File, path=path)
    if current == wanted:
        host.noop(f"haproxy config {path} is up to date")
        return

    new_path = f"{path}.maas-ha-new"
    yield FileUploadCommand(StringIO(content), new_path)
    yield StringCommand(
        # no -q: HAProxy 2.6 would then hide the reason it rejects the file
        "haproxy -c -f",
        QuoteString(new_path),
        "|| {",
        "rm -f",
        QuoteString(new_path),
        ";",
        "echo",
        QuoteString(f"haproxy rejected the new config ({host.name}); {path} is unchanged"),
        ">&2; exit 1; }",
    )
    if current is not None:
        yield StringCommand(
            "cp -a", QuoteString(path), QuoteString(f"{path}.bak-{files_util.get_timestamp()}"),
        )
    yield StringCommand("mv", QuoteString(new_path), QuoteString(path))
    yield "systemctl reload-or-restart haproxy"
