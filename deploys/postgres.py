"""The shared PostgreSQL: MAAS's role and database, network access for every region, a
connection limit sized for the regions, and a backup before any of its config changes."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, postgres

import config
from deploys.packages import packages_present
from deploys.region_lifecycle import kept_hba_addresses, registered_regions
from operations import maas_pg, maas_services
from operations.maas_pg import AS_POSTGRES  # pyinfra's postgres operations run as postgres


def region_hba_entries(topology, db_name: str, db_user: str) -> list[dict]:
    """One pg_hba entry per region, open to that region's address alone (/32 or /128)."""
    return [{"type": "host", "database": db_name, "user": db_user,
             "address": config.host_network(region), "method": "auto"}
            for region in topology.regions]


@deploy("MAAS PostgreSQL")
def maas_postgres(topology):
    port = config.get(host, "maas_db_port")
    db_name = config.get(host, "maas_db_name")
    db_user = config.get(host, "maas_db_user")
    backup = {"backup_dir": config.get(host, "maas_pg_backup_dir"), "backup_databases": (db_name,),
              "backup_keep": config.get(host, "maas_pg_backup_keep")}

    # present: apt.packages would only ask dpkg again
    if not packages_present(["postgresql"], topology.deb_packages.get(host.name)):
        apt.packages(name="Install PostgreSQL", packages=["postgresql"], update=True)
    maas_services.units_running(name="PostgreSQL running", units=["postgresql"])
    maas_pg.server_settings(
        name="PostgreSQL listen_addresses and max_connections",
        settings={
            "listen_addresses": config.pg_listen_addresses(host),
            "max_connections": topology.max_connections,
        },
        port=port,
        **backup,
    )
    maas_pg.role(
        name=f"PostgreSQL role {db_user}",
        role=db_user,
        password=config.get(host, "maas_db_password"),
        port=port,
    )
    postgres.database(
        name=f"PostgreSQL database {db_name}",
        database=db_name,
        owner=db_user,
        encoding="UTF8",
        psql_port=port,
        **AS_POSTGRES,
    )
    maas_pg.hba_entries(
        name="pg_hba: one line per region",
        entries=region_hba_entries(topology, db_name, db_user),
        port=port,
        **backup,
    )
    if registered_regions(topology) is not None:  # else which regions exist is not known
        maas_pg.hba_region_lines_absent(
            name="pg_hba: no line for an address that is no region any more",
            database=db_name,
            user=db_user,
            keep=kept_hba_addresses(topology, topology.regions),
            port=port,
            **backup,
        )
