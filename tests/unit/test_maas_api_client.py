"""MaasClient against a local HTTP server on 127.0.0.1: the OAuth PLAINTEXT header, request
encoding, error mapping, retries, and that the API key never leaks into repr/exceptions.
Also drives the DHCP HA execution-time function through the same fake region."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from operations import maas_api_client
from operations.maas_api_client import MaasApiError, MaasClient, api_root

KEY = "CKconsumer18chars:TKtoken18charsxx:TSsecretsecretsecretsecret1234"
CK, TK, TS = KEY.split(":")

HEADER_RE = re.compile(
    r'^OAuth oauth_nonce="(\d+)", oauth_timestamp="(\d+)", oauth_version="1\.0", '
    r'oauth_signature_method="PLAINTEXT", oauth_consumer_key="([^"]+)", '
    r'oauth_token="([^"]+)", oauth_signature="([^"]+)"$',
)


class FakeMaas:
    """Minimal region: records requests, answers from a route table."""

    def __init__(self):
        self.requests = []
        self.routes = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                split = urlsplit(self.path)
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": split.path,
                        "query": parse_qs(split.query),
                        "form": parse_qs(body, keep_blank_values=True),
                        "auth": self.headers.get("Authorization", ""),
                    },
                )
                status, payload = fake.routes.get(
                    (self.command, split.path), (404, "No such thing")
                )
                if callable(payload):
                    payload = payload(fake.requests[-1])
                if isinstance(payload, (dict, list)):
                    data, ctype = json.dumps(payload).encode(), "application/json; charset=utf-8"
                else:
                    data, ctype = (payload or "").encode(), "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/MAAS"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def maas():
    server = FakeMaas()
    yield server
    server.close()


def test_api_root_normalisation():
    assert api_root("http://h:5240/MAAS") == "http://h:5240/MAAS/api/2.0/"
    assert api_root("http://h:5240/MAAS/") == "http://h:5240/MAAS/api/2.0/"
    assert api_root("http://h:5240/MAAS/api/2.0") == "http://h:5240/MAAS/api/2.0/"


def test_header_shape_and_get(maas):
    maas.routes[("GET", "/MAAS/api/2.0/users/")] = (200, {"username": "admin"})
    client = MaasClient(maas.url, KEY)
    assert client.get("users/", op="whoami") == {"username": "admin"}

    request = maas.requests[-1]
    assert request["query"] == {"op": ["whoami"]}
    match = HEADER_RE.match(request["auth"])
    assert match, request["auth"]
    nonce, timestamp, consumer, token, signature = match.groups()
    assert nonce.endswith(timestamp) and len(nonce) > len(timestamp)
    assert consumer == CK and token == TK
    assert signature == "%26" + TS


def test_nonce_changes_between_requests(maas):
    maas.routes[("GET", "/MAAS/api/2.0/version/")] = (200, {"version": "3.5.13"})
    client = MaasClient(maas.url, KEY)
    client.get("version")
    client.get("version/")
    nonces = {HEADER_RE.match(r["auth"]).group(1) for r in maas.requests}
    assert len(nonces) == 2
    assert all(r["path"] == "/MAAS/api/2.0/version/" for r in maas.requests)


def test_put_form_encoding_and_bools(maas):
    maas.routes[("PUT", "/MAAS/api/2.0/fabrics/0/vlans/0/")] = (200, {"dhcp_on": True})
    client = MaasClient(maas.url, KEY)
    assert client.put("fabrics/0/vlans/0/", {"primary_rack": "fcka3t", "dhcp_on": True}) == {
        "dhcp_on": True
    }
    assert maas.requests[-1]["form"] == {"primary_rack": ["fcka3t"], "dhcp_on": ["true"]}


def test_delete_204_and_params(maas):
    maas.routes[("DELETE", "/MAAS/api/2.0/rackcontrollers/fcka3t/")] = (204, "")
    client = MaasClient(maas.url, KEY)
    assert client.delete("rackcontrollers/fcka3t/", force="true") is None
    assert maas.requests[-1]["query"] == {"force": ["true"]}


def test_validation_error_maps_fields(maas):
    body = {"primary_rack": ["Select a valid choice. x is not one of the available choices."]}
    maas.routes[("PUT", "/MAAS/api/2.0/fabrics/0/vlans/0/")] = (400, body)
    client = MaasClient(maas.url, KEY)
    with pytest.raises(MaasApiError) as info:
        client.put("fabrics/0/vlans/0/", {"primary_rack": "x"})
    error = info.value
    assert error.status == 400 and error.method == "PUT" and error.path == "fabrics/0/vlans/0/"
    assert error.field_errors == body
    assert "HTTP 400" in str(error) and "Select a valid choice" in str(error)


def test_plain_text_errors(maas):
    maas.routes[("GET", "/MAAS/api/2.0/subnets/")] = (401, "Authorization Error: Invalid API key.")
    client = MaasClient(maas.url, KEY)
    with pytest.raises(MaasApiError) as info:
        client.get("subnets/")
    assert info.value.status == 401
    assert info.value.field_errors == {}
    assert "Invalid API key" in str(info.value)
    with pytest.raises(MaasApiError) as info:
        client.get("nowhere/")
    assert info.value.status == 404


def test_key_never_leaks(maas):
    client = MaasClient(maas.url, KEY)
    assert TS not in repr(client) and TK not in repr(client) and CK not in repr(client)
    maas.routes[("GET", "/MAAS/api/2.0/x/")] = (500, "boom")
    with pytest.raises(MaasApiError) as info:
        client.get("x/")
    for part in (CK, TK, TS):
        assert part not in str(info.value) and part not in repr(info.value)
    with pytest.raises(ValueError) as bad:
        MaasClient(maas.url, "only:two")
    assert "only:two" not in str(bad.value)


class DroppingServer:
    """Accepts TCP connections on 127.0.0.1 and closes each one unanswered (the client sees a
    connection error), counting them: how many attempts the client really made."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.connections += 1
            conn.recv(65536)
            conn.close()

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self.thread.join(timeout=5)


