"""Operations of a Patroni-managed PostgreSQL cluster (Debian/Ubuntu packages ``patroni`` and
``etcd-server``).

Patroni decides who is primary; these operations only give it its configuration, hand it the
distribution's PostgreSQL, wait for what it reports, and change the settings it owns through
it (``patronictl edit-config``), never by editing the files it writes. Nothing here promotes
or demotes a server. Secrets travel in root/postgres-only files (``/etc/patroni/config.yml``,
uploaded over SFTP) or on stdin, never on a command line.
"""

from __future__ import annotations

import json
import posixpath
from io import StringIO
from pathlib import Path

import yaml
from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.files import File, FileContents
from pyinfra.operations import files

from facts.patroni import EtcdAuth, PatroniDynamicConfig, PatroniMembers, PatroniRole, etcd_password_matches
from facts.pg_cluster import PostgresClusters
from operations._render_patroni import (
    ETCD_CLIENT_PORT,
    ETCD_LOGIN_TAG,
    ETCD_PATRONI_USER,
    LOOP_WAIT,
    PATRONI_CONFIG,
    RETRY_TIMEOUT,
    dynamic_config_differences,
    patroni_config,
    patroni_key_prefix,
)
from operations.maas_pg import DEFAULT_BACKUP_DIR, DEFAULT_BACKUP_KEEP, backup_commands

# A fresh initdb holds three databases (template0, template1, postgres): base/ with more
# entries is a server with data, which is never emptied to make room for a replica.
FRESH_DATABASES = 3

# Sets up etcd's users and turns its authentication on, on the host (requests on stdin).
ETCD_AUTH_PROGRAM = (Path(__file__).parent / "_etcd_auth_on_host.py").read_text()
# A reloaded Patroni reads its config.yml at the start of its next cycle: within loop_wait,
# or retry_timeout more when etcd is slow. Patroni's password changes in etcd only after
# that. (Authentication goes on once every running Patroni's member key shows it has its
# credentials: ``etcd_credentials_read``.) The tag cannot tell a new password from the old
# one, so a password change waits this long instead.
ETCD_AUTH_SETTLE = LOOP_WAIT + RETRY_TIMEOUT + 1


def _cluster_on(port: int):
    """The distribution's cluster (``pg_lsclusters``) on ``port``, or None."""
    for cluster in host.get_fact(PostgresClusters) or []:
        if int(cluster["port"]) == int(port):
            return cluster
    return None


def _fail(message: str) -> StringCommand:
    return StringCommand("echo", QuoteString(message), ">&2; exit 1")


def is_primary() -> bool:
    """Whether this host's Patroni reports itself primary now (for ``_if=``)."""
    return bool(host.get_fact(PatroniRole).get("is_primary"))


@operation()
def member_config(scope: str, member: str, address: str, etcd_hosts: list, port: int,
                  listen_addresses: str, superuser_password: str, replication_password: str,
                  rest_password: str, etcd_password: str, bootstrap_dcs: dict | None = None):
    """Write ``/etc/patroni/config.yml`` for this member (0600, postgres), paths from the
    PostgreSQL version installed here (read when the operation runs, after the install).

    + scope, member, address: the cluster's name, this member's name and its address
    + etcd_hosts: ``address:2379`` of every etcd member
    + port, listen_addresses: PostgreSQL's port and ``listen_addresses``
    + superuser_password, replication_password, rest_password: secrets (in the file only)
    + etcd_password: etcd's ``patroni`` user's password (in the file only)
    + bootstrap_dcs: the cluster's first dynamic configuration; only for the host that may
      create the cluster (see :func:`operations._render_patroni.patroni_config`)

    **Example:**

    .. code:: python

        from operations import patroni

        patroni.member_config(
            name="Patroni configuration",
            scope="maas", member="pg1", address="10.0.0.5",
            etcd_hosts=["10.0.0.5:2379", "10.0.0.6:2379", "10.0.0.7:2379"],
            port=5432, listen_addresses="*",
            superuser_password=host.data.maas_pg_superuser_password,
            replication_password=host.data.maas_pg_replication_password,
            rest_password=host.data.maas_patroni_rest_password,
            etcd_password=host.data.maas_etcd_patroni_password,
        )
    """
    cluster = _cluster_on(port)
    if cluster is None:
        yield _fail(f"no PostgreSQL cluster on port {port} on {host.name} for Patroni to run")
        return
    text = patroni_config(
        scope=scope, name=member, address=address, etcd_hosts=etcd_hosts, port=port,
        listen_addresses=listen_addresses, version=cluster["version"],
        superuser_password=superuser_password, replication_password=replication_password,
        rest_password=rest_password, etcd_password=etcd_password, bootstrap_dcs=bootstrap_dcs)
    yield from files.put._inner(src=StringIO(text), dest=PATRONI_CONFIG, user="postgres",
                                group="postgres", mode="600")


