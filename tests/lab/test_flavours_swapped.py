"""Scenario: the other flavour mix — snap regions with deb racks — from bare hosts."""

import pytest

import ha_checks

REGIONS, RACKS, PG, LBS = ["region1", "region2"], ["rack1", "rack2"], "pg1", ["lb1"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "snap", "MAAS_HA_RACK_FLAVOUR": "deb"}


@pytest.fixture(scope="module")
def converged(lab):
    lab.ctl("reset", *REGIONS, *RACKS, PG, *LBS)
    result = lab.deploy(ENV, label="converge-snap-regions-deb-racks")
    assert result.returncode == 0, result.tail()
    return result


def test_snap_regions_deb_racks_converge(lab, converged):
    ha_checks.assert_api_answers(lab, REGIONS, LBS)
    ha_checks.assert_racks_known_everywhere(lab, REGIONS, RACKS)
    ha_checks.assert_rackd_lists_every_region(lab, RACKS, REGIONS, "deb")
    ha_checks.assert_pg_hba(lab, PG, REGIONS)
    ha_checks.assert_regiond_conf(lab, REGIONS, "snap", PG)
    for region in REGIONS:
        assert lab.ssh(region, "cat /var/snap/maas/common/snap_mode") == "region"
    for rack in RACKS:
        assert lab.stat(rack, "/etc/maas/rackd.conf").split()[0] in ("maas:maas", "root:maas")


def test_snap_regions_second_run_changes_nothing(lab, converged):
    again = lab.deploy(ENV, label="second-run-snap-regions")
    assert again.returncode == 0, again.tail()
    assert again.changed_ops == {}, again.tail(80)
