"""Scenario: one region goes down after the deploy. The API keeps answering through HAProxy,
racks stay connected (past the dead-connection window), and HAProxy takes the region back when
it returns."""

import time

import pytest
import requests

import ha_checks
from labtools import wait_for

REGIONS, RACKS, LB = ["region1", "region2"], ["rack1", "rack2"], "lb1"
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb"}
# A region counts a rack connection as lost after this long without a heartbeat (the
# stand-in's MAAS_STANDIN_DEAD_AFTER, as MAAS's own dead-connection window), and heartbeats
# come every HEARTBEAT seconds: past both, a rack that only talked to the stopped region
# shows as dead.
DEAD_AFTER, HEARTBEAT = 35, 10


def backend_states(lab) -> dict:
    out = lab.ssh(LB, "echo 'show servers state maas_regions' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock")
    states = {}
    for line in out.splitlines()[2:]:
        fields = line.split()
        if len(fields) > 6:
            states[fields[3]] = int(fields[5])  # srv_op_state: 0 down, 2 up
    return states


def rackd_status(lab, url: str, key: str) -> dict:
    """Rack hostname -> the status of its rackd service, as the regions report it."""
    racks = lab.client(url, key).get("rackcontrollers/")
    return {rack["hostname"]: next(service["status"] for service in rack["service_set"]
                                   if service["name"] == "rackd") for rack in racks}


def sessions_per_region(lab) -> dict:
    """Total sessions HAProxy sent to each region (`show stat`, column stot)."""
    out = lab.ssh(LB, "echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock")
    rows = [line.split(",") for line in out.splitlines() if line.startswith("maas_regions,")]
    return {row[1]: int(row[7]) for row in rows if row[1] in REGIONS}


@pytest.fixture(scope="module")
def converged(lab):
    lab.ctl("reset", "pg1", *REGIONS, LB, *RACKS)
    result = lab.deploy(ENV, label="converge-for-failover")
    assert result.returncode == 0, result.tail()


def test_api_survives_a_region_stopping(lab, converged):
    url = f"http://{lab.address(LB)}/MAAS/api/2.0/version/"
    wait_for(lambda: backend_states(lab) == {"region1": 2, "region2": 2}, 30, "both backends up")
    # balance source sends this machine's requests to one region: stop that one.
    before = sessions_per_region(lab)
    for _ in range(5):
        requests.get(url, timeout=5).raise_for_status()
    after = sessions_per_region(lab)
    victim = max(REGIONS, key=lambda name: after[name] - before[name])
    assert after[victim] - before[victim] >= 5
    lab.ssh(victim, "systemctl stop maas-regiond")
    stopped = time.monotonic()
    failures, sent, started = [], 0, stopped
    while sent < 300 and time.monotonic() - started < 30:  # bounded in count and time
        sent += 1
        try:
            response = requests.get(url, timeout=5)
            if response.status_code != 200:
                failures.append(response.status_code)
        except requests.RequestException as error:
            failures.append(type(error).__name__)
        time.sleep(0.05)
    assert sent >= 100
    assert failures == [], f"{len(failures)} of {sent} requests failed: {failures[:5]}"
    wait_for(lambda: backend_states(lab).get(victim) == 0, 30, f"HAProxy to mark {victim} down")

    # Racks stay connected: each rackd talks to the surviving region too. Only once the
    # stopped region's connections are past the dead-connection window does a rack that
    # talked to it alone show as dead.
    time.sleep(max(0.0, stopped + DEAD_AFTER + 2 * HEARTBEAT - time.monotonic()))
    key = lab.api_key("region1")
    status = rackd_status(lab, f"http://{lab.address(LB)}/MAAS/", key)
    assert set(status) >= set(RACKS), status
    assert all(status[rack] != "dead" for rack in RACKS), status

    lab.ssh(victim, "systemctl start maas-regiond")
    wait_for(lambda: backend_states(lab).get(victim) == 2, 60, f"HAProxy to mark {victim} up again")
    ha_checks.assert_api_answers(lab, REGIONS, [LB])