# Runs on a member (python3 -c PROGRAM URL KEY TAG VALUE TIMEOUT): waits until the member's key
# in etcd shows TAG=VALUE. Exits 0 then, or at once when etcd asks for credentials (its
# authentication is on already: nothing to wait for), 1 at the timeout.
_MEMBER_TAG_WAIT = """
import base64, json, sys, time, urllib.error, urllib.request
url, key, tag, value, timeout = sys.argv[1:6]
body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
end = time.monotonic() + float(timeout)
while time.monotonic() < end:
    try:
        answer = json.loads(urllib.request.urlopen(urllib.request.Request(url + "/v3/kv/range", data=body),
                                                   timeout=3).read() or b"{}")
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read() or b"{}")
    except (OSError, ValueError):
        answer = {}
    if "user name is empty" in str(answer.get("error", "")):
        sys.exit(0)
    for kv in answer.get("kvs", []):
        member = json.loads(base64.b64decode(kv.get("value", "")) or b"{}")
        if (member.get("tags") or {}).get(tag) == value:
            sys.exit(0)
    time.sleep(1)
sys.exit(1)
"""


@operation()
def etcd_credentials_read(scope: str, member: str, timeout: int = 60):
    """Wait (bounded) until this host's Patroni, reloaded with a new config.yml, has its etcd
    credentials: its member key in etcd (``/service/<scope>/members/<member>``) shows the
    file's ``ETCD_LOGIN_TAG``. Patroni's REST API is no proof: Patroni takes the file's tags
    before it hands the credentials to its etcd client, while it writes its member key only
    in the cycle after the whole reload. etcd's authentication goes on only after every
    running Patroni has its credentials; a Patroni that does not run reads them when it
    starts, and with authentication already on there is nothing to wait for. Run after the
    reload only (``_if`` the config changed): it always waits.

    + scope: the cluster's name (Patroni's keys are ``/service/<scope>/...``)
    + member: this member's name in the cluster
    + timeout: seconds to wait at most

    **Example:**

    .. code:: python

        from operations import patroni

        patroni.etcd_credentials_read(name="Patroni has its etcd credentials", scope="maas",
                                      member="pg1", timeout=60)
    """
    key = f"{patroni_key_prefix(scope)}members/{member}"
    yield StringCommand(
        "systemctl is-active -q patroni || exit 0;",
        "python3 -c", QuoteString(_MEMBER_TAG_WAIT), QuoteString(f"http://127.0.0.1:{ETCD_CLIENT_PORT}"),
        QuoteString(key), ETCD_LOGIN_TAG, ETCD_PATRONI_USER, str(int(timeout)),
        "|| { echo", QuoteString(f"Patroni on {host.name} did not show its new config.yml's etcd credentials "
                                 f"in its member key ({key}) within {timeout} s of its reload"),
        ">&2; exit 1; }")


def etcd_auth_changes(state: dict, patroni_password: str) -> list[str]:
    """What etcd's authentication for Patroni lacks, from the ``EtcdAuth`` fact: ``[]`` when it
    is on and Patroni's config.yml holds ``patroni_password``, with which it logs in."""
    changes = []
    if not state.get("enabled"):
        changes.append("authentication is off")
    if not etcd_password_matches(state.get("patroni_password"), patroni_password):
        changes.append("Patroni's config.yml does not hold maas_etcd_patroni_password")
    elif state.get("enabled") and not state.get("patroni_login"):
        changes.append("etcd's user patroni does not log in with maas_etcd_patroni_password")
    return changes


@operation()
def etcd_auth(scope: str, root_password: str, patroni_password: str):
    """Turn etcd's authentication on for the cluster ``scope``: the ``root`` user, the
    ``patroni`` user whose role reads and writes ``/service/<scope>/`` only, then
    authentication on; later a changed ``patroni`` password. Run on one member, after every
    Patroni has its credentials in config.yml and has been reloaded (Patroni logs in as soon
    as authentication is on; until then it needs none). The passwords go to an on-host program
    (``operations/_etcd_auth_on_host.py``) on stdin, never on a command line.

    + scope: the cluster's name (Patroni's keys are ``/service/<scope>/...``)
    + root_password: etcd's ``root`` password (the one etcd already has, once it is on)
    + patroni_password: etcd's ``patroni`` password (the one in Patroni's config.yml)

    **Example:**

    .. code:: python

        from operations import patroni

        patroni.etcd_auth(
            name="etcd authentication",
            scope="maas",
            root_password=host.data.maas_etcd_root_password,
            patroni_password=host.data.maas_etcd_patroni_password,
        )
    """
    state = host.get_fact(EtcdAuth)
    if not state.get("answered"):
        yield _fail(f"no etcd answers on 127.0.0.1:{ETCD_CLIENT_PORT} on {host.name}: cannot "
                    "turn its authentication on")
        return
    if state.get("error"):
        yield _fail(f"etcd on {host.name} answers with an error: {state['error']}")
        return
    changes = etcd_auth_changes(state, patroni_password)
    if not changes:
        host.noop("etcd's authentication is on and Patroni logs in with its password")
        return
    request = {"url": f"http://127.0.0.1:{ETCD_CLIENT_PORT}", "prefix": patroni_key_prefix(scope),
               "root_password": root_password, "patroni_password": patroni_password,
               "settle": ETCD_AUTH_SETTLE}
    yield StringCommand("python3 -c", QuoteString(ETCD_AUTH_PROGRAM), _stdin=json.dumps(request))


