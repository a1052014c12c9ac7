"""The opening round (deploys/topology.py): declared once in OPENING_ROUND, asked as one
command per host for the batchable facts, and each answer kept in the Topology field of
its key. The guards that read the answers are in test_topology_guards.py."""

from dataclasses import fields
from types import SimpleNamespace

import pytest

from deploys import topology as topo_module
from deploys.topology import OPENING_ROUND, Topology
from run import gather as gather_module
from run.batch import BATCHABLE

RACK_PARTS = [["MaasInstall", {}], ["OsRelease", {}], ["VmHostSoftware", {}], ["MaasRegistration", {}],
              ["RackdConf", {"path": "/etc/maas/rackd.conf"}], ["PendingApply", {"path": "/etc/maas/rackd.conf"}],
              ["SystemdUnits", {"units": ["maas-rackd"]}], ["KeepalivedFiles", {}]]
REGION_UNITS = ["named", "maas-temporal", "maas-temporal-worker", "maas-apiserver", "maas-regiond"]


@pytest.fixture
def asked(monkeypatch):
    """Every fact the round asks, as [(fact name, host name, arguments)], and what it
    remembers, as [(host name, fact name)]; each host answers its fact's name (a batch: each
    part's name). The guards, which would refuse such answers, are left out."""
    calls = []
    remembered = []

    def gather(fact_cls, hosts, kwargs_of=None, **kwargs):
        answers = {}
        for host in hosts:
            arguments = kwargs_of(host) if kwargs_of else kwargs
            calls.append((fact_cls.__name__, host.name, arguments))
            if fact_cls.__name__ == "FactBatch":
                answers[host.name] = {name: f"{name} of {host.name}" for name, _ in arguments["facts"]}
            elif fact_cls.__name__ == "Cpus":
                answers[host.name] = 2
            else:
                answers[host.name] = {"value": f"{fact_cls.__name__} of {host.name}"}
        return answers

    monkeypatch.setattr(gather_module, "gather", gather)
    for guard in ("_check_installs", "_check_series", "_check_racks"):
        monkeypatch.setattr(topo_module, guard, lambda topo: None)
    monkeypatch.setattr(topo_module, "remember", lambda host, fact_cls, value, **kwargs:
                        remembered.append((host.name, fact_cls.__name__)))
    return SimpleNamespace(calls=calls, remembered=remembered)


def test_each_key_of_the_round_is_a_topology_field_in_the_same_order():
    keys = [ask.key for ask in OPENING_ROUND]
    names = [field.name for field in fields(Topology)]
    assert len(set(keys)) == len(keys)
    assert names[4:4 + len(keys)] == keys, "declare a Topology field for each OPENING_ROUND key, in its order"


def test_one_batch_per_host_with_the_facts_and_arguments_of_the_round(inventory_factory, asked):
    topo_module._build(inventory_factory())
    batches = {host: arguments for name, host, arguments in asked.calls if name == "FactBatch"}
    assert len(batches) == len([call for call in asked.calls if call[0] == "FactBatch"])  # one per host
    assert batches["k1"] == {"facts": RACK_PARTS, "side_by_side": False}
    # no floating address: every host is asked whether maas-ha's keepalived is left to retire
    assert batches["lb1"] == {"facts": [["HaproxyServers", {"socket": "/run/haproxy/admin.sock"}],
                                        ["KeepalivedFiles", {}]], "side_by_side": False}
    assert batches["r1"] == {"facts": [
        ["MaasInstall", {}], ["OsRelease", {}], ["MaasRegistration", {}],
        ["RegiondConf", {"path": "/etc/maas/regiond.conf"}], ["PendingApply", {"path": "/etc/maas/regiond.conf"}],
        ["MaasRegionApiVersion", {}],
        ["MaasCliProfiles", {"maas_cli": "maas"}], ["MaasAdminUser", {"flavour": "deb", "username": "admin"}],
        ["SystemdUnits", {"units": REGION_UNITS}],
        ["MaasRackControllers", {"maas_cli": "maas", "profile": "maas-ha"}],
        ["MaasRegionControllers", {"maas_cli": "maas", "profile": "maas-ha"}],
        ["MaasTls", {"flavour": "deb"}], ["KeepalivedFiles", {}],
    ], "side_by_side": True}
    assert batches["pg1"] == {"facts": [["KeepalivedFiles", {}]], "side_by_side": False}
    alone = sorted((name, host, arguments) for name, host, arguments in asked.calls if name != "FactBatch")
    assert alone == [("Cpus", "r1", {}), ("Cpus", "r2", {}),
                     ("DebPackages", "lb1", {}), ("DebPackages", "pg1", {}),
                     ("PostgresDatabaseClients", "pg1",
                      {"_sudo": True, "_sudo_user": "postgres", "database": "maasdb", "port": 5432}),
                     ("PostgresSettings", "pg1", {"_sudo": True, "_sudo_user": "postgres", "port": 5432})]
    assert not {name for name, _, _ in alone} & set(BATCHABLE)


