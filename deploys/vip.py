"""The MAAS API's floating address (``maas_api_vip``): keepalived on every load balancer.

Two or more ``maas_haproxy`` hosts share one address by VRRP (operations/_render_keepalived.py
says how). HAProxy binds every address of its host (deploys/haproxy.py: ``*``, or ``::`` for
IPv6), so it serves on the floating address wherever the address is, with no
``ip_nonlocal_bind``. With one load balancer, or no ``maas_api_vip``, no keepalived runs
and each load balancer serves on its own address, as it always does beside the floating one.

Where maas-ha's keepalived is no longer wanted (``maas_api_vip`` unset, or a host that left
``maas_haproxy`` but is still in the inventory) and its files are still there, it is
retired: stopped and disabled, which releases the address, and its config and check moved
aside. The package stays installed.
"""

from __future__ import annotations

import ipaddress
from io import StringIO

from pyinfra import host, inventory
from pyinfra.api import deploy
from pyinfra.facts.hardware import NetworkDevices
from pyinfra.operations import apt, files, systemd

import config
from config import SettingError
from deploys.packages import packages_present
from operations import keepalived, maas_services


def vrrp_interface(address: str, vip: str, devices: dict, host_name: str) -> tuple[str, int]:
    """The interface that carries this host's own ``address``, and its prefix length; the
    floating address must lie in that interface's network. A ``SettingError`` naming the
    host otherwise (raised while the run is planned, before any host changes)."""
    link = keepalived.vrrp_link(devices, address)
    if link is None:
        raise SettingError(host_name, "maas_address", f"no interface of {host_name} has its address "
                           f"{address}: keepalived must send VRRP from it")
    interface, prefixlen = link
    network = ipaddress.ip_interface(f"{address}/{prefixlen}").network
    if ipaddress.ip_address(vip) not in network:
        raise SettingError(host_name, "maas_api_vip", f"{vip} is not in {network}, the network of "
                           f"{host_name}'s address on {interface}: the floating address must be on "
                           "the load balancers' own network")
    return interface, prefixlen


def rendered_config(topology, devices: dict) -> str:
    """The keepalived.conf this host should have, from the inventory and its interfaces."""
    vip = config.api_vip(inventory)
    own = config.address_of(host)
    interface, prefixlen = vrrp_interface(own, vip, devices, host.name)
    return keepalived.render_config(
        host_name=host.name, interface=interface, vip=vip, prefixlen=prefixlen,
        router_id=config.vrrp_router_id(inventory),
        priority=keepalived.priority(topology.haproxies.index(host)),
        own_address=own,
        peers=[config.address_of(other) for other in topology.haproxies if other != host],
    )


@deploy("MAAS API floating address")
def maas_api_vip(topology):
    if config.api_vip(inventory) is None:
        return
    content = rendered_config(topology, host.get_fact(NetworkDevices))
    if not packages_present(["keepalived"], topology.deb_packages.get(host.name)):
        apt.packages(name="Install keepalived", packages=["keepalived"], update=True)
    files.put(
        name="keepalived's HAProxy check",
        src=StringIO(keepalived.render_check_script(config.get(host, "maas_haproxy_admin_socket"),
                                                    config.get(host, "maas_haproxy_frontend_port"))),
        dest=keepalived.CHECK_SCRIPT_PATH, user="root", group="root", mode="755",
    )
    keepalived.config(name="keepalived.conf: the API's floating address", content=content)
    maas_services.units_running(name="keepalived running", units=["keepalived"])


def without_keepalived(topology) -> list:
    """The hosts of the run that must not run maas-ha's keepalived: every one, but the load
    balancers while they share ``maas_api_vip`` (the opening round asks these for
    ``KeepalivedFiles``)."""
    lbs = topology.haproxies
    sharing = lbs if lbs and config.get(lbs[0], "maas_api_vip") else []
    hosts = dict.fromkeys([*topology.postgres, *topology.regions, *topology.racks, *lbs])
    return [one for one in hosts if one not in sharing]


@deploy("MAAS API floating address retired")
def keepalived_retired(topology):
    """Stop and disable maas-ha's keepalived on this host, then move its files aside, where
    the opening round found them on a host that must be without it (``without_keepalived``).

    Nothing waits for a load balancer to serve first: HAProxy binds every address of its
    host (deploys/haproxy.py), so each load balancer has served on its own address all
    along, beside the floating one, and the regions' ``maas_url`` names that address since
    their step, before this one (the phase barrier "every region ready"; only a rack with
    nothing to do sits that barrier out, and may retire its keepalived sooner)."""
    found = topology.keepalived_files.get(host.name)
    if not keepalived.files_to_move_aside(found):
        return  # none of its files here (or the host did not answer): nothing to retire
    if keepalived.CONFIG_PATH in found:  # keepalived runs maas-ha's config: its address goes
        systemd.service(name="keepalived stopped and disabled: the floating address is released",
                        service="keepalived", running=False, enabled=False)
    keepalived.files_moved_aside(name="keepalived's config and HAProxy check moved aside")
