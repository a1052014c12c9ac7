"""Scenario: the database is a Patroni cluster of three hosts (pg1, pg2, pg3).

Under a bounded loop of API writes through the load balancer: the primary's host is powered
off; writes come back, and every write the API acknowledged (before, during and after) is in
the database of the new primary. The old primary's host comes back as a replica, and a deploy
then changes nothing. A planned `patronictl switchover` under the same loop is measured too.
"""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

from labtools import wait_for
from operations.maas_api_client import MaasApiError, MaasClient

PG = ["pg1", "pg2", "pg3"]
REGIONS, LB, RACKS = ["region1", "region2"], "lb1", ["rack1"]
ENV = {"MAAS_HA_POSTGRES": ",".join(PG), "MAAS_HA_REGIONS": ",".join(REGIONS), "MAAS_HA_HAPROXY": LB,
       "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb"}
PATRONICTL = "patronictl -c /etc/patroni/config.yml"
# The loop: at most this many writes, in at most this many seconds, one every PAUSE seconds.
MAX_WRITES, MAX_SECONDS, PAUSE = 200, 120, 0.2
OUTAGE_GOAL = 30  # seconds from losing the primary to the first write acknowledged again


def members(lab, via: list[str]) -> list[dict]:
    """`patronictl list` as data, asked on the first of `via` that answers."""
    for name in via:
        out = lab.ssh(name, f"{PATRONICTL} list -f json", check=False, timeout=30)
        if out.strip():
            return json.loads(out)
    raise AssertionError(f"no Patroni answered on {via}")


def leader(lab, via=PG) -> str | None:
    running = [m["Member"] for m in members(lab, via) if m["Role"] == "Leader" and m["State"] == "running"]
    return running[0] if running else None


def healthy(lab, via=PG, count=3) -> bool:
    listed = members(lab, via)
    return (len(listed) == count and leader(lab, via) is not None
            and all(m["State"] in ("running", "streaming") for m in listed))


class WriteLoop:
    """Reserved single-address IP ranges written through the load balancer, one at a time:
    each acknowledged write is remembered by its comment, each failure by its time."""

    def __init__(self, lab, tag: str):
        self.client = MaasClient(f"http://{lab.address(LB)}/MAAS/", lab.api_key(REGIONS[0]), timeout=5, retries=0)
        network = ipaddress.ip_network(lab.spec["network"])
        # addresses high in the lab's network, away from hosts (only database rows are made)
        self.addresses = list(network.hosts())[150:150 + MAX_WRITES]
        self.tag = tag
        self.acknowledged: list[str] = []
        self.failures: list[tuple[float, str]] = []
        self.successes: list[float] = []
        self.sent = 0

    def write(self) -> None:
        address = str(self.addresses[self.sent])
        comment = f"{self.tag}-{self.sent}"
        self.sent += 1
        try:
            self.client.post("ipranges/", {"type": "reserved", "start_ip": address, "end_ip": address,
                                           "comment": comment})
        except (MaasApiError, OSError, Exception) as error:  # noqa: BLE001 - every failure counts
            self.failures.append((time.monotonic(), type(error).__name__))
            return
        self.acknowledged.append(comment)
        self.successes.append(time.monotonic())

    def run(self, until, after: int = 10) -> None:
        """Write until `until()` is true and `after` more writes succeeded, bounded in count
        and time."""
        started, done_at = time.monotonic(), None
        while self.sent < MAX_WRITES and time.monotonic() - started < MAX_SECONDS:
            self.write()
            if done_at is None and until():
                done_at = len(self.successes)
            if done_at is not None and len(self.successes) >= done_at + after:
                return
            time.sleep(PAUSE)
        raise AssertionError(f"write loop ran out ({self.sent} writes, {time.monotonic() - started:.0f} s); "
                             f"failures: {self.failures[-5:]}")

    def outage_after(self, moment: float) -> float:
        """Seconds from `moment` to the first acknowledged write after the first failure."""
        failed = [t for t, _ in self.failures if t >= moment]
        if not failed:
            return 0.0
        back = [t for t in self.successes if t > failed[0]]
        return (back[0] if back else float("inf")) - moment


