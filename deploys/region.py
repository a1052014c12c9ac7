"""Region controllers: install, point at the shared database, (re)start, and (on the primary)
create the admin the deploy uses for the API.

The software goes on every region at once (installing does not start a region). Configuring
and restarting happens in ``deploys/rolling_restart.py``, one region at a time and primary
first: concurrent initialisation races on database migrations, and a region being restarted
must be out of HAProxy while the others carry the API.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

import config
from deploys.packages import install_maas_software
from deploys.pg_cluster import region_database
from deploys.topology import region_units_of
from facts.maas import DEB_RACK_PACKAGE, DEB_REGION_PACKAGE, REGION_MODES
from facts.maas_config import config_path
from facts.maas_health import TLS_CHAINS
from facts.maas_units import region_units
from operations import config_apply, maas_region, maas_rolling, maas_services


def region_settings(topology, region) -> dict:
    """The ``maas_region.configure`` arguments for one region, from the inventory."""
    pg = topology.postgres[0]
    return {
        "flavour": config.get(region, "maas_flavour"),
        "maas_url": config.maas_url(region.state.inventory, region),
        "num_workers": topology.workers_of(region),
        "database_host": config.address_of(pg),
        "database_port": config.get(pg, "maas_db_port"),
        "database_name": config.get(pg, "maas_db_name"),
        "database_user": config.get(pg, "maas_db_user"),
        "database_password": config.get(region, "maas_db_password"),
        "with_rack": region in topology.racks,
        # a PostgreSQL cluster: the region's own route to whichever member is primary
        **(region_database(region) if config.is_cluster(region.state.inventory) else {}),
    }


@deploy("MAAS region software")
def maas_region_software(topology):
    """Install the region software (deb package or snap); nothing is started by this.
    Left out when the topology's MaasInstall already shows it (see install_maas_software).

    A region that is a rack too (MAAS's region+rack) gets the rack package with it on deb, as
    MAAS's own ``maas`` package does: its rackd finds the region's secret and registers with
    the local region by itself (rackd.conf's default URL). The snap is one for both modes."""
    if host in topology.racks:
        install_maas_software(topology, (DEB_REGION_PACKAGE, DEB_RACK_PACKAGE), ("region+rack",))
        return
    install_maas_software(topology, DEB_REGION_PACKAGE, REGION_MODES)


def configure_and_restart(topology, restart: bool, go, label: str | None = None) -> None:
    """On the region itself: regiond.conf, and when `restart` a restart that waits for the API.

    `go` is a callable for ``_if``: it says at execution time whether the rolling restart is
    still on (no participating host failed so far). Called from the rolling restart, inside
    the region's own turn. `label` starts each step's name (default: the host's name, as a
    region's turn is its own; "" when every region checks at once).
    """
    label = f"{host.name}: " if label is None else label
    settings = region_settings(topology, host)
    flavour = settings["flavour"]
    path = config_path("regiond", flavour)
    # written by a run that stopped before the region restarted (facts/pending_apply.py): the
    # rolling restart restarts it, and the primary's migrations run as for a changed file
    pending = topology.region_pending.get(host.name) is True
    conf = maas_region.configure(name=f"{label}regiond.conf (database, URL, workers)",
                                 _if=go, **settings)
    if flavour == "deb":
        # maas:maas as the package leaves it: regiond (user maas) rewrites the file itself when
        # it moves the database credentials into Vault, and MAAS's atomic write refuses a file
        # it cannot give back its owner (src/provisioningserver/utils/fs.py atomic_write).
        files.file(name=f"{label}regiond.conf owned maas:maas 0640",
                   path=path, user="maas", group="maas", mode="640", _if=go)
        if topology.is_primary(host):
            server.shell(name=f"{label}database migrations (primary only)",
                         commands=["maas-region dbupgrade"],
                         _if=[go, lambda: conf.did_change() or pending])
        _region_units_running(label, restart, go)
    else:
        maas_services.units_running(name=f"{label}the maas snap's services running and enabled",
                                    units=region_units_of(host), _if=go)
    if flavour == "snap" and restart:
        # `maas init` / `maas config` restart the snap's services themselves when they change
        # something; a region that is down with an unchanged config is restarted here.
        server.shell(name=f"{label}restart the maas snap", commands=["snap restart maas"],
                     _if=[go, conf.did_not_change])
    if restart:
        maas_rolling.wait_for_region_api(
            name=f"{label}wait for the region API",
            flavour=flavour,
            version=config.get(host, "maas_version"),
            units=region_units(flavour, config.get(host, "maas_version")),
            timeout=config.get(host, "maas_region_restart_timeout"),
            _if=go,
        )
        # the region runs the file now: a later run need not restart it again
        config_apply.applied(name=f"{label}regiond.conf loaded", path=path, _if=go)


def _region_units_running(label: str, restart: bool, go) -> None:
    """Every unit of a deb region (and bind9) running and enabled; when `restart`, the region's
    units restarted together, as each reads regiond.conf at start (3.5+: not only maas-regiond)."""
    # bind9 >= 9.18 (jammy, noble) runs as named.service; bind9.service is only an alias,
    # which systemd's unit listing does not show, so the real unit is named.
    maas_services.units_running(name=f"{label}region services running and enabled (bind9, MAAS)",
                                units=region_units_of(host), _if=go)
    if restart:
        systemd.service(name=f"{label}bind9 for the region's DNS", service="named",
                        running=True, restarted=True, _if=go)
        units = region_units("deb", config.get(host, "maas_version"))
        side = f" with {', '.join(units[:-1])}" if units[:-1] else ""
        # One systemctl transaction: maas-regiond Requires= maas-apiserver (3.5+), so
        # restarting them one by one would restart maas-regiond twice.
        server.shell(name=f"{label}restart maas-regiond{side}",
                     commands=["systemctl restart " + " ".join(units)], _if=go)


@deploy("MAAS region access")
def maas_region_access(topology, regions_settled: bool):
    """The admin user (primary) and the CLI profile the API facts read through (every region).

    Each step is left out when the topology's round already showed it done, as its operation
    would only say so: the CLI profile is local to the host, and the admin user lives in the
    database, so it counts only when `regions_settled` (no region's regiond.conf changes in
    this run, hence the regions keep their database)."""
    flavour = config.get(host, "maas_flavour")
    username = config.get(host, "maas_admin_username")
    profile = config.get(host, "maas_cli_profile")
    admin_known = regions_settled and topology.admin_users.get(host.name) is True
    if topology.is_primary(host) and not admin_known:
        maas_region.admin(
            name=f"MAAS admin {username}",
            flavour=flavour,
            username=username,
            password=config.get(host, "maas_admin_password"),
            email=config.get(host, "maas_admin_email"),
        )
    # with MAAS TLS on, on its HTTPS port, trusting MAAS's own chain on the host
    url = config.cli_profile_url(host, topology.tls)
    if not maas_region.profile_points_at(topology.cli_profiles.get(host.name), profile, url):
        maas_region.cli_profile(
            name="maas CLI profile for queries",
            flavour=flavour,
            profile=profile,
            url=url,
            username=username,
            cacerts=TLS_CHAINS[flavour] if topology.tls else None,
        )
