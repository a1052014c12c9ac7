"""HAProxy in front of the MAAS region API: the rendered config and its validated install.

Unlike a plain file upload, a new config only goes live after ``haproxy -c`` accepted it
(the live file is never touched by a rejected one), and HAProxy is reloaded (open connections
survive) only when the content changed. Draining regions through the admin socket for rolling
restarts is in ``operations/maas_rolling.py``.
"""

from __future__ import annotations

import hashlib

from pyinfra import host
from pyinfra.api import OperationValueError, operation
from pyinfra.facts.files import Sha1File

from operations._render_haproxy import DEFAULT_SOCKET, render_config  # noqa: F401  (the deploy's entry)
from operations._validated_swap import validated_swap


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

    # no -q: HAProxy 2.6 would then hide the reason it rejects the file
    yield from validated_swap(content, path, "haproxy -c -f", "haproxy", "haproxy", host.name,
                              live_exists=current is not None)
