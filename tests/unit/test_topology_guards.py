"""The guards that need facts from several hosts: each refuses, naming host and setting,
before pyinfra executes anything. Facts are served from a table instead of hosts."""

import re
from pathlib import Path

import pytest
from pyinfra.api.exceptions import DeployError

from config import SettingError
from deploys import topology as topo_module
from run import gather as gather_module

REPO = Path(__file__).resolve().parents[2]

BARE = {"flavour": None, "flavours": [], "version": None, "series": None,
        "package_version": None, "mode": "none", "snap_channel": None}


JAMMY = {"id": "ubuntu", "version_id": "22.04", "codename": "jammy"}
NOBLE = {"id": "ubuntu", "version_id": "24.04", "codename": "noble"}


def installed(flavour, version):
    return {**BARE, "flavour": flavour, "flavours": [flavour], "version": version,
            "series": version.rsplit(".", 1)[0], "mode": "rack"}


@pytest.fixture
def facts(monkeypatch):
    """Per fact class name: {host name: value}; hosts not listed get the class's default."""
    table = {"MaasInstall": {}, "VmHostSoftware": {}, "MaasRegistration": {}, "Cpus": {},
             "MaasHostname": {}, "RegiondConf": {}, "MaasRegionApiVersion": {}, "MaasTls": {}, "HaproxyServers": {},
             "MaasAdminUser": {}, "MaasCliProfiles": {}, "DebPackages": {}, "RackdConf": {},
             "PostgresSettings": {}, "OsRelease": {}, "SystemdUnits": {}, "MaasRackControllers": {},
             "SystemdUnitLog": {}, "PostgresDatabaseClients": {}, "MaasRegionControllers": {}, "PendingApply": {},
             "KeepalivedFiles": {}}
    defaults = {"MaasInstall": BARE, "VmHostSoftware": [], "MaasRegistration": None, "Cpus": 2,
                "RegiondConf": None, "MaasRegionApiVersion": None, "MaasTls": None, "HaproxyServers": {},
                "MaasAdminUser": None, "MaasCliProfiles": {}, "DebPackages": {},
                "RackdConf": None, "PostgresSettings": {}, "OsRelease": JAMMY, "SystemdUnits": {},
                "MaasRackControllers": None, "SystemdUnitLog": [], "PostgresDatabaseClients": None,
                "MaasRegionControllers": None, "PendingApply": False, "KeepalivedFiles": []}

    def answer(name, host):
        return table[name].get(host.name, defaults.get(name, host.name))

    def gather(fact_cls, hosts, kwargs_of=None, **kwargs):
        if fact_cls.__name__ == "FactBatch":  # one batch per host: answer each of its facts
            return {h.name: {name: answer(name, h) for name, _ in kwargs_of(h)["facts"]} for h in hosts}
        return {h.name: answer(fact_cls.__name__, h) for h in hosts}

    monkeypatch.setattr(gather_module, "gather", gather)
    return table


def build(inventory):
    return topo_module._build(inventory)


# MAAS 3.5 (the default): a region with 2 workers opens 3 x 10 + 54 = 84 connections, one
# with 8 workers 144 (operations/_plan_connections.py counts them from MAAS's source)
SIZED_FOR_TWO = (2 + 2) * 144 + 20  # two regions and two spare ones, each at 8 workers


def live_max_connections(value):
    return {"pg1": {"max_connections": {"value": str(value), "context": "postmaster",
                                        "pending_restart": False}}}


def test_bare_hosts_pass_and_size_the_budget(inventory_factory, facts):
    topo = build(inventory_factory())
    assert [h.name for h in topo.regions] == ["r1", "r2"]
    assert topo.workers == {"r1": 2, "r2": 2}
    assert topo.budget.needed == 84 + 84 + 20
    assert topo.max_connections == SIZED_FOR_TWO
    assert topo.secret_sha256 is None


def test_the_budget_counts_each_region_at_its_workers(inventory_factory, facts):
    facts["Cpus"] = {"r1": 16, "r2": 4}
    topo = build(inventory_factory())
    assert topo.workers == {"r1": 8, "r2": 4}
    assert topo.budget.per_region == {"r1": 144, "r2": 104}
    assert topo.max_connections == SIZED_FOR_TWO  # sized at 8 workers each anyway


def test_a_live_limit_that_holds_the_regions_is_kept(inventory_factory, facts):
    facts["PostgresSettings"] = live_max_connections(200)
    facts["PostgresDatabaseClients"] = {"pg1": 12}
    assert build(inventory_factory()).max_connections == 200
    facts["PostgresSettings"] = live_max_connections(2000)  # never lowered
    assert build(inventory_factory()).max_connections == 2000


def test_a_third_region_fits_the_limit_sized_for_two(inventory_factory, facts):
    facts["PostgresSettings"] = live_max_connections(SIZED_FOR_TWO)
    facts["PostgresDatabaseClients"] = {"pg1": 12}
    facts["Cpus"] = {"r1": 8, "r2": 8, "r3": 8}
    topo = build(inventory_factory(regions=("r1", "r2", "r3")))
    assert topo.max_connections == SIZED_FOR_TWO
    assert topo.connection_plan.change == "keep"


def test_a_restart_under_connected_regions_is_refused_unless_allowed(inventory_factory, facts):
    facts["PostgresSettings"] = live_max_connections(108)
    facts["PostgresDatabaseClients"] = {"pg1": 12}
    with pytest.raises(SettingError) as error:
        build(inventory_factory())
    assert str(error.value).startswith("host pg1: setting `maas_pg_restart_allowed`: PostgreSQL "
                                       "max_connections is 108 and the regions need 188: raising it restarts")
    assert "(the regions' budget: 188 (MAAS 3.5: r1: 84, r2: 84; headroom 20))" in str(error.value)
    allowed = inventory_factory(group_data={"maas_postgres": {"maas_pg_restart_allowed": True}})
    assert build(allowed).max_connections == SIZED_FOR_TWO


