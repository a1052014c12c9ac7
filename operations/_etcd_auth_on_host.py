"""etcd's authentication for Patroni, set up on a database host against its own etcd member.

Not imported by the deploy: ``operations/patroni.py`` (``etcd_auth``) runs this file's text
with ``python3 -c`` on the database host (as root), the request as JSON on stdin, so the
passwords are on no command line and in no output. It talks to etcd's JSON gateway
(``/v3/...``, etcd 3.4 and later) on the host's loopback, in this order, each step
idempotent:

1. with authentication already on, a token for ``root`` (its password must be the wanted one);
2. the role ``patroni`` with read-write on Patroni's key prefix (``/service/<scope>/``) only;
3. the users ``root`` (role ``root``) and ``patroni`` (role ``patroni``), created, or given
   the wanted password when they do not log in with it;
4. authentication turned on, when it is off (the deploy has seen every running Patroni read
   its credentials, ``etcd3.username/password``, first); a changed ``patroni`` password is
   set only after ``settle`` seconds, as a reloaded Patroni reads its file at the start of
   its next cycle (``loop_wait``);
5. a check that ``patroni`` logs in and reads its prefix, and that a request without a
   token is refused.

stdin: ``{"url": ..., "prefix": ..., "root_password": ..., "patroni_password": ...,
"settle": seconds}``; stdout: ``{"done": [steps]}`` or ``{"error": ...}`` (also on stderr,
exit 1); neither holds a password. Standard library only (it runs on the host's own python3).
"""

import base64
import json
import sys
import time
import urllib.error
import urllib.request

ROLE = "patroni"
USERS = {"root": "root", "patroni": ROLE}  # user -> its role


class EtcdError(Exception):
    """etcd answered with an error (its message, never a password)."""


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def prefix_end(prefix):
    """The end of the key range of ``prefix`` (its last byte plus one), as etcd wants it."""
    raw = bytearray(prefix.encode("utf-8"))
    raw[-1] += 1
    return bytes(raw).decode("utf-8")


def call(url, path, body, token=None):
    """POST ``body`` (JSON) to the gateway; the decoded answer, or EtcdError with etcd's message."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read().decode() or "{}")
    except urllib.error.HTTPError as error:
        try:
            answer = json.loads(error.read().decode() or "{}")
        except ValueError:
            answer = {}
        raise EtcdError(answer.get("error") or answer.get("message") or "HTTP %s" % error.code) from None


def auth_enabled(url):
    """Whether etcd refuses a read without a token."""
    try:
        call(url, "/v3/kv/range", {"key": b64("/"), "limit": 1})
    except EtcdError as error:
        if "user name is empty" in str(error):
            return True
        raise
    return False


def logs_in(url, name, password):
    """A token when ``name`` logs in with ``password``, else None."""
    try:
        return call(url, "/v3/auth/authenticate", {"name": name, "password": password}).get("token")
    except EtcdError as error:
        if "authentication failed" in str(error):
            return None
        raise


def ignoring(error_text, function, *args, **kwargs):
    """Run ``function``; an EtcdError whose message holds ``error_text`` is not an error."""
    try:
        function(*args, **kwargs)
        return True
    except EtcdError as error:
        if error_text not in str(error):
            raise
        return False


def setup(request):
    url, prefix = request["url"], request["prefix"]
    passwords = {"root": request["root_password"], "patroni": request["patroni_password"]}
    done = []
    enabled = auth_enabled(url)
    token = None
    if enabled:
        token = logs_in(url, "root", passwords["root"])
        if not token:
            raise EtcdError("etcd's user root does not log in with maas_etcd_root_password "
                            "(authentication is on; give root that password in etcd first)")

    def rpc(path, body):
        return call(url, path, body, token)

    settled = []

    def settle():
        """Once, before Patroni's password changes in etcd."""
        if not settled:
            time.sleep(float(request.get("settle", 0)))
            settled.append(True)

    if ignoring("role name already exists", rpc, "/v3/auth/role/add", {"name": ROLE}):
        done.append("role patroni added")
    rpc("/v3/auth/role/grant", {"name": ROLE, "perm": {"permType": "READWRITE", "key": b64(prefix),
                                                       "range_end": b64(prefix_end(prefix))}})
    for user, role in USERS.items():
        if ignoring("user name already exists", rpc, "/v3/auth/user/add",
                    {"name": user, "password": passwords[user]}):
            done.append("user %s added" % user)
        elif not enabled or not logs_in(url, user, passwords[user]):
            # with authentication off no login can be tried: the password is set anyway
            if enabled and user == "patroni":
                settle()
            rpc("/v3/auth/user/changepw", {"name": user, "password": passwords[user]})
            done.append("user %s password set" % user)
        rpc("/v3/auth/user/grant", {"user": user, "role": role})

    if not enabled:
        call(url, "/v3/auth/enable", {})
        done.append("authentication enabled")

    patroni = logs_in(url, "patroni", passwords["patroni"])
    if not patroni:
        raise EtcdError("etcd's user patroni does not log in with maas_etcd_patroni_password")
    call(url, "/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix)),
                               "count_only": True}, patroni)
    if not auth_enabled(url):
        raise EtcdError("etcd still answers requests without a token")
    return done


def main():
    request = json.load(sys.stdin)
    try:
        done = setup(request)
    except (EtcdError, OSError) as error:
        json.dump({"error": str(error)}, sys.stdout)
        sys.stderr.write("etcd's authentication: %s\n" % error)
        sys.exit(1)
    json.dump({"done": done}, sys.stdout)


if __name__ == "__main__":
    main()
