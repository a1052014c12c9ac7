"""The lab's slots (lab/lib/slot.py): up to four labs on one machine, each owning names and
addresses no other slot's listings match. Slot 0 is the original lab, name for name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.lib import hosts, slot

REPO = Path(__file__).resolve().parents[2]
ALL_HOST_NAMES = [*hosts.FIXED_HOSTS, *("rack%d" % n for n in range(1, hosts.MAX_RACKS + 1))]


def test_slot_0_is_the_original_lab():
    zero = slot.for_number(0)
    assert (zero.bridge, zero.network, zero.gateway) == ("mhlab0", "10.77.0.0/24", "10.77.0.1")
    assert (zero.ns_prefix, zero.veth_prefix) == ("mhlab-", "mhv-")
    assert zero.state_dir == "/var/lib/maas-ha-lab"
    assert zero.session_lock == "/run/lock/maas-ha-lab.session"
    assert (zero.rule_table, zero.ipt_comment) == ("7707", "maas-ha-lab")


@pytest.mark.parametrize("number", [1, 2, 3])
def test_slot_n_names_carry_its_number(number):
    s = slot.for_number(number)
    assert s.bridge == f"mhlab{number}"
    assert s.network == f"10.77.{number}.0/24"
    assert s.gateway == f"10.77.{number}.1"
    assert s.address(101) == f"10.77.{number}.101"
    assert (s.ns_prefix, s.veth_prefix) == (f"mhl{number}-", f"mv{number}-")
    assert s.state_dir == f"/var/lib/maas-ha-lab-{number}"
    assert s.session_lock == f"/run/lock/maas-ha-lab-{number}.session"
    assert s.rule_table == str(7707 + number)
    assert s.ipt_comment == f"maas-ha-lab-{number}"


@pytest.mark.parametrize("number", list(slot.SLOTS))
def test_every_interface_name_fits_the_kernel_limit(number):
    s = slot.for_number(number)
    too_long = [s.veth_prefix + name for name in ALL_HOST_NAMES
                if len(s.veth_prefix + name) > slot.IFNAMSIZ]
    assert not too_long
    assert len(s.bridge) <= slot.IFNAMSIZ
    # the longest names are there: the limit is checked where it bites
    assert {"b-region1", "rack100"} <= set(ALL_HOST_NAMES)


def test_no_slot_lists_another_slots_names_as_its_own():
    """Teardown finds a slot's namespaces, machines and veths by prefix: no name of one slot
    may start with another slot's prefix."""
    for mine in slot.SLOTS:
        for other in slot.SLOTS:
            if mine == other:
                continue
            a, b = slot.for_number(mine), slot.for_number(other)
            for name in ALL_HOST_NAMES:
                assert not (b.ns_prefix + name).startswith(a.ns_prefix), (mine, other, name)
                assert not (b.veth_prefix + name).startswith(a.veth_prefix), (mine, other, name)
            assert a.bridge != b.bridge and a.rule_table != b.rule_table
            assert a.ipt_comment != b.ipt_comment and a.state_dir != b.state_dir


@pytest.mark.parametrize("value,number", [(None, 0), ("", 0), ("0", 0), ("2", 2), (" 3 ", 3)])
def test_current_slot_from_the_environment(value, number):
    environ = {} if value is None else {slot.SLOT_ENV: value}
    assert slot.current(environ).number == number


@pytest.mark.parametrize("value", ["4", "-1", "one", "1.0"])
def test_a_bad_slot_is_refused_naming_the_variable(value):
    with pytest.raises(ValueError, match=r"MAAS_HA_LAB_SLOT must be one of 0, 1, 2, 3"):
        slot.current({slot.SLOT_ENV: value})


def test_state_dir_follows_the_slot_unless_named_outright():
    assert slot.state_dir({slot.SLOT_ENV: "2"}) == "/var/lib/maas-ha-lab-2"
    assert slot.state_dir({}) == "/var/lib/maas-ha-lab"
    assert slot.state_dir({slot.SLOT_ENV: "2", "MAAS_HA_LAB_DIR": "/tmp/x"}) == "/tmp/x"
    assert slot.state_dir({slot.SLOT_ENV: "2", "MHLAB_STATE_DIR": "/tmp/y",
                           "MAAS_HA_LAB_DIR": "/tmp/x"}) == "/tmp/y"


def _library_names(number):
    """What the lab library derives in a process started with MAAS_HA_LAB_SLOT=number."""
    code = """if True:
        import json
        from lab.lib import common, hosts, net
        print(json.dumps({
            "bridge": net.BRIDGE, "network": net.NETWORK, "gateway": net.GATEWAY,
            "table": net.RULE_TABLE, "prio": net.RULE_PRIO, "comment": net.IPT_COMMENT,
            "state": common.STATE_DIR, "machine": hosts.machine_name("b-region1"),
            "netns": net.ns_name("rack100"), "veth": net.veth_name("b-region1"),
            "rack100": hosts.host_info("rack100")["address"],
            "hosts_json": hosts.hosts_json(["pg1"])["hosts"]["pg1"]["address"]}))
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAAS_HA_LAB_DIR", "MHLAB_STATE_DIR")}
    env.update(MAAS_HA_LAB_SLOT=str(number), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def test_the_library_derives_every_name_from_the_slot():
    assert _library_names(0) == {
        "bridge": "mhlab0", "network": "10.77.0.0/24", "gateway": "10.77.0.1",
        "table": "7707", "prio": "7707", "comment": "maas-ha-lab",
        "state": "/var/lib/maas-ha-lab", "machine": "mhlab-b-region1",
        "netns": "mhlab-rack100", "veth": "mhv-b-region1", "rack100": "10.77.0.200",
        "hosts_json": "10.77.0.10"}
    assert _library_names(2) == {
        "bridge": "mhlab2", "network": "10.77.2.0/24", "gateway": "10.77.2.1",
        "table": "7709", "prio": "7709", "comment": "maas-ha-lab-2",
        "state": "/var/lib/maas-ha-lab-2", "machine": "mhl2-b-region1",
        "netns": "mhl2-rack100", "veth": "mv2-b-region1", "rack100": "10.77.2.200",
        "hosts_json": "10.77.2.10"}


def test_a_bad_slot_stops_labctl_with_one_line():
    env = dict(os.environ, MAAS_HA_LAB_SLOT="7")
    result = subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "status"],
                            env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip() == "labctl: MAAS_HA_LAB_SLOT must be one of 0, 1, 2, 3 (got '7')"


def test_the_policy_rule_of_one_slot_is_not_anothers(monkeypatch):
    """`down` deletes the slot's rule while it is listed: another slot's table number that
    merely contains this one's must not count."""
    from lab.lib import net

    class Listing:
        stdout = ("0:\tfrom all lookup local\n"
                  "77070:\tfrom all iif other lookup 77070\n"
                  "7708:\tfrom all iif mhlab1 lookup 7708\n")

    monkeypatch.setattr(net, "run", lambda *args, **kwargs: Listing)
    monkeypatch.setattr(net, "RULE_TABLE", "7707")
    assert not net._our_rule_present()
    monkeypatch.setattr(net, "RULE_TABLE", "7708")
    assert net._our_rule_present()