@operation()
def hand_over_to_patroni(port: int, may_hold_data: bool):
    """Give the distribution's PostgreSQL cluster on ``port`` to Patroni.

    Its ``start.conf`` becomes ``manual`` (systemd no longer starts it: Patroni does), and
    while no Patroni runs here a running server is stopped so Patroni can start it with its
    own settings. On a host that joins as a replica (``may_hold_data`` false) a data
    directory that was never a member's (no ``patroni.dynamic.json``, no ``standby.signal``)
    is emptied so Patroni can copy the primary into it, unless it holds databases of its
    own: then the operation fails rather than lose them.

    + port: the cluster's port (picks the distribution's cluster)
    + may_hold_data: true on the host whose data the cluster starts from (the first)

    **Example:**

    .. code:: python

        from operations import patroni

        patroni.hand_over_to_patroni(name="PostgreSQL handed to Patroni", port=5432,
                                     may_hold_data=False)
    """
    cluster = _cluster_on(port)
    if cluster is None:
        yield _fail(f"no PostgreSQL cluster on port {port} on {host.name} to hand to Patroni")
        return
    version, name, data_dir = cluster["version"], cluster["cluster"], cluster["data_directory"]
    start_conf = f"/etc/postgresql/{version}/{name}/start.conf"
    lines = [line.strip() for line in host.get_fact(FileContents, path=start_conf) or []]
    if [line for line in lines if line and not line.startswith("#")] != ["manual"]:
        yield StringCommand("printf", QuoteString("# maas-ha: Patroni starts this cluster\\nmanual\\n"),
                            ">", QuoteString(start_conf))
    if host.get_fact(PatroniRole).get("role"):
        host.noop(f"Patroni runs PostgreSQL {version}/{name} here")
        return
    if cluster["running"]:
        yield StringCommand("pg_ctlcluster", version, name, "stop", "-m", "fast")
    if may_hold_data:
        return
    member_marks = [posixpath.join(data_dir, mark) for mark in ("patroni.dynamic.json", "standby.signal")]
    if any(host.get_fact(File, path=mark) for mark in member_marks):
        return
    base = QuoteString(posixpath.join(data_dir, "base"))
    yield StringCommand(
        "if [ -d", base, "] && [ \"$(ls", base, "| wc -l)\" -gt", str(FRESH_DATABASES), "]; then echo",
        QuoteString(f"{data_dir} on {host.name} holds databases: not emptied for a replica "
                    "(make this host the first of maas_postgres, or move the data away)"),
        ">&2; exit 1; fi; find", QuoteString(data_dir), "-mindepth 1 -delete")


# Reads `patronictl list -f json` on stdin; exits 0 when a leader is running (and, with
# "all", when every member is running or streaming).
_LEADER_CHECK = (
    "import json, sys\n"
    "members = json.load(sys.stdin)\n"
    "leader = any(m.get('Role') == 'Leader' and m.get('State') == 'running' for m in members)\n"
    "ready = all(m.get('State') in ('running', 'streaming') for m in members)\n"
    "sys.exit(0 if leader and (sys.argv[1] != 'all' or ready and len(members) >= int(sys.argv[2])) else 1)\n"
)


def _leader_ready(members, count: int | None) -> bool:
    leader = any(m.get("Role") == "Leader" and m.get("State") == "running" for m in members)
    if count is None:
        return leader
    ready = all(m.get("State") in ("running", "streaming") for m in members)
    return leader and ready and len(members) >= count


