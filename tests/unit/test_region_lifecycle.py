"""Taking a region out (remove_region.py): its settings refused before anything runs, naming
host and setting; the topology without it; which regions MAAS has that the inventory left
out; which pg_hba lines go; and the API delete that waits while MAAS still sees it running."""

from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import DeployError

import config
from config import SettingError, validate_inventory
from deploys import region_lifecycle as lifecycle
from deploys.topology import Topology
from operations import maas_region_removal
from operations._plan_pg import stale_region_lines
from operations.maas_api_client import MaasApiError


def run_data(inventory_factory, regions=("r1", "r2"), **data):
    """An inventory with `data` on every host, as `--data NAME=VALUE` sets it."""
    hosts = ("pg1", *regions, "k1", "k2", "lb1")
    return inventory_factory(regions=regions, host_data={name: dict(data) for name in hosts})


def refusal(inventory) -> str:
    with pytest.raises(SettingError) as error:
        validate_inventory(inventory)
    return str(error.value)


@pytest.mark.parametrize("name", ["maas_remove_region", "maas_new_primary_region"])
def test_the_settings_are_in_the_table_with_no_default(name):
    default, doc = config.SETTINGS[name]
    assert default is None and "remove_region.py" in doc


def test_removing_a_secondary_region_is_accepted(inventory_factory):
    validate_inventory(run_data(inventory_factory, maas_remove_region="r2"))


def test_a_host_that_is_not_a_region_is_refused(inventory_factory):
    assert refusal(run_data(inventory_factory, maas_remove_region="k1")) == (
        "host r1: setting `maas_remove_region`: 'k1' is not a host of group maas_region (regions: r1, r2)")


def test_the_last_region_is_never_removed(inventory_factory):
    assert refusal(run_data(inventory_factory, regions=("r1",), maas_remove_region="r1")) == (
        "host r1: setting `maas_remove_region`: r1 is the only region: MAAS needs at least one "
        "(add another region first)")


def test_the_primary_needs_a_successor(inventory_factory):
    assert refusal(run_data(inventory_factory, maas_remove_region="r1")) == (
        "host r1: setting `maas_new_primary_region`: r1 is the primary region: name the region that "
        "takes over (--data maas_new_primary_region=<region>)")
    assert refusal(run_data(inventory_factory, maas_remove_region="r1", maas_new_primary_region="r1")) == (
        "host r1: setting `maas_new_primary_region`: must be another region than r1")
    validate_inventory(run_data(inventory_factory, maas_remove_region="r1", maas_new_primary_region="r2"))


def test_a_limit_is_refused():
    lifecycle.check_limit(None)
    with pytest.raises(DeployError, match="remove_region.py works on every host"):
        lifecycle.check_limit(["r2"])


def topology_of(inventory, known=None):
    regions = config.hosts_of(inventory, config.GROUP_REGION)
    return SimpleNamespace(regions=regions, primary=regions[0],
                           region_controllers={regions[0].name: known})


def test_without_the_primary_the_named_region_leads(inventory_factory):
    inventory = run_data(inventory_factory, regions=("r1", "r2", "r3"), maas_remove_region="r1",
                         maas_new_primary_region="r3")
    topology = Topology(postgres=[], regions=config.hosts_of(inventory, "maas_region"), racks=[], haproxies=[])
    leaving = lifecycle.leaving_region(topology)
    remaining = lifecycle.without_region(topology, leaving)
    assert leaving.name == "r1"
    assert [region.name for region in remaining.regions] == ["r3", "r2"]
    assert [region.name for region in topology.regions] == ["r1", "r2", "r3"]  # untouched


def region(hostname, address, regiond="running"):
    return {"system_id": hostname + "-id", "hostname": hostname, "ip_addresses": [address],
            "services": {"regiond": regiond}}


def test_regions_the_inventory_left_out_are_found_by_address(inventory_factory):
    inventory = inventory_factory()  # r1 10.99.0.11, r2 10.99.0.12
    known = [region("r1.example", "10.99.0.11"), region("r2", "10.99.0.12"), region("old3", "10.99.0.40")]
    assert [r["hostname"] for r in lifecycle.regions_left_out(topology_of(inventory, known))] == ["old3"]
    assert lifecycle.regions_left_out(topology_of(inventory, None)) == []


