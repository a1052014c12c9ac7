"""etcd's authentication for Patroni against a real etcd (Debian's ``etcd-server``, 3.4, the
version the database hosts run): the on-host program of ``patroni.etcd_auth``
(operations/_etcd_auth_on_host.py, fed on stdin as the operation feeds it) and the
``EtcdAuth`` fact's script, each run as the host runs them."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from keyed_fixtures import peer

from facts.keyed_digest import matches
from facts.patroni import EtcdAuth
from operations.patroni import ETCD_AUTH_PROGRAM, etcd_auth_changes
from real_tools import free_port, require_program

PREFIX = "/service/maas/"
ROOT, PATRONI = "r00t: 'pw' $x", "p@tr\"oni #1"


def post(url: str, path: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read().decode() or "{}")
    except urllib.error.HTTPError as error:
        return json.loads(error.read().decode() or "{}")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def etcd(tmp_path):
    """A one-member etcd on free loopback ports; its client URL."""
    program = require_program("etcd")
    client, peer_port = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    process = subprocess.Popen(
        [program, "--name", "t", "--data-dir", str(tmp_path / "data"),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-cluster", f"t=http://127.0.0.1:{peer_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                post(url, "/v3/kv/range", {"key": b64("/")})
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def set_up(url: str, root: str = ROOT, patroni: str = PATRONI) -> tuple[int, dict, str]:
    """The operation's program as the host runs it: the request on stdin only."""
    request = {"url": url, "prefix": PREFIX, "root_password": root, "patroni_password": patroni, "settle": 0}
    result = subprocess.run(["python3", "-c", ETCD_AUTH_PROGRAM], input=json.dumps(request),
                            capture_output=True, text=True, timeout=60)
    return result.returncode, json.loads(result.stdout), result.stdout + result.stderr


def fact(url: str, config) -> dict:
    """The EtcdAuth fact's script, run against this etcd with ``config`` as Patroni's file."""
    command = EtcdAuth().command(peer()).replace("/etc/patroni/config.yml", shlex.quote(str(config)))
    command = command.rsplit(" ", 1)[0] + " " + url.rsplit(":", 1)[1]
    output = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30).stdout
    return EtcdAuth().process(output.splitlines())


def login(url: str, name: str, password: str) -> str | None:
    return post(url, "/v3/auth/authenticate", {"name": name, "password": password}).get("token")


def test_auth_on_patroni_alone_in_its_prefix(etcd, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text("etcd3:\n  hosts: [x]\n")  # the previous version's file: no credentials
    before = fact(etcd, config)
    assert before == {"answered": True, "enabled": False, "patroni_password": None, "patroni_login": None,
                      "error": None}
    assert etcd_auth_changes(before, PATRONI) != []
    # what the previous version left: Patroni's keys, written without credentials
    assert "error" not in post(etcd, "/v3/kv/put", {"key": b64(PREFIX + "leader"), "value": b64("pg1")})

    code, answer, output = set_up(etcd)
    assert code == 0, answer
    assert answer["done"] == ["role patroni added", "user root added", "user patroni added",
                              "authentication enabled"]
    assert ROOT not in output and PATRONI not in output

    # without a token: nothing read, nothing written, no lease revoked
    for path, body in (("/v3/kv/range", {"key": b64(PREFIX + "leader")}),
                       ("/v3/kv/put", {"key": b64(PREFIX + "leader"), "value": b64("x")}),
                       ("/v3/kv/deleterange", {"key": b64(PREFIX + "leader")})):
        assert "user name is empty" in post(etcd, path, body).get("error", ""), path
    token = login(etcd, "patroni", PATRONI)
    assert token
    read = post(etcd, "/v3/kv/range", {"key": b64(PREFIX + "leader")}, token)
    assert base64.b64decode(read["kvs"][0]["value"]) == b"pg1"
    assert "error" not in post(etcd, "/v3/kv/put", {"key": b64(PREFIX + "config"), "value": b64("{}")}, token)
    for key in ("/service/other/leader", "/service/maas", "/elsewhere"):
        denied = post(etcd, "/v3/kv/put", {"key": b64(key), "value": b64("x")}, token)
        assert "permission denied" in denied.get("error", ""), key
    # etcd's health check (facts.patroni.EtcdHealth) needs no credentials
    with urllib.request.urlopen(etcd + "/health", timeout=5) as health:
        assert json.loads(health.read())["health"] == "true"

    config.write_text(f"etcd3:\n  hosts: [x]\n  username: patroni\n  password: {json.dumps(PATRONI)}\n")
    after = fact(etcd, config)
    assert after["enabled"] is True and after["patroni_login"] is True
    assert matches(after["patroni_password"], PATRONI)
    assert etcd_auth_changes(after, PATRONI) == []

    code, answer, _ = set_up(etcd)  # a second run changes nothing
    assert (code, answer) == (0, {"done": []})


def test_password_change_and_wrong_root(etcd):
    assert set_up(etcd)[0] == 0
    old = login(etcd, "patroni", PATRONI)
    code, answer, _ = set_up(etcd, patroni="n3w password")
    assert (code, answer) == (0, {"done": ["user patroni password set"]})
    assert login(etcd, "patroni", PATRONI) is None
    assert login(etcd, "patroni", "n3w password")
    # the old token is no longer taken (Patroni logs in again, with its reloaded password)
    stale = post(etcd, "/v3/kv/range", {"key": b64(PREFIX)}, old)
    assert "error" in stale, stale

    code, answer, output = set_up(etcd, root="not the root password")
    assert code == 1
    assert "root does not log in with maas_etcd_root_password" in answer["error"]
    assert "not the root password" not in output


def member_tag_wait(url: str, timeout: int = 2) -> int:
    """``patroni.etcd_credentials_read``'s program, as the host runs it, for member pg1."""
    from operations.patroni import _MEMBER_TAG_WAIT
    return subprocess.run(["python3", "-c", _MEMBER_TAG_WAIT, url, PREFIX + "members/pg1",
                           "maas_ha_etcd_user", "patroni", str(timeout)],
                          capture_output=True, text=True, timeout=30).returncode


def put_member(url: str, data: dict) -> None:
    assert "error" not in post(url, "/v3/kv/put", {"key": b64(PREFIX + "members/pg1"), "value": b64(json.dumps(data))})


def test_member_tag_wait_needs_the_tag_in_the_member_key(etcd):
    assert member_tag_wait(etcd) == 1  # no member key yet
    put_member(etcd, {"state": "running", "tags": {"nofailover": False}})
    assert member_tag_wait(etcd) == 1  # a Patroni that has not read its credentials
    put_member(etcd, {"state": "running", "tags": {"maas_ha_etcd_user": "patroni"}})
    assert member_tag_wait(etcd) == 0


def test_member_tag_wait_has_nothing_to_wait_for_once_authentication_is_on(etcd):
    put_member(etcd, {"state": "running"})
    code, _answer, output = set_up(etcd)
    assert code == 0, output
    assert member_tag_wait(etcd, timeout=20) == 0  # at once: etcd asks for credentials
