"""Config files a run wrote whose service has not loaded them yet.

A run that writes a config file and then restarts or reloads its service can be stopped
between the two (Ctrl-C, a lost connection, a killed control machine). The file already holds
the wanted settings then, so a run that only compared files would report "no change" and leave
the service on the old config. The operations that write such a file first leave a marker
beside it (``<config>.maas-ha-pending``) and remove it once the service has loaded the file
(operations/config_apply.py); this fact says whether that marker is there.
"""

from __future__ import annotations

import shlex

from facts.usage import Fact

MARKER_SUFFIX = ".maas-ha-pending"


def marker_path(config_path: str) -> str:
    """Where the pending-apply marker of ``config_path`` lives: beside it."""
    return f"{config_path}{MARKER_SUFFIX}"


class PendingApply(Fact):
    """
    True when ``path`` was written by a run that stopped before its service loaded it (its
    marker exists), else False.

    .. code:: python

        True
    """

    def command(self, path) -> str:
        marker = shlex.quote(marker_path(path))
        return f"if [ -e {marker} ]; then echo pending; else echo loaded; fi"

    def process(self, output):
        return any(line.strip() == "pending" for line in output)