def test_answers_land_in_their_fields_and_are_remembered(inventory_factory, asked):
    topo = topo_module._build(inventory_factory())
    assert topo.rack_confs == {"k1": "RackdConf of k1", "k2": "RackdConf of k2"}
    assert topo.admin_users == {"r1": "MaasAdminUser of r1"}
    assert topo.pg_settings == {"pg1": {"value": "PostgresSettings of pg1"}}
    assert ("k1", "RackdConf") in asked.remembered and ("pg1", "PostgresSettings") in asked.remembered


def test_a_worker_count_in_the_inventory_needs_no_cpu_count(inventory_factory, asked):
    topo_module._build(inventory_factory(host_data={"r2": {"maas_num_workers": 3}}))
    assert [host for name, host, _ in asked.calls if name == "Cpus"] == ["r1"]


def test_without_racks_the_primary_is_not_asked_for_them(inventory_factory, asked):
    topo = topo_module._build(inventory_factory(racks=()))
    batches = {host: arguments["facts"] for name, host, arguments in asked.calls if name == "FactBatch"}
    assert not {"MaasRackControllers", "MaasRegistration"} & {name for name, _ in batches["r1"]}
    assert topo.rack_services == {} and topo.registrations == {}


def test_a_region_and_rack_asks_its_rackd_unit_with_its_region_units(inventory_factory, asked):
    """A host's batch holds each fact once: a region+rack's units are one SystemdUnits part,
    and the topology's rack_units gets its rackd unit from that answer."""
    inventory = inventory_factory(racks=("r1", "k1"), host_data={"r1": {"maas_flavour": "deb"}})
    topology = topo_module._build(inventory)
    batches = {host: arguments for name, host, arguments in asked.calls if name == "FactBatch"}
    units = [kwargs["units"] for name, kwargs in batches["r1"]["facts"] if name == "SystemdUnits"]
    assert units == [REGION_UNITS + ["maas-rackd"]]
    assert [kwargs["units"] for name, kwargs in batches["k1"]["facts"] if name == "SystemdUnits"] == [["maas-rackd"]]
    assert set(topology.rack_units) == {"r1", "k1"}
    running = {"load": "loaded", "active": "active", "sub": "running", "enabled": "enabled"}
    topology.region_units["r1"] = {"named": running, "maas-regiond": running, "maas-rackd": running}
    topo_module._region_racks_units(topology)
    assert topology.rack_units["r1"] == {"maas-rackd": running}
    topology.region_units["r1"] = None  # unreachable
    topo_module._region_racks_units(topology)
    assert topology.rack_units["r1"] is None


def test_without_load_balancers_every_region_is_still_asked_for_maas_tls(inventory_factory, asked):
    """MAAS TLS decides the regions' CLI profile and the URL of the deploy's API calls, not
    only HAProxy's config; each region is asked, so that one that is down does not hide it."""
    topo = topo_module._build(inventory_factory(lbs=()))
    batches = {host: arguments["facts"] for name, host, arguments in asked.calls if name == "FactBatch"}
    assert ["MaasTls", {"flavour": "deb"}] in batches["r1"] and ["MaasTls", {"flavour": "deb"}] in batches["r2"]
    assert topo.tls == "MaasTls of r1"


def test_load_balancers_sharing_the_address_are_not_asked_for_keepalived_files(inventory_factory, asked):
    """They run keepalived; every other host of the run is asked (one that left the group
    retires it), and the answers land in ``keepalived_files``."""
    inventory = inventory_factory(lbs=("lb1", "lb2"), group_data={"maas_haproxy": {"maas_api_vip": "10.99.0.20"}})
    topo = topo_module._build(inventory)
    asked_hosts = [host for name, host, arguments in asked.calls if name == "FactBatch"
                   and ["KeepalivedFiles", {}] in arguments["facts"]]
    assert sorted(asked_hosts) == ["k1", "k2", "pg1", "r1", "r2"]
    assert topo.keepalived_files["pg1"] == "KeepalivedFiles of pg1"
