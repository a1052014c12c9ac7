"""Scenario: a live MAAS grows from two regions to three and back, under a steady stream of API
requests through HAProxy. Adding region3 (deploy.py with it in the inventory) and removing it
(remove_region.py) fail no request and never restart PostgreSQL; after each, a second run
changes nothing.

Requests go to the lab's HAProxy only (lab addresses from hosts.json), bounded in count and
time (RequestStream)."""

from __future__ import annotations

import pytest

import ha_checks
from labtools import wait_for
from test_rolling_restart import ApiKey, RequestStream

PG, LB = "pg1", "lb1"
TWO, THREE = ["region1", "region2"], ["region1", "region2", "region3"]
RACKS = ["rack1", "rack2"]
ENV_TWO = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "snap",
           "MAAS_HA_REGIONS": ",".join(TWO), "MAAS_HA_RACKS": ",".join(RACKS)}
ENV_THREE = {**ENV_TWO, "MAAS_HA_REGIONS": ",".join(THREE)}
SOCKET = "/run/haproxy/admin.sock"


def postmaster_started(lab) -> str:
    return lab.ssh(PG, "runuser -u postgres -- psql -AtX -c 'SELECT pg_postmaster_start_time()'").strip()


def maas_regions(lab, key) -> set[str]:
    client = lab.client(f"http://{lab.address(LB)}/MAAS/", key)
    return {region["hostname"] for region in client.get("regioncontrollers/")}


def haproxy_servers(lab) -> set[str]:
    out = lab.ssh(LB, f"echo 'show servers state maas_regions' | socat stdio UNIX-CONNECT:{SOCKET}")
    return {row.split()[3] for row in out.splitlines()[2:] if len(row.split()) > 3}


def haproxy_cfg_servers(lab) -> set[str]:
    out = lab.ssh(LB, "awk '$1 == \"server\" {print $2}' /etc/haproxy/haproxy.cfg")
    return set(out.split())


def hba_addresses(lab) -> set[str]:
    out = lab.ssh(PG, "runuser -u postgres -- psql -AtX -c \"SELECT address FROM pg_hba_file_rules "
                      "WHERE database = '{maasdb}' AND user_name = '{maas}'\"")
    return set(out.split())


def assert_regions_are(lab, key, regions) -> None:
    """MAAS, HAProxy (running and its file), every rack's rackd.conf and pg_hba know exactly
    `regions` among the lab's regions."""
    assert maas_regions(lab, key) == set(regions)
    wait_for(lambda: haproxy_servers(lab) == set(regions), 30, f"HAProxy serving {regions}")
    assert haproxy_cfg_servers(lab) == set(regions)
    ha_checks.assert_rackd_lists_every_region(lab, RACKS, regions, "snap")
    addresses = {lab.address(name) for name in THREE}
    assert hba_addresses(lab) & addresses == {lab.address(name) for name in regions}


@pytest.fixture(scope="module")
def two_regions(lab):
    lab.ctl("up", "--racks", "2", "--extra", "region3")
    lab.ctl("reset", PG, *THREE, LB, *RACKS)
    result = lab.deploy(ENV_TWO, label="scale-two-regions")
    assert result.returncode == 0, result.tail()
    return ApiKey(lab.api_key("region1"))


def test_scale_out_to_three_regions(lab, two_regions):
    started = postmaster_started(lab)
    with RequestStream(lab, two_regions, max_seconds=600) as stream:
        result = lab.deploy(ENV_THREE, label="scale-out")
    assert result.returncode == 0, result.tail()
    stream.assert_no_failure(minimum=50)
    assert postmaster_started(lab) == started, "PostgreSQL was restarted"
    assert_regions_are(lab, two_regions, THREE)

    again = lab.deploy(ENV_THREE, label="scale-out-second-run")
    assert again.returncode == 0, again.tail()
    assert again.changed_ops == {}, again.changed_ops


def test_a_region_left_out_of_the_inventory_is_reported(lab, two_regions):
    """Leaving region3 out of the inventory does not remove it: the deploy names it and says
    how to (a dry run: nothing changes)."""
    dry = lab.deploy(ENV_TWO, args=["--dry"], label="scale-left-out-dry")
    assert dry.returncode == 0, dry.tail()
    assert f"region region3 ({lab.address('region3')}) is registered with MAAS" in dry.output, dry.tail()
    assert "run remove_region.py --data maas_remove_region=" in dry.output


def test_scale_in_with_remove_region(lab, two_regions):
    started = postmaster_started(lab)
    with RequestStream(lab, two_regions, max_seconds=600) as stream:
        result = lab.deploy(ENV_THREE, deploy_file="remove_region.py",
                            args=["--data", "maas_remove_region=region3"], label="scale-in")
    assert result.returncode == 0, result.tail()
    stream.assert_no_failure(minimum=50)
    assert postmaster_started(lab) == started, "PostgreSQL was restarted"
    assert_regions_are(lab, two_regions, TWO)
    assert lab.ssh("region3", "systemctl is-active maas-regiond", check=False).strip() != "active"
    assert "region3" in result.output and "deleted region controller" in result.output, result.tail()

    again = lab.deploy(ENV_TWO, label="scale-in-second-run")
    assert again.returncode == 0, again.tail()
    assert again.changed_ops == {}, again.changed_ops
