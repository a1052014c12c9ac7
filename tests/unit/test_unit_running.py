"""Starting a stopped service (operations/maas_services.start_script), run in a shell with a
stub systemctl/journalctl on PATH; and which racks MAAS reports live
(operations/maas_rack_health.rackd_states)."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from operations.maas_rack_health import rackd_states, wait_script
from operations.maas_services import start_script


@pytest.fixture
def shell(tmp_path):
    """Stubs: systemctl answers LoadState from $tmp/load, SubState from $tmp/sub, and logs
    its other calls to $tmp/calls; journalctl prints $tmp/journal."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case "$*" in
          *LoadState*) cat {tmp_path}/load ;;
          *SubState*) cat {tmp_path}/sub ;;
          *) echo "$*" >> {tmp_path}/calls ;;
        esac
        """))
    (bin_dir / "journalctl").write_text(f"#!/bin/sh\ncat {tmp_path}/journal\n")
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    (tmp_path / "load").write_text("loaded\n")
    (tmp_path / "sub").write_text("running\n")
    (tmp_path / "journal").write_text("rackd: starting\nrackd: cannot read /etc/maas/rackd.conf\n")

    def run(enable=False, settle=2):
        script = start_script("rack2", "maas-rackd", enable, settle=settle)
        return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30,
                              env={"PATH": f"{bin_dir}:/usr/bin:/bin"})

    return tmp_path, run


def test_stopped_unit_is_enabled_and_started(shell):
    tmp, run = shell
    result = run(enable=True)
    assert result.returncode == 0, result.stderr
    assert (tmp / "calls").read_text().split("\n")[:2] == ["enable maas-rackd", "start maas-rackd"]


def test_unit_that_does_not_stay_up_fails_with_its_log(shell):
    tmp, run = shell
    (tmp / "sub").write_text("auto-restart\n")
    result = run()
    assert result.returncode == 1
    assert "maas-rackd on rack2 does not stay running (auto-restart)" in result.stderr
    assert "cannot read /etc/maas/rackd.conf" in result.stderr


def test_unit_masked_since_planning_fails_naming_it(shell):
    tmp, run = shell
    (tmp / "load").write_text("masked\n")
    result = run()
    assert result.returncode == 1
    assert "maas-rackd on rack2 is masked and cannot run" in result.stderr
    assert not (tmp / "calls").exists()  # nothing started


def test_rackd_states_as_maas_reports_them():
    controllers = [{"hostname": "rack1", "services": {"rackd": "running", "dhcpd": "running"}},
                   {"hostname": "rack2", "services": {"rackd": "dead"}}]
    assert rackd_states(["rack1", "rack2", "rack3"], controllers) == {
        "rack1": "running", "rack2": "dead", "rack3": "not registered"}
    assert rackd_states(["rack1"], None) == {"rack1": "not registered"}


def test_rack_wait_fails_naming_the_dead_rack_and_its_vlan(tmp_path):
    """The primary's wait (maas_rack_health.wait_script) with a stub `maas` CLI in which MAAS
    shows rack2's rackd dead: after the timeout, the error names rack2, its status and note."""
    listing = ('[{"hostname": "rack1", "service_set": [{"name": "rackd", "status": "running"}]},'
               ' {"hostname": "rack2", "service_set": [{"name": "rackd", "status": "dead"}]}]')
    (tmp_path / "maas").write_text(f"#!/bin/sh\necho '{listing}'\n")
    (tmp_path / "maas").chmod(0o755)
    script = wait_script(["rack1", "rack2"], "maas-ha", str(tmp_path / "maas"), 1,
                         {"rack2": "secondary rack of VLAN fabric-0.0"})
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == ("MAAS does not report rackd running within 1s on: "
                                     "rack2 (rackd dead): secondary rack of VLAN fabric-0.0")


def test_rack_wait_ends_once_every_rack_runs(tmp_path):
    listing = '[{"hostname": "rack1", "service_set": [{"name": "rackd", "status": "running"}]}]'
    (tmp_path / "maas").write_text(f"#!/bin/sh\necho '{listing}'\n")
    (tmp_path / "maas").chmod(0o755)
    result = subprocess.run(["sh", "-c", wait_script(["rack1"], "maas-ha", str(tmp_path / "maas"), 30, {})],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
