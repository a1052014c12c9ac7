"""Scenario: an existing single-region MAAS with racks gets a second region and HAProxy.
What was already right is left alone; the racks end up knowing both regions."""

import pytest

import ha_checks

PG, RACKS = "pg1", ["rack1", "rack2"]
SINGLE = {"MAAS_HA_REGIONS": "region1", "MAAS_HA_HAPROXY": "", "MAAS_HA_REGION_FLAVOUR": "deb",
          "MAAS_HA_RACK_FLAVOUR": "deb"}
HA = {**SINGLE, "MAAS_HA_REGIONS": "region1,region2", "MAAS_HA_HAPROXY": "lb1"}


@pytest.fixture(scope="module")
def single_region(lab):
    lab.ctl("reset", "pg1", "region1", "region2", "lb1", *RACKS)
    result = lab.deploy(SINGLE, label="single-region")
    assert result.returncode == 0, result.tail()
    ha_checks.assert_racks_known_everywhere(lab, ["region1"], RACKS)
    return {
        "secret": lab.ssh("region1", "sha256sum /var/lib/maas/secret").split()[0],
        "maas_ids": {rack: lab.ssh(rack, "cat /var/lib/maas/maas_id") for rack in RACKS},
        "region_id": lab.ssh("region1", "cat /var/lib/maas/maas_id"),
    }


@pytest.fixture(scope="module")
def with_ha(lab, single_region):
    result = lab.deploy(HA, label="add-ha")
    assert result.returncode == 0, result.tail()
    return result


def test_racks_are_not_registered_again(lab, single_region, with_ha):
    for rack in RACKS:
        assert lab.ssh(rack, "cat /var/lib/maas/maas_id") == single_region["maas_ids"][rack]
        changed = with_ha.changed_ops.get(rack, [])
        assert not [op for op in changed if "Register" in op], changed
        assert not [op for op in changed if "Install" in op], changed


def test_the_region_keeps_its_identity_and_secret(lab, single_region, with_ha):
    assert lab.ssh("region1", "cat /var/lib/maas/maas_id") == single_region["region_id"]
    assert lab.ssh("region1", "sha256sum /var/lib/maas/secret").split()[0] == single_region["secret"]
    assert lab.ssh("region2", "sha256sum /var/lib/maas/secret").split()[0] == single_region["secret"]
    changed = with_ha.changed_ops.get("region1", [])
    assert not [op for op in changed if "Install" in op or "admin" in op], changed


def test_racks_know_both_regions(lab, with_ha):
    ha_checks.assert_rackd_lists_every_region(lab, RACKS, ["region1", "region2"], "deb")
    ha_checks.assert_racks_known_everywhere(lab, ["region1", "region2"], RACKS)
    ha_checks.assert_api_answers(lab, ["region1", "region2"], ["lb1"])


def test_database_opened_to_the_new_region_without_a_restart(lab, with_ha):
    ha_checks.assert_pg_hba(lab, PG, ["region1", "region2"])
    # the single region's deploy left room for two more: the limit stays, PostgreSQL is not restarted
    assert ha_checks.max_connections(lab, PG) == ha_checks.sized_max_connections(1)
