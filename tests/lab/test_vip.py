"""Scenario: two load balancers share the API's floating address (keepalived). The API answers
on it; when HAProxy stops on the holder, or the holder's host dies, the other load balancer
takes the address and the API answers again within seconds; the host that comes back does
not take the address back, and a deploy then changes nothing. Last, the operator unsets the
address: keepalived is retired on both load balancers, no host keeps the address, and the API
answers on the first load balancer's own address, which the regions now advertise."""

import json

import pytest

import ha_checks
import outage
from vip_checks import holders, one_holder, standing_by

REGIONS, LBS = ["region1", "region2"], ["lb1", "lb2"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACKS": "", "MAAS_HA_HAPROXY": ",".join(LBS)}
WITHOUT_VIP = {**ENV, "MAAS_HA_API_VIP": ""}  # both load balancers, each on its own address
KEEPALIVED_FILES = ["/etc/keepalived/keepalived.conf", "/etc/keepalived/maas-ha-haproxy-serves"]
GAP_BOUND = 15  # seconds: the test's bound; the target (5 s) is the benchmark's to report


def version_url(lab) -> str:
    return f"http://{lab.api_vip}/MAAS/api/2.0/version/"


def record(lab, name: str, measured: outage.Outage) -> dict:
    """Keep the measurement as a test artefact, and show it in the test's output."""
    summary = measured.summary()
    lab.artefacts.mkdir(parents=True, exist_ok=True)
    (lab.artefacts / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{name}: {summary}")
    return summary


def assert_no_change(lab, label: str, env: dict = ENV) -> None:
    result = lab.deploy(env, label=label)
    assert result.returncode == 0, result.tail()
    assert result.changed_hosts == {}, result.changed_ops


@pytest.fixture(scope="module")
def converged(lab):
    lab.ctl("reset", "pg1", *REGIONS, *LBS)
    result = lab.deploy(ENV, label="converge-with-vip")
    assert result.returncode == 0, result.tail()
    return result


def test_the_api_answers_on_the_floating_address(lab, converged):
    one_holder(lab, LBS)
    version = lab.anonymous_get(version_url(lab))
    assert version["version"].startswith("3.5"), version
    ha_checks.assert_api_answers(lab, REGIONS, LBS)  # and on each load balancer's own address
    for region in REGIONS:  # the regions advertise the floating address
        conf = lab.read_yaml(region, ha_checks.regiond_conf_path("deb"))
        assert conf["maas_url"] == f"http://{lab.api_vip}/MAAS", (region, conf)
    for lb in LBS:
        assert lab.ssh(lb, "systemctl is-active keepalived").strip() == "active"
    assert_no_change(lab, "vip-second-run")


def test_the_ad_hoc_question_names_the_holder(lab, converged):
    holder = one_holder(lab, LBS)
    result = lab.deploy(ENV, deploy_file="fact", args=("facts.keepalived.ApiVip",), label="fact-api-vip",
                        verbosity="-v")
    assert result.returncode == 0, result.tail()
    block = result.output.split("--> Fact data for: facts.keepalived.ApiVip", 1)[1]
    found = json.loads(block[:block.index("\n--> ")])
    assert set(found) >= set(LBS), result.output[-2000:]
    assert {lb: found[lb]["holds"] for lb in LBS} == {lb: lb == holder for lb in LBS}
    assert all(found[lb]["vip"] == lab.api_vip for lb in LBS)


def test_the_address_moves_when_haproxy_stops_on_its_holder(lab, converged):
    holder = one_holder(lab, LBS)
    other = next(lb for lb in LBS if lb != holder)
    measured = outage.measure(version_url(lab), lambda: lab.ssh(holder, "systemctl stop haproxy"))
    summary = record(lab, "vip-haproxy-stopped", measured)
    assert measured.recovered, summary
    assert measured.gap_seconds < GAP_BOUND, summary
    assert holders(lab, LBS) == [other]
    lab.ssh(holder, "systemctl start haproxy")
    # back in service, the old holder stands by: the address stays where it is
    standing_by(lab, holder)
    assert holders(lab, LBS) == [other]
    assert_no_change(lab, "vip-after-haproxy-back")


def test_the_address_moves_when_its_host_dies_and_the_host_rejoins(lab, converged):
    holder = one_holder(lab, LBS)
    other = next(lb for lb in LBS if lb != holder)
    try:
        measured = outage.measure(version_url(lab), lambda: lab.stop_hosts(holder))
        summary = record(lab, "vip-host-stopped", measured)
        assert measured.recovered, summary
        assert measured.gap_seconds < GAP_BOUND, summary
        assert holders(lab, [other]) == [other]
    finally:
        lab.start_hosts(holder)
    standing_by(lab, holder)
    assert holders(lab, LBS) == [other]  # the host that came back does not take the address back
    assert_no_change(lab, "vip-after-host-back")


def test_unsetting_the_address_retires_keepalived_and_releases_it(lab, converged):
    one_holder(lab, LBS)  # the address is up before
    result = lab.deploy(WITHOUT_VIP, label="vip-unset")
    assert result.returncode == 0, result.tail()
    assert holders(lab, ["pg1", *REGIONS, *LBS]) == []  # no host keeps the address
    assert set(result.changed_hosts) >= set(LBS), result.changed_ops
    for lb in LBS:
        assert lab.ssh(lb, "systemctl is-active keepalived", check=False).strip() == "inactive"
        assert lab.ssh(lb, "systemctl is-enabled keepalived", check=False).strip() == "disabled"
        for path in KEEPALIVED_FILES:  # moved aside, kept as a backup
            assert lab.ssh(lb, f"test -e {path} && echo present || echo gone").strip() == "gone", (lb, path)
            assert lab.ssh(lb, f"ls {path}.bak-* | wc -l").strip() != "0", (lb, path)
    ha_checks.assert_api_answers(lab, REGIONS, LBS)  # on each load balancer's own address
    for region in REGIONS:  # the regions advertise the first load balancer's own address
        conf = lab.read_yaml(region, ha_checks.regiond_conf_path("deb"))
        assert conf["maas_url"] == f"http://{lab.address(LBS[0])}/MAAS", (region, conf)
    assert_no_change(lab, "vip-unset-second-run", WITHOUT_VIP)
