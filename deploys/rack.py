"""Rack controllers: install, register with this MAAS (only when not already registered to
it), make rackd.conf list every region so a rack survives any one region's loss, and keep
rackd running; then, on the primary, wait until MAAS reports every rack's rackd running."""

from pyinfra import host
from pyinfra.api import deploy

import config
from deploys.packages import install_maas_software, maas_software_present
from deploys.topology import rack_services_args, rack_unit_of
from facts.maas import DEB_RACK_PACKAGE, RACK_MODES, secret_path
from facts.systemd_units import unit_running
from operations import maas_rack, maas_rack_health, maas_services


def has_rack_software(topology, host) -> bool:
    """True when the topology's MaasInstall shows the wanted rack software (then the install
    step would only ask again). A region+rack host gets it with the region's (deb: both
    packages; snap: ``maas init region+rack``), so there the run mode must show both."""
    if host in topology.regions:
        return ((topology.installs.get(host.name) or {}).get("mode") == "region+rack"
                and maas_software_present(topology, host, config.get(host, "maas_flavour"), ("region+rack",)))
    return maas_software_present(topology, host, config.get(host, "maas_flavour"), RACK_MODES)


def lists_every_region(topology, host) -> bool:
    """True when the rackd.conf read in the topology's round lists exactly the regions'
    URLs and no run left it unloaded (its pending-apply marker), the state
    ``maas_rack.region_urls`` leaves alone."""
    conf = topology.rack_confs.get(host.name) or {}
    return (bool(conf.get("exists")) and maas_rack.lists_urls(conf.get("settings"), topology.region_urls)
            and topology.rack_pending.get(host.name) is not True)


def rackd_running(topology, host) -> bool:
    """True when the rack's rackd unit was running and enabled in the topology's round."""
    return unit_running((topology.rack_units.get(host.name) or {}).get(rack_unit_of(host)))


def registered_here(topology, host) -> bool:
    """True when the registration read in the topology's round shows this MAAS's secret
    (``maas_rack.registered_with``, the check ``maas_rack.register`` makes). A region+rack
    host is never registered by the deploy: its rackd uses the region's own secret and node id
    and registers with the regions in its rackd.conf by itself, which the primary's wait for
    every rack's rackd (``maas_racks_live``) confirms."""
    if host in topology.regions:
        return True
    return maas_rack.registered_with(topology.registrations.get(host.name), topology.secret_sha256)


def rack_settled(topology, host) -> bool:
    """True when every rack step would only report "no change": the software is there, the
    rack is registered with this MAAS, its rackd.conf lists every region and its rackd runs.
    Such a rack takes no part in the run after the topology's round (no steps, no barriers)."""
    return (has_rack_software(topology, host) and registered_here(topology, host)
            and lists_every_region(topology, host) and rackd_running(topology, host))


@deploy("MAAS rack")
def maas_rack_controller(topology):
    flavour = config.get(host, "maas_flavour")
    if host not in topology.regions:  # a region+rack host has it with the region's
        install_maas_software(topology, DEB_RACK_PACKAGE, RACK_MODES)

    primary = topology.primary
    if not registered_here(topology, host):  # already registered: its operation would only say so
        maas_rack.register(
            name="Register with the regions",
            flavour=flavour,
            maas_version=config.get(host, "maas_version"),
            region_urls=topology.region_urls,
            secret_host=primary.name,
            secret_path=secret_path(config.get(primary, "maas_flavour")),
            expected_secret_sha256=topology.secret_sha256,
            wait_seconds=config.get(host, "maas_rack_register_timeout"),
        )
    maas_rack.region_urls(name="rackd.conf lists every region", flavour=flavour,
                          region_urls=topology.region_urls)
    maas_services.units_running(name=f"rackd running ({rack_unit_of(host)})", units=[rack_unit_of(host)])


def maas_hostname(topology, rack) -> str:
    """The rack's hostname as MAAS keeps it: short."""
    return str(topology.rack_hostnames.get(rack.name) or rack.name).split(".")[0]


def dhcp_notes(topology, vlans: list) -> dict:
    """{rack's MAAS hostname: which VLANs' DHCP HA it serves, and the way out} for the wait's error."""
    roles: dict = {}
    for vlan in vlans:
        label = f"VLAN {vlan['fabric']}.{vlan.get('vid', 0)}"
        for role in ("primary_rack", "secondary_rack"):
            roles.setdefault(vlan[role], []).append(f"{role.replace('_', ' ')} of {label}")
    racks = {rack.name: rack for rack in topology.racks}
    return {
        maas_hostname(topology, racks[name]): (
            f"{', '.join(serves)}; DHCP HA is left as it is: bring the rack back, or take it out with "
            f"remove_rack.py --data maas_remove_rack={name} --data maas_dhcp_move_to=<another rack>")
        for name, serves in roles.items() if name in racks
    }


@deploy("MAAS racks live")
def maas_racks_live(topology):
    """On the primary, after the racks' steps: MAAS reports each rack's rackd running (bounded),
    before DHCP HA is set, so that it is only set between live racks."""
    maas_rack_health.racks_running(
        name="MAAS reports rackd running on every rack",
        racks=[maas_hostname(topology, rack) for rack in topology.racks],
        timeout=max(config.get(rack, "maas_rack_register_timeout") for rack in topology.racks),
        changed=any(not rack_settled(topology, rack) for rack in topology.racks),
        notes=dhcp_notes(topology, config.get(host, "maas_dhcp_vlans")),
        **rack_services_args(host),
    )
