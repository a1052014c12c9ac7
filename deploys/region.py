"""Region controllers: install, point at the shared database, start, and (on the primary)
create the admin the deploy uses for the API. The primary goes first; the others follow
one at a time, because concurrent initialisation races on database migrations."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, snap, systemd

import config
from deploys.packages import deb_spec, packages_present
from facts.maas_config import config_path
from operations import maas_region

LOCAL_API = "http://localhost:5240/MAAS/"


def wait_for_api_command(timeout: int = 120) -> str:
    """A remote command that waits until the local region answers its API (bounded)."""
    return (
        "python3 -c 'import sys,time,urllib.request\n"
        f"end=time.time()+{timeout}\n"
        "while time.time()<end:\n"
        "    try:\n"
        f"        urllib.request.urlopen(\"{LOCAL_API}api/2.0/version/\",timeout=3); sys.exit(0)\n"
        "    except Exception: time.sleep(1)\n"
        f"sys.exit(\"region API on this host did not answer within {timeout}s\")'"
    )


@deploy("MAAS region")
def maas_region_controller(topology, primary: bool):
    flavour = config.get(host, "maas_flavour")
    pg = topology.postgres[0]
    database = {
        "database_host": config.address_of(pg),
        "database_port": config.get(pg, "maas_db_port"),
        "database_name": config.get(pg, "maas_db_name"),
        "database_user": config.get(pg, "maas_db_user"),
        "database_password": config.get(host, "maas_db_password"),
    }

    if flavour == "deb":
        package = deb_spec("maas-region-api", config.get(host, "maas_deb_version"))
        apt.packages(name="Install maas-region-api", packages=[package],
                     update=not packages_present([package]))
    else:
        snap.package(name="Install the maas snap", packages=["maas"], channel=config.snap_channel(host))

    conf = maas_region.configure(
        name="regiond.conf: database, URL, workers",
        flavour=flavour,
        maas_url=config.maas_url(host.state.inventory, host),
        num_workers=topology.workers_of(host),
        **database,
    )

    if flavour == "deb":
        files.file(name="regiond.conf owned root:maas 0640", path=config_path("regiond", "deb"),
                   user="root", group="maas", mode="640")
        if primary:
            server.shell(name="Database migrations (primary only)",
                         commands=["maas-region dbupgrade"], _if=conf.did_change)
        # bind9 >= 9.18 (jammy, noble) runs as named.service; bind9.service is only an alias,
        # which systemd's unit listing does not show, so ask for the real unit.
        systemd.service(name="Restart bind9 for the region's DNS", service="named",
                        running=True, restarted=conf.will_change)
        regiond = systemd.service(name="maas-regiond running", service="maas-regiond",
                                  running=True, enabled=True, restarted=conf.will_change)
        started = [conf.did_change, regiond.did_change]
    else:
        started = [conf.did_change]

    server.shell(name="Wait for the region API", commands=[wait_for_api_command()],
                 _if=lambda: any(check() for check in started))

    username = config.get(host, "maas_admin_username")
    if primary:
        maas_region.admin(
            name=f"MAAS admin {username}",
            flavour=flavour,
            username=username,
            password=config.get(host, "maas_admin_password"),
            email=config.get(host, "maas_admin_email"),
        )
    maas_region.cli_profile(
        name="maas CLI profile for queries",
        flavour=flavour,
        profile=config.get(host, "maas_cli_profile"),
        url=LOCAL_API,
        username=username,
    )
