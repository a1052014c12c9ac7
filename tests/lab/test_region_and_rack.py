"""Scenario: regions that are rack controllers too (MAAS's region+rack, its default mode), the
primary region among them, on both flavours, from bare hosts; then a run that changes nothing.

deb: the region gets maas-rack-controller beside maas-region-api (as MAAS's `maas` package
does); snap: `maas init region+rack`. MAAS lists such a host once, as a region and rack
controller (node_type 4), and it can serve DHCP HA."""

import pytest

import ha_checks

PG = "pg1"
DEB = {"regions": ["region1", "region2"], "racks": ["region1", "rack1"], "lbs": ["lb1"],
       "env": {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "snap",
               "MAAS_HA_REGIONS": "region1,region2", "MAAS_HA_RACKS": "region1,rack1",
               "MAAS_HA_DHCP_VLAN": "region1,rack1"}}
SNAP = {"regions": ["region1"], "racks": ["region1", "rack1"], "lbs": [],
        "env": {"MAAS_HA_REGION_FLAVOUR": "snap", "MAAS_HA_RACK_FLAVOUR": "deb",
                "MAAS_HA_REGIONS": "region1", "MAAS_HA_RACKS": "region1,rack1", "MAAS_HA_HAPROXY": ""}}


@pytest.fixture(scope="module", params=["deb", "snap"])
def converged(lab, request):
    flavour = request.param
    scenario = DEB if flavour == "deb" else SNAP
    lab.ctl("reset", PG, *dict.fromkeys(scenario["regions"] + scenario["racks"] + scenario["lbs"]))
    result = lab.deploy(scenario["env"], label=f"converge-region-and-rack-{flavour}")
    assert result.returncode == 0, result.tail()
    return flavour, scenario, result


def controllers(lab, region, path):
    client = lab.client(f"http://{lab.address(region)}:5240/MAAS/", lab.api_key(region))
    return {node["hostname"]: node for node in client.get(path)}


def test_the_primary_region_is_a_region_and_rack_controller(lab, converged):
    flavour, scenario, _ = converged
    primary = scenario["regions"][0]
    racks = controllers(lab, primary, "rackcontrollers/")
    regions = controllers(lab, primary, "regioncontrollers/")
    assert set(racks) == {"region1", "rack1"}, racks
    assert set(regions) == set(scenario["regions"]), regions
    assert racks["region1"]["node_type"] == regions["region1"]["node_type"] == 4
    assert racks["region1"]["node_type_name"] == "Region and rack controller"
    assert racks["region1"]["system_id"] == regions["region1"]["system_id"]  # one node
    assert racks["rack1"]["node_type"] == 2
    for name in racks:
        rackd = {s["name"]: s["status"] for s in racks[name]["service_set"]}["rackd"]
        assert rackd == "running", (name, racks[name]["service_set"])
    ha_checks.assert_api_answers(lab, scenario["regions"], scenario["lbs"])


def test_the_rack_software_runs_beside_the_region(lab, converged):
    flavour, scenario, _ = converged
    if flavour == "deb":
        installed = lab.ssh("region1", "dpkg-query -W -f='${Package} ${Status}\\n' maas-region-api "
                                       "maas-rack-controller")
        assert sorted(installed.splitlines()) == ["maas-rack-controller install ok installed",
                                                 "maas-region-api install ok installed"], installed
        assert lab.ssh("region1", "systemctl is-active maas-rackd maas-regiond").split() == ["active"] * 2
    else:
        assert lab.ssh("region1", "cat /var/snap/maas/common/snap_mode") == "region+rack"
    ha_checks.assert_rackd_lists_every_region(lab, ["region1"], scenario["regions"], flavour)
    ha_checks.assert_regiond_conf(lab, scenario["regions"], flavour, PG)


def test_a_region_and_rack_serves_dhcp_ha(lab, converged):
    flavour, scenario, _ = converged
    if "MAAS_HA_DHCP_VLAN" not in scenario["env"]:
        pytest.skip("DHCP HA is set in the deb scenario")
    client = lab.client(f"http://{lab.address('region1')}:5240/MAAS/", lab.api_key("region1"))
    vlan = client.get("fabrics/")[0]["vlans"][0]
    names = {rack["system_id"]: rack["hostname"] for rack in client.get("rackcontrollers/")}
    assert (names[vlan["primary_rack"]], names[vlan["secondary_rack"]], vlan["dhcp_on"]) == \
        ("region1", "rack1", True)


def test_the_run_after_changes_nothing(lab, converged):
    flavour, scenario, _ = converged
    again = lab.deploy(scenario["env"], label=f"region-and-rack-second-run-{flavour}")
    assert again.returncode == 0 and again.changed_ops == {}, again.tail(80)
