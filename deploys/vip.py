"""The MAAS API's floating address (``maas_api_vip``): keepalived on every load balancer.

Two or more ``maas_haproxy`` hosts share one address by VRRP (operations/_render_keepalived.py
says how). HAProxy binds every address of its host (deploys/haproxy.py: ``*``, or ``::`` for
IPv6), so it serves on the floating address wherever the address is, with no
``ip_nonlocal_bind``. With one load balancer, or no ``maas_api_vip``, nothing here runs and
the load balancer serves on its own address as before.
"""

from __future__ import annotations

import ipaddress
from io import StringIO

from pyinfra import host, inventory
from pyinfra.api import deploy
from pyinfra.facts.hardware import NetworkDevices
from pyinfra.operations import apt, files

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
