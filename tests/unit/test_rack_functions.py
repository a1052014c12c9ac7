"""The execution-time halves of ``maas_rack.register`` and ``maas_rack.deregister``, driven
with fake hosts (shell commands answered by the test) and, for deletion, the fake region of
test_maas_api_client.py on 127.0.0.1, called from the key host (its commands run here)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from operations import _remote, maas_rack
from operations.maas_rack import deregister_rack, register_rack
from test_maas_api_client import KEY, TS, maas, region_running_here  # noqa: F401 - `maas` is a fixture

SECRET = "5ecre7c0ffee5ecre7c0ffee5ecre7c0"
URLS = ["http://10.77.0.11:5240/MAAS", "http://10.77.0.12:5240/MAAS"]


class FakeHost:
    """A connected host whose shell commands are answered by ``answer(command) -> (ok, out,
    err)``; records every command (raw, secrets included) and every log line."""

    def __init__(self, name, answer):
        self.name, self.answer = name, answer
        self.connected = True
        self.commands, self.logs, self.stdins = [], [], []

    def run_shell_command(self, command, **kwargs):
        # the secret and the key are never printed: neither the command nor its output
        assert kwargs.get("print_output") is False and kwargs.get("print_input") is False
        # run with the host's connection arguments (an operator logs in as non-root + sudo)
        assert kwargs.get("_sudo") is True, kwargs
        raw = command.get_raw_value()
        self.commands.append(raw)
        self.stdins.append(kwargs.get("_stdin"))
        ok, out, err = self.answer(raw)
        return ok, SimpleNamespace(stdout=out, stdout_lines=out.splitlines(), stderr=err)

    def log_styled(self, message, **kwargs):
        self.logs.append(message)


def state_with(*hosts):
    by_name = {host.name: host for host in hosts}
    return SimpleNamespace(inventory=SimpleNamespace(
        get_host=lambda name, default=None: by_name.get(name, default)))


def region(secret=SECRET):
    return FakeHost("region1", lambda command: (True, secret + "\n", "") if command.startswith("cat ")
                    else (False, "", f"unexpected command {command}"))


class Rack(FakeHost):
    """A rack whose ``maas_id`` shows after ``appears_after`` reads (never when None)."""

    def __init__(self, appears_after=0, register_ok=True, name="rack1"):
        self.reads = 0
        self.appears_after, self.register_ok = appears_after, register_ok
        super().__init__(name, self._answer)

    def _answer(self, command):
        if command.startswith(("maas-rack register", "rm -f")):
            return (True, "", "") if self.register_ok else (False, "", "cannot reach the region")
        if command.startswith("cat "):
            self.reads += 1
            shows = self.appears_after is not None and self.reads > self.appears_after
            return True, "fkc7a3\n" if shows else "", ""
        if command.startswith(("journalctl", "tail")):
            return True, "rackd: FAILED authentication with the region\n", ""
        return False, "", f"unexpected command {command}"


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(maas_rack, "POLL_SECONDS", 0.05)


@pytest.fixture(autouse=True)
def sudo_login(monkeypatch):
    """Every host logs in as an operator with sudo, as in production."""
    monkeypatch.setattr(_remote, "connection_arguments", lambda state, target: {"_sudo": True})


def register(rack, source=None, flavour="deb", wait_seconds=5, version="3.5", **kwargs):
    source = source or region()
    return register_rack(state_with(source, rack), rack, flavour, URLS, "region1",
                         "/var/lib/maas/secret", version, wait_seconds=wait_seconds, **kwargs)


def test_deb_registers_with_every_url_and_waits_for_maas_id():
    rack, source = Rack(appears_after=3), region()
    assert register(rack, source) is True
    assert source.commands == ["cat /var/lib/maas/secret"]
    # the secret answers the command's prompt on stdin, never on its command line
    assert rack.commands[0] == f"maas-rack register --url {URLS[0]} --url {URLS[1]}"
    assert rack.stdins[0] == f"{SECRET}\n"
    assert rack.commands[1:] == ["cat /var/lib/maas/maas_id 2>/dev/null || true"] * 4
    assert rack.logs == ["registered as rack controller fkc7a3"]


def test_snap_registers_with_the_first_url_after_removing_maas_id():
    rack = Rack()
    assert register(rack, flavour="snap") is True
    assert rack.commands[0] == ("rm -f /var/snap/maas/common/maas/maas_id && /snap/bin/maas init "
                                f"rack --maas-url {URLS[0]} --force")
    assert rack.stdins[0] == f"{SECRET}\n"
    assert rack.commands[1] == "cat /var/snap/maas/common/maas/maas_id 2>/dev/null || true"


def test_maas_id_never_showing_fails_after_the_wait_with_rackd_logs():
    rack = Rack(appears_after=None)
    started = time.monotonic()
    assert register(rack, wait_seconds=1) is False
    assert time.monotonic() - started >= 1  # it waited the whole time...
    assert rack.reads >= 5  # ...reading maas_id again and again
    assert rack.commands[-1] == "journalctl -u maas-rackd -n 5 --no-pager -o cat"
    message = rack.logs[-1]
    assert message.startswith("rack1: rack did not register within 1s with the region at "
                              f"{URLS[0]}, {URLS[1]} using the secret from region1:/var/lib/maas/secret "
                              "(/var/lib/maas/maas_id never appeared)")
    assert message.endswith("rackd: FAILED authentication with the region\n")
    assert SECRET not in message


@pytest.mark.parametrize("version,reads", [
    # supervisord sends rackd's output to a file, nothing to the journal
    ("3.4", "tail -n 5 /var/snap/maas/common/log/rackd.log"),
    # pebble runs every service in one unit; systemd-cat's identifier tells rackd's lines
    ("3.5", "journalctl -t maas-rackd -n 5 --no-pager -o cat"),
    ("3.6", "journalctl -t maas-rackd -n 5 --no-pager -o cat"),
])
def test_a_snap_rack_that_does_not_register_shows_rackd_log_of_its_version(version, reads):
    rack = Rack(appears_after=None)
    assert register(rack, flavour="snap", wait_seconds=0, version=version) is False
    assert rack.commands[-1] == reads
    assert rack.logs[-1].endswith("rackd: FAILED authentication with the region\n")


def test_failing_register_command_names_the_region_and_the_error():
    rack = Rack(register_ok=False)
    assert register(rack) is False
    assert rack.reads == 0
    assert rack.logs == [f"rack1: rack registration command failed (region {URLS[0]}, {URLS[1]}, "
                         "secret from region1:/var/lib/maas/secret): cannot reach the region"]


@pytest.mark.parametrize("source,reason", [
    (region(secret=""), "cannot read the MAAS shared secret from region1:/var/lib/maas/secret"),
    (FakeHost("region9", lambda command: (True, SECRET, "")), "secret host region1 is not in the inventory"),
])
def test_no_secret_no_register(source, reason):
    rack = Rack()
    assert register(rack, source) is False
    assert rack.commands == []
    assert rack.logs == [f"rack1: rack registration failed: {reason}"]


def test_the_secret_is_read_once_for_every_rack():
    source, racks = region(), [Rack(name="rack1"), Rack(name="rack2")]
    state = state_with(source, *racks)
    for rack in racks:
        assert register_rack(state, rack, "deb", URLS, "region1", "/var/lib/maas/secret", "3.5") is True
    assert source.commands == ["cat /var/lib/maas/secret"]


# Deletion, through the fake region.

RACKS = [{"system_id": "fkc7a3", "hostname": "rack1"}, {"system_id": "b7qwe3", "hostname": "rack10"}]


@pytest.fixture()
def key_host(tmp_path):
    return region_running_here(tmp_path)


def deregister(maas, racks, source, force=False):  # noqa: F811 - `maas` is the fake region
    maas.routes[("GET", "/MAAS/api/2.0/rackcontrollers/")] = (200, racks)
    for rack in racks:
        maas.routes[("DELETE", f"/MAAS/api/2.0/rackcontrollers/{rack['system_id']}/")] = (204, "")
    host = FakeHost("rack1", lambda command: (False, "", "the rack runs nothing"))
    ok = deregister_rack(state_with(source, host), host, maas.url, "region1", "admin", "rack1",
                         force=force, key_flavour="deb")
    return ok, host


def deletes(maas):
    return [(request["path"], request["query"]) for request in maas.requests
            if request["method"] == "DELETE"]


def test_deletes_only_the_rack_of_that_hostname(maas, key_host):  # noqa: F811
    ok, host = deregister(maas, RACKS, key_host)
    assert ok is True
    assert len(key_host.commands) == len(maas.requests) == 2  # each call made on the key host
    assert host.commands == []  # everything goes through the API
    listing = maas.requests[0]
    assert (listing["method"], listing["query"]) == ("GET", {"hostname": ["rack1"]})
    assert deletes(maas) == [("/MAAS/api/2.0/rackcontrollers/fkc7a3/", {})]
    assert host.logs == ["deleted rack controller rack1 (fkc7a3)"]


def test_force_is_passed_to_the_delete(maas, key_host):  # noqa: F811
    ok, _ = deregister(maas, RACKS, key_host, force=True)
    assert ok is True
    assert deletes(maas) == [("/MAAS/api/2.0/rackcontrollers/fkc7a3/", {"force": ["true"]})]


def test_a_rack_the_region_does_not_know_is_not_an_error(maas, key_host):  # noqa: F811
    ok, host = deregister(maas, RACKS[1:], key_host)
    assert ok is True
    assert deletes(maas) == []
    assert host.logs == ["rack rack1 is not known to the MAAS of region1; nothing to delete"]


def test_a_refused_delete_fails_naming_the_rack_and_the_reason(maas, key_host):  # noqa: F811
    maas.routes[("GET", "/MAAS/api/2.0/rackcontrollers/")] = (200, RACKS)
    reason = "Unable to delete 'rack1'; it is currently set as a primary rack controller on VLANs"
    maas.routes[("DELETE", "/MAAS/api/2.0/rackcontrollers/fkc7a3/")] = (400, reason)
    host = FakeHost("rack1", lambda command: (False, "", ""))
    ok = deregister_rack(state_with(key_host, host), host, maas.url, "region1", "admin", "rack1",
                         key_flavour="deb")
    assert ok is False
    message = host.logs[-1]
    assert message.startswith("rack1: cannot delete rack rack1 from the MAAS of region1: MAAS API DELETE "
                              "rackcontrollers/fkc7a3/ returned HTTP 400")
    assert reason in message
    assert all(part not in message for part in KEY.split(":")) and TS not in message


def test_no_api_key_no_request(maas, tmp_path):  # noqa: F811
    source = region_running_here(tmp_path, "echo 'maas-region: no such user: admin' >&2; exit 1")
    ok, host = deregister(maas, RACKS, source)
    assert ok is False
    assert maas.requests == []
    assert host.logs == ["rack1: cannot delete rack rack1 from the MAAS of region1: MAAS API GET "
                         "rackcontrollers/: on region1: cannot read the MAAS admin's API key on this "
                         "host (maas-region: no such user: admin)"]
