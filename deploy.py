"""maas-ha: take the inventory's hosts to a highly-available MAAS.

    pyinfra inventories/<env>.py deploy.py

Order: guards (nothing runs if any refuses), PostgreSQL, the primary region, the other
regions one at a time, HAProxy, racks, DHCP HA. pyinfra orders operations by where they are
called in this file, so the primary's operations all run before any other region's.
"""

from pyinfra import host, inventory, state

from deploys.dhcp_ha import maas_dhcp_ha
from deploys.haproxy import maas_haproxy
from deploys.postgres import maas_postgres
from deploys.rack import maas_rack_controller
from deploys.region import maas_region_controller
from deploys.topology import get_topology

topology = get_topology(state, inventory)

if host in topology.postgres:
    maas_postgres(topology)

if topology.is_primary(host):
    maas_region_controller(topology, primary=True)

if host in topology.regions and not topology.is_primary(host):
    maas_region_controller(topology, primary=False, _serial=True)

if host in topology.haproxies:
    maas_haproxy(topology)

if host in topology.racks:
    maas_rack_controller(topology)

if topology.is_primary(host):
    maas_dhcp_ha(topology)
