"""The PostgreSQL cluster as Patroni and etcd see it, for the deploy and for operators.

Ask them ad hoc (the config file and the REST API are read on the database host, as root)::

    pyinfra inventories/<env>.py fact facts.patroni.PatroniMembers --limit maas_postgres
    pyinfra inventories/<env>.py fact facts.patroni.PatroniRole --limit maas_postgres
    pyinfra inventories/<env>.py fact facts.patroni.EtcdHealth --limit maas_postgres
    pyinfra inventories/<env>.py fact facts.patroni.EtcdAuth --limit maas_postgres

Reads only: Patroni's REST API answers reads without a password, ``patronictl list``
prints no secret, and ``EtcdAuth`` prints only a keyed digest of Patroni's etcd password.
"""

from __future__ import annotations

import json
import shlex

from facts import keyed_digest
from facts._key_values import key_values
from facts.usage import Fact
from operations._render_patroni import ETCD_CLIENT_PORT, PATRONI_CONFIG, PATRONI_REST_PORT

# A GET on a local port, printed as one JSON line whatever the status: Patroni answers 503
# with a body on /primary for a replica; nothing listening prints nothing.
_GET = ("python3 -c 'import sys, urllib.request, urllib.error\n"
        "try:\n"
        "    r = urllib.request.urlopen(sys.argv[1], timeout=3)\n"
        "except urllib.error.HTTPError as e:\n"
        "    r = e\n"
        "except OSError:\n"
        "    sys.exit(0)\n"
        "sys.stdout.write(r.read().decode())' ")


def _json(output):
    text = "\n".join(output).strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class PatroniRole(Fact):
    """This member as its Patroni sees itself (``GET /patroni``): role (``primary``/``master``
    or ``replica``), state, timeline; ``{}`` when no Patroni answers on this host.

    .. code:: python

        {"role": "primary", "state": "running", "timeline": 3, "is_primary": True}
    """

    default = dict

    def command(self):
        return _GET + f"http://127.0.0.1:{PATRONI_REST_PORT}/patroni"

    def process(self, output):
        answer = _json(output)
        if not isinstance(answer, dict) or "role" not in answer:
            return {}
        return {
            "role": answer["role"],
            "state": answer.get("state"),
            "timeline": answer.get("timeline"),
            "is_primary": answer["role"] in ("primary", "master"),
        }


class PatroniMembers(Fact):
    """Every member of the cluster with role, state, timeline and lag (``patronictl list``),
    ``[]`` when this host runs no Patroni.

    .. code:: python

        [{"Cluster": "maas", "Member": "pg1", "Host": "10.77.0.10", "Role": "Leader",
          "State": "running", "TL": 1},
         {"Cluster": "maas", "Member": "pg2", "Host": "10.77.0.16", "Role": "Sync Standby",
          "State": "streaming", "TL": 1, "Lag in MB": 0}]
    """

    default = list

    def command(self):
        return (f"if [ -r {PATRONI_CONFIG} ]; then patronictl -c {PATRONI_CONFIG} list -f json; fi")

    def process(self, output):
        answer = _json(output)
        return answer if isinstance(answer, list) else []


class PatroniDynamicConfig(Fact):
    """The cluster's dynamic configuration, as Patroni keeps it in etcd (``GET /config``);
    ``{}`` when no Patroni answers on this host."""

    default = dict

    def command(self):
        return _GET + f"http://127.0.0.1:{PATRONI_REST_PORT}/config"

    def process(self, output):
        answer = _json(output)
        return answer if isinstance(answer, dict) else {}


class EtcdHealth(Fact):
    """This host's etcd member: healthy (it and a quorum answer) or not; ``None`` when no
    etcd answers here.

    .. code:: python

        {"health": True}
    """

    def command(self):
        return _GET + f"http://127.0.0.1:{ETCD_CLIENT_PORT}/health"

    def process(self, output):
        answer = _json(output)
        if not isinstance(answer, dict):
            return None
        return {"health": str(answer.get("health")).lower() == "true"}


# Runs on the database host (no single quotes: shell-quoted): asks etcd on the loopback
# (port argv[3]) for a read without a token, then logs in with the credentials in Patroni's
# config.yml (argv[2]); argv[1] is the control machine's public value.
_ETCD_AUTH_SCRIPT = keyed_digest.HOST_CODE + """
import base64, json, sys, urllib.error, urllib.request
def post(path, body):
    request = urllib.request.Request("http://127.0.0.1:" + sys.argv[3] + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        return json.loads(opener.open(request, timeout=5).read().decode() or "{}")
    except urllib.error.HTTPError as error:
        try:
            return json.loads(error.read().decode() or "{}")
        except ValueError:
            return {"error": "HTTP %s" % error.code}
try:
    answer = post("/v3/kv/range", {"key": base64.b64encode(b"/").decode(), "limit": 1})
except OSError:
    sys.exit(0)
error = str(answer.get("error") or "")
if error and "user name is empty" not in error:
    print("error=" + " ".join(error.split())[:200])
    sys.exit(0)
print("auth=" + ("on" if error else "off"))
try:
    import yaml
    with open(sys.argv[2]) as handle:
        etcd3 = (yaml.safe_load(handle) or {}).get("etcd3") or {}
except Exception:
    etcd3 = {}
if etcd3.get("password"):
    print("patroni_password=" + keyed(etcd3["password"], sys.argv[1]))
    if error:
        login = post("/v3/auth/authenticate", {"name": str(etcd3.get("username")), "password": etcd3["password"]})
        print("patroni_login=" + ("ok" if login.get("token") else "refused"))
"""


class EtcdAuth(Fact):
    """Whether this host's etcd member refuses requests without credentials (authentication
    on), and whether Patroni logs in with the password in its config.yml; ``answered`` false
    when no etcd answers here. The password comes back as a keyed digest only
    (facts/keyed_digest.py): compare with :func:`etcd_password_matches`. ``peer`` is the
    control machine's public value, this run's unless given (tests give one).

    .. code:: python

        {"answered": True, "enabled": True, "patroni_password": "dh:...:...",
         "patroni_login": True, "error": None}
        # patroni_password None: config.yml holds no etcd password; patroni_login None:
        # authentication is off (nobody logs in then); error: etcd's answer when it is neither
    """

    def command(self, peer=None):
        script = shlex.quote(_ETCD_AUTH_SCRIPT.strip())
        peer = shlex.quote(peer or keyed_digest.public_value())
        return f"python3 -c {script} {peer} {PATRONI_CONFIG} {ETCD_CLIENT_PORT}"

    def process(self, output):
        values = key_values(output)
        login = values.get("patroni_login")
        return {"answered": bool(values), "enabled": values.get("auth") == "on",
                "patroni_password": values.get("patroni_password"),
                "patroni_login": None if login is None else login == "ok", "error": values.get("error")}


def etcd_password_matches(digest, password) -> bool:
    """Whether ``EtcdAuth``'s ``patroni_password`` digest is of ``password`` (this run's)."""
    return keyed_digest.matches(digest, password)
