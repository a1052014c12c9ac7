"""Scenario: what a deploy exposes on the network. DHCP HA set up, then a rack removed (its DHCP
duty handed over first): every MAAS API call these make is signed with the admin's key (OAuth
PLAINTEXT: the signature is the token secret), and none of it may cross the lab's network in
clear. PostgreSQL listens only on the address the regions reach it at, and on localhost.

While the deploys run, a packet capture on this machine (every interface of its network
namespace: the lab bridge and each host's veth end) keeps the TCP payloads of every
connection that is not SSH; afterwards they are searched for the token secret. A request the
test sends itself, through HAProxy, with a marker header, proves the capture sees HTTP.
"""

from __future__ import annotations

import secrets
import socket
import struct
import threading
import time

import pytest
import requests

PG, LB, REGIONS, RACKS = "pg1", "lb1", ["region1", "region2"], ["rack1", "rack2"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "snap",
       "MAAS_HA_POSTGRES": PG, "MAAS_HA_REGIONS": ",".join(REGIONS), "MAAS_HA_HAPROXY": LB,
       "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_DHCP_VLAN": "rack1,rack2"}
ETH_P_ALL = 0x0003
SSH_PORT = 22
RECEIVE_BUFFER = 64 * 1024 * 1024
# Linux's values, which Python's socket module does not name
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)  # the kernel's receive time of each frame
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # a buffer above rmem_max (as root)


def _arrival(ancillary) -> float:
    """A frame's kernel receive time (SCM_TIMESTAMP: struct timeval), as time.time() counts."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
            seconds, microseconds = struct.unpack("@ll", data[:struct.calcsize("@ll")])
            return seconds + microseconds / 1e6
    raise AssertionError("a captured frame came without its receive time")


class Capture(threading.Thread):
    """Every frame this network namespace sends or receives (AF_PACKET, all interfaces):
    keeps the payload of each TCP segment between lab addresses that is not SSH."""

    def __init__(self, prefix: str):
        super().__init__(daemon=True)
        self.prefix = prefix  # the lab's network, as the start of a dotted address
        self.payloads: list[bytes] = []
        self.stopped = threading.Event()
        self.stopped_at: float | None = None
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        # Under load (other labs' traffic passes here too) this thread reads late: a roomy
        # buffer keeps the frames meanwhile, and each frame's kernel time says how far it got.
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
        self.sock.settimeout(0.2)

    def run(self):
        """Read until stop(), then on until a frame that arrived after it (or none is queued):
        every frame sent before stop() is read, the test's own last request included."""
        while True:
            try:
                frame, ancillary, _flags, _address = self.sock.recvmsg(65535, 64)
            except (TimeoutError, socket.timeout):
                if self.stopped.is_set():
                    return
                continue
            if self.stopped.is_set() and _arrival(ancillary) > self.stopped_at:
                return
            payload = self._tcp_payload(frame)
            if payload:
                self.payloads.append(payload)

    def _tcp_payload(self, frame: bytes) -> bytes | None:
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":  # IPv4 only: the lab has no IPv6
            return None
        ip = frame[14:]
        header_length, protocol = (ip[0] & 0x0F) * 4, ip[9]
        source, destination = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        if protocol != 6 or not (source.startswith(self.prefix) and destination.startswith(self.prefix)):
            return None
        tcp = ip[header_length:]
        source_port, destination_port = struct.unpack("!HH", tcp[:4])
        if SSH_PORT in (source_port, destination_port):
            return None
        total_length = struct.unpack("!H", ip[2:4])[0]
        return ip[header_length + (tcp[12] >> 4) * 4:total_length]

    def stop(self) -> bytes:
        self.stopped_at = time.time()
        self.stopped.set()
        self.join(120)
        assert not self.is_alive(), "the capture did not catch up with the wire within 120 s"
        self.sock.close()
        return b"\n".join(self.payloads)


@pytest.fixture(scope="module")
def captured(lab):
    lab.ctl("reset", PG, *REGIONS, LB, *RACKS)
    prefix = lab.address(LB).rsplit(".", 1)[0] + "."
    capture = Capture(prefix)
    capture.start()
    marker = secrets.token_hex(16)
    try:
        converge = lab.deploy(ENV, label="wire-converge-with-dhcp-ha")
        removal = lab.deploy(ENV, deploy_file="remove_rack.py", label="wire-remove-rack2",
                             args=["--data", "maas_remove_rack=rack2", "--data", "maas_dhcp_move_to=rack1"])
        requests.get(f"http://{lab.address(LB)}/MAAS/api/2.0/version/", timeout=10,
                     headers={"X-Capture-Marker": marker})
    finally:
        wire = capture.stop()
    return {"converge": converge, "removal": removal, "wire": wire, "marker": marker,
            "key": lab.api_key(REGIONS[0])}


def test_postgresql_listens_on_its_own_address_and_localhost(lab, captured):
    assert captured["converge"].returncode == 0, captured["converge"].tail()
    listen = lab.ssh(PG, "runuser -u postgres -- psql -AtX -c 'SHOW listen_addresses'").strip()
    assert listen == f"{lab.address(PG)},localhost"
    sockets = lab.ssh(PG, "ss -ltnH 'sport = :5432' | awk '{print $4}'").split()
    assert sockets and not {"0.0.0.0:5432", "*:5432", "[::]:5432"} & set(sockets), sockets


def test_dhcp_ha_and_rack_removal_ran(lab, captured):
    assert captured["converge"].returncode == 0, captured["converge"].tail()
    assert "DHCP HA on VLAN" in captured["converge"].output
    assert captured["removal"].returncode == 0, captured["removal"].tail()
    client = lab.client(f"http://{lab.address(LB)}/MAAS/", captured["key"])
    assert "rack2" not in {rack["hostname"] for rack in client.get("rackcontrollers/")}
    vlan = client.get("fabrics/")[0]["vlans"][0]
    assert vlan["dhcp_on"] is True and vlan["secondary_rack"] is None


def test_the_capture_sees_plain_http(captured):
    """The positive control: a plain request through HAProxy is on the wire, marker and all."""
    seen = captured["marker"].encode() in captured["wire"]
    assert seen, "the capture did not see the test's own plain HTTP request"


def test_the_admin_api_key_never_crossed_the_network(captured):
    token_secret = captured["key"].split(":")[2].encode()
    length = len(token_secret)
    assert length >= 16, "the admin has no API key to look for"
    crossed = token_secret in captured["wire"]
    # a failure shows neither the key nor the capture: only a boolean is compared
    assert not crossed, "the admin API key's token secret crossed the lab network in clear"
