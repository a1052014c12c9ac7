"""Where a region's CLI profile and the deploy's API calls reach the region on its host,
with MAAS TLS off and on (config.cli_profile_url, config.loopback_api_url)."""

import dataclasses

import pytest

import config
from deploys.topology import Topology

TLS = {"port": 5443, "chain": "-----BEGIN CERTIFICATE-----\n"}


@pytest.fixture()
def region(inventory_factory):
    return lambda **data: inventory_factory(host_data={"r1": data}).get_host("r1")


def test_without_tls_both_use_plain_http_on_localhost(region):
    assert config.cli_profile_url(region(), None) == "http://localhost:5240/MAAS/"
    assert config.loopback_api_url(region(), None) == "http://localhost:5240/MAAS/"


def test_with_tls_the_api_calls_use_https_on_localhost_at_maas_tls_port(region):
    assert config.loopback_api_url(region(), TLS) == "https://localhost:5443/MAAS/"
    assert config.loopback_api_url(region(), {**TLS, "port": 8443}) == "https://localhost:8443/MAAS/"


def test_with_tls_the_cli_profile_uses_the_regions_own_address_which_the_certificate_names(region):
    """MAAS's CLI checks the certificate's names: `localhost` is rarely one of them."""
    assert config.cli_profile_url(region(), TLS) == "https://10.99.0.11:5443/MAAS/"
    assert config.cli_profile_url(region(maas_address="fd00::11"), TLS) == "https://[fd00::11]:5443/MAAS/"


def test_maas_tls_is_the_clusters_whichever_region_shows_it(inventory_factory):
    """Region removal may make another region the primary, and a region that is down shows
    TLS off: TLS is the cluster's, not a host's."""
    inventory = inventory_factory()
    r1, r2 = inventory.get_host("r1"), inventory.get_host("r2")
    topology = Topology(postgres=[], regions=[r1, r2], racks=[], haproxies=[], region_tls={"r1": TLS})
    assert topology.tls == TLS
    assert dataclasses.replace(topology, regions=[r2]).tls == TLS
    assert dataclasses.replace(topology, region_tls={"r1": None, "r2": TLS}).tls == TLS
    assert dataclasses.replace(topology, region_tls={"r1": None, "r2": None}).tls is None
