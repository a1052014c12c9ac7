"""The shared database as a Patroni cluster (three or more ``maas_postgres`` hosts), and each
region's route to its primary.

On every database host: etcd (one member each; authentication on, Patroni's keys for its own
user only), PostgreSQL handed to Patroni, MAAS's role and database (created on whichever
member is primary), and the settings Patroni owns
(``max_connections``, pg_hba, synchronous mode, pg_rewind) in its dynamic configuration.
The first host of ``maas_postgres`` is the one that may create the cluster: an existing
single server there is taken over with its data; the others join as replicas.

On every region: a local HAProxy listener that sends the region's database connections to
the member whose Patroni answers ``/primary`` (see docs/architecture.md for why there and
not on the load balancers).
"""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, postgres, server, systemd

import config
from deploys.packages import packages_present
from operations import maas_pg, maas_services, patroni
from operations._render_patroni import (
    DB_ROUTE_UNIT,
    ETCD_CLIENT_PORT,
    REPLICATION_USER,
    SUPERUSER,
    db_route_config,
    dynamic_config,
    etcd_environment,
    pg_hba_lines,
)
from operations.maas_pg import AS_POSTGRES

CLUSTER_PACKAGES = ["postgresql", "patroni", "etcd-server"]
DB_ROUTE_CONFIG = "/etc/maas-ha/db-route.cfg"
DB_ROUTE_UNIT_FILE = "/etc/systemd/system/maas-db-route.service"


def members(topology) -> dict[str, str]:
    """Database host name -> address, in inventory order."""
    return {pg.name: config.address_of(pg) for pg in topology.postgres}


def wanted_dynamic_config(topology) -> dict:
    """What maas-ha keeps in the cluster's dynamic configuration."""
    first = topology.postgres[0]
    hba = pg_hba_lines(members(topology), {r.name: config.address_of(r) for r in topology.regions},
                       config.get(first, "maas_db_name"), config.get(first, "maas_db_user"))
    return dynamic_config(topology.max_connections, hba)


def region_database(region) -> dict:
    """Where a region's regiond.conf points with a cluster: its own route to the primary."""
    return {"database_host": "127.0.0.1", "database_port": config.get(region, "maas_db_route_port")}


@deploy("MAAS PostgreSQL cluster (Patroni)")
def maas_pg_cluster(topology):
    scope = config.get(host, "maas_pg_cluster_name")
    port = config.get(host, "maas_db_port")
    db_name = config.get(host, "maas_db_name")
    addresses = members(topology)
    bootstrap_host = host == topology.postgres[0]
    backup = {"backup_dir": config.get(host, "maas_pg_backup_dir"), "backup_databases": (db_name,),
              "backup_keep": config.get(host, "maas_pg_backup_keep")}

    if not packages_present(CLUSTER_PACKAGES, topology.deb_packages.get(host.name)):
        apt.packages(name="Install PostgreSQL, Patroni and etcd", packages=CLUSTER_PACKAGES, update=True)
    _etcd_member(scope, addresses)
    patroni.hand_over_to_patroni(name="PostgreSQL handed over to Patroni", port=port,
                                 may_hold_data=bootstrap_host)
    _patroni_member(topology, scope, port, addresses, bootstrap_host)
    patroni.wait_for_cluster(name="The cluster has a running leader", timeout=120)
    _roles_on_primary(port, db_name, config.get(host, "maas_db_user"))

    maas_services.units_running(name="Patroni running on every member", units=["patroni"])
    patroni.wait_for_cluster(name="Every member of the cluster running or streaming", timeout=300,
                             members=len(topology.postgres))
    patroni.dynamic_settings(name="Cluster settings through Patroni (max_connections, pg_hba, "
                             "synchronous mode, pg_rewind)", scope=scope,
                             wanted=wanted_dynamic_config(topology), port=port,
                             _if=patroni.is_primary, **backup)


def _etcd_member(scope: str, addresses: dict[str, str]) -> None:
    """This host's etcd member, running with the cluster's configuration."""
    etcd_env = files.put(
        name="etcd: this host's member of the cluster's etcd",
        src=StringIO(etcd_environment(host.name, addresses[host.name], addresses, f"maas-ha-{scope}")),
        dest="/etc/default/etcd", mode="644")
    # every member restarts in the same step: a new etcd cluster starts once a majority is up
    systemd.service(name="etcd running", service="etcd", running=True, enabled=True,
                    restarted=False, _if=etcd_env.did_not_change)
    server.shell(name="etcd restarted with its cluster configuration", commands=["systemctl restart etcd"],
                 _if=etcd_env.did_change)


