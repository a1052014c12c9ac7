"""Digests of secrets that facts may print: keyed with a key no output or log ever holds.

A fact that lets an operation ask "does the host hold this password?" must print something
the operation can compare. An unsalted hash, or the stored verifier itself, lets anyone who
reads pyinfra's output at -vvv test guesses offline. A key sent in the command would be on
the host's command line and in sudo's log. So the key is agreed instead (ephemeral
Diffie-Hellman, RFC 3526 group 14): the control machine holds a random exponent for the
run and puts only its public value in fact commands; the host picks its own exponent, and
prints its public value and an HMAC-SHA256 of the secret keyed with the shared value. Only
this process can recompute that key; what is printed is useless for guessing.

The host side is Python source (``HOST_CODE``) that on-host fact scripts include; it
defines ``keyed(text, peer)``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# RFC 3526, 2048-bit MODP group (id 14); generator 2
PRIME = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)
GENERATOR = 2
PREFIX = "dh:"

_run_exponent = secrets.randbits(256) | (1 << 255)


def public_value() -> str:
    """This run's public value (hex), for fact commands: safe to print."""
    return format(pow(GENERATOR, _run_exponent, PRIME), "x")


def _valid_public(value: int) -> bool:
    return 1 < value < PRIME - 1


def _key(shared: int) -> bytes:
    return hashlib.sha256(shared.to_bytes(256, "big")).digest()


def matches(digest, secret) -> bool:
    """Whether a fact's ``dh:<host public>:<hmac>`` is of ``secret`` (text), for this run."""
    if not isinstance(digest, str) or not digest.startswith(PREFIX) or secret is None:
        return False
    try:
        host_public_hex, mac = digest[len(PREFIX):].split(":")
        host_public = int(host_public_hex, 16)
    except ValueError:
        return False
    if not _valid_public(host_public):
        return False
    key = _key(pow(host_public, _run_exponent, PRIME))
    expected = hmac.new(key, str(secret).encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, mac)


# Runs on the host inside fact scripts (no single quotes: scripts are shell-quoted).
HOST_CODE = f"""
import hashlib, hmac, os
def keyed(text, peer):
    prime = int("{format(PRIME, 'X')}", 16)
    peer = int(peer, 16)
    if not 1 < peer < prime - 1:
        raise SystemExit("bad public value")
    mine = int.from_bytes(os.urandom(32), "big") | (1 << 255)
    key = hashlib.sha256(pow(peer, mine, prime).to_bytes(256, "big")).digest()
    mac = hmac.new(key, str(text).encode("utf-8"), hashlib.sha256).hexdigest()
    return "{PREFIX}%x:%s" % (pow({GENERATOR}, mine, prime), mac)
"""


def host_keyed(text: str, peer: str, host_exponent: int) -> str:
    """What ``HOST_CODE``'s ``keyed`` prints, with a given host exponent (for test fixtures)."""
    key = _key(pow(int(peer, 16), host_exponent, PRIME))
    mac = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{PREFIX}{format(pow(GENERATOR, host_exponent, PRIME), 'x')}:{mac}"
