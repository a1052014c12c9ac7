"""keepalived holding the MAAS API's floating address: its validated config and its check,
and their retirement when the address is unset.

As with HAProxy's config, a new ``keepalived.conf`` only goes live after ``keepalived
--config-test`` accepted it (a rejected file is removed, the live one stays), and keepalived
is reloaded only when the content changed: a reload keeps the address where it is.
"""

from __future__ import annotations


from pyinfra import host
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.operations.util import files as files_util

from facts.keepalived import KeepalivedFiles
from operations._render_keepalived import (CHECK_SCRIPT_PATH, CONFIG_PATH, priority,  # noqa: F401
                                           render_check_script, render_config, vrrp_link)
from operations._validated_swap import swap_due, validated_swap
from operations._remote import say


@operation()
def config(content: str, path: str = CONFIG_PATH):
    """Install ``content`` as keepalived's config, validated first, and reload keepalived.

    Compares the sha1 of ``content`` with the live file; when they differ the new file is
    uploaded beside the live one and checked with ``keepalived --config-test`` (its
    complaints shown; a rejected file is removed and the live config stays untouched), the
    live file is backed up to ``PATH.bak-<timestamp>``, swapped in with ``mv`` and keepalived
    reloaded (started when it was not running). Noop when the content is already live.

    + content: the whole config file (``render_config`` builds it)
    + path: the live config file

    **Example:**

    .. code:: python

        from operations import keepalived

        keepalived.config(
            name="keepalived.conf: the API's floating address",
            content=keepalived.render_config(
                host_name="lb1", interface="eth0", vip="10.0.0.20", prefixlen=24,
                router_id=21, priority=250, own_address="10.0.0.13", peers=["10.0.0.15"],
            ),
        )
    """
    due, current = swap_due(content, path, "keepalived")
    if not due:
        return

    # --config-test exits non-zero on an error and prints it on stderr
    yield from validated_swap(content, path, "keepalived --config-test --use-file", "keepalived", "keepalived",
                              host.name, live_exists=current is not None)


def files_to_move_aside(found) -> list[str]:
    """maas-ha's keepalived files among ``found`` (the ``KeepalivedFiles`` fact; None: the
    host did not answer), in the order they go aside: the check script first, the config
    last, so that a run stopped between the two still finds the config, the mark that
    keepalived is to be retired, and finishes the job."""
    return [path for path in (CHECK_SCRIPT_PATH, CONFIG_PATH) if path in (found or [])]



@operation()
def files_moved_aside():
    """Move maas-ha's keepalived config and HAProxy check aside, to ``PATH.bak-<timestamp>``,
    and say so. Only files maas-ha wrote (the ``KeepalivedFiles`` fact); noop when none is
    left. Stop keepalived first: it keeps the config it read, and the address with it.

    **Example:**

    .. code:: python

        from operations import keepalived

        keepalived.files_moved_aside(name="keepalived's config and HAProxy check moved aside")
    """
    paths = files_to_move_aside(host.get_fact(KeepalivedFiles))
    if not paths:
        host.noop("no keepalived config or check of maas-ha's is left")
        return
    timestamp = files_util.get_timestamp()
    moved = []
    for path in paths:
        backup = f"{path}.bak-{timestamp}"
        yield StringCommand("mv", QuoteString(path), QuoteString(backup))
        moved.append(f"{path} to {backup}")
    yield FunctionCommand(say, [f"keepalived retired, its files moved aside: {', '.join(moved)}"], {})
