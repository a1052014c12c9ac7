"""Region lifecycle: take a region out of a running MAAS without a failed request, and notice
a region the inventory left out.

``remove_region.py`` names the leaving region for the run (``--data maas_remove_region=<region>``,
config.py's lifecycle settings) with it still in the inventory, and every host takes part:
HAProxy drains it, the racks stop listing it, its services stop for good, the (new) primary
deletes it from MAAS, HAProxy's config drops it, and pg_hba loses its line. After it, the
hosts are as deploy.py with the region left out of the inventory makes them, so that run
changes nothing. The refusals (last region, primary without a successor) happen in
``config.validate_region_lifecycle`` before anything runs.
"""

from __future__ import annotations

import dataclasses

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

import config
from deploys.haproxy import rendered_config
from facts.maas_units import region_units, snap_unit
from operations import haproxy, maas_pg, maas_rack, maas_region_removal, maas_rolling

SCRIPT = "remove_region.py"


def check_limit(limit_hosts) -> None:
    """Every host takes part in a region's removal: refuse a ``--limit``
    (``run.pyinfra_internals.limit_hosts``)."""
    if limit_hosts is not None:
        raise DeployError(f"{SCRIPT} works on every host (HAProxy, racks, regions, PostgreSQL): run it "
                          "without --limit and name the region with --data maas_remove_region=<region>")


def leaving_region(topology):
    """The region named by ``--data maas_remove_region=<region>`` (config.py checked the name)."""
    name = config.get(topology.primary, "maas_remove_region")
    if not name:
        raise config.SettingError(topology.primary.name, "maas_remove_region",
                                  "name the region to remove: --data maas_remove_region=<region>")
    return next(region for region in topology.regions if region.name == name)


def without_region(topology, leaving):
    """The topology once ``leaving`` is gone: the other regions, ``maas_new_primary_region``
    first when the leaving region was the primary."""
    rest = [region for region in topology.regions if region != leaving]
    new_primary = config.get(topology.primary, "maas_new_primary_region")
    if leaving == topology.primary and new_primary:
        rest.sort(key=lambda region: region.name != new_primary)
    return dataclasses.replace(topology, regions=rest)


def registered_regions(topology) -> list[dict] | None:
    """The regions MAAS knows (the primary's view in the opening round), or None when its
    API did not answer."""
    return topology.region_controllers.get(topology.primary.name)


def regions_left_out(topology) -> list[dict]:
    """Regions MAAS knows whose address is no region of the inventory's."""
    addresses = {config.address_of(region) for region in topology.regions}
    return [region for region in registered_regions(topology) or []
            if not addresses & set(region["ip_addresses"])]


def report_regions_left_out(topology) -> None:
    """Say (once, while planning) which regions MAAS still has that the inventory left out:
    they keep running and keep their pg_hba line until ``remove_region.py`` removes them."""
    for region in regions_left_out(topology):
        state = region["services"].get("regiond")
        running = f" (regiond {state})" if state else ""
        logger.warning(
            f"region {region['hostname']} ({', '.join(region['ip_addresses'])}) is registered with MAAS"
            f"{running} but is not in group {config.GROUP_REGION}: it keeps its pg_hba line and "
            f"may keep running. Put it back in the inventory and run {SCRIPT} --data "
            f"maas_remove_region=<its inventory name> to take it out of MAAS")


def kept_hba_addresses(topology, regions) -> list[str]:
    """Addresses whose pg_hba line stays: ``regions``, and every region MAAS still knows
    (outside ``regions`` too: only remove_region.py removes those). None known: every line
    stays (the API did not answer, so which regions exist is not known)."""
    known = registered_regions(topology)
    if known is None:
        return []
    addresses = [config.address_of(region) for region in regions]
    return addresses + [address for region in known for address in region["ip_addresses"]]


@deploy("Remove a region: drain it in HAProxy")
def drain_leaving(leaving):
    maas_rolling.drain_region(
        name=f"{leaving.name}: drain in HAProxy",
        server=leaving.name,
        socket=config.get(host, "maas_haproxy_admin_socket"),
        timeout=config.get(host, "maas_haproxy_drain_timeout"),
    )


def rack_installed(topology) -> bool:
    """This rack has a rackd.conf to change (not one whose software was removed)."""
    return bool((topology.rack_confs.get(host.name) or {}).get("exists"))


@deploy("Remove a region: racks use the other regions")
def racks_forget(remaining):
    if not rack_installed(remaining):
        return  # its software was removed: nothing lists the region
    maas_rack.region_urls(name="rackd.conf lists every remaining region",
                          flavour=config.get(host, "maas_flavour"), region_urls=remaining.region_urls)


@deploy("Remove a region: stop its services")
def stop_leaving():
    flavour, version = config.get(host, "maas_flavour"), config.get(host, "maas_version")
    maas_region_removal.region_stopped(
        name=f"Stop and disable {host.name}'s region services",
        flavour=flavour,
        units=[snap_unit(version)] if flavour == "snap" else region_units(flavour, version),
    )


@deploy("Remove a region: delete it from MAAS")
def delete_leaving(leaving, hostname: str, tls=None, registered=None):
    """``tls``: MAAS TLS (``Topology.tls``), which decides the URL of the API on the host;
    ``registered``: the regions MAAS knew when the run was planned (``registered_regions``)."""
    maas_region_removal.deregister(
        name=f"Delete region {leaving.name} from MAAS",
        api_url=config.loopback_api_url(host, tls),
        key_host=host.name,
        admin_username=config.get(host, "maas_admin_username"),
        hostname=hostname,
        address=config.address_of(leaving),
        key_flavour=config.get(host, "maas_flavour"),
        timeout=config.get(host, "maas_region_restart_timeout"),
        registered=registered,
    )


@deploy("Remove a region: HAProxy without it")
def haproxy_without(remaining):
    haproxy.config(name="haproxy.cfg: region API backends", content=rendered_config(remaining))
    haproxy.loaded(name="HAProxy loads haproxy.cfg", socket=config.get(host, "maas_haproxy_admin_socket"))


@deploy("Remove a region: pg_hba without it")
def hba_without(topology, remaining, leaving):
    known = registered_regions(topology)
    keep = kept_hba_addresses(topology, remaining.regions)
    if known is None:
        raise DeployError(f"{topology.primary.name}: the MAAS API did not answer: cannot tell which "
                          f"regions MAAS still knows, so {leaving.name}'s pg_hba line is not removed")
    leaving_address = config.address_of(leaving)
    maas_pg.hba_region_lines_absent(
        name=f"pg_hba: no line for {leaving.name}",
        database=config.get(host, "maas_db_name"),
        user=config.get(host, "maas_db_user"),
        keep=[address for address in keep if address != leaving_address],
        port=config.get(host, "maas_db_port"),
        backup_dir=config.get(host, "maas_pg_backup_dir"),
        backup_databases=(config.get(host, "maas_db_name"),),
        backup_keep=config.get(host, "maas_pg_backup_keep"),
    )
