"""Scenario: converged means running. rackd stopped on a DHCP peer is started again by the
next run, MAAS then reports it running, and the run after changes nothing; rackd that cannot
start (its unit masked) fails the run naming the rack, and the VLAN's DHCP HA is as before."""

from __future__ import annotations

import pytest

from labtools import wait_for

PG, REGIONS, LB, RACKS = "pg1", ["region1", "region2"], "lb1", ["rack1", "rack2"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "snap",
       "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_DHCP_VLAN": "rack1,rack2"}
RACKD_UNIT = "snap.maas.pebble"  # the snap's services (3.5+)


def maas_view(lab) -> tuple[dict, dict]:
    """(the untagged VLAN of fabric-0, {rack hostname: rackd status}) as the API reports them."""
    client = lab.client(f"http://{lab.address(LB)}/MAAS/", lab.api_key(REGIONS[0]))
    vlan = client.get("fabrics/")[0]["vlans"][0]
    rackd = {rack["hostname"]: {s["name"]: s["status"] for s in rack.get("service_set") or []}.get("rackd")
             for rack in client.get("rackcontrollers/")}
    return vlan, rackd


def mask(lab, name: str, unit: str) -> None:
    """Stop and mask a unit until `unmask`. The mask goes where it overrides any unit file:
    `systemctl mask --runtime` (/run/systemd/system) does not override the snap's units,
    which snapd writes to /etc/systemd/system."""
    lab.ssh(name, f"systemctl stop {unit} && mkdir -p /run/systemd/system.control && "
                  f"ln -sf /dev/null /run/systemd/system.control/{unit}.service && systemctl daemon-reload && "
                  f"[ \"$(systemctl show -p LoadState --value {unit})\" = masked ]")


def unmask(lab, name: str, unit: str) -> None:
    lab.ssh(name, f"rm -f /run/systemd/system.control/{unit}.service && systemctl daemon-reload && "
                  f"systemctl start {unit}")


def unit_state(lab, rack: str) -> str:
    return lab.ssh(rack, f"systemctl is-active {RACKD_UNIT}", check=False).strip()


@pytest.fixture(scope="module")
def converged(lab):
    lab.ctl("reset", PG, *REGIONS, LB, *RACKS)
    result = lab.deploy(ENV, label="services-converge")
    assert result.returncode == 0, result.tail()
    vlan, rackd = maas_view(lab)
    assert vlan["dhcp_on"] is True
    assert rackd == {"rack1": "running", "rack2": "running"}, rackd  # the run waited for MAAS to agree


def test_stopped_rackd_is_started_and_maas_agrees(lab, converged):
    lab.ssh("rack2", f"systemctl stop {RACKD_UNIT}")
    assert unit_state(lab, "rack2") == "inactive"
    result = lab.deploy(ENV, label="services-rackd-stopped")
    assert result.returncode == 0, result.tail()
    assert unit_state(lab, "rack2") == "active"
    assert "rack2" in result.changed_hosts, result.changed_ops  # shows as a change
    _, rackd = maas_view(lab)
    assert rackd["rack2"] == "running", rackd  # no waiting here: the run waited for it

    again = lab.deploy(ENV, label="services-second-run")
    assert again.returncode == 0, again.tail()
    assert again.changed_hosts == {}, again.changed_ops


def test_masked_rackd_fails_the_run_naming_the_rack(lab, converged):
    vlan_before, _ = maas_view(lab)
    mask(lab, "rack2", RACKD_UNIT)
    try:
        result = lab.deploy(ENV, label="services-rackd-masked")
        assert result.returncode != 0, result.tail()
        assert f"rack2: {RACKD_UNIT} is masked and cannot run" in result.output, result.tail(40)
        vlan_after, _ = maas_view(lab)
        assert vlan_after == vlan_before
        assert unit_state(lab, "rack2") != "active"
    finally:
        unmask(lab, "rack2", RACKD_UNIT)
    wait_for(lambda: maas_view(lab)[1].get("rack2") == "running", 60, "rack2's rackd running in MAAS")


@pytest.mark.parametrize("unit", ["named", "maas-regiond"])
def test_masked_region_unit_fails_the_run_naming_it(lab, converged, unit):
    """bind9 or regiond masked on region2: refused before anything runs, naming host and unit."""
    mask(lab, "region2", unit)
    try:
        result = lab.deploy(ENV, label=f"services-{unit}-masked")
        assert result.returncode != 0, result.tail()
        assert f"region2: {unit} is masked and cannot run" in result.output, result.tail(40)
        assert result.changed_hosts == {}, result.changed_ops
    finally:
        unmask(lab, "region2", unit)
    again = lab.deploy(ENV, label=f"services-{unit}-unmasked")
    assert again.returncode == 0, again.tail()
