"""Move a rack controller to another MAAS.

    pyinfra inventories/<env>.py move_rack.py --data maas_move_rack=<rack>

The target MAAS's region hosts are in group `maas_move_target` (first = its primary). The
rack is deleted from this MAAS, then registered with the other one; moving across MAAS
versions is refused before anything changes.
"""

from pyinfra import host, inventory, state

from deploys.rack_lifecycle import join_other_maas, release_rack, target_rack
from deploys.topology import gather, get_topology
from facts.maas import MaasHostname

topology = get_topology(state, inventory)
rack = target_rack(topology, "maas_move_rack")

if topology.is_primary(host):
    release_rack(topology, rack, rack_hostname=gather(MaasHostname, [rack])[rack.name],
                 move_dhcp_to_hostname=None)

if host == rack:
    join_other_maas(topology, rack)