@operation()
def wait_for_cluster(timeout: int = 120, members: int | None = None):
    """Wait (bounded) until the cluster has a running leader and, with ``members``, that many
    members all running or streaming. No change when that is so already.

    + timeout: seconds to wait at most
    + members: how many members must be up (None: a running leader is enough)

    **Example:**

    .. code:: python

        from operations import patroni

        patroni.wait_for_cluster(name="Cluster up", timeout=300, members=3)
    """
    if _leader_ready(list(host.get_fact(PatroniMembers) or []), members):
        host.noop("the PostgreSQL cluster has a running leader" + (
            f" and {members} members up" if members else ""))
        return
    what = "all" if members else "leader"
    yield StringCommand(
        f"end=$(($(date +%s) + {int(timeout)})); while [ \"$(date +%s)\" -lt \"$end\" ]; do "
        f"patronictl -c {PATRONI_CONFIG} list -f json 2>/dev/null"
        " | python3 -c", QuoteString(_LEADER_CHECK), what, str(members or 0),
        "&& exit 0; sleep 1; done; echo",
        QuoteString(f"the PostgreSQL cluster on {host.name} did not get "
                    f"{'a running leader' if not members else f'{members} members up'} within {timeout} s"),
        ">&2; patronictl -c", PATRONI_CONFIG, "list >&2; exit 1")


# Reads `patronictl list -f json` on stdin; exits 0 when a member of role argv[1] ("primary"
# or "replica") waits for a restart, or with "all" when every member does; else 1.
_PENDING_CHECK = (
    "import json, sys\n"
    "role = sys.argv[1]\n"
    "members = json.load(sys.stdin)\n"
    "pending = [m for m in members if m.get('Pending restart')]\n"
    "if role == 'all':\n"
    "    sys.exit(0 if members and len(pending) == len(members) else 1)\n"
    "sys.exit(0 if any((m.get('Role') == 'Leader') == (role == 'primary') for m in pending) else 1)\n"
)


def _pending(role: str) -> StringCommand:
    """A shell condition: some member of ``role`` waits for a restart."""
    return StringCommand(f"patronictl -c {PATRONI_CONFIG} list -f json | python3 -c",
                         QuoteString(_PENDING_CHECK), role)


@operation()
def dynamic_settings(scope: str, wanted: dict, port: int = 5432,
                     backup_dir: str = DEFAULT_BACKUP_DIR, backup_databases=("maasdb",),
                     backup_keep: int = DEFAULT_BACKUP_KEEP):
    """Make the cluster's dynamic configuration (in etcd) hold ``wanted``; run on the primary.

    Compares ``GET /config`` with ``wanted`` (keys not in ``wanted`` are not touched); on a
    difference: a backup of the primary, ``patronictl edit-config --apply -`` with the
    wanted values on stdin, and when ``max_connections`` changed a restart of every member
    through Patroni once each reports it pending: replicas first when the value grows (a
    hot standby needs at least the primary's), the primary first when it shrinks.

    + scope: the cluster's name
    + wanted: the managed part of the dynamic configuration
      (:func:`operations._render_patroni.dynamic_config`)
    + port: PostgreSQL's port (for the backup)
    + backup_dir, backup_databases, backup_keep: where the ``pg_dump`` taken before a change
      goes, of which databases, and how many are kept

    **Example:**

    .. code:: python

        from operations import patroni
        from operations._render_patroni import dynamic_config

        patroni.dynamic_settings(
            name="Cluster settings",
            scope="maas",
            wanted=dynamic_config(300, ["local all all peer"]),
            _if=patroni.is_primary,
        )
    """
    current = host.get_fact(PatroniDynamicConfig)
    if not current:
        yield _fail(f"Patroni does not answer on {host.name}: cannot change the cluster's settings")
        return
    differences = dynamic_config_differences(wanted, current)
    if not differences:
        host.noop(f"the cluster's dynamic configuration already has {len(wanted)} managed keys as wanted")
        return
    yield from backup_commands(port, backup_dir, backup_databases, keep=backup_keep)
    yield StringCommand(f"patronictl -c {PATRONI_CONFIG} edit-config --force --quiet --apply - {scope}",
                        _stdin=yaml.safe_dump(wanted, default_flow_style=False))
    if "postgresql.parameters.max_connections" not in differences:
        return
    old = int(((current.get("postgresql") or {}).get("parameters") or {}).get("max_connections") or 100)
    new = int(wanted["postgresql"]["parameters"]["max_connections"])
    # every member reports the change pending (it reads the dynamic configuration each loop)
    yield StringCommand("end=$(($(date +%s) + 60)); while [ \"$(date +%s)\" -lt \"$end\" ] && ! ",
                        _pending("all"), "; do sleep 1; done")
    order = ("replica", "primary") if new > old else ("primary", "replica")
    for role in order:
        # Patroni may turn a restart down while the cluster settles (a member just restarted):
        # asked again until no member of this role waits for one, within bounds.
        yield StringCommand(
            "end=$(($(date +%s) + 180)); while ", _pending(role), "; do",
            "if [ \"$(date +%s)\" -ge \"$end\" ]; then echo",
            QuoteString(f"PostgreSQL members ({role}) still wait for a restart after 180 s: "
                        f"see patronictl -c {PATRONI_CONFIG} list"),
            f">&2; exit 1; fi; patronictl -c {PATRONI_CONFIG} restart {scope} --role {role} --pending --force;",
            "sleep 2; done")
