"""A small MAAS API 2.0 client (requests + OAuth 1.0 PLAINTEXT).

Used by the lab and its tests to query a region from the control machine (the deploy's own
calls signed with the admin's key run on the region host instead: ``region_api.py``). It
signs requests exactly like MAAS's own client (oauthlib's PLAINTEXT header: nonce, integer
timestamp, version, ``oauth_signature="%26<token secret>"``),
keeps timeouts bounded, retries briefly on connection errors, and never puts the API key
into its ``repr`` or into an exception.
"""

from __future__ import annotations

import json
import random
import time
from urllib.parse import quote

import requests

DEFAULT_TIMEOUT = (5, 30)  # connect, read (seconds)
DEFAULT_RETRIES = 3
RETRY_DELAY = 1.0


class MaasApiError(Exception):
    """A MAAS API call failed: HTTP status (None for transport errors), body, method, path."""

    def __init__(self, status, body, method, path):
        self.status = status
        self.body = body
        self.method = method
        self.path = path
        super().__init__(self._message())

    def _message(self) -> str:
        body = self.body if isinstance(self.body, str) else json.dumps(self.body)
        body = (body or "").strip()
        if len(body) > 500:
            body = body[:500] + "..."
        if self.status is None:
            return f"MAAS API {self.method} {self.path}: {body}"
        return f"MAAS API {self.method} {self.path} returned HTTP {self.status}: {body}"

    @property
    def field_errors(self) -> dict:
        """Form validation errors (400 JSON ``{"field": ["msg"]}``), else ``{}``."""
        body = self.body
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                return {}
        if isinstance(body, dict):
            return {
                str(key): value if isinstance(value, list) else [value]
                for key, value in body.items()
            }
        return {}


def api_root(url: str) -> str:
    """Normalise a MAAS URL the way ``maas login`` does: ``.../MAAS/api/2.0/``."""
    url = url.rstrip("/") + "/"
    if not url.rstrip("/").split("/")[-2:-1] == ["api"]:
        url += "api/2.0/"
    return url


def answer(status: int, content_type: str, body: str, method: str, path: str):
    """A response's decoded body (JSON when it says so, else text; None when empty), or
    :class:`MaasApiError` for a status of 300 or more."""
    if "json" in content_type and body:
        try:
            body = json.loads(body)
        except ValueError:
            pass
    if status >= 300:
        raise MaasApiError(status, body, method, path)
    if body == "":
        return None
    return body


class ApiVerbs:
    """``get``, ``post``, ``put``, ``delete`` over a ``request(method, path, params, data)``."""

    def get(self, path, **params):
        """GET ``path`` (relative to ``.../api/2.0/``); keyword arguments go in the query."""
        return self.request("GET", path, params=params or None)

    def post(self, path, data=None):
        """POST a form (``op`` may be part of ``path``: ``"users/?op=whoami"``)."""
        return self.request("POST", path, data=data or {})

    def put(self, path, data=None):
        """PUT a form: MAAS updates only the fields given."""
        return self.request("PUT", path, data=data or {})

    def delete(self, path, **params):
        """DELETE ``path``; keyword arguments go in the query (``force=True``)."""
        return self.request("DELETE", path, params=params or None)


class MaasClient(ApiVerbs):
    """MAAS API 2.0 client: ``get``, ``post``, ``put``, ``delete`` return decoded JSON."""

    def __init__(self, url, api_key, timeout=DEFAULT_TIMEOUT, retries=DEFAULT_RETRIES):
        parts = (api_key or "").strip().split(":")
        if len(parts) != 3 or not all(parts):
            # Never echo the key, not even a malformed one.
            raise ValueError("MAAS API key must be 'consumer:token:secret'")
        self.url = api_root(url)
        self._consumer_key, self._token_key, self._token_secret = parts
        self.timeout = timeout
        self.retries = max(1, int(retries))
        self._session = requests.Session()
        # No proxies or .netrc from the environment: talk to the region directly and
        # keep our Authorization header.
        self._session.trust_env = False

    def __repr__(self) -> str:
        return f"MaasClient(url={self.url!r})"

    def _auth_header(self) -> str:
        timestamp = str(int(time.time()))
        nonce = str(random.SystemRandom().getrandbits(64)) + timestamp
        signature = quote("&" + quote(self._token_secret, safe="~"), safe="~")
        params = [
            ("oauth_nonce", nonce),
            ("oauth_timestamp", timestamp),
            ("oauth_version", "1.0"),
            ("oauth_signature_method", "PLAINTEXT"),
            ("oauth_consumer_key", self._consumer_key),
            ("oauth_token", self._token_key),
            ("oauth_signature", signature),
        ]
        return "OAuth " + ", ".join(f'{key}="{value}"' for key, value in params)

    @staticmethod
    def url_of(root: str, path: str) -> str:
        """``path`` under the API root, with the trailing slash MAAS's URLs have."""
        path = path.lstrip("/")
        if path and not path.endswith("/") and "?" not in path:
            path += "/"
        return root + path

    @staticmethod
    def encode(data):
        """Form or query values as MAAS reads them (``true``/``false``, ``""`` for None)."""
        if data is None:
            return None
        encoded = {}
        for key, value in data.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif value is None:
                value = ""
            encoded[key] = value
        return encoded

    def request(self, method: str, path: str, params=None, data=None):
        """Send one signed request; decoded JSON (or text, or None for an empty body)."""
        url = self.url_of(self.url, path)
        last_error = None
        for attempt in range(self.retries):
            try:
                response = self._session.request(
                    method,
                    url,
                    params=self.encode(params),
                    data=self.encode(data),
                    headers={"Authorization": self._auth_header(), "Accept": "application/json"},
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.ConnectionError as error:
                last_error = error
                if attempt + 1 < self.retries:
                    time.sleep(RETRY_DELAY * (attempt + 1))
                continue
            except requests.RequestException as error:
                raise MaasApiError(None, f"{type(error).__name__}: {error}", method, path) from None
            return self._decode(response, method, path)
        raise MaasApiError(
            None,
            f"cannot connect to {self.url} after {self.retries} attempts "
            f"({type(last_error).__name__})",
            method,
            path,
        )

    @staticmethod
    def _decode(response, method, path):
        return answer(response.status_code, response.headers.get("Content-Type", ""), response.text,
                      method, path)
