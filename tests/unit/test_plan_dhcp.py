"""DHCP HA's decisions as plain data: whether the region's view shows it in place, and
which API changes a VLAN needs."""

import pytest
from pyinfra.api.exceptions import OperationValueError

from operations._plan_dhcp import (
    VlanError,
    checked_arguments,
    dhcp_in_place,
    find_vlan,
    known_interfaces,
    racks_off_vlan,
    range_missing,
    range_subnet,
    swaps_racks,
    vlan_changes,
    wanted_racks,
)

RACKS = [{"system_id": "abc123", "hostname": "rack1", "fqdn": "rack1.maas"},
         {"system_id": "def456", "hostname": "rack2"}]
VLANS = [{"fabric": "fabric-0", "fabric_id": 0, "vid": 0, "primary_rack": "abc123",
          "secondary_rack": "def456", "dhcp_on": True}]
RANGES = [{"type": "dynamic", "fabric_id": 0, "vid": 0, "start_ip": "10.0.0.200",
           "end_ip": "10.0.0.250"}]
RANGE = {"start_ip": "10.0.0.200", "end_ip": "10.0.0.250"}


def in_place(vlans=VLANS, racks=RACKS, ranges=RANGES, fabric="fabric-0", primary="rack1",
             secondary="rack2", dynamic_range=RANGE):
    return dhcp_in_place(vlans, racks, ranges, fabric, 0, primary, secondary, dynamic_range)


def test_the_view_as_wanted_is_in_place_by_fabric_name_or_id():
    assert in_place() == "fabric-0.0"
    assert in_place(fabric="0", dynamic_range=None) == "fabric-0.0"


@pytest.mark.parametrize("change", [
    {"vlans": None},  # the region did not answer
    {"secondary": "rack1.maas", "primary": "rack2"},  # swapped
    {"secondary": "rack3"},  # not a rack of this MAAS
    {"secondary": None},  # the secondary is to be cleared
    {"dynamic_range": {"start_ip": "10.0.0.100", "end_ip": "10.0.0.150"}},
    {"vlans": [{**VLANS[0], "dhcp_on": False}]},
    {"ranges": [{**RANGES[0], "type": "reserved"}]},
])
def test_anything_else_is_not_in_place(change):
    assert in_place(**change) is None


def test_arguments_are_checked_naming_the_host():
    assert checked_arguments("f", 0, "r1", "r2", ["10.0.0.1", "10.0.0.9"], "region1") == {
        "start_ip": "10.0.0.1", "end_ip": "10.0.0.9"}
    with pytest.raises(OperationValueError, match="region1: DHCP HA on VLAN f.0 needs two"):
        checked_arguments("f", 0, "r1", "r1", None, "region1")
    with pytest.raises(OperationValueError, match="region1: dynamic_range for VLAN f.0"):
        checked_arguments("f", 0, "r1", "r2", {"start": "nope", "end": "10.0.0.9"}, "region1")


def test_the_vlan_is_found_in_the_api_fabrics():
    fabrics = [{"id": 1, "name": "fabric-1", "vlans": [{"id": 5001, "vid": 0}]},
               {"id": 2, "name": "fabric-2", "vlans": [{"id": 5002, "vid": 0},
                                                        {"id": 5003, "vid": 10}]}]
    assert find_vlan(fabrics, "fabric-2", 10) == (fabrics[1], {"id": 5003, "vid": 10})
    assert find_vlan(fabrics, 1, 0)[1]["id"] == 5001
    assert find_vlan(fabrics, "fabric-3", 0) is None


def test_wanted_racks_are_system_ids_and_unknown_racks_are_refused():
    assert wanted_racks("VLAN x", RACKS, "rack1.maas", None) == {
        "primary_rack": "abc123", "secondary_rack": None}
    with pytest.raises(VlanError, match="VLAN x: secondary_rack rack9 is not a rack controller"):
        wanted_racks("VLAN x", RACKS, "rack1", "rack9")


def api_range(vlan_id, start="10.0.0.200", end="10.0.0.250", kind="dynamic"):
    return {"type": kind, "start_ip": start, "end_ip": end, "subnet": {"vlan": {"id": vlan_id}}}


def test_a_range_is_missing_only_when_the_vlan_lacks_it():
    assert range_missing("VLAN x", [api_range(5001)], 5001, RANGE) is False
    assert range_missing("VLAN x", [api_range(5002)], 5001, RANGE) is True
    assert range_missing("VLAN x", [api_range(5001, kind="reserved")], 5001, RANGE) is True
    assert range_missing("VLAN x", [api_range(5001, start="10.0.0.1")], 5001, None) is False
    with pytest.raises(VlanError, match="no dynamic IP range; DHCP needs one"):
        range_missing("VLAN x", [], 5001, None)


def test_the_range_goes_into_the_vlan_subnet_holding_its_start():
    subnets = [{"id": 1, "cidr": "10.0.0.0/24", "vlan": {"id": 5002}},
               {"id": 2, "cidr": "10.0.0.0/24", "vlan": {"id": 5001}}]
    assert range_subnet("VLAN x", subnets, 5001, RANGE) == 2
    with pytest.raises(VlanError, match="no subnet on this VLAN contains 10.0.0.200"):
        range_subnet("VLAN x", subnets[:1], 5001, RANGE)


def test_vlan_changes_and_swaps():
    wanted = {"primary_rack": "abc123", "secondary_rack": "def456"}
    vlan = {"primary_rack": "def456", "secondary_rack": None, "dhcp_on": False}
    assert swaps_racks(vlan, wanted) is True
    assert vlan_changes(vlan, wanted) == {"primary_rack": "abc123", "secondary_rack": "def456",
                                          "dhcp_on": True}
    settled = {**wanted, "dhcp_on": True}
    assert swaps_racks(settled, wanted) is False
    assert vlan_changes(settled, wanted) == {}
    assert vlan_changes(settled, {**wanted, "secondary_rack": None}) == {"secondary_rack": ""}


def rack(system_id, hostname, *vlans):
    """A ``rackcontrollers/`` entry with one interface per VLAN (id, fabric, name)."""
    return {"system_id": system_id, "hostname": hostname, "interface_set": [
        {"name": f"eth{index}", "vlan": {"id": vlan_id, "fabric": fabric, "name": name}}
        for index, (vlan_id, fabric, name) in enumerate(vlans)]}


UNTAGGED = (5001, "fabric-0", "untagged")
OTHER_FABRIC = (5002, "fabric-1", "untagged")


def test_a_rack_is_on_the_vlan_only_with_an_interface_there():
    racks = [rack("abc123", "rack1", UNTAGGED), rack("def456", "rack2"),
             rack("ghk789", "rack3", OTHER_FABRIC)]
    assert racks_off_vlan(racks, 5001, ["abc123", "def456", "ghk789"]) == ["def456", "ghk789"]
    assert racks_off_vlan(racks, 5001, ["abc123", None]) == []  # no secondary: nothing to wait for
    assert racks_off_vlan(racks, 5002, ["ghk789"]) == []


def test_what_maas_knows_of_a_racks_interfaces():
    racks = [rack("abc123", "rack1", UNTAGGED, OTHER_FABRIC), rack("def456", "rack2")]
    assert known_interfaces(racks, "abc123") == "eth0 on fabric-0.untagged, eth1 on fabric-1.untagged"
    assert known_interfaces(racks, "def456") == "none yet"
    assert known_interfaces(racks, "zzz999") == "not a rack controller of this MAAS"
