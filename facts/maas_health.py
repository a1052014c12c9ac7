"""Whether a region answers its own API on the host, right now.

A rolling restart decides per region whether it must be restarted: because its regiond.conf
is about to change, or because the region does not answer (left down by an interrupted run).
The configuration facts say the former; this fact says the latter.
"""

from __future__ import annotations

import shlex

from facts.usage import Fact

LOCAL_API = "http://localhost:5240/MAAS/"

# Runs on the host; no single quotes (the whole script is shell-quoted). Prints the version
# the region reports, or nothing when it does not answer within a few seconds.
_PROBE = """
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
        print(json.loads(response.read().decode()).get("version") or "unknown")
except Exception:
    pass
"""


class MaasRegionApiVersion(Fact):
    """The MAAS version the local region API reports (``api/2.0/version/``), or ``None``.

    ``None`` when nothing answers on the URL (region not installed, not started, failing).
    Needs ``python3`` (always there on a MAAS host); without it the fact is ``None`` too.
    """

    def command(self, url=LOCAL_API) -> str:
        target = url.rstrip("/") + "/api/2.0/version/"
        return (
            "if command -v python3 >/dev/null 2>&1; then "
            f"python3 -c {shlex.quote(_PROBE)} {shlex.quote(target)}; fi"
        )

    def process(self, output):
        for line in output:
            if line.strip():
                return line.strip()
        return None
