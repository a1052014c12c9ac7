"""Which operating system and release a host runs, from os-release(5).

MAAS's deb packages are built for one Ubuntu series per MAAS version; the deploy reads the
series here to refuse a version with no build for the host, and to name the series in a
mirror's apt source line.
"""

from __future__ import annotations

import shlex

from facts.usage import Fact


class OsRelease(Fact):
    """
    The host's ``ID``, ``VERSION_ID`` and series (``VERSION_CODENAME``, else
    ``UBUNTU_CODENAME``) from ``/etc/os-release`` (else ``/usr/lib/os-release``, as
    os-release(5) says); ``None`` for a value the file does not give.

    .. code:: python

        {"id": "ubuntu", "version_id": "22.04", "codename": "jammy"}
    """

    default = dict

    def command(self) -> str:
        return "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release"

    def process(self, output):
        values = {}
        for line in output:
            key, sep, value = line.strip().partition("=")
            if not sep or key.startswith("#"):
                continue
            try:
                words = shlex.split(value)
            except ValueError:  # an unbalanced quote: take the text as it is
                words = [value]
            values[key] = words[0] if words else ""
        return {
            "id": values.get("ID") or None,
            "version_id": values.get("VERSION_ID") or None,
            "codename": values.get("VERSION_CODENAME") or values.get("UBUNTU_CODENAME") or None,
        }
