"""Rack controllers: install, register with this MAAS (only when not already registered to
it), and make rackd.conf list every region so a rack survives any one region's loss."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, snap

import config
from deploys.packages import deb_spec, maas_software_present, packages_present
from facts.maas import RACK_MODES, secret_path
from operations import maas_rack


@deploy("MAAS rack")
def maas_rack_controller(topology):
    flavour = config.get(host, "maas_flavour")
    # a region+rack host already has its software; a rack that already runs the wanted
    # software (the topology's MaasInstall says so) needs no package query at all
    if host not in topology.regions and not maas_software_present(topology, host, flavour, RACK_MODES):
        if flavour == "deb":
            package = deb_spec("maas-rack-controller", config.get(host, "maas_deb_version"))
            apt.packages(name="Install maas-rack-controller", packages=[package],
                         update=not packages_present([package]))
        else:
            snap.package(name="Install the maas snap", packages=["maas"],
                         channel=config.snap_channel(host))

    primary = topology.primary
    if not topology.registered_here(host):  # already registered: its operation would only say so
        maas_rack.register(
            name="Register with the regions",
            flavour=flavour,
            region_urls=topology.region_urls,
            secret_host=primary.name,
            secret_path=secret_path(config.get(primary, "maas_flavour")),
            expected_secret_sha256=topology.secret_sha256,
            wait_seconds=config.get(host, "maas_rack_register_timeout"),
        )
    maas_rack.region_urls(name="rackd.conf lists every region", flavour=flavour,
                          region_urls=topology.region_urls)