def test_hba_keeps_the_inventory_and_every_region_maas_knows(inventory_factory):
    inventory = inventory_factory()
    known = [region("r1", "10.99.0.11"), region("old3", "10.99.0.40")]
    regions = config.hosts_of(inventory, "maas_region")
    assert lifecycle.kept_hba_addresses(topology_of(inventory, known), regions) == [
        "10.99.0.11", "10.99.0.12", "10.99.0.11", "10.99.0.40"]
    assert lifecycle.kept_hba_addresses(topology_of(inventory, None), regions) == []


def hba(line, address, database="maasdb", user="maas", kind="host"):
    return {"line": line, "type": kind, "database": database, "user": user, "address": address}


def test_stale_lines_are_single_addresses_of_the_maas_role_that_no_region_has():
    current = [hba(1, None, kind="local"), hba(2, "10.0.0.11/32"), hba(3, "10.0.0.13/32"),
               hba(4, "10.0.0.0/24"), hba(5, "10.0.0.14/32", database="other"),
               hba(6, "samenet"), hba(7, "fd00::13/128"), hba(8, "10.0.0.15/32", kind="hostssl")]
    stale = stale_region_lines(current, "maasdb", "maas", ["10.0.0.11", "fd00::99/128"])
    assert [entry["line"] for entry in stale] == [3, 7]
    assert stale_region_lines(current, "maasdb", "maas", ["10.0.0.11/32", "10.0.0.13", "fd00::13"]) == []


class FakeClient:
    """The MAAS API as delete_region sees it: MAAS refuses the delete `running` more times."""

    def __init__(self, regions, running=0):
        self.regions, self.running, self.deleted = regions, running, []

    def get(self, path, **params):
        assert path == "regioncontrollers/"
        return self.regions

    def delete(self, path, **params):
        if self.running:
            self.running -= 1
            raise MaasApiError(400, "Unable to delete region3 as it's currently running.", "DELETE", path)
        self.deleted.append(path)


class LogHost:
    name = "region1"

    def __init__(self):
        self.lines = []

    def log_styled(self, message, **_kwargs):
        self.lines.append(message)


def delete_with(monkeypatch, client, timeout=60):
    monkeypatch.setattr(maas_region_removal, "inventory_host", lambda state, name, role: name)
    monkeypatch.setattr(maas_region_removal, "RegionApi", lambda state, source, url, key_command: client)
    monkeypatch.setattr(maas_region_removal, "POLL_SECONDS", 0)
    target = LogHost()
    done = maas_region_removal.delete_region(None, target, "http://localhost:5240/MAAS/", "region1",
                                             "admin", "region3", "10.0.0.13", timeout=timeout)
    return done, target.lines


def test_the_delete_waits_while_maas_sees_the_region_running(monkeypatch):
    client = FakeClient([region("region1", "10.0.0.11"), region("region3.example", "10.0.0.13")], running=2)
    done, lines = delete_with(monkeypatch, client)
    assert done is True
    assert client.deleted == ["regioncontrollers/region3.example-id/"]  # found by its address
    assert lines == ["deleted region controller region3.example (region3.example-id)"]


def test_a_region_still_running_after_the_timeout_fails_naming_it(monkeypatch):
    client = FakeClient([region("region3", "10.0.0.13")], running=10 ** 6)
    done, lines = delete_with(monkeypatch, client, timeout=0)
    assert done is False
    assert lines[-1].startswith("region1: cannot delete region region3 from the MAAS of region1")
    assert "currently running" in lines[-1]


def test_a_region_maas_does_not_know_is_nothing_to_delete(monkeypatch):
    done, lines = delete_with(monkeypatch, FakeClient([region("region1", "10.0.0.11")]))
    assert done is True and lines == ["region region3 is not known to the MAAS of region1; "
                                      "nothing to delete"]


def test_the_report_names_the_region_and_the_command(inventory_factory, monkeypatch):
    warnings = []
    monkeypatch.setattr(lifecycle.logger, "warning", warnings.append)
    known = [region("r1", "10.99.0.11"), region("old3", "10.99.0.40", regiond="running"),
             {**region("old4", "10.99.0.41"), "services": {}}]
    lifecycle.report_regions_left_out(topology_of(inventory_factory(), known))
    assert warnings == [
        "region old3 (10.99.0.40) is registered with MAAS (regiond running) but is not in group "
        "maas_region: it keeps its pg_hba line and may keep running. Put it back in the inventory and "
        "run remove_region.py --data maas_remove_region=<its inventory name> to take it out of MAAS",
        "region old4 (10.99.0.41) is registered with MAAS but is not in group maas_region: it keeps its "
        "pg_hba line and may keep running. Put it back in the inventory and run remove_region.py --data "
        "maas_remove_region=<its inventory name> to take it out of MAAS",
    ]
