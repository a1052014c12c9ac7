"""Scenario: MAAS TLS turned on in a running HA MAAS (`maas-region config-tls enable`, for every
region at once). nginx on 5240 then answers the API with 301 to https://<host>:5443/..., and
keeps serving in plain HTTP only what machines and racks need. A later run (here with a new
worker count, so each region restarts in turn) must still find each region's API after its
restart, and HAProxy must check the regions on their HTTPS port (verified against MAAS's
certificate) and pass HTTPS through. The first run after TLS is turned on restarts nothing."""

import datetime
import ipaddress
import shlex

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labtools import wait_for

PG, REGIONS, LBS = "pg1", ["region1", "region2"], ["lb1"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACKS": ""}
VERSION = "/MAAS/api/2.0/version/"


def self_signed(addresses: list[str]) -> tuple[str, str]:
    """A lab certificate (test equipment) naming these addresses: (key PEM, certificate PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maas-ha lab")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def redirects_to_tls(address: str, port: int = 5240) -> bool:
    response = requests.get(f"http://{address}:{port}{VERSION}", allow_redirects=False, timeout=5)
    return response.status_code == 301 and response.headers["Location"] == f"https://{address}:5443{VERSION}"


def servers_up(lab, lb: str) -> dict:
    """HAProxy's view: {(backend, server): status} from its admin socket."""
    stats = lab.ssh(lb, "echo 'show stat' | socat stdio /run/haproxy/admin.sock")
    rows = [line.split(",") for line in stats.splitlines() if line and not line.startswith("#")]
    return {(row[0], row[1]): row[17] for row in rows if row[1] not in ("FRONTEND", "BACKEND")}


def test_tls_regions_keep_working_through_restarts_and_haproxy(lab, tmp_path):
    lab.ctl("reset", PG, *REGIONS, *LBS)
    first = lab.deploy(ENV, label="tls-converge")
    assert first.returncode == 0, first.tail()

    key, cert = self_signed([lab.address(name) for name in REGIONS + LBS])
    ca_file = tmp_path / "maas-ca.pem"
    ca_file.write_text(cert)
    lab.ssh(REGIONS[0], f"umask 077; printf '%s' {shlex.quote(key)} > /root/maas-tls.key; "
                        f"printf '%s' {shlex.quote(cert)} > /root/maas-tls.pem; "
                        "maas-region config-tls enable /root/maas-tls.key /root/maas-tls.pem --yes")
    for name in REGIONS:
        wait_for(lambda name=name: redirects_to_tls(lab.address(name)), 60, f"TLS on {name}")
    # what racks and machines need stays plain HTTP
    assert requests.get(f"http://{lab.address(REGIONS[0])}:5240/MAAS/rpc/", timeout=5).status_code == 200

    # the next run: the regions still count as answering (nothing to restart), HAProxy follows;
    # on the regions only the CLI profile changes (made again on HTTPS)
    follow = lab.deploy(ENV, label="tls-follow")
    assert follow.returncode == 0, follow.tail(40)
    for name in REGIONS:
        assert follow.changed_ops.get(name) == ["MAAS region access | maas CLI profile for queries"], \
            follow.changed_ops
    # a change that restarts each region in turn, behind HAProxy, under TLS
    again = lab.deploy({**ENV, "MAAS_HA_NUM_WORKERS": "3"}, label="tls-rolling-restart")
    assert again.returncode == 0, again.tail(40)
    for name in REGIONS:
        assert lab.read_yaml(name, "/etc/maas/regiond.conf")["num_workers"] == 3

    for lb in LBS:
        address = lab.address(lb)
        wait_for(lambda lb=lb: set(servers_up(lab, lb).values()) == {"UP"}, 30, f"every server UP on {lb}")
        assert {backend for backend, _ in servers_up(lab, lb)} == {"maas_regions", "maas_regions_tls"}
        # HTTPS through HAProxy reaches a region, with MAAS's certificate
        version = requests.get(f"https://{address}:5443{VERSION}", verify=str(ca_file), timeout=10).json()
        assert version["version"].startswith("3.5"), version
        # plain HTTP through HAProxy: the regions' redirect, to HAProxy's own HTTPS port
        assert redirects_to_tls(address, port=80)

    third = lab.deploy(ENV | {"MAAS_HA_NUM_WORKERS": "3"}, label="tls-rerun")
    assert third.returncode == 0, third.tail(40)
    assert not any(third.changed_hosts.get(name) for name in REGIONS + LBS), third.changed_ops
