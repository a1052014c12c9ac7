"""Take a region controller out of a running MAAS for good.

    pyinfra inventories/<env>.py remove_region.py --data maas_remove_region=<region> \\
        [--data maas_new_primary_region=<other region>]

Runs on every host, with the leaving region still in the inventory (no --limit). Refuses to
remove the last region, or the primary without naming the region that takes over. In order:
HAProxy drains the region, every rack's rackd.conf drops it, its services stop and are
disabled, the (new) primary deletes it from MAAS, haproxy.cfg drops it, and its pg_hba line
goes (after a backup). Take it out of the inventory after: deploy.py then changes nothing.
"""

from pyinfra import host, inventory, state

from deploys import region_lifecycle as lifecycle
from deploys.rack_lifecycle import _hostname as maas_hostname
from deploys.topology import get_topology
from run.phases import barrier
from run.pyinfra_internals import limit_hosts

lifecycle.check_limit(limit_hosts(state))
topology = get_topology(state, inventory)
leaving = lifecycle.leaving_region(topology)
remaining = lifecycle.without_region(topology, leaving)

if host in topology.haproxies:
    lifecycle.drain_leaving(leaving)
barrier(name="Phase: region drained", phase="region drained")

if host in topology.racks:
    lifecycle.racks_forget(remaining)
if host == leaving:
    lifecycle.stop_leaving()
barrier(name="Phase: region stopped", phase="region stopped")

if remaining.is_primary(host):
    lifecycle.delete_leaving(leaving, maas_hostname(leaving), topology.tls,
                             lifecycle.registered_regions(topology))
if host in topology.haproxies:
    lifecycle.haproxy_without(remaining)
if host in topology.postgres:
    lifecycle.hba_without(topology, remaining, leaving)
