"""Lab test equipment (MAAS stand-in): the region/rack RPC authentication.

Real MAAS authenticates AMP connections with an HMAC-SHA256 challenge keyed by the
shared secret.  The stand-in does the same over HTTP (see README.md, "RPC"):
both sides prove the secret with HMAC-SHA256, and every later RPC request carries
an HMAC over method, path, timestamp, nonce and body digest.
"""
import base64
import hashlib
import hmac
import os
import time

HEADER = "X-MAAS-Standin-RPC-Auth"
WINDOW = 300


def key(secret):
    """Secret bytes: the hex-decoded secret (raw text if it is not hex)."""
    secret = (secret or "").strip()
    try:
        return bytes.fromhex(secret)
    except ValueError:
        return secret.encode()


def digest(secret, message_b64, salt_b64):
    """HMAC-SHA256(secret, message + salt), base64 (as MAAS's Authenticate)."""
    data = base64.b64decode(message_b64) + base64.b64decode(salt_b64)
    return base64.b64encode(hmac.new(key(secret), data, hashlib.sha256).digest()).decode()


def new_message():
    return base64.b64encode(os.urandom(16)).decode()


def _mac(secret, method, path, ts, nonce, body):
    text = "\n".join([method, path, str(ts), nonce, hashlib.sha256(body).hexdigest()])
    return hmac.new(key(secret), text.encode(), hashlib.sha256).hexdigest()


def sign(secret, method, path, body):
    """Header value authenticating one RPC request."""
    ts = int(time.time())
    nonce = os.urandom(8).hex()
    return "ts=%d,nonce=%s,mac=%s" % (ts, nonce, _mac(secret, method, path, ts, nonce, body))


def verify(secret, method, path, body, header):
    """True when the header was made with this secret recently."""
    try:
        fields = dict(part.split("=", 1) for part in (header or "").split(","))
        ts = int(fields["ts"])
        expected = _mac(secret, method, path, ts, fields["nonce"], body)
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > WINDOW:
        return False
    return hmac.compare_digest(expected, fields["mac"])
