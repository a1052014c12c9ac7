"""Scenario: bad input and faults. Input errors are refused before any host changes, naming
the host and the setting; faults during the run end in a clear error, and a re-run finishes."""

import re

import pytest

import ha_checks
from labtools import planned_address

ALL = ["pg1", "region1", "region2", "lb1", "rack1", "rack2"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb",
       "MAAS_HA_RACK_REGISTER_TIMEOUT": "20"}


def assert_untouched(lab) -> None:
    ha_checks.assert_untouched(lab, ALL)


def failed_hosts(output: str) -> set[str]:
    """Hosts pyinfra reports an operation error for (its `[host] Error...` lines)."""
    return set(re.findall(r"^\s*\[([^\]]+)\]\s+Error\b", output, re.M))


refused = ha_checks.refused


@pytest.fixture(scope="module")
def bare(lab):
    lab.ctl("reset", *ALL)


def test_malformed_inventory_data_is_refused(lab, bare):
    result = lab.deploy({**ENV, "MAAS_HA_NUM_WORKERS": "0"}, label="refuse-num-workers")
    refused(result, "host region1: setting `maas_num_workers`: must be between 1 and 8, got 0")
    assert_untouched(lab)


def test_invalid_haproxy_setting_is_refused(lab, bare):
    result = lab.deploy(ENV, args=["--data", "maas_haproxy_check_inter=soon"], label="refuse-haproxy")
    refused(result, "setting `maas_haproxy_check_inter`: must be an HAProxy duration")
    assert_untouched(lab)


@pytest.mark.parametrize("setting,value", [
    ("maas_snap_channel", "3.5/stable;touch /tmp/owned"),
    ("maas_haproxy_admin_socket", "/run/haproxy/admin.sock\n    stats socket ipv4@0.0.0.0:9999 level admin"),
    ("maas_url", f"http://{planned_address('lb1')}/MAAS;$(touch /tmp/owned)'\"#"),
])
def test_hostile_values_are_refused_before_any_host_changes(lab, bare, setting, value):
    """Through the real command line (--data reaches every host): refused on the first host
    checked, the database host, and nothing ran anywhere."""
    result = lab.deploy(ENV, args=["--data", f"{setting}={value}"], label=f"refuse-{setting}")
    refused(result, f"host pg1: setting `{setting}`: must be")
    assert_untouched(lab)
    for name in ALL:
        assert lab.ssh(name, "test -e /tmp/owned && echo owned", check=False).strip() == "", name


def test_rack_on_a_vm_host_is_refused(lab, bare):
    lab.ssh("rack1", "mkdir -p /var/lib/libvirt && printf '#!/bin/sh\\n' > /usr/sbin/libvirtd && chmod +x /usr/sbin/libvirtd")
    try:
        result = lab.deploy(ENV, label="refuse-vm-host")
        refused(result, "host rack1: setting `group maas_rack`: libvirt found")
        assert_untouched(lab)
    finally:
        lab.ssh("rack1", "rm -rf /var/lib/libvirt /usr/sbin/libvirtd")


def test_mixed_maas_versions_are_refused(lab, bare):
    lab.ssh("rack2", "echo 'deb [trusted=yes] file:/srv/labrepo/maas ./' > /etc/apt/sources.list.d/maas.list "
                     "&& apt-get update -q >/dev/null && apt-get install -y -q maas-rack-controller=1:3.4.10-0ubuntu1 "
                     "maas-common=1:3.4.10-0ubuntu1 maas-cli=1:3.4.10-0ubuntu1 >/dev/null 2>&1")
    try:
        result = lab.deploy(ENV, label="refuse-mixed-versions")
        refused(result, "host rack2: setting `maas_version`: host runs MAAS 3.4.10")
    finally:
        lab.ctl("reset", "rack2")
    assert_untouched(lab)


def test_wrong_secret_fails_the_rack_clearly(lab, bare):
    env = {**ENV, "MAAS_HA_RACKS": "rack1"}
    first = lab.deploy({**env, "MAAS_HA_RACKS": ""}, label="converge-without-racks")
    assert first.returncode == 0, first.tail()
    good = lab.ssh("region1", "cat /var/lib/maas/secret")
    lab.ssh("region1", "printf '%s' 0123456789abcdef0123456789abcdef > /var/lib/maas/secret")
    try:
        result = lab.deploy(env, label="wrong-secret")
        assert result.returncode != 0
        # the rack fails, and so does the primary's check that MAAS sees every rack running
        assert failed_hosts(result.output) == {"rack1", "region1"}, result.tail(30)
        assert re.search(r"^\s*\[region1\]\s+MAAS does not report rackd running within \d+s on: "
                         r"rack1 \(rackd not registered\)", result.output, re.M), result.tail(30)
        # the failure says what was awaited, for how long, and where the secret came from
        assert re.search(r"^\s*\[rack1\]\s+rack1: rack did not register within 20s with the region at "
                         r"http://\S+(?:, http://\S+)* using the secret from region1:/var/lib/maas/secret "
                         r"\(/var/lib/maas/maas_id never appeared\)", result.output, re.M), result.tail(30)
        assert not lab.ssh("rack1", "cat /var/lib/maas/maas_id 2>/dev/null", check=False).strip()
        assert "FAILED authentication" in lab.ssh("rack1", "journalctl -u maas-rackd --no-pager | tail -n 20")
    finally:
        lab.ssh("region1", f"printf '%s' {good} > /var/lib/maas/secret")
    again = lab.deploy(env, label="right-secret")
    assert again.returncode == 0, again.tail()
    ha_checks.assert_racks_known_everywhere(lab, ["region1", "region2"], ["rack1"])


def test_unreachable_host_mid_run_then_rerun_finishes(lab, bare):
    lab.ctl("reset", "rack1", "rack2")
    cut = {"done": False}

    def cut_rack2(line: str) -> None:
        if not cut["done"] and "Starting operation: Phase: database ready" in line:
            cut["done"] = True
            # every ssh session to rack2 reset: pyinfra loses it in the middle of the run
            lab.reset_ssh_sessions("rack2")

    result = lab.deploy(ENV, label="unreachable-mid-run", on_line=cut_rack2)
    assert cut["done"]
    assert result.returncode != 0
    # rack2 fails, and the primary's check that MAAS sees every rack running names it
    assert failed_hosts(result.output) == {"rack2", "region1"}, result.tail(40)
    assert re.search(r"^\s*\[region1\]\s+MAAS does not report rackd running within \d+s on: rack2 ",
                     result.output, re.M), result.tail(40)
    ha_checks.assert_racks_known_everywhere(lab, ["region1", "region2"], ["rack1"])

    again = lab.deploy(ENV, label="rerun-after-unreachable")
    assert again.returncode == 0, again.tail()
    ha_checks.assert_racks_known_everywhere(lab, ["region1", "region2"], ["rack1", "rack2"])