def test_connection_errors_retry_then_fail(monkeypatch):
    monkeypatch.setattr(maas_api_client, "RETRY_DELAY", 0.01)
    server = DroppingServer()
    try:
        client = MaasClient(f"http://127.0.0.1:{server.port}/MAAS", KEY, timeout=(1, 1), retries=3)
        with pytest.raises(MaasApiError) as info:
            client.get("version/")
    finally:
        server.close()
    assert server.connections == 3  # counted on the wire, not taken from the setting
    assert info.value.status is None
    assert "after 3 attempts" in str(info.value)
    assert TS not in str(info.value)


# DHCP HA execution-time function, through the fake region.


@pytest.fixture(autouse=True)
def operator_login(monkeypatch):
    """The region host is reached as an operator with sudo (its connection arguments)."""
    monkeypatch.setattr("operations._remote.connection_arguments", lambda state, target: {"_sudo": True})


class FakeHost:
    """The region host, here: the API request program runs on this machine (to the fake
    region on 127.0.0.1), with a `maas-region` that prints the key."""

    name = "region1"
    connected = True

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.commands = []
        self.logs = []

    def run_shell_command(self, command, **kwargs):
        assert kwargs.get("print_output") is False and kwargs.get("print_input") is False
        assert kwargs.get("_sudo") is True  # the API key is read as root
        raw = command.get_raw_value()
        self.commands.append(raw)
        assert TS not in raw and TS not in kwargs.get("_stdin", "")  # the key stays on the host
        result = subprocess.run(["sh", "-c", raw], input=kwargs.get("_stdin"), capture_output=True,
                                text=True, timeout=60,
                                env={**os.environ, "PATH": f"{self.bin_dir}:{os.environ['PATH']}"})
        return result.returncode == 0, SimpleNamespace(stdout=result.stdout, stderr=result.stderr,
                                                       stdout_lines=result.stdout.splitlines())

    def log_styled(self, message, **kwargs):
        self.logs.append(message)


def region_running_here(bin_dir, maas_region_script=f"echo {KEY}") -> FakeHost:
    """The region host, with a `maas-region` running ``maas_region_script`` in ``bin_dir``."""
    maas_region = bin_dir / "maas-region"
    maas_region.write_text(f"#!/bin/sh\n{maas_region_script}\n")
    maas_region.chmod(0o755)
    return FakeHost(str(bin_dir))


@pytest.fixture()
def region_host(tmp_path):
    return region_running_here(tmp_path)


def _region(maas, vlan, ranges):
    vlan_obj = dict({"id": 5001, "vid": 0, "fabric": "fabric-0", "fabric_id": 0}, **vlan)
    maas.routes[("GET", "/MAAS/api/2.0/fabrics/")] = (
        200,
        [{"id": 0, "name": "fabric-0", "vlans": [vlan_obj]}],
    )
    maas.routes[("GET", "/MAAS/api/2.0/rackcontrollers/")] = (
        200,
        [{"system_id": sysid, "hostname": name, "interface_set": [{"name": "eth0", "vlan": vlan_obj}]}
         for sysid, name in (("fcka3t", "rack1"), ("b7qwe3", "rack2"))],
    )
    maas.routes[("GET", "/MAAS/api/2.0/ipranges/")] = (200, ranges)
    maas.routes[("GET", "/MAAS/api/2.0/subnets/")] = (
        200,
        [{"id": 1, "cidr": "10.77.0.0/24", "vlan": {"id": 5001}}],
    )
    maas.routes[("POST", "/MAAS/api/2.0/ipranges/")] = (200, {"id": 3})
    maas.routes[("PUT", "/MAAS/api/2.0/fabrics/0/vlans/0/")] = (
        200,
        lambda req: dict(vlan_obj, **{k: v[0] for k, v in req["form"].items()}),
    )


