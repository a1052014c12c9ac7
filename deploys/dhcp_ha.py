"""DHCP HA: each VLAN the inventory lists gets a primary and a secondary rack and DHCP on,
through the MAAS API, changed only where it differs."""

from pyinfra import host
from pyinfra.api import deploy

import config
from operations import maas_dhcp


def api_url(topology) -> str:
    """The primary region's API on its own loopback: the calls run there (the key stays there)."""
    return config.loopback_api_url(topology.primary, topology.tls)


@deploy("MAAS DHCP HA")
def maas_dhcp_ha(topology):
    flavour = config.get(host, "maas_flavour")
    for vlan in config.get(host, "maas_dhcp_vlans"):
        maas_dhcp.vlan_dhcp_ha(
            name=f"DHCP HA on VLAN {vlan['fabric']}.{vlan.get('vid', 0)}",
            api_url=api_url(topology),
            admin_username=config.get(host, "maas_admin_username"),
            key_flavour=flavour,
            fabric=vlan["fabric"],
            vid=vlan.get("vid", 0),
            primary_rack=topology.rack_hostnames[vlan["primary_rack"]],
            secondary_rack=topology.rack_hostnames[vlan["secondary_rack"]],
            dynamic_range=vlan.get("dynamic_range"),
            profile=config.get(host, "maas_cli_profile"),
            maas_cli="/snap/bin/maas" if flavour == "snap" else "maas",
            rack_interface_timeout=config.get(host, "maas_dhcp_rack_interface_timeout"),
        )
