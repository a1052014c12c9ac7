"""Rack controllers: install, register with this MAAS (only when not already registered to
it), and make rackd.conf list every region so a rack survives any one region's loss."""

import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, snap

import config
from deploys.packages import deb_spec, maas_package_source, maas_software_present, packages_present
from facts.maas import RACK_MODES, secret_path
from operations import maas_rack


def has_rack_software(topology, host) -> bool:
    """A region+rack host has it with the region's; a rack when the topology's MaasInstall
    shows the wanted software (then the install step would only ask again)."""
    return host in topology.regions or maas_software_present(
        topology, host, config.get(host, "maas_flavour"), RACK_MODES)


def lists_every_region(topology, host) -> bool:
    """True when the rackd.conf read in the topology's round lists exactly the regions'
    URLs, the state ``maas_rack.region_urls`` leaves alone."""
    conf = topology.rack_confs.get(host.name) or {}
    return bool(conf.get("exists")) and maas_rack.lists_urls(conf.get("settings"), topology.region_urls)


def rack_settled(topology, host) -> bool:
    """True when every rack step would only report "no change": the software is there, the
    rack is registered with this MAAS and its rackd.conf lists every region. Such a rack
    takes no part in the run after the topology's round (no steps, no barriers)."""
    return (has_rack_software(topology, host) and topology.registered_here(host)
            and lists_every_region(topology, host))


@deploy("MAAS rack")
def maas_rack_controller(topology):
    flavour = config.get(host, "maas_flavour")
    if not has_rack_software(topology, host):
        if flavour == "deb":
            maas_package_source(topology)
            package = deb_spec("maas-rack-controller", config.get(host, "maas_deb_version"))
            apt.packages(name="Install maas-rack-controller", packages=[package],
                         update=not packages_present([package]))
        else:
            snap.package(name="Install the maas snap", packages=["maas"],  # quoted: see deploys/region.py
                         channel=shlex.quote(config.snap_channel(host)))

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
