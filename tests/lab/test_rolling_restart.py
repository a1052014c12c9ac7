"""Scenario: zero-downtime changes. A `num_workers` change restarts the regions one at a time
behind HAProxy while API requests keep flowing through it, and none fails; an HAProxy reload
drops no request; a region that fails its restart stops the rollout there, the regions after
it keep their old config and stay in service.

Requests go to the lab's HAProxy only (an address in the lab's network), bounded in count
and time."""

from __future__ import annotations

import ipaddress
import threading
import time

import pytest
import requests

from labtools import wait_for

REGIONS, LB, PG = ["region1", "region2"], "lb1", "pg1"
# No racks: they are not part of a region restart. PostgreSQL's max_connections has room for
# every region at 8 workers, so no worker count restarts it during the rollout.
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACKS": "", "MAAS_HA_NUM_WORKERS": "3"}
SOCKET = "/run/haproxy/admin.sock"
BROKEN_DROPIN = "/etc/systemd/system/maas-regiond.service.d/zz-lab-broken-db.conf"


class RequestStream:
    """Steady API requests through HAProxy in background threads, bounded in count and time:
    anonymous `version/` on a new connection each time, and an authenticated `whoami` on one
    keep-alive session (it reads the database). `address`: where the API is asked, the lab's
    HAProxy unless given (the floating address, for one)."""

    def __init__(self, lab, key: str, max_requests: int = 6000, max_seconds: float = 300,
                 interval: float = 0.05, address: str | None = None):
        address = address or lab.address(LB)
        self.base = f"http://{address}/MAAS/"
        assert ipaddress.ip_address(address) in ipaddress.ip_network(lab.spec["network"]), self.base
        self.key, self.max_requests, self.max_seconds, self.interval = key, max_requests, max_seconds, interval
        self.sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(kind,), daemon=True)
                         for kind in ("anonymous", "authenticated")]

    def _one(self, kind: str, client) -> None:
        if kind == "anonymous":
            response = requests.get(self.base + "api/2.0/version/", timeout=10,
                                    headers={"Connection": "close"})
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:100]}")
        else:
            assert client.get("users/", op="whoami")["username"] == "admin"

    def _run(self, kind: str) -> None:
        client = None
        if kind == "authenticated":
            from operations.maas_api_client import MaasClient
            client = MaasClient(self.base, self.key, timeout=10, retries=1)  # no retries
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
            with self._lock:
                if self.sent >= self.max_requests:
                    return
                self.sent += 1
            try:
                self._one(kind, client)
            except Exception as error:  # noqa: BLE001 - every failure counts
                with self._lock:
                    self.failures.append(f"{time.strftime('%H:%M:%S')} {kind}: {type(error).__name__}: {error}"[:300])
            time.sleep(self.interval)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        time.sleep(1)
        return self

    def __exit__(self, *exc):
        time.sleep(1)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def assert_no_failure(self, minimum: int) -> None:
        assert self.sent >= minimum, f"only {self.sent} requests sent"
        assert self.failures == [], f"{len(self.failures)} of {self.sent} requests failed: {self.failures[:5]}"


def haproxy_status(lab) -> dict[str, str]:
    """Server -> `show stat` status (UP, DOWN, DRAIN, MAINT, ...) in the regions' backend."""
    out = lab.ssh(LB, f"echo 'show stat' | socat stdio UNIX-CONNECT:{SOCKET}")
    rows = [line.split(",") for line in out.splitlines() if line.startswith("maas_regions,")]
    return {row[1]: row[17] for row in rows if row[1] in REGIONS}


def regiond_pid(lab, region: str) -> str:
    return lab.ssh(region, "systemctl show -p MainPID --value maas-regiond").strip()


# MAAS 3.5+ (the lab's default): each reads regiond.conf's database settings at start
REGION_UNITS = ["maas-regiond", "maas-apiserver", "maas-temporal", "maas-temporal-worker"]


def unit_pids(lab, region: str) -> dict[str, str]:
    out = lab.ssh(region, "for u in " + " ".join(REGION_UNITS) + "; do systemctl show -p MainPID --value $u; done")
    return dict(zip(REGION_UNITS, out.split()))


