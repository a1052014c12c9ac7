"""Scenario: an existing single-PostgreSQL MAAS (the deploy's own result, with data in it) becomes
a Patroni cluster by adding two database hosts to the inventory: no row is lost, the API is
interrupted once, briefly (measured under a loop of API reads), and a second run changes nothing.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from labtools import wait_for
from patroni_checks import PG, cluster_lab, healthy, leader
from write_loop import WriteLoop

REGIONS, LB, RACKS = ["region1", "region2"], "lb1", ["rack1"]
BASE = {"MAAS_HA_REGIONS": ",".join(REGIONS), "MAAS_HA_HAPROXY": LB, "MAAS_HA_RACKS": ",".join(RACKS),
        "MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb"}
SINGLE = {**BASE, "MAAS_HA_POSTGRES": "pg1"}
CLUSTER = {**BASE, "MAAS_HA_POSTGRES": ",".join(PG)}
# Reads during the converting deploy: bounded in count and time.
MAX_READS, MAX_SECONDS, PAUSE = 1500, 900, 0.3
DATA_SQL = ("SELECT count(*) || ':' || md5(coalesce(string_agg(id || '/' || comment || '/' || start_ip, ',' "
            "ORDER BY id), '')) FROM maasserver_iprange")


def fingerprint(lab, name: str) -> str:
    return lab.ssh(name, f"runuser -u postgres -- psql -AtX -d maasdb -c \"{DATA_SQL}\"").strip()


class ReadLoop(threading.Thread):
    """API reads (the IP ranges, from the database) through the load balancer until stopped."""

    def __init__(self, url: str, key: str):
        super().__init__(daemon=True)
        from operations.maas_api_client import MaasClient
        self.client = MaasClient(url, key, timeout=5, retries=0)
        self.stop = threading.Event()
        self.results: list[tuple[float, bool]] = []

    def run(self):
        started = time.monotonic()
        while (not self.stop.is_set() and len(self.results) < MAX_READS
               and time.monotonic() - started < MAX_SECONDS):
            try:
                self.client.get("ipranges/")
                self.results.append((time.monotonic(), True))
            except (Exception, requests.RequestException):  # noqa: BLE001 - every failure counts
                self.results.append((time.monotonic(), False))
            time.sleep(PAUSE)

    def interruptions(self) -> list[float]:
        """Lengths (s) of each run of failed reads: from the last success before to the first after."""
        gaps, last_ok, failing = [], None, False
        for moment, ok in self.results:
            if not ok:
                failing = True
            elif failing:
                gaps.append(moment - (last_ok if last_ok is not None else moment))
                failing = False
            if ok:
                last_ok = moment
        return gaps


@pytest.fixture(scope="module")
def converted(lab):
    cluster_lab(lab, [*PG, *REGIONS, LB, *RACKS])
    single = lab.deploy(SINGLE, label="pg-convert-single")
    assert single.returncode == 0, single.tail()
    loop = WriteLoop(lab, f"http://{lab.address(LB)}/MAAS/", REGIONS[0], "convert")
    for _ in range(40):
        loop.write()
    assert len(loop.acknowledged) == 40, loop.failures
    before = fingerprint(lab, "pg1")

    reads = ReadLoop(f"http://{lab.address(LB)}/MAAS/", lab.api_key(REGIONS[0]))
    reads.start()
    try:
        result = lab.deploy(CLUSTER, label="pg-convert-cluster")
    finally:
        reads.stop.set()
        reads.join(30)
    return {"before": before, "result": result, "reads": reads}


def test_conversion_keeps_every_row(lab, converted):
    assert converted["result"].returncode == 0, converted["result"].tail()
    wait_for(lambda: healthy(lab), 120, "three members")
    assert leader(lab) == "pg1"  # the server with the data seeded the cluster
    for name in PG:  # every member, replicas included, holds the same rows
        assert fingerprint(lab, name) == converted["before"], name


def test_one_bounded_interruption(lab, converted):
    reads = converted["reads"]
    gaps = reads.interruptions()
    failed = sum(1 for _, ok in reads.results if not ok)
    print(f"\nconversion to the cluster: {failed} of {len(reads.results)} API reads failed; "
          f"interruptions: {[round(gap, 1) for gap in gaps]} s")
    assert len(reads.results) > 20
    assert len(gaps) <= 1, gaps
    assert not gaps or gaps[0] <= 60, gaps


def test_after_conversion_a_run_changes_nothing(lab, converted):
    again = lab.deploy(CLUSTER, label="pg-convert-again")
    assert again.returncode == 0, again.tail()
    assert again.changed_hosts == {}, again.changed_ops
