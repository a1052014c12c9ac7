"""What a PostgreSQL cluster's hosts are given, as plain data and text (no host is asked).

Three files and one document:

* ``/etc/default/etcd``: this host's etcd member, one of a static cluster of the database hosts
  (authentication on: only the ``patroni`` user reads and writes Patroni's keys, see
  ``operations/_etcd_auth_on_host.py``);
* ``/etc/patroni/config.yml``: this host's Patroni (local settings and secrets only);
* the cluster's *dynamic* configuration, kept by Patroni in etcd (``patronictl edit-config``):
  everything that must be the same on every member (PostgreSQL parameters such as
  ``max_connections``, pg_hba lines, synchronous mode, pg_rewind);
* on each region, the HAProxy config of the local route to whichever member is primary.

Tested as data in tests/unit/test_render_patroni.py.
"""

from __future__ import annotations

import yaml

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
PATRONI_REST_PORT = 8008
PATRONI_CONFIG = "/etc/patroni/config.yml"
REPLICATION_USER = "replicator"
REST_USER = "patroni"
# etcd's user for Patroni, and where Patroni keeps its keys: /service/<scope>/ (Patroni's
# default namespace, which config.yml leaves as it is)
ETCD_PATRONI_USER = "patroni"
# A tag in each member's config.yml, in its member key in etcd once Patroni has read the whole
# file: the deploy turns etcd's authentication on only when every running Patroni shows it.
ETCD_LOGIN_TAG = "maas_ha_etcd_user"
PATRONI_NAMESPACE = "/service/"
SUPERUSER = "postgres"
PGPASS = "/var/lib/postgresql/.pgpass.patroni"

# Failure detection: the leader key lives TTL seconds; a member checks every LOOP_WAIT seconds
# and gives up on etcd or PostgreSQL after RETRY_TIMEOUT (Patroni wants
# loop_wait + 2 * retry_timeout <= ttl). A primary that dies uncleanly is replaced within
# about TTL + LOOP_WAIT seconds; one that shuts down cleanly hands over at once.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 15, 3, 6


def _url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _network(address: str) -> str:
    return f"{address}/128" if ":" in address else f"{address}/32"


def patroni_key_prefix(scope: str) -> str:
    """The etcd key prefix of the cluster ``scope``: every key Patroni reads or writes."""
    return f"{PATRONI_NAMESPACE}{scope}/"


def etcd_environment(name: str, address: str, members: dict[str, str], cluster_token: str) -> str:
    """``/etc/default/etcd`` for member ``name`` of a static etcd cluster of ``members``
    (name -> address). Its own data directory, so the single-node etcd the package starts
    on install (``/var/lib/etcd/default``) is left aside rather than reconfigured."""
    initial = ",".join(f"{member}={_url(addr, ETCD_PEER_PORT)}" for member, addr in members.items())
    lines = {
        "ETCD_NAME": name,
        "ETCD_DATA_DIR": f"/var/lib/etcd/{cluster_token}",
        "ETCD_LISTEN_PEER_URLS": _url(address, ETCD_PEER_PORT),
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": _url(address, ETCD_PEER_PORT),
        "ETCD_LISTEN_CLIENT_URLS": f"{_url(address, ETCD_CLIENT_PORT)},{_url('127.0.0.1', ETCD_CLIENT_PORT)}",
        "ETCD_ADVERTISE_CLIENT_URLS": _url(address, ETCD_CLIENT_PORT),
        "ETCD_INITIAL_CLUSTER": initial,
        "ETCD_INITIAL_CLUSTER_STATE": "new",
        "ETCD_INITIAL_CLUSTER_TOKEN": cluster_token,
    }
    body = "".join(f"{key}={value}\n" for key, value in lines.items())
    return "# Managed by maas-ha: this host's member of the database cluster's etcd\n" + body


def pg_hba_lines(members: dict[str, str], regions: dict[str, str], db_name: str, db_user: str) -> list[str]:
    """The cluster's pg_hba: peer for local administration, the members to each other
    (streaming replication and pg_rewind), and MAAS's role from each region's address alone."""
    lines = ["local all all peer",
             # Patroni's own replication connection to its local server (it checks the timeline)
             f"host replication {REPLICATION_USER} 127.0.0.1/32 scram-sha-256",
             f"host replication {REPLICATION_USER} ::1/128 scram-sha-256"]
    for address in members.values():
        lines.append(f"host replication {REPLICATION_USER} {_network(address)} scram-sha-256")
        lines.append(f"host all {SUPERUSER} {_network(address)} scram-sha-256")
    lines += [f"host {db_name} {db_user} {_network(address)} scram-sha-256" for address in regions.values()]
    return lines


def dynamic_config(max_connections: int, hba: list[str]) -> dict:
    """The settings Patroni keeps in etcd for every member (the part maas-ha manages).

    Synchronous mode: a commit is acknowledged once a replica has it, and Patroni promotes
    only that replica, so no acknowledged write is lost on failover. pg_rewind (with
    wal_log_hints) lets a failed primary come back as a replica of the new one.
    """
    return {
        "ttl": TTL,
        "loop_wait": LOOP_WAIT,
        "retry_timeout": RETRY_TIMEOUT,
        "maximum_lag_on_failover": 1048576,
        "synchronous_mode": True,
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": {
                "max_connections": int(max_connections),
                "wal_log_hints": "on",
                "password_encryption": "scram-sha-256",
            },
            "pg_hba": list(hba),
        },
    }