def num_workers(lab, region: str):
    return lab.read_yaml(region, "/etc/maas/regiond.conf").get("num_workers")


def all_up(lab) -> bool:
    return haproxy_status(lab) == {name: "UP" for name in REGIONS}


def admin_states(lab) -> dict[str, str]:
    """Server -> admin state number on HAProxy's socket (`show servers state`: 0 ready, 8 drain)."""
    out = lab.ssh(LB, f"echo 'show servers state maas_regions' | socat stdio UNIX-CONNECT:{SOCKET}")
    rows = [line.split() for line in out.splitlines()[2:]]
    return {row[3]: row[6] for row in rows if len(row) > 6 and row[3] in REGIONS}


def changed_matching(result, part: str) -> list[str]:
    """`host: operation` for every changed operation whose name contains `part`."""
    return [f"{name}: {op}" for name, ops in result.changed_ops.items() for op in ops if part in (op or "")]


class ApiKey(str):
    """The admin's API key; shown masked when pytest reports a failing test's arguments."""

    def __repr__(self) -> str:
        return "<API key>"


def op_index(output: str, name: str) -> int:
    """Position of the first `Starting operation` line whose name contains `name`."""
    for index, line in enumerate(output.splitlines()):
        if line.startswith("--> Starting operation:") and name in line:
            return index
    raise AssertionError(f"operation {name!r} not in the output")


@pytest.fixture(scope="module")
def converged(lab):
    lab.ctl("reset", PG, *REGIONS, LB)
    result = lab.deploy(ENV, label="rolling-converge")
    assert result.returncode == 0, result.tail()
    wait_for(lambda: all_up(lab), 30, "both regions UP in HAProxy")
    return ApiKey(lab.api_key(REGIONS[0]))


def test_admin_socket_is_root_only(lab, converged):
    cfg = lab.ssh(LB, "grep -E '^\\s*stats socket' /etc/haproxy/haproxy.cfg")
    assert f"stats socket {SOCKET} mode 600 user root group root level admin" in cfg, cfg
    # also after the reloads of the first deploy, which inherit the package's first socket
    assert lab.stat(LB, SOCKET) == "root:root 600"


def test_num_workers_change_rolls_one_region_at_a_time(lab, converged):
    pids = {name: unit_pids(lab, name) for name in REGIONS}
    with RequestStream(lab, converged) as stream:
        result = lab.deploy({**ENV, "MAAS_HA_NUM_WORKERS": "2"}, label="rolling-num-workers")
    assert result.returncode == 0, result.tail()
    stream.assert_no_failure(minimum=100)

    for name in REGIONS:
        assert num_workers(lab, name) == 2, name
        now = unit_pids(lab, name)
        for unit in REGION_UNITS:  # every unit that reads regiond.conf, not only maas-regiond
            assert now[unit] not in ("0", pids[name][unit]), f"{unit} on {name} was not restarted"
    assert all_up(lab), haproxy_status(lab)

    # drain -> restart -> API answers -> back in HAProxy, region1 before region2 starts
    steps = [op_index(result.output, step) for step in (
        "region1: drain in HAProxy", "region1: regiond.conf (", "region1: restart maas-regiond",
        "region1: wait for the region API", "region1: back into HAProxy",
        "region2: drain in HAProxy", "region2: regiond.conf (", "region2: restart maas-regiond",
        "region2: wait for the region API", "region2: back into HAProxy")]
    assert steps == sorted(steps), steps
    assert not result.changed_ops.get(PG), result.changed_ops  # PostgreSQL untouched

    again = lab.deploy({**ENV, "MAAS_HA_NUM_WORKERS": "2"}, label="rolling-second-run")
    assert again.returncode == 0, again.tail()
    assert again.changed_hosts == {}, again.changed_ops


def test_haproxy_reload_drops_no_request(lab, converged):
    master = lab.ssh(LB, "systemctl show -p MainPID --value haproxy").strip()
    with RequestStream(lab, converged, max_seconds=60) as stream:
        for _ in range(3):
            lab.ssh(LB, "systemctl reload haproxy")
            time.sleep(2)
    stream.assert_no_failure(minimum=50)
    assert lab.ssh(LB, "systemctl show -p MainPID --value haproxy").strip() == master, "haproxy was restarted"