def _patroni_member(topology, scope: str, port: int, addresses: dict[str, str], bootstrap_host: bool) -> None:
    """This member's config.yml and reload; on the first host, etcd's authentication and the
    Patroni that may create the cluster."""
    member = patroni.member_config(
        name="Patroni configuration (/etc/patroni/config.yml)",
        scope=scope, member=host.name, address=addresses[host.name],
        etcd_hosts=[f"{address}:{ETCD_CLIENT_PORT}" for address in addresses.values()],
        port=port, listen_addresses=config.pg_listen_addresses(host),
        superuser_password=config.get(host, "maas_pg_superuser_password"),
        replication_password=config.get(host, "maas_pg_replication_password"),
        rest_password=config.get(host, "maas_patroni_rest_password"),
        etcd_password=config.get(host, "maas_etcd_patroni_password"),
        bootstrap_dcs=wanted_dynamic_config(topology) if bootstrap_host else None,
    )
    # Patroni re-reads its file on a reload; a member not started yet is started below.
    server.shell(name="Patroni reloaded with its new configuration",
                 commands=["systemctl try-reload-or-restart patroni"], _if=member.did_change)
    patroni.etcd_credentials_read(name="Patroni has read its new configuration (etcd's credentials)",
                                  scope=scope, member=host.name, _if=member.did_change)
    if not bootstrap_host:
        return
    # Right after the reload: every running Patroni has read its etcd credentials (a stopped one
    # reads them when it starts), and nothing in between asks etcd with them (patronictl reads
    # config.yml), so a changed password never leaves the file and etcd disagreeing for
    # longer than this step.
    patroni.etcd_auth(name="etcd: authentication on, Patroni's keys for its own user only",
                      scope=scope, root_password=config.get(host, "maas_etcd_root_password"),
                      patroni_password=config.get(host, "maas_etcd_patroni_password"))
    maas_services.units_running(name="Patroni running on the first host (it may create the cluster)",
                                units=["patroni"])


def _roles_on_primary(port: int, db_name: str, db_user: str) -> None:
    """On the primary (whichever member it is): the roles Patroni and MAAS log in with, and
    MAAS's database."""
    maas_pg.role(name=f"PostgreSQL superuser {SUPERUSER} password", role=SUPERUSER,
                 password=config.get(host, "maas_pg_superuser_password"), port=port,
                 _if=patroni.is_primary)
    postgres.role(name=f"PostgreSQL role {REPLICATION_USER} (replication)", role=REPLICATION_USER,
                  login=True, replication=True, psql_port=port, _if=patroni.is_primary, **AS_POSTGRES)
    maas_pg.role(name=f"PostgreSQL role {REPLICATION_USER} password", role=REPLICATION_USER,
                 password=config.get(host, "maas_pg_replication_password"), port=port,
                 _if=patroni.is_primary)
    maas_pg.role(name=f"PostgreSQL role {db_user}", role=db_user,
                 password=config.get(host, "maas_db_password"), port=port, _if=patroni.is_primary)
    postgres.database(name=f"PostgreSQL database {db_name}", database=db_name, owner=db_user,
                      encoding="UTF8", psql_port=port, _if=patroni.is_primary, **AS_POSTGRES)


@deploy("MAAS region: route to the database primary")
def maas_db_route(topology):
    """A local HAProxy on the region that follows the primary (Patroni's ``/primary``)."""
    if not packages_present(["haproxy"]):
        apt.packages(name="Install HAProxy (route to the database primary)", packages=["haproxy"],
                     update=True)
    files.directory(name="/etc/maas-ha", path="/etc/maas-ha", mode="755")
    route = files.put(
        name="Route to the database primary: HAProxy config",
        src=StringIO(db_route_config(members(topology), config.get(topology.postgres[0], "maas_db_port"),
                                     config.get(host, "maas_db_route_port"))),
        dest=DB_ROUTE_CONFIG, mode="644")
    unit = files.put(name="Route to the database primary: systemd unit", src=StringIO(DB_ROUTE_UNIT),
                     dest=DB_ROUTE_UNIT_FILE, mode="644")
    systemd.daemon_reload(name="systemd reads the route's unit", _if=unit.did_change)
    maas_services.units_running(name="Route to the database primary running", units=["maas-db-route"])
    server.shell(name="Route to the database primary reloaded", commands=["systemctl reload maas-db-route"],
                 _if=route.did_change)
