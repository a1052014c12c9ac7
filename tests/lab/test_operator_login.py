"""Scenario: the deploy as production runs it, logged in as an operator who is not root.

sshd refuses root, the MAAS commands refuse non-root and the shared secret is 0640, so every
step that needs root (also those that run while the deploy executes: reading the secret,
registering the rack, reading the API key) must go through sudo."""

import shlex
import subprocess

import pytest

import ha_checks

PG, REGION, RACKS = "pg1", "region1", ["rack1", "rack2"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb", "MAAS_HA_REGIONS": REGION,
       "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_HAPROXY": "", "MAAS_HA_DHCP_VLAN": ",".join(RACKS)}


@pytest.fixture(scope="module")
def operator_lab(lab):
    if lab.ssh_user == "root":
        pytest.skip("the lab lets root in (MAAS_HA_LAB_SSH_USER=root)")
    return lab


@pytest.fixture(scope="module")
def converged(operator_lab):
    operator_lab.ctl("reset", PG, REGION, *RACKS)
    result = operator_lab.deploy(ENV, label="operator-login")
    assert result.returncode == 0, result.tail()
    return result


def sudo_log_count(lab, name: str, pattern: str) -> int:
    """How many sudo log lines on a host match `pattern` (the lines themselves may hold
    secrets given on a command line, so they are never read back here)."""
    return int(lab.ssh(name, f"journalctl --no-pager -o cat -t sudo | grep -cF -- {shlex.quote(pattern)} || true"))


def test_root_login_is_refused(operator_lab):
    lab = operator_lab
    result = subprocess.run(
        ["ssh", "-i", lab.spec["ssh_key"], "-o", "StrictHostKeyChecking=no", "-o",
         "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", f"root@{lab.address(REGION)}", "true"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 255 and "Permission denied" in result.stderr, result.stderr
    assert lab.ssh(REGION, "id -un", as_root=False).strip() == lab.ssh_user != "root"


def test_maas_is_as_strict_as_production_for_the_operator(operator_lab, converged):
    lab = operator_lab
    secret = "/var/lib/maas/secret"
    assert lab.stat(REGION, secret) == "maas:maas 640"
    denied = lab.ssh(REGION, f"cat {secret} >/dev/null 2>&1; echo $?", as_root=False)
    assert denied.strip() == "1"
    refused = lab.ssh(REGION, "maas-region apikey --username admin 2>&1 >/dev/null; echo rc=$?", as_root=False)
    assert refused.split() == ["This", "utility", "may", "only", "be", "run", "as", "root.", "rc=1"], refused


def test_deploy_ran_as_the_operator_through_sudo(operator_lab, converged):
    lab = operator_lab
    for name in [REGION, *RACKS]:
        logins = lab.ssh(name, "journalctl --no-pager -o cat _COMM=sshd | grep '^Accepted ' || true")
        assert f"Accepted publickey for {lab.ssh_user} " in logins, logins
        assert "for root " not in logins, logins
    # the steps that run while the deploy executes went through sudo too: the secret read
    # on the region, each rack's registration, the API key read for DHCP HA
    assert sudo_log_count(lab, REGION, "cat /var/lib/maas/secret") >= 1
    assert sudo_log_count(lab, REGION, "apikey --username admin | head -n 1") >= 1
    for rack in RACKS:
        assert sudo_log_count(lab, rack, "maas-rack register") >= 1, rack
    ha_checks.assert_racks_known_everywhere(lab, [REGION], RACKS)
