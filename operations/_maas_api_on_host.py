"""One MAAS API request, made on a region host to the region on that host's own loopback.

Not imported by the deploy: ``operations/region_api.py`` runs this file's text with
``python3 -c`` on the region host (as root), the request as JSON on stdin. The admin's API
key is read here, by ``key_command``, and only used here: it never crosses the network, is
on no command line, and is never printed (a failure names the key command's error only).

stdin: ``{"url": ..., "method": ..., "body": <form or null>, "key_command": ...,
"timeout": seconds, "retries": n, "cafiles": [paths]}``; stdout: ``{"status": ..., "content_type": ...,
"body": ...}``, or ``{"error": ...}`` when no answer came. Standard library only (it runs
on the host's own python3).
"""

import json
import os
import random
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def api_key(key_command):
    read = subprocess.run(["sh", "-c", key_command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    lines = read.stdout.splitlines()
    key = lines[0].strip() if lines else ""
    parts = key.split(":")
    if len(parts) != 3 or not all(parts):
        why = read.stderr.strip().splitlines()[-1:] or ["no key"]
        raise LookupError("cannot read the MAAS admin's API key on this host (%s)" % why[0][-300:])
    return parts


def authorization(key):
    """OAuth 1.0 PLAINTEXT, signed as MAAS's own client signs (the signature is the secret:
    fine on the loopback, never on a network)."""
    consumer, token, secret = key
    timestamp = str(int(time.time()))
    nonce = str(random.SystemRandom().getrandbits(64)) + timestamp
    signature = urllib.parse.quote("&" + urllib.parse.quote(secret, safe="~"), safe="~")
    params = [("oauth_nonce", nonce), ("oauth_timestamp", timestamp), ("oauth_version", "1.0"),
              ("oauth_signature_method", "PLAINTEXT"), ("oauth_consumer_key", consumer),
              ("oauth_token", token), ("oauth_signature", signature)]
    return "OAuth " + ", ".join('%s="%s"' % pair for pair in params)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as it is: following it could carry the key to another host."""

    def redirect_request(self, *args, **kwargs):
        return None


def tls_context(cafiles):
    """For ``https://localhost``, with MAAS TLS on: the certificate must chain to MAAS's own
    (the files in ``cafiles`` that exist); its names are not checked, as they need not
    include ``localhost``. Nothing else is trusted."""
    trusted = [path for path in cafiles or [] if os.path.exists(path)]
    if not trusted:
        raise ConnectionError("no MAAS certificate chain on this host (%s)" % ", ".join(cafiles or []))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    for path in trusted:
        context.load_verify_locations(path)
    return context


def opener(request):
    """No proxy from the environment (the request goes to the loopback, nowhere else), no
    redirect followed, and for ``https`` only MAAS's chain trusted."""
    handlers = [urllib.request.ProxyHandler({}), _NoRedirect]
    if request["url"].startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=tls_context(request.get("cafiles"))))
    return urllib.request.build_opener(*handlers)


def send(request, key):
    body = request.get("body")
    data = body.encode() if body is not None else None
    last = None
    open_url = opener(request).open
    for attempt in range(max(1, int(request.get("retries", 1)))):
        http = urllib.request.Request(request["url"], data=data, method=request["method"], headers={
            "Authorization": authorization(key), "Accept": "application/json",
            **({"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {})})
        try:
            with open_url(http, timeout=request.get("timeout", 30)) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
            last = error
            time.sleep(attempt + 1)
    raise ConnectionError("cannot connect to %s (%s)" % (request["url"].split("/api/")[0],
                                                         getattr(last, "reason", last)))


def main():
    request = json.load(sys.stdin)
    try:
        status, content_type, body = send(request, api_key(request["key_command"]))
    except (LookupError, ConnectionError) as error:
        json.dump({"error": str(error)}, sys.stdout)
        return
    json.dump({"status": status, "content_type": content_type,
               "body": body.decode("utf-8", "replace")}, sys.stdout)


if __name__ == "__main__":
    main()
