"""Scenario: hosts as stock Ubuntu leaves them. MAAS's packages are not in the hosts' apt
sources until the deploy adds them (the lab's MAAS repository, through maas_package_mirror);
every host carries the lxd-installer stub, and a deb rack gets virsh with
maas-rack-controller. Such racks are accepted; a real VM host (libvirt's daemon) and a MAAS
version without a build for the host's series are refused before any host changes."""

import pytest

import ha_checks

PG, REGION, RACK, VM_HOST = "pg1", "region1", "rack1", "rack2"
ALL = [PG, REGION, RACK, VM_HOST]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb", "MAAS_HA_REGIONS": REGION,
       "MAAS_HA_RACKS": RACK, "MAAS_HA_HAPROXY": "", "MAAS_HA_RACK_REGISTER_TIMEOUT": "30"}
MAAS_SOURCE = "/etc/apt/sources.list.d/maas.list"
NOBLE = ('PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
         'VERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=noble\n')


@pytest.fixture(scope="module")
def bare(lab):
    lab.ctl("reset", *ALL)


def test_hosts_look_like_stock_ubuntu(lab, bare):
    for name in ALL:
        assert lab.ssh(name, ". /etc/os-release && echo $ID $VERSION_CODENAME").split() == ["ubuntu", "jammy"]
        assert lab.ssh(name, "test -x /usr/sbin/lxd && echo stub").strip() == "stub"
        assert lab.ssh(name, "apt-cache policy maas-region-api maas-rack-controller | grep -c Candidate",
                       check=False).strip() in ("", "0")


def test_a_libvirt_daemon_host_is_refused(lab, bare):
    lab.ssh(VM_HOST, "DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends "
                     "libvirt-daemon-system >/dev/null 2>&1", timeout=300)
    try:
        result = lab.deploy({**ENV, "MAAS_HA_RACKS": f"{RACK},{VM_HOST}"}, label="refuse-libvirt-daemon")
        ha_checks.refused(result, f"host {VM_HOST}: setting `group maas_rack`: libvirt found (a libvirt daemon")
        ha_checks.assert_untouched(lab, [PG, REGION, RACK])
    finally:
        lab.ctl("reset", VM_HOST)


def test_a_version_without_a_build_for_the_series_is_refused(lab, bare):
    lab.ssh(RACK, f"printf '{NOBLE}' > /etc/os-release")
    try:
        result = lab.deploy(ENV, label="refuse-series")
        ha_checks.refused(result, f"host {RACK}: setting `maas_version`: MAAS 3.5 deb packages are built for "
                        "Ubuntu jammy only, but this host runs ubuntu noble")
        ha_checks.assert_untouched(lab, [PG, REGION, RACK])
    finally:
        lab.ctl("reset", RACK)


@pytest.fixture(scope="module")
def converged(lab, bare):
    lab.ctl("reset", *ALL)
    result = lab.deploy(ENV, label="converge-stock-deb-rack")
    assert result.returncode == 0, result.tail()
    return result


def test_a_deb_rack_with_virsh_and_the_lxd_stub_converges(lab, converged):
    assert lab.ssh(RACK, "test -x /usr/bin/virsh && test -x /usr/sbin/lxd && echo both").strip() == "both"
    ha_checks.assert_racks_known_everywhere(lab, [REGION], [RACK])
    ha_checks.assert_rackd_lists_every_region(lab, [RACK], [REGION], "deb")


def test_maas_comes_from_the_mirror_setting(lab, converged):
    for name in (REGION, RACK):
        assert lab.ssh(name, f"cat {MAAS_SOURCE}").strip() == "deb [trusted=yes] file:/srv/labrepo/maas ./"
        origin = lab.ssh(name, "apt-cache policy maas-common | grep -A1 '^ \\*\\*\\*' | tail -n 1")
        assert "file:/srv/labrepo/maas ./" in origin, (name, origin)
    assert "ppa:maas" not in converged.output


def test_second_run_on_a_deb_rack_changes_nothing(lab, converged):
    again = lab.deploy(ENV, label="second-run-stock-deb-rack")
    assert again.returncode == 0, again.tail()
    assert again.changed_ops == {}, again.tail(80)
