"""Scenario: with MAAS TLS on, the deploy still works through MAAS's API and CLI, and a
rolling restart keeps HAProxy's HTTPS port whole.

After `maas-region config-tls enable` in a running HA MAAS with two racks, a run that turns
DHCP HA on must reach the API on the primary region's HTTPS port (its calls, signed with the
admin's key, run on that host and check MAAS's own certificate chain), re-make the regions' CLI
profile on their HTTPS port (the rack-health and DHCP facts read through it), and a run after it
changes nothing. Then a restart of every region in turn, while clients keep calling the API on
HAProxy's HTTPS port (5443, TCP passthrough), fails none of their requests: each region is
out of that backend too while it restarts.

Requests go to the lab's HAProxy only (an address in the lab's network), bounded in count and
time."""

from __future__ import annotations

import json
import shlex
import threading

import requests

from labtools import wait_for
from test_rolling_restart import RequestStream
from test_tls_regions import VERSION, redirects_to_tls, self_signed, servers_up

PG, REGIONS, LB, RACKS = "pg1", ["region1", "region2"], "lb1", ["rack1", "rack2"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACKS": ",".join(RACKS)}
DHCP = {**ENV, "MAAS_HA_DHCP_VLAN": ",".join(RACKS)}
PROFILE = "maas-ha"  # the inventory's maas_cli_profile


def cli(lab, region: str, *words: str):
    """`maas PROFILE WORDS...` on the region, as the deploy's facts run it: its JSON."""
    return json.loads(lab.ssh(region, " ".join(shlex.quote(word) for word in ("maas", PROFILE, *words))))


def profile_urls(lab, region: str) -> dict:
    """{profile: URL} of the region's CLI (the key column is cut off on the host)."""
    return dict(line.split()[:2] for line in lab.ssh(region, "maas list | awk '{print $1, $2}'").splitlines()
                if line.strip())


class HttpsStream(RequestStream):
    """API reads on HAProxy's HTTPS port in two background threads, MAAS's certificate checked,
    each on a new connection: in TCP mode HAProxy can move new connections only (one left open
    across a drain is cut when its region restarts)."""

    KINDS = ("reader 1", "reader 2")

    def __init__(self, lab, ca_file: str):
        super().__init__(lab, key="", max_seconds=400)
        self.url = f"https://{lab.address(LB)}:5443{VERSION}"
        self.ca_file = ca_file
        self._threads = [threading.Thread(target=self._run, args=(kind,), daemon=True) for kind in self.KINDS]

    def _one(self, kind: str, client) -> None:
        response = requests.get(self.url, verify=self.ca_file, timeout=10, headers={"Connection": "close"})
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:100]}")


def test_with_tls_on_api_calls_cli_profiles_and_rolling_restarts_follow(lab, tmp_path):
    lab.ctl("reset", PG, *REGIONS, LB, *RACKS)
    first = lab.deploy(ENV, label="tlsfollow-converge")
    assert first.returncode == 0, first.tail()
    for region in REGIONS:
        assert profile_urls(lab, region)[PROFILE] == "http://localhost:5240/MAAS/api/2.0/"

    key, cert = self_signed([lab.address(name) for name in REGIONS + [LB]])
    ca_file = tmp_path / "maas-ca.pem"
    ca_file.write_text(cert)
    lab.ssh(REGIONS[0], f"umask 077; printf '%s' {shlex.quote(key)} > /root/maas-tls.key; "
                        f"printf '%s' {shlex.quote(cert)} > /root/maas-tls.pem; "
                        "maas-region config-tls enable /root/maas-tls.key /root/maas-tls.pem --yes; "
                        "rm -f /root/maas-tls.key")
    for name in REGIONS:
        wait_for(lambda name=name: redirects_to_tls(lab.address(name)), 60, f"TLS on {name}")

    # DHCP HA through the API on the primary's HTTPS port; the CLI profiles re-made on HTTPS
    dhcp = lab.deploy(DHCP, label="tlsfollow-dhcp")
    assert dhcp.returncode == 0, dhcp.tail(60)
    for region in REGIONS:
        assert profile_urls(lab, region)[PROFILE] == f"https://{lab.address(region)}:5443/MAAS/api/2.0/"
        assert sorted(rack["hostname"] for rack in cli(lab, region, "rack-controllers", "read")) == RACKS
    vlan = cli(lab, REGIONS[0], "fabrics", "read")[0]["vlans"][0]
    names = {rack["system_id"]: rack["hostname"] for rack in cli(lab, REGIONS[0], "rack-controllers", "read")}
    assert (names.get(vlan["primary_rack"]), names.get(vlan["secondary_rack"]), vlan["dhcp_on"]) == \
        (RACKS[0], RACKS[1], True)

    again = lab.deploy(DHCP, label="tlsfollow-rerun")
    assert again.returncode == 0 and again.changed_ops == {}, again.tail(80)

    # every region restarts in turn (a new worker count) under API reads on HAProxy's 5443
    wait_for(lambda: set(servers_up(lab, LB).values()) == {"UP"}, 60, f"every server UP on {LB}")
    with HttpsStream(lab, str(ca_file)) as stream:
        rolling = lab.deploy({**DHCP, "MAAS_HA_NUM_WORKERS": "3"}, label="tlsfollow-rolling-restart")
    assert rolling.returncode == 0, rolling.tail(60)
    drained = [op for ops in rolling.changed_ops.values() for op in ops if "drain in HAProxy maas_regions_tls" in op]
    assert len(drained) == len(REGIONS), rolling.changed_ops
    for region in REGIONS:
        assert lab.read_yaml(region, "/etc/maas/regiond.conf")["num_workers"] == 3
    stream.assert_no_failure(minimum=100)