def test_failed_restart_stops_the_rollout(lab, converged):
    """region1's regiond cannot reach its database once restarted: as a real region, it does
    not exit but retries for ever with its unit active. The rollout notices it from the log
    within seconds (not after the region API timeout), the error names region1 and the cause;
    region2 keeps 2 workers, keeps running and stays UP in HAProxy."""
    assert [num_workers(lab, name) for name in REGIONS] == [2, 2]
    region2_pid = regiond_pid(lab, "region2")
    # The restarted process reads a copy of regiond.conf with a wrong database password; the
    # deploy's own view of /etc/maas/regiond.conf is unchanged.
    lab.ssh("region1", "sed 's/^database_pass: .*/database_pass: wrong-password/' /etc/maas/regiond.conf "
                       "> /etc/maas/regiond-broken.conf && chown root:maas /etc/maas/regiond-broken.conf && "
                       "chmod 640 /etc/maas/regiond-broken.conf && mkdir -p $(dirname " + BROKEN_DROPIN + ") && "
                       "printf '[Service]\\nEnvironment=MAAS_REGION_CONFIG=/etc/maas/regiond-broken.conf\\n' > "
                       + BROKEN_DROPIN + " && systemctl daemon-reload")
    seen: dict[str, float] = {}

    def clock(line: str) -> None:
        if "Starting operation" in line and "region1: wait for the region API" in line:
            seen.setdefault("wait", time.monotonic())
        if "regiond on region1 cannot use its database" in line:
            seen.setdefault("failed", time.monotonic())

    try:
        with RequestStream(lab, converged) as stream:
            result = lab.deploy({**ENV, "MAAS_HA_NUM_WORKERS": "3"}, label="rolling-broken-region1",
                                on_line=clock)
            states_after, admin_after = haproxy_status(lab), admin_states(lab)
        assert result.returncode != 0, result.tail()
        assert "regiond on region1 cannot use its database after its restart" in result.output, result.tail(40)
        assert "password authentication failed" in result.output, result.tail(40)  # the cause
        assert "wait" in seen and "failed" in seen, (seen, result.tail(40))
        # the region API timeout is 120 s; the start-up error shows in the log within seconds
        assert seen["failed"] - seen["wait"] < 30, seen
        # as a real region: still retrying, its unit active
        assert lab.ssh("region1", "systemctl is-active maas-regiond", check=False).strip() == "active"
        assert "rolling restart stopped after region1 failed: region2 is not restarted" in result.output
        # region1 was drained (the parser sees it), region2 was not: neither by the run's
        # operations nor on HAProxy's socket
        assert changed_matching(result, "region1: drain in HAProxy") != [], result.changed_ops
        assert changed_matching(result, "region2: drain in HAProxy") == [], result.changed_ops
        assert admin_after["region2"] == "0", admin_after  # ready
        stream.assert_no_failure(minimum=100)

        assert num_workers(lab, "region1") == 3
        assert num_workers(lab, "region2") == 2, "region2 got the new config after region1 failed"
        assert regiond_pid(lab, "region2") == region2_pid, "region2 was restarted"
        assert states_after["region2"] == "UP", states_after
        assert states_after["region1"] != "UP", states_after  # drained (and down)
    finally:
        lab.ssh("region1", f"rm -f {BROKEN_DROPIN} /etc/maas/regiond-broken.conf && systemctl daemon-reload")

    # A re-run finishes the rollout: region1 (back with its repaired unit, or restarted if it
    # does not answer) is put back into HAProxy, then region2 gets the new config.
    again = lab.deploy({**ENV, "MAAS_HA_NUM_WORKERS": "3"}, label="rolling-after-fix")
    assert again.returncode == 0, again.tail()
    assert [num_workers(lab, name) for name in REGIONS] == [3, 3]
    wait_for(lambda: all_up(lab), 30, "both regions UP in HAProxy")
    assert admin_states(lab) == {name: "0" for name in REGIONS}  # admin state: ready
