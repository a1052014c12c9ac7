"""Remove a rack controller from MAAS for good.

    pyinfra inventories/<env>.py remove_rack.py --data maas_remove_rack=<rack> \
        [--data maas_dhcp_move_to=<other rack>]

Refuses while the rack serves DHCP HA unless another rack is named to take over; deletes
the rack through the API, then removes its software. Take it out of the inventory after.
"""

from pyinfra import host, inventory, state

from config import SettingError
from deploys.rack_lifecycle import release_rack, remove_rack_software, target_rack
from deploys.topology import gather, get_topology
from facts.maas import MaasHostname

topology = get_topology(state, inventory)
rack = target_rack(topology, "maas_remove_rack")

if topology.is_primary(host):
    move_to = host.data.get("maas_dhcp_move_to")
    if move_to:
        move_to_host = target_rack(topology, "maas_dhcp_move_to")
        if move_to_host == rack:
            raise SettingError(rack.name, "maas_dhcp_move_to", "must be another rack than the one removed")
    release_rack(
        topology,
        rack,
        rack_hostname=gather(MaasHostname, [rack])[rack.name],
        move_dhcp_to_hostname=gather(MaasHostname, [move_to_host])[move_to_host.name] if move_to else None,
    )

if host == rack:
    remove_rack_software()
