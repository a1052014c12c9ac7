"""Scenario: DHCP HA, then a rack's life after it: removing the DHCP primary is refused
until DHCP moves to another rack; a removed rack is gone from the API and its software is
gone; a rack moves to a second MAAS instance."""

import pytest

import ha_checks

REGIONS, PG, LB = ["region1", "region2"], "pg1", "lb1"
RACKS = ["rack1", "rack2", "rack3", "rack4"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "snap",
       "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_DHCP_VLAN": "rack1,rack2"}
AFTER_REMOVAL = {**ENV, "MAAS_HA_RACKS": "rack2,rack3,rack4", "MAAS_HA_DHCP_VLAN": "rack3,rack2"}
B_ENV = {"MAAS_HA_INSTANCE": "b", "MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_HAPROXY": "",
         "MAAS_HA_RACKS": ""}


def vlan_and_racks(lab):
    client = lab.client(f"http://{lab.address(LB)}/MAAS/", lab.api_key("region1"))
    vlan = client.get("fabrics/")[0]["vlans"][0]
    racks = {rack["system_id"]: rack["hostname"] for rack in client.get("rackcontrollers/")}
    return vlan, racks


@pytest.fixture(scope="module")
def converged(lab):
    lab.ctl("up", "--racks", "4", "--extra", "b-pg1,b-region1")
    lab.ctl("reset", PG, *REGIONS, LB, *RACKS, "b-pg1", "b-region1")
    result = lab.deploy(ENV, label="converge-with-dhcp-ha")
    assert result.returncode == 0, result.tail()
    return result


def test_dhcp_ha_is_on_with_two_racks(lab, converged):
    vlan, racks = vlan_and_racks(lab)
    assert racks[vlan["primary_rack"]] == "rack1"
    assert racks[vlan["secondary_rack"]] == "rack2"
    assert vlan["dhcp_on"] is True
    again = lab.deploy(ENV, label="dhcp-ha-second-run")
    assert again.returncode == 0 and again.changed_ops == {}, again.tail(60)


def test_racks_have_qualified_hostnames_and_maas_keeps_short_ones(lab, converged):
    if not lab.spec.get("domain"):
        pytest.skip("the lab runs with short hostnames (MAAS_HA_LAB_DOMAIN=)")
    for rack in RACKS:
        assert lab.ssh(rack, "uname -n").strip() == f"{rack}.{lab.spec['domain']}"
    _, racks = vlan_and_racks(lab)
    assert set(RACKS) <= set(racks.values()), racks


def test_removing_the_dhcp_primary_is_refused(lab, converged):
    result = lab.deploy(ENV, deploy_file="remove_rack.py", args=["--data", "maas_remove_rack=rack1"],
                        label="remove-refused")
    assert result.returncode != 0
    assert "host rack1: setting `maas_dhcp_move_to`: rack serves DHCP HA" in result.output, result.tail()
    assert result.changed_ops == {}
    _, racks = vlan_and_racks(lab)
    assert "rack1" in racks.values()


def test_remove_after_moving_dhcp(lab, converged):
    result = lab.deploy(ENV, deploy_file="remove_rack.py",
                        args=["--data", "maas_remove_rack=rack1", "--data", "maas_dhcp_move_to=rack3"],
                        label="remove-rack1")
    assert result.returncode == 0, result.tail()
    vlan, racks = vlan_and_racks(lab)
    assert "rack1" not in racks.values()
    assert racks[vlan["primary_rack"]] == "rack3"
    assert racks[vlan["secondary_rack"]] == "rack2"
    assert vlan["dhcp_on"] is True
    assert lab.ssh("rack1", "test -e /snap/maas || test -e /var/snap/maas; echo $?").strip() == "1"
    again = lab.deploy(AFTER_REMOVAL, label="after-removal-second-run")
    assert again.returncode == 0 and again.changed_ops == {}, again.tail(60)


def test_move_a_rack_to_another_maas(lab, converged):
    second = lab.deploy(B_ENV, label="second-maas")
    assert second.returncode == 0, second.tail()
    result = lab.deploy({**AFTER_REMOVAL, "MAAS_HA_MOVE_TARGET": "b-region1"}, deploy_file="move_rack.py",
                        args=["--data", "maas_move_rack=rack4"], label="move-rack4")
    assert result.returncode == 0, result.tail()
    _, racks_a = vlan_and_racks(lab)
    assert "rack4" not in racks_a.values()
    ha_checks.assert_racks_known_everywhere(lab, ["b-region1"], ["rack4"])
    conf = lab.read_yaml("rack4", ha_checks.rackd_conf_path("snap"))
    assert conf["maas_url"] == [f"http://{lab.address('b-region1')}:5240/MAAS"]
