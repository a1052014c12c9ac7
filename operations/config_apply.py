"""The pending-apply marker of a config file (facts/pending_apply.py), set and cleared.

An operation that writes a config file its service only reads at (re)start or reload sets the
marker before the file changes (``mark_pending``); the step that has the service load it
clears the marker once the service runs the new file (``clear_pending``, or the ``applied``
operation). A run stopped in between leaves the marker, and the next run restarts or reloads
the service although the file is already right.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from facts.pending_apply import PendingApply, marker_path


def mark_pending(path: str) -> StringCommand:
    """Leave the marker of ``path``: from now until it is cleared, ``path`` may not be loaded."""
    return StringCommand("touch", QuoteString(marker_path(path)))


def clear_pending(path: str) -> StringCommand:
    """Remove the marker of ``path``: its service runs it."""
    return StringCommand("rm -f", QuoteString(marker_path(path)))


@operation()
def applied(path: str):
    """Record that ``path``'s service has loaded it: its pending-apply marker is removed.

    Called right after the step that restarted or reloaded the service and saw it come back.
    Noop when there is no marker.

    + path: the config file

    **Example:**

    .. code:: python

        from operations import config_apply

        # after the region restarted and answers its API again
        config_apply.applied(name="regiond.conf loaded", path="/etc/maas/regiond.conf")
    """
    if not host.get_fact(PendingApply, path=path):
        host.noop(f"{path} has no pending-apply marker")
        return
    yield clear_pending(path)
