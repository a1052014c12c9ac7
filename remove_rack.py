"""Remove a rack controller from MAAS for good.

    pyinfra inventories/<env>.py remove_rack.py --data maas_remove_rack=<rack> \\
        [--data maas_dhcp_move_to=<other rack>]

Runs on the primary region and on the rack (no --limit). Refuses while the rack serves DHCP
HA unless another rack is named to take over; deletes the rack through the API, then removes
its software. Take it out of the inventory after.
"""

from pyinfra import host, inventory, state

from deploys.rack_lifecycle import check_limit, release_rack, remove_rack_software, target_rack
from deploys.topology import get_topology
from run.pyinfra_internals import limit_hosts

check_limit(limit_hosts(state), inventory, "maas_remove_rack", "remove_rack.py")
topology = get_topology(state, inventory)
rack = target_rack(topology, "maas_remove_rack")

if topology.is_primary(host):
    release_rack(topology, rack)

if host == rack:
    remove_rack_software()
