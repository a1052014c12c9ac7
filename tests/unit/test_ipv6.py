"""Both address families end to end in what the deploys write: pg_hba networks, HAProxy's
frontend and servers, the URLs racks and regions use."""

import pytest
from pyinfra.context import ctx_host

import config
from deploys import haproxy as haproxy_deploy
from deploys import postgres as postgres_deploy
from deploys.topology import Topology

NAMES = ("pg1", "r1", "r2", "k1", "k2", "lb1")


def inventory(inventory_factory, family):
    if family == 4:
        return inventory_factory()
    return inventory_factory(host_data={name: {"ssh_hostname": f"fd00::{i + 10:x}"}
                                        for i, name in enumerate(NAMES)})


def topology(inv):
    return Topology(postgres=config.hosts_of(inv, "maas_postgres"), regions=config.hosts_of(inv, "maas_region"),
                    racks=config.hosts_of(inv, "maas_rack"), haproxies=config.hosts_of(inv, "maas_haproxy"))


@pytest.mark.parametrize("family,networks", [(4, ["10.99.0.11/32", "10.99.0.12/32"]),
                                              (6, ["fd00::b/128", "fd00::c/128"])])
def test_pg_hba_opens_to_each_region_address_only(inventory_factory, family, networks):
    inv = inventory(inventory_factory, family)
    entries = postgres_deploy.region_hba_entries(topology(inv), "maasdb", "maas")
    assert [entry["address"] for entry in entries] == networks


@pytest.mark.parametrize("family,bind,servers", [
    (4, "bind *:80\n", ["server r1 10.99.0.11:5240 ", "server r2 10.99.0.12:5240 "]),
    (6, "bind [::]:80 v4v6\n", ["server r1 [fd00::b]:5240 ", "server r2 [fd00::c]:5240 "]),
])
def test_haproxy_listens_and_forwards_in_the_hosts_family(inventory_factory, family, bind, servers):
    inv = inventory(inventory_factory, family)
    with ctx_host.use(inv.get_host("lb1")):
        text = haproxy_deploy.rendered_config(topology(inv))
    assert f"    {bind}" in text
    for server in servers:
        assert f"    {server}" in text


@pytest.mark.parametrize("family,urls", [(4, ["http://10.99.0.11:5240/MAAS", "http://10.99.0.12:5240/MAAS"]),
                                          (6, ["http://[fd00::b]:5240/MAAS", "http://[fd00::c]:5240/MAAS"])])
def test_rackd_conf_region_urls(inventory_factory, family, urls):
    assert topology(inventory(inventory_factory, family)).region_urls == urls


@pytest.mark.parametrize("family,listen", [(4, "10.99.0.10,localhost"), (6, "fd00::a,localhost")])
def test_postgresql_listens_on_its_own_address_and_localhost(inventory_factory, family, listen):
    """Not `*`: only the address the regions reach the database host at, in its family."""
    assert config.pg_listen_addresses(inventory(inventory_factory, family).get_host("pg1")) == listen


def test_postgresql_listen_addresses_setting_wins(inventory_factory):
    inv = inventory_factory(host_data={"pg1": {"maas_pg_listen_addresses": "*"}})
    assert config.pg_listen_addresses(inv.get_host("pg1")) == "*"
