"""The MAAS API as a region host reaches it on its own loopback, called from the deploy.

DHCP HA and rack removal change MAAS through its API, signed with the admin's API key (OAuth
PLAINTEXT: the signature is the token secret itself). So that the key never crosses the
network, in clear or otherwise, each request runs *on the region host*: a small program
(``_maas_api_on_host.py``) reads the key there, sends the request to the region on that
host's loopback (``http://localhost:5240/MAAS``; with MAAS TLS on,
``https://localhost:5443/MAAS``, the certificate checked against MAAS's own chain on the host)
and prints the answer. The request travels to the host on the program's standard input,
inside pyinfra's SSH connection; the key is on no command line and in no output.

:class:`RegionApi` has :class:`operations.maas_api_client.MaasClient`'s interface (``get``,
``post``, ``put``, ``delete``, JSON in and out, :class:`MaasApiError` on failure).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.exceptions import OperationError

from facts.maas_health import TLS_CHAINS
from operations._remote import run, stderr_tail
from operations.maas_api_client import (
    DEFAULT_RETRIES,
    ApiVerbs,
    MaasApiError,
    MaasClient,
    answer,
    api_root,
)

ON_HOST_PROGRAM = (Path(__file__).parent / "_maas_api_on_host.py").read_text()
READ_TIMEOUT = 30  # seconds for one answer; the command as a whole gets a bound too


class RegionApi(ApiVerbs):
    """MAAS API calls made on the region host ``target`` (an inventory host, connected) to
    ``url``, the region API as that host reaches it (its loopback), signed with the key
    ``key_command`` prints there (:func:`operations._remote.api_key_command`). An ``https``
    URL is checked against the certificate chains in ``cafiles`` that exist on the host
    (MAAS's own, ``facts.maas_health.TLS_CHAINS``), not against its name: it is ``localhost``."""

    def __init__(self, state, target, url: str, key_command: str, retries: int = DEFAULT_RETRIES,
                 cafiles=None):
        self.state, self.target = state, target
        self.url = api_root(url)
        self.key_command = key_command
        self.retries = max(1, int(retries))
        self.cafiles = sorted(TLS_CHAINS.values()) if cafiles is None else list(cafiles)

    def __repr__(self) -> str:
        return f"RegionApi(host={self.target.name!r}, url={self.url!r})"

    def request(self, method: str, path: str, params=None, data=None):
        """Send one signed request from the region host; decoded JSON (or text, or None)."""
        url = MaasClient.url_of(self.url, path)
        if params:
            url += "?" + urlencode(MaasClient.encode(params))
        body = urlencode(MaasClient.encode(data)) if data is not None else None
        request = {"url": url, "method": method, "body": body, "key_command": self.key_command,
                   "timeout": READ_TIMEOUT, "retries": self.retries, "cafiles": self.cafiles}
        ok, output = run(self.state, self.target, StringCommand("python3 -c", QuoteString(ON_HOST_PROGRAM)),
                         _stdin=json.dumps(request),
                         _timeout=(READ_TIMEOUT + self.retries * 2) * self.retries + 30)
        try:
            result = json.loads(output.stdout) if ok else None
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise OperationError(f"cannot call the MAAS API on {self.target.name} (python3 on the "
                                 f"region host ran the request){stderr_tail(output)}")
        if "error" in result:
            raise MaasApiError(None, f"on {self.target.name}: {result['error']}", method, path)
        return answer(result["status"], result.get("content_type", ""), result.get("body", ""),
                      method, path)