def dynamic_config_differences(wanted: dict, current: dict, prefix: str = "") -> list[str]:
    """Keys (dotted) whose value in ``current`` (what ``GET /config`` answers) is not the
    wanted one; keys maas-ha does not manage are left alone. Numbers compare by value
    (Patroni may hand back ``"100"`` for ``100``)."""
    differences = []
    for key, value in wanted.items():
        here = (current or {}).get(key)
        if isinstance(value, dict):
            differences += dynamic_config_differences(value, here if isinstance(here, dict) else {},
                                                      f"{prefix}{key}.")
        elif isinstance(value, list):
            if here != value:
                differences.append(f"{prefix}{key}")
        elif str(here).lower() != str(value).lower():
            differences.append(f"{prefix}{key}")
    return differences


def patroni_config(*, scope: str, name: str, address: str, etcd_hosts: list[str], port: int,
                   listen_addresses: str, version: str, superuser_password: str,
                   replication_password: str, rest_password: str, etcd_password: str,
                   bootstrap_dcs: dict | None) -> str:
    """``/etc/patroni/config.yml`` of one member (secrets inside: root/postgres-only file).

    PostgreSQL stays where Debian and Ubuntu keep it (``/var/lib/postgresql/VER/main``, its
    config in ``/etc/postgresql/VER/main``), so an existing server is taken over in place
    and ``pg_lsclusters`` still shows it. Only the bootstrap host gets ``bootstrap_dcs``:
    a member without a ``bootstrap`` section never initialises a cluster of its own, it
    waits for a leader to copy. Patroni logs in to etcd as ``patroni`` (a user whose role
    reads and writes ``/service/<scope>/`` only); the tag ``ETCD_LOGIN_TAG``, which its member
    key in etcd shows once it has read the file, tells the deploy it has those credentials.
    """
    document = {
        "scope": scope,
        "name": name,
        "restapi": {
            # every address: the health checks come from the regions, facts and the deploy
            # ask on 127.0.0.1
            "listen": _hostport("::" if ":" in address else "0.0.0.0", PATRONI_REST_PORT),
            "connect_address": _hostport(address, PATRONI_REST_PORT),
            "authentication": {"username": REST_USER, "password": rest_password},
        },
        "etcd3": {"hosts": list(etcd_hosts), "username": ETCD_PATRONI_USER, "password": etcd_password},
        # shows (GET /patroni) that the running Patroni has read this file, credentials and all
        "tags": {ETCD_LOGIN_TAG: ETCD_PATRONI_USER},
        "postgresql": {
            "listen": f"{listen_addresses}:{port}",
            "connect_address": _hostport(address, port),
            "data_dir": f"/var/lib/postgresql/{version}/main",
            "config_dir": f"/etc/postgresql/{version}/main",
            "bin_dir": f"/usr/lib/postgresql/{version}/bin",
            "pgpass": PGPASS,
            "use_unix_socket": True,  # Patroni's own local connection: peer, no password
            # a new replica's copy starts at once, not at the primary's next checkpoint
            "basebackup": {"checkpoint": "fast"},
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": superuser_password},
                "replication": {"username": REPLICATION_USER, "password": replication_password},
            },
            "parameters": {"unix_socket_directories": "/var/run/postgresql"},
        },
    }
    if bootstrap_dcs is not None:
        document["bootstrap"] = {"dcs": bootstrap_dcs}
    return "# Managed by maas-ha: this host's Patroni (holds secrets: 0600 postgres)\n" + \
        yaml.safe_dump(document, default_flow_style=False, sort_keys=False)


def db_route_config(members: dict[str, str], port: int, listen_port: int) -> str:
    """HAProxy config of a region's local route to the primary: every member is a server,
    only the one whose Patroni answers 200 on ``/primary`` gets connections; sessions to a
    member that stops being primary are cut at once, so the region reconnects to the new one."""
    servers = "".join(
        f"    server {name} {_hostport(address, port)} check port {PATRONI_REST_PORT}\n"
        for name, address in members.items())
    return (
        "# Managed by maas-ha: this region's route to the PostgreSQL primary\n"
        "global\n"
        "    maxconn 4000\n"
        "defaults\n"
        "    mode tcp\n"
        "    timeout connect 4s\n"
        "    timeout client 24h\n"
        "    timeout server 24h\n"
        "    timeout check 2s\n"
        "listen maas_db_primary\n"
        f"    bind 127.0.0.1:{listen_port}\n"
        # status line only: a body the check does not read would be cut with a reset,
        # which Patroni logs as a traceback every second on every replica
        "    option httpchk OPTIONS /primary\n"
        "    http-check expect status 200\n"
        "    option clitcpka\n"
        "    option srvtcpka\n"
        "    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 1 "
        "on-marked-down shutdown-sessions\n"
        f"{servers}"
    )


DB_ROUTE_UNIT = """\
[Unit]
Description=maas-ha: this region's route to the PostgreSQL primary (HAProxy)
After=network-online.target
Wants=network-online.target

[Service]
ExecStartPre=/usr/sbin/haproxy -c -q -f /etc/maas-ha/db-route.cfg
ExecStart=/usr/sbin/haproxy -Ws -f /etc/maas-ha/db-route.cfg -p /run/maas-db-route.pid
ExecReload=/usr/sbin/haproxy -c -q -f /etc/maas-ha/db-route.cfg
ExecReload=/bin/kill -USR2 $MAINPID
KillMode=mixed
Restart=always
Type=notify

[Install]
WantedBy=multi-user.target
"""
