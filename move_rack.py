"""Move a rack controller to another MAAS.

    pyinfra inventories/<env>.py move_rack.py --data maas_move_rack=<rack> \\
        [--data maas_dhcp_move_to=<other rack>]

Runs on the primary region and on the rack (no --limit). The target MAAS's region hosts are
in group `maas_move_target` (first = its primary). The rack is deleted from this MAAS (its
DHCP HA duties handed over first, as for remove_rack.py), then registered with the other one;
moving across MAAS versions is refused before anything changes.
"""

from pyinfra import host, inventory, state

from deploys.rack_lifecycle import check_limit, join_other_maas, release_rack, target_rack
from deploys.topology import get_topology
from run.pyinfra_internals import limit_hosts

check_limit(limit_hosts(state), inventory, "maas_move_rack", "move_rack.py")
topology = get_topology(state, inventory)
rack = target_rack(topology, "maas_move_rack")

if topology.is_primary(host):
    release_rack(topology, rack)

if host == rack:
    join_other_maas(topology, rack)
