"""Scenario: racks registered for the first time and DHCP HA set up in the same run.

MAAS learns a rack's interfaces only at the rack's network refresh, tens of seconds after it
registers, and until then refuses it as a VLAN's primary or secondary rack (400 "Select a
valid choice"). The deploy waits for it, bounded by maas_dhcp_rack_interface_timeout."""

import pytest

REGION, PG, RACKS = "region1", "pg1", ["rack1", "rack2"]
ENV = {"MAAS_HA_REGIONS": REGION, "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_HAPROXY": "",
       "MAAS_HA_DHCP_VLAN": ",".join(RACKS)}
SETTING = "maas_dhcp_rack_interface_timeout"


def untagged_vlan_and_racks(lab):
    client = lab.client(f"http://{lab.address(REGION)}:5240/MAAS/", lab.api_key(REGION))
    vlan = client.get("fabrics/")[0]["vlans"][0]
    return vlan, client.get("rackcontrollers/")


@pytest.fixture(scope="module")
def too_short(lab):
    """From bare hosts, with a wait too short for MAAS to learn the new racks' interfaces."""
    lab.ctl("reset", PG, REGION, *RACKS)
    return lab.deploy({**ENV, "MAAS_HA_DHCP_RACK_INTERFACE_TIMEOUT": "1"}, label="dhcp-wait-too-short")


@pytest.fixture(scope="module")
def converged(lab, too_short):
    """From bare hosts again (MAAS would otherwise know the racks already), with the default wait."""
    lab.ctl("reset", PG, REGION, *RACKS)
    result = lab.deploy(ENV, label="dhcp-ha-with-first-registration")
    assert result.returncode == 0, result.tail()
    return result


def test_a_wait_too_short_fails_naming_the_racks_the_vlan_and_the_setting(lab, too_short):
    assert too_short.returncode != 0
    output = too_short.output
    assert f"VLAN fabric-0.0 (fabric id 0): after 1s ({SETTING}) MAAS still knows no interface on this VLAN " \
           "of rack" in output, too_short.tail()
    assert any(f"rack {rack} (" in output or f"; {rack} (" in output for rack in RACKS), too_short.tail()
    assert "interfaces MAAS knows: none yet" in output and f"or raise {SETTING}" in output
    assert "Select a valid choice" not in output  # the wait stopped it before MAAS refused
    vlan, _ = untagged_vlan_and_racks(lab)
    assert (vlan["primary_rack"], vlan["secondary_rack"], vlan["dhcp_on"]) == (None, None, False)


def test_dhcp_ha_right_after_the_racks_first_registration(lab, converged):
    assert "waiting up to 120s for MAAS to learn the interfaces of rack" in converged.output, converged.tail()
    vlan, racks = untagged_vlan_and_racks(lab)
    names = {rack["system_id"]: rack["hostname"] for rack in racks}
    assert (names[vlan["primary_rack"]], names[vlan["secondary_rack"]], vlan["dhcp_on"]) == \
        ("rack1", "rack2", True)
    for rack in racks:
        assert vlan["id"] in [(iface.get("vlan") or {}).get("id") for iface in rack["interface_set"]], rack


def test_the_run_after_changes_nothing(lab, converged):
    again = lab.deploy(ENV, label="dhcp-ha-second-run")
    assert again.returncode == 0 and again.changed_ops == {}, again.tail(60)
