"""DHCP HA waits, bounded, until MAAS knows an interface of both racks on the VLAN: MAAS
learns a rack's interfaces at its network refresh, tens of seconds after it registers, and
refuses the VLAN update (400 "Select a valid choice") until then."""

from types import SimpleNamespace

import pytest

from operations import maas_dhcp
from operations._plan_dhcp import VlanError

VLAN = {"id": 5001, "vid": 0, "fabric": "fabric-0", "name": "untagged"}
WANTED = {"primary_rack": "abc123", "secondary_rack": "def456"}


def rack(system_id, hostname, on_vlan):
    vlan = {"id": 5001, "fabric": "fabric-0", "name": "untagged"}
    return {"system_id": system_id, "hostname": hostname,
            "interface_set": [{"name": "eth0", "vlan": vlan}] if on_vlan else []}


class Clock:
    """time.monotonic and gevent.sleep of the wait, without sleeping."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(maas_dhcp.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(maas_dhcp.gevent, "sleep", clock.sleep)
    return clock


def client_answering(*answers):
    """A client whose ``rackcontrollers/`` reads return `answers` in turn (the last one then)."""
    calls = []

    def get(path, **_):
        calls.append(path)
        return answers[min(len(calls) - 1, len(answers) - 1)]
    return SimpleNamespace(get=get, calls=calls)


def host():
    logged = []
    return SimpleNamespace(name="region1", logged=logged, log_styled=lambda message, **_: logged.append(message))


def test_racks_already_on_the_vlan_cost_no_wait(clock):
    client, region = client_answering(), host()
    racks = [rack("abc123", "rack1", True), rack("def456", "rack2", True)]
    assert maas_dhcp.wait_for_racks_on_vlan(region, client, "VLAN fabric-0.0", VLAN, racks, WANTED, 120) == racks
    assert client.calls == [] and clock.now == 0 and region.logged == []


def test_the_wait_ends_when_maas_learns_the_second_rack(clock):
    fresh = [rack("abc123", "rack1", True), rack("def456", "rack2", False)]
    learnt = [rack("abc123", "rack1", True), rack("def456", "rack2", True)]
    client, region = client_answering(fresh, fresh, learnt), host()
    assert maas_dhcp.wait_for_racks_on_vlan(region, client, "VLAN fabric-0.0", VLAN, fresh, WANTED, 120) == learnt
    assert client.calls == ["rackcontrollers/"] * 3
    assert 0 < clock.now < 120
    assert region.logged == ["VLAN fabric-0.0: waiting up to 120s for MAAS to learn the interfaces of rack "
                             "rack2 (def456) on this VLAN (the rack's network refresh)",
                             "VLAN fabric-0.0: MAAS knows the racks on this VLAN after 9s"]  # 3 polls


def test_a_rack_maas_never_sees_on_the_vlan_fails_naming_it_the_vlan_and_the_setting(clock):
    racks = [rack("abc123", "rack1", False), rack("def456", "rack2", True)]
    client, region = client_answering(racks), host()
    with pytest.raises(VlanError) as error:
        maas_dhcp.wait_for_racks_on_vlan(region, client, "VLAN fabric-0.0 (fabric id 0)", VLAN, racks, WANTED, 30)
    message = str(error.value)
    assert message.startswith("VLAN fabric-0.0 (fabric id 0): after 30s (maas_dhcp_rack_interface_timeout) MAAS "
                              "still knows no interface on this VLAN of rack rack1 (abc123; interfaces MAAS "
                              "knows: none yet).")
    assert "rack2" not in message and message.endswith("or raise maas_dhcp_rack_interface_timeout")
    assert 30 <= clock.now < 30 + maas_dhcp.RACK_POLL_SECONDS + 1