def _apply(maas, host, **kwargs):
    from operations.maas_dhcp import apply_vlan_dhcp_ha

    args = dict(
        api_url=maas.url,
        admin_username="admin",
        key_flavour="deb",
        fabric="fabric-0",
        vid=0,
        primary_rack="rack1",
        secondary_rack="rack2",
        dynamic_range={"start_ip": "10.77.0.200", "end_ip": "10.77.0.250"},
    )
    args.update(kwargs)
    return apply_vlan_dhcp_ha(None, host, **args)


def _api_requests(host):
    assert all(command.startswith("python3 -c ") for command in host.commands), host.commands
    return len(host.commands)


def test_dhcp_ha_creates_range_and_sets_racks(maas, region_host):
    _region(maas, {"primary_rack": None, "secondary_rack": None, "dhcp_on": False}, [])
    host = region_host
    assert _apply(maas, host) is True
    assert _api_requests(host) == len(maas.requests)
    assert all(HEADER_RE.match(r["auth"]).group(5) == "%26" + TS for r in maas.requests)
    post = [r for r in maas.requests if r["method"] == "POST"]
    assert post[0]["form"] == {
        "type": ["dynamic"],
        "start_ip": ["10.77.0.200"],
        "end_ip": ["10.77.0.250"],
        "subnet": ["1"],
    }
    puts = [r for r in maas.requests if r["method"] == "PUT"]
    assert len(puts) == 1
    assert puts[0]["form"] == {
        "primary_rack": ["fcka3t"],
        "secondary_rack": ["b7qwe3"],
        "dhcp_on": ["true"],
    }


def test_dhcp_ha_swap_sets_primary_first(maas, region_host):
    range_obj = {
        "type": "dynamic",
        "start_ip": "10.77.0.200",
        "end_ip": "10.77.0.250",
        "subnet": {"vlan": {"id": 5001}},
    }
    _region(maas, {"primary_rack": "b7qwe3", "secondary_rack": "fcka3t", "dhcp_on": True}, [range_obj])
    host = region_host
    assert _apply(maas, host) is True
    puts = [r["form"] for r in maas.requests if r["method"] == "PUT"]
    assert puts[0] == {"primary_rack": ["fcka3t"]}
    assert [r for r in maas.requests if r["method"] == "POST"] == []


def test_dhcp_ha_validation_error_names_vlan_and_field(maas, region_host):
    _region(maas, {"primary_rack": None, "secondary_rack": None, "dhcp_on": False}, [])
    maas.routes[("PUT", "/MAAS/api/2.0/fabrics/0/vlans/0/")] = (
        400,
        {"dhcp_on": ["dhcp can only be turned on when a dynamic IP range is defined."]},
    )
    host = region_host
    assert _apply(maas, host) is False
    message = host.logs[-1]
    assert "region1" in message and "VLAN fabric-0.0" in message
    assert "dhcp_on: dhcp can only be turned on" in message
    assert TS not in message


def test_dhcp_ha_unknown_rack(maas, region_host):
    _region(maas, {"primary_rack": None, "secondary_rack": None, "dhcp_on": False}, [])
    host = region_host
    assert _apply(maas, host, secondary_rack="rack9") is False
    assert "secondary_rack rack9 is not a rack controller" in host.logs[-1]


def test_dhcp_ha_without_secondary_clears_it(maas, region_host):
    range_obj = {"type": "dynamic", "start_ip": "10.77.0.200", "end_ip": "10.77.0.250",
                 "subnet": {"vlan": {"id": 5001}}}  # fmt: skip
    _region(maas, {"primary_rack": "b7qwe3", "secondary_rack": "fcka3t", "dhcp_on": True}, [range_obj])
    host = region_host
    assert _apply(maas, host, secondary_rack=None, dynamic_range=None) is True
    puts = [r["form"] for r in maas.requests if r["method"] == "PUT"]
    assert puts == [{"primary_rack": ["fcka3t"], "secondary_rack": [""]}]
