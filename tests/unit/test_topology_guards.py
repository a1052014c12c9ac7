"""The guards that need facts from several hosts: each refuses, naming host and setting,
before pyinfra executes anything. Facts are served from a table instead of hosts."""

import pytest

from config import SettingError
from deploys import topology as topo_module

BARE = {"flavour": None, "flavours": [], "version": None, "series": None,
        "package_version": None, "mode": "none", "snap_channel": None}


def installed(flavour, version):
    return {**BARE, "flavour": flavour, "flavours": [flavour], "version": version,
            "series": version.rsplit(".", 1)[0], "mode": "rack"}


@pytest.fixture
def facts(monkeypatch):
    """Per fact class name: {host name: value}; hosts not listed get the class's default."""
    table = {"MaasInstall": {}, "VmHostSoftware": {}, "MaasRegistration": {}, "Cpus": {},
             "Hostname": {}, "RegiondConf": {}, "MaasRegionApiVersion": {}, "HaproxyServers": {},
             "MaasAdminUser": {}, "MaasCliProfiles": {}, "DebPackages": {}, "RackdConf": {},
             "PostgresSettings": {}, "SystemdUnits": {}, "MaasRackControllers": {}}
    defaults = {"MaasInstall": BARE, "VmHostSoftware": [], "MaasRegistration": None, "Cpus": 2,
                "RegiondConf": None, "MaasRegionApiVersion": None, "HaproxyServers": {},
                "MaasAdminUser": None, "MaasCliProfiles": {}, "DebPackages": {},
                "RackdConf": None, "PostgresSettings": {}, "SystemdUnits": {}, "MaasRackControllers": None}

    def answer(name, host):
        return table[name].get(host.name, defaults.get(name, host.name))

    def gather(fact_cls, hosts, kwargs_of=None, **kwargs):
        if fact_cls.__name__ == "FactBatch":  # one batch per host: answer each of its facts
            return {h.name: {name: answer(name, h) for name, _ in kwargs_of(h)["facts"]} for h in hosts}
        return {h.name: answer(fact_cls.__name__, h) for h in hosts}

    monkeypatch.setattr(topo_module, "gather", gather)
    return table


def build(inventory):
    return topo_module._build(inventory)


def test_bare_hosts_pass_and_size_the_budget(inventory_factory, facts):
    topo = build(inventory_factory())
    assert [h.name for h in topo.regions] == ["r1", "r2"]
    assert topo.workers == {"r1": 2, "r2": 2}
    assert topo.budget.needed == 40 + 40 + 20
    assert topo.max_connections == 100
    assert topo.secret_sha256 is None


def test_budget_grows_with_workers(inventory_factory, facts):
    facts["Cpus"] = {"r1": 16, "r2": 4}
    topo = build(inventory_factory())
    assert topo.workers == {"r1": 8, "r2": 4}
    assert topo.max_connections == 88 + 44 + 20


def test_max_connections_below_budget_is_refused(inventory_factory, facts):
    inv = inventory_factory(group_data={"maas_postgres": {"maas_pg_max_connections": 60}})
    with pytest.raises(SettingError) as error:
        build(inv)
    assert str(error.value).startswith("host pg1: setting `maas_pg_max_connections`: 60 cannot "
                                       "hold the regions' connection budget of 100")


def test_installed_version_that_differs_is_refused(inventory_factory, facts):
    facts["MaasInstall"] = {"k2": installed("snap", "3.4.10")}
    with pytest.raises(SettingError) as error:
        build(inventory_factory(host_data={"k2": {"maas_flavour": "snap"}}))
    assert str(error.value).startswith("host k2: setting `maas_version`: host runs MAAS 3.4.10")


def test_installed_flavour_that_differs_is_refused(inventory_factory, facts):
    facts["MaasInstall"] = {"k1": installed("snap", "3.5.13")}
    with pytest.raises(SettingError) as error:
        build(inventory_factory())
    assert "MAAS is installed as snap but the inventory asks for deb" in str(error.value)


def test_both_flavours_installed_is_refused(inventory_factory, facts):
    facts["MaasInstall"] = {"k1": {**installed("deb", "3.5.13"), "flavours": ["deb", "snap"]}}
    with pytest.raises(SettingError) as error:
        build(inventory_factory())
    assert str(error.value).startswith("host k1: setting `maas_flavour`: MAAS is installed both")


def test_rack_on_vm_host_is_refused(inventory_factory, facts):
    facts["VmHostSoftware"] = {"k2": ["libvirt"]}
    with pytest.raises(SettingError) as error:
        build(inventory_factory())
    assert str(error.value) == ("host k2: setting `group maas_rack`: libvirt found: a rack "
                                "controller must not run on a VM host (libvirt/LXD)")


def test_rack_registered_elsewhere_is_refused(inventory_factory, facts):
    facts["MaasRegistration"] = {
        "r1": {"data_dir": "/var/lib/maas", "maas_id": "abc123", "secret_path": "/var/lib/maas/secret",
               "secret_sha256": "1" * 64},
        "k1": {"data_dir": "/var/lib/maas", "maas_id": "xyz789", "secret_path": "/var/lib/maas/secret",
               "secret_sha256": "2" * 64},
    }
    with pytest.raises(SettingError) as error:
        build(inventory_factory())
    assert str(error.value).startswith("host k1: setting `group maas_rack`: rack is already "
                                       "registered (maas_id xyz789) to another MAAS")


def test_rack_registered_here_is_accepted(inventory_factory, facts):
    registration = {"data_dir": "/var/lib/maas", "maas_id": "abc123",
                    "secret_path": "/var/lib/maas/secret", "secret_sha256": "1" * 64}
    facts["MaasRegistration"] = {"r1": registration, "k1": {**registration, "maas_id": "k1k1k1"}}
    topo = build(inventory_factory())
    assert topo.secret_sha256 == "1" * 64


def test_registered_rack_with_a_bare_primary_is_refused(inventory_factory, facts):
    facts["MaasRegistration"] = {"k1": {"data_dir": "/var/lib/maas", "maas_id": "xyz789",
                                        "secret_path": None, "secret_sha256": "2" * 64}}
    with pytest.raises(SettingError):
        build(inventory_factory())


def test_dhcp_racks_resolve_to_hostnames(inventory_factory, facts):
    vlans = [{"fabric": "fabric-0", "vid": 0, "primary_rack": "k1", "secondary_rack": "k2"}]
    facts["Hostname"] = {"k1": "rack-a", "k2": "rack-b"}
    topo = build(inventory_factory(group_data={"maas_region": {"maas_dhcp_vlans": vlans}}))
    assert topo.rack_hostnames == {"k1": "rack-a", "k2": "rack-b"}
