"""HAProxy in front of every region's API: health-checked backends, a config that is
validated before it goes live, and a reload (not a restart) when it changes, also when an
earlier run stopped before it; a reload HAProxy cannot carry out puts the previous config back."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files

import config
from deploys.packages import packages_present
from operations import haproxy, maas_rolling, maas_services


# MAAS's certificate chain on the HAProxy host, for its checks of TLS regions
MAAS_CA_FILE = "/etc/haproxy/maas-ca.pem"


def rendered_config(topology) -> str:
    """The haproxy.cfg this host should have, from the inventory (and MAAS TLS: see
    docs/architecture.md, "HAProxy and MAAS TLS")."""
    tls = topology.tls
    return haproxy.render_config(
        backends=[
            {"name": region.name, "address": config.address_of(region),
             "port": config.get(region, "maas_region_port")}
            for region in topology.regions
        ],
        # an IPv6 load balancer serves the URL with its IPv6 address: listen on both families
        bind_address="::" if ":" in config.address_of(host) else "*",
        frontend_port=config.get(host, "maas_haproxy_frontend_port"),
        maxconn=config.get(host, "maas_haproxy_maxconn"),
        check_inter=config.get(host, "maas_haproxy_check_inter"),
        check_fall=config.get(host, "maas_haproxy_check_fall"),
        check_rise=config.get(host, "maas_haproxy_check_rise"),
        timeout_connect=config.get(host, "maas_haproxy_timeout_connect"),
        timeout_client=config.get(host, "maas_haproxy_timeout_client"),
        timeout_server=config.get(host, "maas_haproxy_timeout_server"),
        stats_socket=config.get(host, "maas_haproxy_admin_socket"),
        tls_port=tls["port"] if tls else None,
        tls_ca_file=MAAS_CA_FILE if tls else None,
    )


@deploy("MAAS HAProxy")
def maas_haproxy(topology):
    # present: apt.packages would only ask dpkg again
    if not packages_present(["haproxy", "socat"], topology.deb_packages.get(host.name)):
        apt.packages(name="Install HAProxy", packages=["haproxy", "socat"], update=True)
    tls = topology.tls
    if tls:
        files.put(name="MAAS's certificate chain for the TLS health checks", src=StringIO(tls["chain"]),
                  dest=MAAS_CA_FILE, user="root", group="root", mode="644")
    haproxy.config(name="haproxy.cfg: region API backends", content=rendered_config(topology))
    socket = config.get(host, "maas_haproxy_admin_socket")
    haproxy.loaded(name="HAProxy loads haproxy.cfg", socket=socket)
    maas_services.units_running(name="HAProxy running", units=["haproxy"])
    maas_rolling.admin_socket_private(name="HAProxy admin socket root-only", socket=socket)
