"""Scenario: the whole HA topology at once, as `make demo` deploys it: the database a Patroni
cluster of three hosts (pg1-pg3), two load balancers sharing the floating API address (lb1,
lb2), two regions, a rack.

Everything goes through the floating address: API reads (anonymous, and authenticated ones
that read the database) and API writes whose acknowledgements are counted. Under that load a
`num_workers` change restarts the regions one at a time, and no request fails; a planned
switchover of the database is measured; every acknowledged write is in the primary's
database; a deploy after each changes nothing. Requests go to the lab's floating address only,
bounded in count and time."""

from __future__ import annotations

import json
import time

import pytest

from labtools import wait_for
from patroni_checks import PATRONICTL, PG, converged_cluster, healthy, leader
from test_rolling_restart import REGION_UNITS, ApiKey, RequestStream, num_workers, unit_pids
from vip_checks import one_holder
from write_loop import OUTAGE_BOUND, WriteLoop, in_background, stored_comments

REGIONS, LBS, RACKS = ["region1", "region2"], ["lb1", "lb2"], ["rack1"]
ENV = {"MAAS_HA_POSTGRES": ",".join(PG), "MAAS_HA_REGIONS": ",".join(REGIONS), "MAAS_HA_HAPROXY": ",".join(LBS),
       "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb",
       "MAAS_HA_NUM_WORKERS": "3"}
WRITE_PAUSE = 0.5  # seconds between two writes: the loop lasts the whole rolling restart


def record(lab, name: str, measured: dict) -> None:
    """Keep a measurement as a test artefact, and show it in the test's output."""
    lab.artefacts.mkdir(parents=True, exist_ok=True)
    (lab.artefacts / f"{name}.json").write_text(json.dumps(measured, indent=1) + "\n")
    print(f"\n{name}: {measured}")


def assert_no_change(lab, env: dict, label: str) -> None:
    result = lab.deploy(env, label=label)
    assert result.returncode == 0, result.tail()
    assert result.changed_hosts == {}, result.changed_ops


def under_load(lab, key: str, tag: str, change) -> tuple[RequestStream, WriteLoop, float, float]:
    """Run `change()` (in the background) under reads and writes through the floating address;
    writes go on until it has returned and a few more were acknowledged. Returns the reads,
    the writes, and when the change started and ended."""
    stream = RequestStream(lab, key, max_seconds=400, address=lab.api_vip)
    loop = WriteLoop(lab, f"http://{lab.api_vip}/MAAS/", REGIONS[0], tag, pause=WRITE_PAUSE)
    with stream:
        for _ in range(5):
            loop.write()
        started = time.monotonic()
        ended: list[float] = []

        def timed_change():
            try:
                change()
            finally:
                ended.append(time.monotonic())

        changing = in_background(timed_change)
        loop.run(until=lambda: not changing.is_alive(), after=5)
        changing.join()
    return stream, loop, started, ended[0]


@pytest.fixture(scope="module")
def topology(lab):
    converged_cluster(lab, [*PG, *REGIONS, *LBS, *RACKS], ENV, "ha-topology-converge")
    one_holder(lab, LBS)
    return ApiKey(lab.api_key(REGIONS[0]))


def test_rolling_restart_through_the_floating_address_fails_no_request(lab, topology):
    before = {name: unit_pids(lab, name) for name in REGIONS}
    holder = one_holder(lab, LBS)
    deployed = {}

    def rolling_restart():
        deployed["result"] = lab.deploy({**ENV, "MAAS_HA_NUM_WORKERS": "2"}, label="ha-topology-rolling")

    stream, loop, started, ended = under_load(lab, topology, "harolling", rolling_restart)
    result = deployed["result"]
    assert result.returncode == 0, result.tail()
    record(lab, "ha-topology-rolling-restart", {
        "address_holder": holder, "reads_sent": stream.sent, "reads_failed": len(stream.failures),
        "writes_sent": loop.sent, "writes_failed": len(loop.failures), "write_failures": loop.failure_kinds()})

    # the regions really restarted, one at a time, every unit that reads regiond.conf
    for name in REGIONS:
        assert num_workers(lab, name) == 2, name
        now = unit_pids(lab, name)
        for unit in REGION_UNITS:
            assert now[unit] not in ("0", before[name][unit]), f"{unit} on {name} was not restarted"
    stream.assert_no_failure(minimum=100)
    assert loop.failures == [], f"{len(loop.failures)} of {loop.sent} writes failed: {loop.failure_kinds()}"
    during = [moment for moment in loop.successes if started < moment < ended]
    assert len(during) >= 10, f"only {len(during)} writes acknowledged while the regions restarted"
    missing = set(loop.acknowledged) - stored_comments(lab, leader(lab), "harolling")
    assert not missing, f"{len(missing)} acknowledged writes lost"
    assert one_holder(lab, LBS) == holder, "the floating address moved during the restart"
    loop.remove()
    assert_no_change(lab, {**ENV, "MAAS_HA_NUM_WORKERS": "2"}, "ha-topology-after-rolling")


def test_switchover_through_the_floating_address(lab, topology):
    wait_for(lambda: healthy(lab), 60, "a healthy cluster")
    old = leader(lab)

    def switchover():
        lab.ssh(old, f"{PATRONICTL} switchover --force --leader {old} maas")
        wait_for(lambda: leader(lab) not in (None, old), 60, "a new primary")

    stream, loop, started, _ = under_load(lab, topology, "haswitch", switchover)
    new = leader(lab)
    outage = loop.outage_after(started)
    record(lab, "ha-topology-switchover", {
        "old_primary": old, "new_primary": new, "reads_sent": stream.sent, "reads_failed": len(stream.failures),
        "writes_sent": loop.sent, "writes_failed": len(loop.failures), "write_failures": loop.failure_kinds(),
        "longest_without_acknowledged_write_s": round(outage, 1)})
    assert new not in (None, old)
    assert "400" not in loop.failure_kinds(), "writes refused: the loop's addresses were not free"
    missing = set(loop.acknowledged) - stored_comments(lab, new, "haswitch")
    assert not missing, f"{len(missing)} acknowledged writes lost"
    assert outage <= OUTAGE_BOUND, f"writes back only after {outage:.1f} s"
    loop.remove()
    wait_for(lambda: healthy(lab), 60, f"{old} streaming from {new}")
    # the primary is whichever member Patroni chose: the deploy does not move it back
    assert_no_change(lab, {**ENV, "MAAS_HA_NUM_WORKERS": "2"}, "ha-topology-after-switchover")
