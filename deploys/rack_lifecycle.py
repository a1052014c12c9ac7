"""Rack lifecycle: take a rack out of this MAAS for good, or move it to another MAAS.

Both start on the primary region (DHCP hand-over and the API delete run there, in order)
and finish on the rack itself (software removed, or registered with the other MAAS). The
rack is named for the run (`--data maas_remove_rack=<rack>`, config.py's lifecycle
settings), not with `--limit`: the primary region must take part. Refusals happen while
planning, before any host is changed.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError


import config
from config import GROUP_RACK, GROUP_REGION, SettingError
from facts.maas import MaasHostname, MaasInstall, MaasRegistration, secret_path
from facts.maas_api import MaasRackControllers, MaasVlans
from operations import maas_dhcp, maas_rack
from run.gather import gather

GROUP_MOVE_TARGET = "maas_move_target"


def check_limit(limit_hosts, inventory, setting: str, script: str) -> None:
    """Refuse a `--limit` (``run.pyinfra_internals.limit_hosts``) that leaves out the primary
    region or the rack: the work would silently not happen there."""
    if limit_hosts is None:
        return
    regions = config.hosts_of(inventory, GROUP_REGION)
    needed = regions[:1] + [rack for rack in config.hosts_of(inventory, GROUP_RACK)
                            if regions and rack.name == regions[0].data.get(setting)]
    left_out = [one.name for one in needed if one not in limit_hosts]
    if left_out:
        raise DeployError(f"--limit leaves out {', '.join(left_out)}: {script} works on the primary "
                          f"region and on the rack; run it without --limit and name the rack with "
                          f"--data {setting}=<rack>")


def target_rack(topology, setting: str):
    """The rack named by `--data <setting>=<inventory name>` (config.py checked the name)."""
    name = config.get(topology.primary, setting)
    if not name:
        raise SettingError(topology.primary.name, setting, f"name the rack to act on: --data {setting}=<rack>")
    return next(rack for rack in topology.racks if rack.name == name)


def _hostname(rack) -> str:
    """The rack's name in MAAS: its short hostname (MAAS drops the domain of an FQDN)."""
    return gather(MaasHostname, [rack])[rack.name]


def _api_url(topology) -> str:
    """The primary region's API on its own loopback: the calls run there (the key stays there)."""
    return config.loopback_api_url(topology.primary, topology.tls)


def dhcp_duties(topology, rack_hostname: str) -> list[dict]:
    """VLANs on which the rack is the primary or secondary DHCP rack, per the region's API."""
    primary = topology.primary
    profile = config.get(primary, "maas_cli_profile")
    cli = "/snap/bin/maas" if config.get(primary, "maas_flavour") == "snap" else "maas"
    racks = primary.get_fact(MaasRackControllers, profile=profile, maas_cli=cli) or []
    ids = {rack["system_id"] for rack in racks if rack["hostname"] == rack_hostname}
    vlans = primary.get_fact(MaasVlans, profile=profile, maas_cli=cli) or []
    by_id = {rack["system_id"]: rack["hostname"] for rack in racks}
    return [
        {**vlan, "primary_hostname": by_id.get(vlan["primary_rack"]),
         "secondary_hostname": by_id.get(vlan["secondary_rack"])}
        for vlan in vlans if vlan.get("primary_rack") in ids or vlan.get("secondary_rack") in ids
    ]


@deploy("Release a rack from MAAS")
def release_rack(topology, rack):
    """On the primary region: hand DHCP to the rack named by `maas_dhcp_move_to` if the
    leaving rack has DHCP duties, then delete the rack."""
    rack_hostname = _hostname(rack)
    takeover = config.get(topology.primary, "maas_dhcp_move_to")
    move_dhcp_to_hostname = _hostname(target_rack(topology, "maas_dhcp_move_to")) if takeover else None
    duties = dhcp_duties(topology, rack_hostname)
    if duties and not move_dhcp_to_hostname:
        where = ", ".join(f"{v['fabric']}.{v['vid']}" for v in duties)
        raise SettingError(rack.name, "maas_dhcp_move_to", f"rack serves DHCP HA on VLAN {where}: "
                           "name the rack that takes over (--data maas_dhcp_move_to=<rack>)")
    for vlan in duties:
        pair = [vlan["primary_hostname"], vlan["secondary_hostname"]]
        pair = [move_dhcp_to_hostname if name == rack_hostname else name for name in pair]
        new_primary, new_secondary = pair[0], (pair[1] if pair[1] != pair[0] else None)
        maas_dhcp.vlan_dhcp_ha(
            name=f"Move DHCP on {vlan['fabric']}.{vlan['vid']} off {rack_hostname}",
            api_url=_api_url(topology),
            admin_username=config.get(host, "maas_admin_username"),
            key_flavour=config.get(host, "maas_flavour"),
            fabric=vlan["fabric_id"],
            vid=vlan["vid"],
            primary_rack=new_primary,
            secondary_rack=new_secondary,
            profile=config.get(host, "maas_cli_profile"),
            maas_cli="/snap/bin/maas" if config.get(host, "maas_flavour") == "snap" else "maas",
        )
    maas_rack.deregister(
        name=f"Delete rack {rack_hostname} through the API",
        api_url=_api_url(topology),
        key_host=host.name,
        admin_username=config.get(host, "maas_admin_username"),
        hostname=rack_hostname,
        key_flavour=config.get(host, "maas_flavour"),
    )


@deploy("Remove rack software")
def remove_rack_software():
    """On the rack: remove the software, so a reboot cannot bring the rack back."""
    maas_rack.remove_software(name="Remove the rack software", flavour=config.get(host, "maas_flavour"))


@deploy("Register a rack with another MAAS")
def join_other_maas(topology, rack):
    """On the rack: register with the target MAAS (group maas_move_target, first = primary)."""
    targets = config.hosts_of(host.state.inventory, GROUP_MOVE_TARGET)
    if not targets:
        raise SettingError(None, f"group {GROUP_MOVE_TARGET}", "add the target MAAS's region hosts "
                           "(first = its primary) to move a rack")
    target_install = gather(MaasInstall, [targets[0]])[targets[0].name] or {}
    rack_install = host.get_fact(MaasInstall) or {}
    if target_install.get("series") != rack_install.get("series"):
        raise SettingError(rack.name, "maas_version", f"rack runs MAAS {rack_install.get('version')} "
                           f"but {targets[0].name} runs {target_install.get('version')}: a rack cannot "
                           "move across MAAS versions")
    target_flavour = config.get(targets[0], "maas_flavour")
    registration = gather(MaasRegistration, [targets[0]])[targets[0].name] or {}
    urls = [config.region_url(target) for target in targets]
    maas_rack.register(
        name=f"Register with the MAAS of {targets[0].name}",
        flavour=config.get(host, "maas_flavour"),
        maas_version=config.get(host, "maas_version"),
        region_urls=urls,
        secret_host=targets[0].name,
        secret_path=secret_path(target_flavour),
        expected_secret_sha256=registration.get("secret_sha256"),
        wait_seconds=config.get(host, "maas_rack_register_timeout"),
        replace_registration=True,
    )
    maas_rack.region_urls(name="rackd.conf lists every region of the new MAAS",
                          flavour=config.get(host, "maas_flavour"), region_urls=urls)
