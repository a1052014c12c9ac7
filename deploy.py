"""maas-ha: take the inventory's hosts to a highly-available MAAS.

    pyinfra inventories/<env>.py deploy.py

Order: guards (nothing runs if any refuses), PostgreSQL, region software, the regions
configured and restarted one at a time behind HAProxy (deploys/rolling_restart.py), HAProxy,
racks, DHCP HA. pyinfra interleaves hosts by the position of each operation in their own
list, so the phases are separated by barriers that the hosts concerned pass together
(run/phases.py).
"""

from pyinfra import host, inventory, state

import config
from deploys.dhcp_ha import maas_dhcp_ha
from deploys.haproxy import maas_haproxy
from deploys.pg_cluster import maas_db_route, maas_pg_cluster
from deploys.postgres import maas_postgres
from deploys.rack import maas_rack_controller, maas_racks_live, rack_settled
from deploys.region import maas_region_access, maas_region_software
from deploys.region_lifecycle import report_regions_left_out
from deploys.rolling_restart import get_plan, rolling_region_restart
from deploys.topology import get_topology
from deploys.vip import keepalived_retired, maas_api_vip
from run.phases import barrier

topology = get_topology(state, inventory)
if topology.is_primary(host):
    report_regions_left_out(topology)  # still registered, maybe running: remove_region.py
# A rack whose every step would report "no change" sits out the steps and the barriers.
rack_due = host in topology.racks and not rack_settled(topology, host)

if host in topology.postgres:
    if config.is_cluster(inventory):
        maas_pg_cluster(topology)  # three or more hosts: Patroni and etcd
    else:
        maas_postgres(topology)

if host not in topology.racks or host in topology.regions:  # racks wait for the regions below
    barrier(name="Phase: database ready", phase="database ready")

if host in topology.regions:
    maas_region_software(topology)
    if config.is_cluster(inventory):
        maas_db_route(topology)

if host in topology.regions or host in topology.haproxies:
    rolling_region_restart(topology)

if host in topology.regions:
    maas_region_access(topology, regions_settled=not get_plan(state, topology).reasons)

if host not in topology.racks or host in topology.regions or rack_due:
    barrier(name="Phase: every region ready", phase="every region ready")

if host in topology.haproxies:
    maas_haproxy(topology)
    maas_api_vip(topology)  # with maas_api_vip: keepalived, once HAProxy serves

# Where keepalived is no longer wanted (no maas_api_vip, or a host that left maas_haproxy):
# stopped, which releases the address. Nothing to wait for: HAProxy binds every address, so
# each load balancer already serves on its own one, which maas_url names (deploys/vip.py).
keepalived_retired(topology)

if rack_due:
    maas_rack_controller(topology)

if topology.is_primary(host) or rack_due:  # DHCP HA (on the primary) needs the racks registered
    barrier(name="Phase: racks registered", phase="racks registered")

if topology.is_primary(host) and topology.racks:
    maas_racks_live(topology)  # DHCP HA only between racks MAAS reports running

if topology.is_primary(host):
    maas_dhcp_ha(topology)
