"""The MAAS API request made on a region host (operations/_maas_api_on_host.py, as
operations/region_api.py runs it): against a fake region on 127.0.0.1, the key read by its
key command is used there and nowhere else: not in the request sent to the host, not in what
the host prints, not sent on by a redirect or through a proxy from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from operations.maas_api_client import MaasApiError
from operations.region_api import ON_HOST_PROGRAM, RegionApi
from test_maas_api_client import KEY, TS, FakeMaas


@pytest.fixture()
def maas():
    server = FakeMaas()
    yield server
    server.close()


@pytest.fixture()
def other():
    """A second server: where a redirect or a proxy would send the request."""
    server = FakeMaas()
    yield server
    server.close()


class Region:
    """A region host that is this machine: runs the command with its stdin, records both."""

    name = "region1"

    def __init__(self, env=None):
        self.env = {**os.environ, **(env or {})}
        self.sent = []

    def run_shell_command(self, command, **kwargs):
        raw, stdin = command.get_raw_value(), kwargs.get("_stdin", "")
        result = subprocess.run(["/bin/sh", "-c", raw], input=stdin, capture_output=True, text=True,
                                timeout=60, env=self.env)
        self.sent.append((raw, stdin, result.stdout, result.stderr))
        return result.returncode == 0, SimpleNamespace(stdout=result.stdout, stderr=result.stderr,
                                                       stdout_lines=result.stdout.splitlines())


@pytest.fixture(autouse=True)
def as_root_here(monkeypatch):
    monkeypatch.setattr("operations._remote.connection_arguments", lambda state, target: {})


@pytest.fixture()
def key_command(tmp_path):
    """Prints the key as `maas-region apikey` does, from a file: the command holds no key."""
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    return f"cat {key_file}"


def api(region, maas, key_command):
    return RegionApi(None, region, maas.url, key_command, retries=1)


def nothing_holds_the_key(region):
    for raw, stdin, stdout, stderr in region.sent:
        assert TS not in raw and TS not in stdin and TS not in stdout and TS not in stderr


def test_a_request_is_signed_on_the_host_and_answered(maas, key_command):
    maas.routes[("GET", "/MAAS/api/2.0/rackcontrollers/")] = (200, [{"hostname": "rack1"}])
    region = Region()
    assert api(region, maas, key_command).get("rackcontrollers/", hostname="rack1") == [{"hostname": "rack1"}]
    request = maas.requests[-1]
    assert request["query"] == {"hostname": ["rack1"]} and request["auth"].endswith(f'oauth_signature="%26{TS}"')
    nothing_holds_the_key(region)


def test_a_form_is_sent_as_maas_reads_it(maas, key_command):
    maas.routes[("PUT", "/MAAS/api/2.0/fabrics/0/vlans/0/")] = (200, {"dhcp_on": True})
    assert api(Region(), maas, key_command).put("fabrics/0/vlans/0/", {"dhcp_on": True, "secondary_rack": None}) == \
        {"dhcp_on": True}
    assert maas.requests[-1]["form"] == {"dhcp_on": ["true"], "secondary_rack": [""]}


def test_errors_come_back_as_maas_api_errors(maas, key_command):
    maas.routes[("PUT", "/MAAS/api/2.0/fabrics/0/vlans/0/")] = (400, {"primary_rack": ["Select a valid choice."]})
    region = Region()
    with pytest.raises(MaasApiError) as error:
        api(region, maas, key_command).put("fabrics/0/vlans/0/", {"primary_rack": "x"})
    assert error.value.status == 400 and error.value.field_errors == {"primary_rack": ["Select a valid choice."]}
    nothing_holds_the_key(region)


def test_a_redirect_is_not_followed_with_the_key(maas, other, key_command):
    other.routes[("GET", "/MAAS/api/2.0/users/")] = (200, {"username": "admin"})
    redirect = f"{other.url}/api/2.0/users/"
    maas.routes[("GET", "/MAAS/api/2.0/users/")] = (302, "")
    handler = maas.server.RequestHandlerClass  # the 302 gets a Location: the other server
    original = handler.end_headers

    def end_headers(self):
        if self.path.startswith("/MAAS/api/2.0/users/"):
            self.send_header("Location", redirect)
        original(self)

    handler.end_headers = end_headers
    with pytest.raises(MaasApiError) as error:
        api(Region(), maas, key_command).get("users/")
    assert error.value.status == 302
    assert other.requests == []


def test_a_proxy_in_the_environment_is_not_used(maas, other, key_command):
    maas.routes[("GET", "/MAAS/api/2.0/version/")] = (200, {"version": "3.5"})
    region = Region(env={"http_proxy": other.url.rsplit("/MAAS", 1)[0], "no_proxy": ""})
    assert api(region, maas, key_command).get("version/") == {"version": "3.5"}
    assert other.requests == [] and len(maas.requests) == 1


def test_a_key_that_cannot_be_read_is_reported_without_calling(maas):
    region = Region()
    with pytest.raises(MaasApiError) as error:
        api(region, maas, key_command="echo 'maas-region: permission denied' >&2; exit 1").get("version/")
    assert "cannot read the MAAS admin's API key on this host (maas-region: permission denied)" in str(error.value)
    assert "region1" in str(error.value)
    assert maas.requests == []


def test_no_python_on_the_host_is_a_clear_error(maas, key_command):
    region = Region(env={"PATH": "/nonexistent"})
    with pytest.raises(Exception) as error:
        api(region, maas, key_command).get("version/")
    assert "cannot call the MAAS API on region1" in str(error.value)


def test_the_program_needs_only_the_standard_library(maas, key_command):
    """It runs on the region host's own python3: isolated (-I -S: no site-packages, not this
    project), it still makes the request."""
    maas.routes[("GET", "/MAAS/api/2.0/version/")] = (200, {"version": "3.5"})
    request = {"url": f"{maas.url}/api/2.0/version/", "method": "GET", "body": None,
               "key_command": key_command, "timeout": 10, "retries": 1}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", ON_HOST_PROGRAM], input=json.dumps(request),
                            capture_output=True, text=True, timeout=30, cwd="/")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == 200


def certificate(tmp_path, name: str, address: str) -> tuple[str, str]:
    """A self-signed certificate (key file, certificate file) naming `address` only."""
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=IP:{address}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(key), str(cert)


@pytest.fixture()
def tls_maas(maas, tmp_path):
    """The fake region on HTTPS (as with MAAS TLS on), with a certificate that does not name
    the address the request uses (as MAAS's does not name localhost): (region, its chain)."""
    import ssl
    key, cert = certificate(tmp_path, "maas", "10.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    maas.server.socket = context.wrap_socket(maas.server.socket, server_side=True)
    maas.url = maas.url.replace("http://", "https://")
    return maas, cert


def test_over_https_the_certificate_is_checked_against_maas_chain_on_the_host(tls_maas, key_command):
    maas, chain = tls_maas
    maas.routes[("GET", "/MAAS/api/2.0/version/")] = (200, {"version": "3.5"})
    region = Region()
    client = RegionApi(None, region, maas.url, key_command, retries=1, cafiles=["/nonexistent.pem", chain])
    assert client.get("version/") == {"version": "3.5"}
    assert maas.requests[-1]["auth"].endswith(f'oauth_signature="%26{TS}"')
    nothing_holds_the_key(region)


def test_over_https_another_certificate_is_refused_before_the_key_is_sent(tls_maas, key_command, tmp_path):
    maas, _ = tls_maas
    _, stranger = certificate(tmp_path, "stranger", "10.0.0.1")
    with pytest.raises(MaasApiError) as error:
        RegionApi(None, Region(), maas.url, key_command, retries=1, cafiles=[stranger]).get("version/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(error.value)
    assert maas.requests == []
