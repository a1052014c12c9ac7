"""The PostgreSQL cluster as Patroni and etcd see it, for the deploy and for operators.

Ask them ad hoc (the config file and the REST API are read on the database host, as root)::

    pyinfra inventories/<env>.py fact facts.patroni.PatroniMembers --limit maas_postgres
    pyinfra inventories/<env>.py fact facts.patroni.PatroniRole --limit maas_postgres
    pyinfra inventories/<env>.py fact facts.patroni.EtcdHealth --limit maas_postgres

Reads only: Patroni's REST API answers reads without a password, and ``patronictl list``
prints no secret.
"""

from __future__ import annotations

import json

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
