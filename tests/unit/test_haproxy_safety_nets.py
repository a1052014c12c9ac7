"""HAProxy's safety nets against a throwaway HAProxy on 127.0.0.1 (master-worker, as systemd runs
it), in front of two fake regions (small HTTP servers answering the health check): a config
HAProxy refuses never replaces the live one, a reload HAProxy cannot carry out puts the previous
config back, a config written by a run that stopped before the reload is loaded by the next, and
a region is not drained while no other region is UP and ready."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from local_host import LocalHost, free_port
from operations import haproxy as haproxy_ops
from operations import maas_rolling
from operations.haproxy import render_config
from real_tools import missing, require_program

BACKEND = "maas_regions"


class FakeRegion:
    """Answers `GET /MAAS/api/2.0/version/` with 200 (the health check) until stopped."""

    def __init__(self, name: str):
        self.name = name

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                body = f'{{"version": "3.5.0", "region": "{name}"}}'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Haproxy:
    """A throwaway HAProxy (master-worker `-W` as under systemd, in the foreground `-db`) with
    the config maas-ha renders, its admin socket and config in a temporary directory. Its
    reload is the master's SIGUSR2, what systemd's `reload` sends."""

    def __init__(self, binary: str, workdir: str, regions: list[FakeRegion]):
        self.binary, self.regions = binary, regions
        self.config = os.path.join(workdir, "haproxy.cfg")
        self.socket = os.path.join(workdir, "admin.sock")
        self.port = free_port()
        with open(self.config, "w") as config:
            config.write(self.render())
        self.process = subprocess.Popen([binary, "-W", "-db", "-f", self.config], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.reload = f"kill -USR2 {self.process.pid}"
        self.host = LocalHost("lb1", env={"PATH": f"{os.path.dirname(binary)}:{os.environ['PATH']}"})
        self.wait_for(lambda: self.status() == {"region1": "UP", "region2": "UP"}, "both regions UP")

    def render(self, **kwargs) -> str:
        backends = [{"name": region.name, "address": "127.0.0.1", "port": region.port}
                    for region in self.regions]
        return render_config(backends, frontend_port=self.port, bind_address="127.0.0.1",
                             stats_socket=self.socket, check_inter="100ms", check_fall=1,
                             check_rise=1, **kwargs)

    def admin(self, request: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(self.socket)
            sock.sendall(request.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def status(self) -> dict:
        """Server -> `show stat` status (UP, DOWN, DRAIN, ...), {} while the socket is not there."""
        if not os.path.exists(self.socket):
            return {}
        rows = [line.split(",") for line in self.admin("show stat").splitlines()]
        return {row[1]: row[17] for row in rows if row[0] == BACKEND and row[1].startswith("region")}

    def info(self) -> dict:
        """`show info` of the running worker: {"Pid": ..., "Maxconn": ...}."""
        lines = self.admin("show info").splitlines()
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    def admin_states(self) -> dict:
        """Server -> srv_admin_state (`show servers state`: 0 ready, 8 drain)."""
        rows = [line.split() for line in self.admin(f"show servers state {BACKEND}").splitlines()[2:]]
        return {row[3]: row[6] for row in rows if len(row) > 6}

    def answers(self) -> bool:
        response = requests.get(f"http://127.0.0.1:{self.port}/MAAS/api/2.0/version/", timeout=5)
        return response.status_code == 200

    def wait_for(self, predicate, what: str, timeout: float = 15) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.process.poll() is None, self.process.stderr.read()
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: {self.status()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture()
def lb(tmp_path):
    binary = require_program("haproxy")
    require_program("socat")  # the operations talk to the admin socket through socat
    if os.geteuid() != 0:
        missing("root (the config maas-ha renders chroots and drops to the haproxy user)")
    regions = [FakeRegion("region1"), FakeRegion("region2")]
    proxy = Haproxy(binary, str(tmp_path), regions)
    yield proxy
    proxy.stop()
    for region in regions:
        region.stop()


# A config HAProxy refuses.


def leftovers(lb) -> list[str]:
    directory = os.path.dirname(lb.config)
    return sorted(name for name in os.listdir(directory)
                  if name.startswith("haproxy.cfg.") and name != "haproxy.cfg")


def install(lb, content: str):
    return lb.host.run(haproxy_ops.config, content, path=lb.config)


def load(lb):
    return lb.host.run(haproxy_ops.loaded, path=lb.config, socket=lb.socket, reload=lb.reload, timeout=5)


def test_an_accepted_config_replaces_the_live_one_and_reloads(lb):
    """The positive control: the same commands put a config HAProxy accepts live, and HAProxy
    runs it (a new worker, with the new maxconn)."""
    before, wanted = open(lb.config).read(), lb.render(maxconn=1234)
    worker = lb.info()["Pid"]
    outcome = install(lb, wanted)
    assert outcome.ok, outcome.stderr
    assert open(lb.config).read() == wanted
    backups = [name for name in leftovers(lb) if ".bak-" in name]
    assert len(backups) == 1 and open(os.path.join(os.path.dirname(lb.config), backups[0])).read() == before

    outcome = load(lb)
    assert outcome.ok, outcome.stderr
    info = lb.info()
    assert info["Pid"] != worker and info["Maxconn"] == "1234"
    assert [name for name in leftovers(lb) if ".bak-" not in name] == []  # no marker, no previous copy
    lb.wait_for(lambda: lb.status() == {"region1": "UP", "region2": "UP"}, "both regions UP")
    assert lb.answers()


def test_a_reload_haproxy_cannot_carry_out_puts_the_previous_config_back(lb):
    """`haproxy -c` accepts a frontend on a port another program holds; only the new worker
    finds out, and the old one goes on with the old config while the reload "succeeded"."""
    before, worker, maxconn = open(lb.config).read(), lb.info()["Pid"], lb.info()["Maxconn"]
    taken = lb.regions[0].port  # a fake region listens there
    broken = lb.render(maxconn=1234).replace(f"bind 127.0.0.1:{lb.port}", f"bind 127.0.0.1:{taken}")
    assert broken != lb.render(maxconn=1234)

    assert install(lb, broken).ok  # validated: haproxy -c does not bind
    outcome = load(lb)

    assert not outcome.ok
    assert f"HAProxy on lb1 did not load {lb.config} (no new worker after 5s" in outcome.stderr
    assert "the previous config is back in place and running" in outcome.stderr
    assert open(lb.config).read() == before
    assert [name for name in leftovers(lb) if ".bak-" not in name] == []  # no marker left
    assert lb.process.poll() is None and lb.answers()
    # HAProxy is reloaded onto the previous config: a new worker, with the old maxconn
    lb.wait_for(lambda: lb.info()["Pid"] != worker, "a worker on the previous config")
    assert lb.info()["Maxconn"] == maxconn


def test_a_config_written_by_a_stopped_run_is_loaded_by_the_next(lb):
    """A run stopped after the new file went in, before the reload: the next run finds the file
    right, and still has HAProxy load it."""
    worker = lb.info()["Pid"]
    assert install(lb, lb.render(maxconn=1234)).ok  # ... and the run stops here

    again = install(lb, lb.render(maxconn=1234))
    assert again.ok and again.ran == []  # the file is right
    outcome = load(lb)
    assert outcome.ok, outcome.stderr
    assert lb.info()["Maxconn"] == "1234" and lb.info()["Pid"] != worker
    # and once HAProxy runs it, nothing is due
    assert load(lb).ran == []


def test_a_refused_config_leaves_the_live_one_untouched(lb):
    before = open(lb.config).read()
    broken = lb.render(server_maxconn=128).replace("balance source", "balance nonsense")

    outcome = install(lb, broken)

    assert not outcome.ok
    assert f"haproxy rejected the new config (lb1); {lb.config} is unchanged" in outcome.stderr
    assert "balance only supports" in outcome.stderr  # HAProxy's own reason is shown
    assert open(lb.config).read() == before
    assert leftovers(lb) == []  # neither the rejected file nor a backup is left
    assert load(lb).ran == []  # nothing for HAProxy to load
    assert lb.process.poll() is None and lb.answers()


# The drain of a region during a rolling restart.


def drain(lb, server: str):
    return lb.host.run(maas_rolling.drain_region, server, backend=BACKEND, socket=lb.socket, timeout=5)


def test_drain_goes_ahead_while_another_region_is_up(lb):
    """The positive control: region2 UP and ready, region1 is drained."""
    outcome = drain(lb, "region1")
    assert outcome.ok, outcome.stderr
    assert lb.admin_states() == {"region1": "8", "region2": "0"}
    assert lb.answers()


REFUSED = ("refusing to drain maas_regions/region1 on lb1: no other region is UP and ready in "
           "HAProxy, draining would take the MAAS API down")


def test_drain_refused_when_the_other_region_is_down(lb):
    lb.regions[1].stop()
    lb.wait_for(lambda: lb.status().get("region2") == "DOWN", "region2 DOWN")

    outcome = drain(lb, "region1")

    assert not outcome.ok
    assert REFUSED in outcome.stderr
    assert lb.admin_states()["region1"] == "0"  # still ready
    assert lb.status()["region1"] == "UP" and lb.answers()


def test_drain_refused_when_the_other_region_is_drained(lb):
    assert lb.admin(f"set server {BACKEND}/region2 state drain").strip() == ""
    lb.wait_for(lambda: lb.status().get("region2") == "DRAIN", "region2 in DRAIN")

    outcome = drain(lb, "region1")

    assert not outcome.ok
    assert REFUSED in outcome.stderr
    assert lb.admin_states() == {"region1": "0", "region2": "8"}
    assert lb.answers()
