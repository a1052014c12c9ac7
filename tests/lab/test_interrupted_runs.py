"""Scenario: a run stopped half-way (Ctrl-C, or killed) is finished by the next one.

The deploy moves the regions to another address of the database host and changes their
worker count (hence PostgreSQL's max_connections) and HAProxy's maxconn. pyinfra is stopped
at a point of that run where a config file is already written but its service has not
loaded it yet; the next run must still restart or reload what it left behind (a run that
only compares files reports "no change" there and leaves the services on the old config),
and the run after that must change nothing.

What the services have loaded is read from the services themselves, not from the files:
the addresses the regions' database connections reach on the database host, and HAProxy's
`show info`.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import subprocess

import pytest

import ha_checks
from lab.lib import net
from labtools import wait_for

PG, REGIONS, LBS = "pg1", ["region1", "region2"], ["lb1"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACKS": ""}

# Points where a config is written and its service not yet (re)started or reloaded: the
# step after it starts (pyinfra's "--> Starting operation: ..." lines).
CUTS = {
    # the primary's regiond.conf written; before its migrations and restart
    "primary-written": "region1: regiond.conf owned maas:maas 0640",
    # region2 written and restarted, not yet back in HAProxy
    "second-restarted": "region2: wait for the region API",
    # the new haproxy.cfg in place, not yet loaded
    "haproxy-written": "HAProxy loads haproxy.cfg",
}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}


def second_address(lab) -> str:
    """An address of the lab's network that no lab host, nor the gateway, uses."""
    network = ipaddress.ip_network(lab.spec["network"])
    used = {lab.spec.get("gateway")} | {spec["address"] for spec in lab.hosts.values()}
    return next(str(address) for address in reversed(list(network.hosts())) if str(address) not in used)


class Variants:
    """The two configurations the cases switch between, and which one the lab holds."""

    def __init__(self, lab):
        self.lab = lab
        self.extra = second_address(lab)
        self.live = "a"

    def env(self, variant: str) -> dict:
        if variant == "a":
            return {**ENV, "MAAS_HA_NUM_WORKERS": "4"}
        return {**ENV, "MAAS_HA_NUM_WORKERS": "2", "MAAS_HA_DB_ADDRESS": self.extra}

    def args(self, variant: str) -> list:
        return ["--data", f"maas_haproxy_maxconn={2000 if variant == 'a' else 3000}"]

    def db_address(self, variant: str) -> str:
        return self.lab.address(PG) if variant == "a" else self.extra

    def maxconn(self, variant: str) -> int:
        return 2000 if variant == "a" else 3000

    def deploy(self, variant: str, label: str, on_line=None):
        return self.lab.deploy(self.env(variant), args=self.args(variant), label=label, on_line=on_line)


@pytest.fixture(scope="module")
def variants(lab):
    lab.ctl("reset", PG, *REGIONS, *LBS)
    chosen = Variants(lab)
    # the database host's second address, on its interface (eth0) in its network namespace
    # (lab hosts may not change their own addresses)
    prefix = ipaddress.ip_network(lab.spec["network"]).prefixlen
    subprocess.run(["ip", "netns", "exec", net.ns_name(PG), "ip", "addr", "replace",
                    f"{chosen.extra}/{prefix}", "dev", "eth0"], check=True)
    first = chosen.deploy("a", "interrupted-converge")
    assert first.returncode == 0, first.tail()
    assert_loaded(lab, chosen, "a")
    return chosen


def database_peers(lab) -> dict[str, set[str]]:
    """Region address -> the database host's addresses its established connections reach."""
    rows = lab.ssh(PG, "ss -Htn state established '( sport = :5432 )'")
    peers: dict[str, set[str]] = {}
    for row in rows.splitlines():
        fields = row.split()
        if len(fields) < 4:
            continue
        local, remote = fields[-2].rsplit(":", 1)[0], fields[-1].rsplit(":", 1)[0]
        peers.setdefault(remote, set()).add(local)
    return peers


def haproxy_maxconn(lab, lb: str) -> int:
    info = lab.ssh(lb, "echo 'show info' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock")
    match = re.search(r"^Maxconn: (\d+)$", info, re.M)
    assert match, info
    return int(match.group(1))


def haproxy_status(lab, lb: str) -> dict[str, str]:
    """Region -> its status in HAProxy's `show stat` (UP, DRAIN, DOWN, MAINT...)."""
    stat = lab.ssh(lb, "echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock")
    rows = [line.split(",") for line in stat.splitlines() if not line.startswith("#")]
    return {row[1]: row[17] for row in rows if len(row) > 17 and row[1] in REGIONS}


def assert_loaded(lab, variants, variant: str) -> None:
    """The services run the variant's config: the regions' database connections reach its
    address (and no other), HAProxy runs with its maxconn and sends to every region (none
    left drained), the API answers through HAProxy."""
    wanted = variants.db_address(variant)
    peers = database_peers(lab)
    for region in REGIONS:
        assert peers.get(lab.address(region)) == {wanted}, (region, wanted, peers)
    for lb in LBS:
        assert haproxy_maxconn(lab, lb) == variants.maxconn(variant), lb
        # every region UP (a status such as "UP 1/3", a check failed since, still serves), none
        # left drained or down; HAProxy may have been reloaded a moment ago
        wait_for(lambda: all(status.split()[0] == "UP" for status in haproxy_status(lab, lb).values())
                 and set(haproxy_status(lab, lb)) == set(REGIONS), 30,
                 f"every region UP in HAProxy on {lb} (first seen: {haproxy_status(lab, lb)})")
    ha_checks.assert_api_answers(lab, REGIONS, LBS)


@pytest.mark.parametrize("signame", list(SIGNALS))
@pytest.mark.parametrize("cut", list(CUTS))
def test_an_interrupted_run_is_finished_by_the_next(lab, variants, cut, signame):
    target = "b" if variants.live == "a" else "a"
    step = CUTS[cut]
    sent = {"done": False}

    def interrupt(line: str) -> None:
        if not sent["done"] and re.match(rf"^--> Starting operation: .*\b{re.escape(step)}\s*$", line):
            sent["done"] = True
            lab.running.send_signal(SIGNALS[signame])

    label = f"interrupted-{cut}-{signame}"
    stopped = variants.deploy(target, label, on_line=interrupt)
    if not sent["done"]:
        variants.live = target if stopped.returncode == 0 else None  # the next case starts from what is there
    assert sent["done"], f"the run never reached {step!r}: {stopped.tail()}"
    if signame == "SIGKILL":
        assert stopped.returncode == -signal.SIGKILL, stopped.tail()
    else:  # pyinfra stops at once and exits 0
        assert "Exiting upon user request!" in stopped.output, stopped.tail()
    variants.live = None  # half-applied from here on

    again = variants.deploy(target, f"{label}-next")
    assert again.returncode == 0, again.tail()
    assert_loaded(lab, variants, target)
    variants.live = target

    after = variants.deploy(target, f"{label}-after")
    assert after.returncode == 0, after.tail()
    assert after.changed_ops == {}, after.changed_ops
