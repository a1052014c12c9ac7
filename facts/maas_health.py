"""Whether a region answers its own API on the host, right now.

A rolling restart decides per region whether it must be restarted: because its regiond.conf
is about to change, or because the region does not answer (left down by an interrupted run).
The configuration facts say the former; this fact says the latter.
"""

from __future__ import annotations

import json
import shlex

from facts.usage import Fact

LOCAL_API = "http://localhost:5240/MAAS/"

# MAAS's certificate chain on a region with MAAS TLS on (`maas config-tls enable`), public:
# written 0644 for its nginx (src/maasserver/regiondservices/http.py, MAAS_HTTP_CONFIG_DIR).
TLS_CHAINS = {"deb": "/var/lib/maas/http/certs/regiond-proxy.pem",
              "snap": "/var/snap/maas/current/http/certs/regiond-proxy.pem"}

# Python for the host: open_local(url) opens a local region URL. With MAAS TLS on, nginx answers
# 5240 with 301 to https://localhost:<TLS port>/... (regiond.nginx.conf.template); the
# redirect is followed and the certificate checked against MAAS's own chain (its names need
# not include localhost). No single quotes: scripts using it are shell-quoted.
LOCAL_OPEN = """
import os, ssl, urllib.request
def open_local(url):
    context = ssl.create_default_context()
    context.check_hostname = False
    for chain in %s:
        if os.path.exists(chain):
            context.load_verify_locations(chain)
    return urllib.request.urlopen(url, timeout=3, context=context)
""" % (json.dumps(sorted(TLS_CHAINS.values())),)

# Runs on the host; no single quotes (the whole script is shell-quoted). Prints the version
# the region reports, or nothing when it does not answer within a few seconds.
_PROBE = LOCAL_OPEN + """
import json, sys
try:
    with open_local(sys.argv[1]) as response:
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


# Runs on the host; no single quotes. With MAAS TLS on, prints the HTTPS port 5240 redirects
# to, then MAAS's certificate chain; with TLS off (or no answer), nothing.
_TLS_PROBE = """
import sys, urllib.error, urllib.parse, urllib.request
class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
try:
    urllib.request.build_opener(Keep).open(sys.argv[1], timeout=3)
except urllib.error.HTTPError as error:
    target = urllib.parse.urlsplit(error.headers.get("Location") or "")
    if error.code in (301, 302, 307, 308) and target.scheme == "https":
        print("port=%d" % (target.port or 443))
        try:
            print(open(sys.argv[2]).read())
        except OSError:
            pass
except Exception:
    pass
"""


class MaasTls(Fact):
    """MAAS's own TLS (``maas config-tls enable``) as the local region shows it: ``None`` when
    off (or the region does not answer), else ``{"port": 5443, "chain": "<PEM>"}``, the port
    its 5240 redirects the API to and the certificate chain MAAS's nginx serves (public;
    ``chain`` is ``""`` when the file is not there).
    """

    def command(self, flavour="deb", url=LOCAL_API) -> str:
        target = url.rstrip("/") + "/api/2.0/version/"
        return (
            "if command -v python3 >/dev/null 2>&1; then "
            f"python3 -c {shlex.quote(_TLS_PROBE)} {shlex.quote(target)} {shlex.quote(TLS_CHAINS[flavour])}; fi"
        )

    def process(self, output):
        if not output or not output[0].startswith("port="):
            return None
        return {"port": int(output[0].split("=", 1)[1]),
                "chain": "\n".join(line for line in output[1:] if line.strip()) + "\n" if output[1:] else ""}