def test_a_raise_with_no_one_on_the_database_needs_no_permission(inventory_factory, facts):
    facts["PostgresSettings"] = live_max_connections(100)
    facts["PostgresDatabaseClients"] = {"pg1": 0}
    assert build(inventory_factory()).max_connections == SIZED_FOR_TWO


def test_max_connections_below_budget_is_refused(inventory_factory, facts):
    inv = inventory_factory(group_data={"maas_postgres": {"maas_pg_max_connections": 60}})
    with pytest.raises(SettingError) as error:
        build(inv)
    assert str(error.value).startswith("host pg1: setting `maas_pg_max_connections`: 60 cannot "
                                       "hold the regions' connection budget of 188")


def test_a_budget_beyond_what_postgres_may_open_is_refused(inventory_factory, facts):
    regions = tuple(f"r{n}" for n in range(1, 71))
    facts["Cpus"] = {name: 8 for name in regions}
    with pytest.raises(SettingError) as error:
        build(inventory_factory(regions=regions))
    assert str(error.value).startswith("host pg1: setting `maas_pg_max_connections`: the regions' "
                                       "connection budget of 10100 (MAAS 3.5: r1: 144, ")
    assert str(error.value).endswith("is more than the 10000 connections maas-ha lets PostgreSQL open: "
                                     "lower maas_num_workers")


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
    assert str(error.value) == ("host k2: setting `group maas_rack`: libvirt found (a libvirt daemon "
                                "(libvirtd or virtqemud) is installed or running): a rack controller "
                                "must not run on a VM host (libvirt/LXD); client tools such as virsh "
                                "and an LXD that is not initialised are fine")


@pytest.mark.parametrize("host_name,unit", [("r2", "maas-regiond"), ("k1", "maas-rackd")])
def test_a_masked_maas_unit_is_refused_before_anything_runs(inventory_factory, facts, host_name, unit):
    # a region's masked unit would otherwise be found only after HAProxy drained the region
    facts["SystemdUnits"] = {host_name: {unit: {"load": "masked", "active": "inactive", "enabled": "masked"}}}
    facts["SystemdUnitLog"] = {host_name: ["last words"]}
    with pytest.raises(DeployError) as error:
        build(inventory_factory())
    assert str(error.value) == (f"{host_name}: {unit} is masked and cannot run (systemctl unmask {unit}); "
                                "it last logged: last words")


def test_running_units_pass(inventory_factory, facts):
    facts["SystemdUnits"] = {"r2": {"maas-regiond": {"load": "loaded", "active": "active", "enabled": "enabled"}}}
    build(inventory_factory())


def test_deb_hosts_on_their_series_pass(inventory_factory, facts):
    topo = build(inventory_factory())
    assert topo.os_releases == {name: JAMMY for name in ("r1", "r2", "k1", "k2")}


def test_version_without_a_build_for_the_series_is_refused(inventory_factory, facts):
    facts["OsRelease"] = {"k2": NOBLE}
    with pytest.raises(SettingError) as error:
        build(inventory_factory())
    assert str(error.value).startswith("host k2: setting `maas_version`: MAAS 3.5 deb packages are "
                                       "built for Ubuntu jammy only, but this host runs ubuntu noble")


def test_3_6_needs_noble(inventory_factory, facts):
    with pytest.raises(SettingError) as error:
        build(inventory_factory(group_data={"maas_region": {"maas_version": "3.6"},
                                            "maas_rack": {"maas_version": "3.6"}}))
    assert "host r1: setting `maas_version`: MAAS 3.6 deb packages are built for Ubuntu noble" in str(error.value)
    facts["OsRelease"] = {name: NOBLE for name in ("r1", "r2", "k1", "k2")}
    build(inventory_factory(group_data={"maas_region": {"maas_version": "3.6"},
                                        "maas_rack": {"maas_version": "3.6"}}))


def test_a_host_that_is_not_ubuntu_is_refused(inventory_factory, facts):
    facts["OsRelease"] = {"r2": {"id": "debian", "version_id": "12", "codename": "bookworm"}}
    with pytest.raises(SettingError) as error:
        build(inventory_factory())
    assert "host r2: setting `maas_version`: MAAS 3.5 deb packages are built for Ubuntu jammy only, " \
           "but this host runs debian bookworm" in str(error.value)


def test_an_unknown_deb_version_is_refused(inventory_factory, facts):
    with pytest.raises(SettingError) as error:
        build(inventory_factory(group_data={"maas_region": {"maas_version": "3.9"},
                                            "maas_rack": {"maas_version": "3.9"}}))
    assert str(error.value).startswith("host r1: setting `maas_version`: MAAS 3.9 has no deb build")


def test_snap_hosts_need_no_series(inventory_factory, facts):
    facts["OsRelease"] = {"k2": NOBLE}
    topo = build(inventory_factory(host_data={"k2": {"maas_flavour": "snap"}}))
    assert "k2" not in topo.os_releases


def test_unreachable_host_sits_the_series_check_out(inventory_factory, facts):
    facts["OsRelease"] = {"k2": None}
    build(inventory_factory())


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
    moved_with = re.search(r"move it with (\S+)", str(error.value)).group(1)
    assert (REPO / moved_with).is_file(), f"the refusal points at {moved_with}, which does not exist"


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
    facts["MaasHostname"] = {"k1": "rack-a", "k2": "rack-b"}
    topo = build(inventory_factory(group_data={"maas_region": {"maas_dhcp_vlans": vlans}}))
    assert topo.rack_hostnames == {"k1": "rack-a", "k2": "rack-b"}
