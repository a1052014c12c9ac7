"""Scenario: the other flavour mix — snap regions with deb racks — from bare hosts; then a
snap region is removed (remove_region.py), twice."""

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


def test_removing_a_snap_region_and_running_it_again(lab, converged):
    """remove_region.py on a snap region stops and disables the snap's services; run again,
    it finds them so and changes nothing, nor does a deploy without the region."""
    removal = ["--data", "maas_remove_region=region2"]
    result = lab.deploy(ENV, deploy_file="remove_region.py", args=removal, label="remove-snap-region")
    assert result.returncode == 0, result.tail()
    assert "deleted region controller" in result.output, result.tail()
    unit = lab.ssh("region2", "systemctl list-units --all --plain --no-legend 'snap.maas.*' | awk '{print $1}'").split()
    assert unit, "the snap's service unit is not there"
    state = lab.ssh("region2", f"systemctl is-active {unit[0]}; systemctl is-enabled {unit[0]}", check=False).split()
    assert state == ["inactive", "disabled"], state

    again = lab.deploy(ENV, deploy_file="remove_region.py", args=removal, label="remove-snap-region-again")
    assert again.returncode == 0, again.tail()
    assert again.changed_ops == {}, again.changed_ops
    remaining = lab.deploy({**ENV, "MAAS_HA_REGIONS": "region1"}, label="after-snap-region-removal")
    assert remaining.returncode == 0, remaining.tail()
    assert remaining.changed_ops == {}, remaining.changed_ops