def stored_comments(lab, primary: str, tag: str) -> set[str]:
    """Comments of the loop's rows, read with psql on the primary itself."""
    out = lab.ssh(primary, "runuser -u postgres -- psql -AtX -d maasdb -c "
                           f"\"SELECT comment FROM maasserver_iprange WHERE comment LIKE '{tag}-%'\"")
    return set(out.split())


@pytest.fixture(scope="module")
def cluster(lab):
    lab.ctl("up", "--racks", "2", "--extra", "pg2,pg3")
    lab.ctl("reset", *PG, *REGIONS, LB, *RACKS)
    result = lab.deploy(ENV, label="pg-cluster-converge")
    assert result.returncode == 0, result.tail()
    wait_for(lambda: healthy(lab), 60, "three members, a leader, replicas streaming")
    return result


def test_cluster_is_synchronous_with_rewind(lab, cluster):
    listed = members(lab, PG)
    roles = sorted(m["Role"] for m in listed)
    assert roles == ["Leader", "Replica", "Sync Standby"], listed
    config = json.loads(lab.ssh(PG[0], "python3 -c 'import urllib.request; "
                                       "print(urllib.request.urlopen(\"http://127.0.0.1:8008/config\").read().decode())'"))
    assert config["synchronous_mode"] is True
    assert config["postgresql"]["use_pg_rewind"] is True
    for region in REGIONS:
        conf = lab.read_yaml(region, "/etc/maas/regiond.conf")
        assert (conf["database_host"], conf["database_port"]) == ("127.0.0.1", 5433), conf
    # the secrets file is the postgres user's alone
    for name in PG:
        assert lab.stat(name, "/etc/patroni/config.yml") == "postgres:postgres 600"


def test_writes_survive_losing_the_primary(lab, cluster):
    old = leader(lab)
    others = [name for name in PG if name != old]
    loop = WriteLoop(lab, "pgfail")
    for _ in range(20):  # before
        loop.write()
    assert len(loop.acknowledged) == 20, loop.failures
    lab.ctl("stop", old)
    stopped = time.monotonic()
    loop.run(until=lambda: leader(lab, others) not in (None, old), after=20)
    outage = loop.outage_after(stopped)
    new = leader(lab, others)
    print(f"\nPostgreSQL primary {old} powered off: {len(loop.failures)} of {loop.sent} writes failed; "
          f"writes back after {outage:.1f} s; new primary {new}")
    assert outage <= OUTAGE_GOAL, f"writes back only after {outage:.1f} s"
    missing = set(loop.acknowledged) - stored_comments(lab, new, "pgfail")
    assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"

    lab.ctl("start", old)
    wait_for(lambda: healthy(lab), 120, f"{old} back in the cluster")
    back = {m["Member"]: m for m in members(lab, PG)}[old]
    assert back["Role"] in ("Replica", "Sync Standby"), back
    assert set(loop.acknowledged) <= stored_comments(lab, leader(lab), "pgfail")
    again = lab.deploy(ENV, label="pg-cluster-after-failover")
    assert again.returncode == 0, again.tail()
    assert again.changed_hosts == {}, again.changed_ops


def test_planned_switchover(lab, cluster):
    wait_for(lambda: healthy(lab), 60, "a healthy cluster")
    old = leader(lab)
    loop = WriteLoop(lab, "pgswitch")
    for _ in range(10):
        loop.write()
    started = time.monotonic()
    lab.ssh(old, f"{PATRONICTL} switchover --force --leader {old} maas")
    loop.run(until=lambda: leader(lab) not in (None, old), after=20)
    print(f"\nplanned switchover from {old} to {leader(lab)}: {len(loop.failures)} of {loop.sent} "
          f"writes failed; longest gap {loop.outage_after(started):.1f} s")
    missing = set(loop.acknowledged) - stored_comments(lab, leader(lab), "pgswitch")
    assert not missing, f"{len(missing)} acknowledged writes lost"
    assert loop.outage_after(started) <= OUTAGE_GOAL
