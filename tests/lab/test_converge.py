"""Scenario: bare hosts to HA MAAS (deb regions, snap racks), then a second run that must
change nothing, with no secret in the output."""

import re

import pytest

import ha_checks

REGIONS, RACKS, PG, LBS = ["region1", "region2"], ["rack1", "rack2"], "pg1", ["lb1"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "snap"}


# Operations a first converge must report as changed on each host: the positive control of
# DeployResult.changed_ops, which every "changes nothing" test relies on.
FIRST_CONVERGE_CHANGES = {
    PG: ["PostgreSQL role maas", "pg_hba: one line per region"],
    **{name: ["Install maas-region-api", f"{name}: restart maas-regiond"] for name in REGIONS},
    **{name: ["haproxy.cfg: region API backends"] for name in LBS},
    **{name: ["Install the maas snap", "Register with the regions"] for name in RACKS},
}


@pytest.fixture(scope="module")
def converged(lab):
    lab.ctl("reset", PG, *REGIONS, *LBS, *RACKS)
    # -vvv: every command's input and output and every fact's output are printed, which is
    # where a leaked secret would show (at -vv pyinfra prints neither)
    result = lab.deploy(ENV, label="converge-deb-regions-snap-racks", verbosity="-vvv")
    assert result.returncode == 0, result.tail()
    return result


def assert_changes_seen(result, wanted: dict) -> None:
    """Each host reports (at least) these operations as changed, named by a part of their name."""
    changed = result.changed_ops
    for name, parts in wanted.items():
        for part in parts:
            assert any(part in (op or "") for op in changed.get(name, [])), (name, part, changed)


def test_the_output_parser_sees_what_a_first_converge_changes(lab, converged):
    assert_changes_seen(converged, FIRST_CONVERGE_CHANGES)


def test_regions_answer_directly_and_through_haproxy(lab, converged):
    ha_checks.assert_api_answers(lab, REGIONS, LBS)


def test_every_rack_is_known_to_every_region(lab, converged):
    ha_checks.assert_racks_known_everywhere(lab, REGIONS, RACKS)


def test_rackd_conf_lists_every_region(lab, converged):
    ha_checks.assert_rackd_lists_every_region(lab, RACKS, REGIONS, "snap")


def test_pg_hba_has_one_line_per_region_and_no_trust(lab, converged):
    ha_checks.assert_pg_hba(lab, PG, REGIONS)


def test_regiond_conf_points_at_the_shared_db_with_maas_ownership(lab, converged):
    ha_checks.assert_regiond_conf(lab, REGIONS, "deb", PG)


def test_max_connections_has_room_for_two_more_regions(lab, converged):
    # (2 regions + 2 spare) x (MAAS 3.5 at 8 workers: 9 x 10 regiond + 54 beside it) + 20
    assert ha_checks.max_connections(lab, PG) == ha_checks.sized_max_connections(2) == 4 * 144 + 20


def test_backup_taken_before_first_pg_change(lab, converged):
    listing = lab.ssh(PG, "ls /var/backups/maas-ha/")
    assert "globals-" in listing, listing
    # the oldest backup was finished before the first config file the deploy wrote: both are
    # written within the same second, so compare to the nanosecond, strictly
    backup_time = lab.ssh(PG, "stat -c %.9Y /var/backups/maas-ha/globals-* | sort -n | head -n 1")
    dropin_time = lab.ssh(PG, "stat -c %.9Y /etc/postgresql/*/main/conf.d/50-maas-ha.conf")
    assert float(backup_time) < float(dropin_time), (backup_time, dropin_time)


def test_no_secret_in_the_output(lab, converged):
    secrets = lab.secrets()
    values = {"database password": secrets["maas_db_password"],
              "admin password": secrets["maas_admin_password"],
              "region secret": lab.ssh(REGIONS[0], "cat /var/lib/maas/secret").strip(),
              "admin API key": lab.api_key(REGIONS[0])}
    # -vvv took effect: facts' output is printed (the status line exists only in their output)
    assert re.search(r"^\s*\[[^\]]+\]\s+##maas-ha-fact-status 0\s*$", converged.output, re.M)
    assert [name for name, value in values.items() if not value] == []
    # named, never shown: a failure report must not print the secret it found
    assert [name for name, value in values.items() if value in converged.output] == []


def test_second_run_changes_nothing(lab, converged):
    lab.ssh(REGIONS[1], "maas-region local_config_set --debug-http true")  # a key we don't own
    again = lab.deploy(ENV, label="second-run")
    assert again.returncode == 0, again.tail()
    assert again.changed_hosts == {}, again.tail(80)
    assert lab.read_yaml(REGIONS[1], "/etc/maas/regiond.conf")["debug_http"] is True
