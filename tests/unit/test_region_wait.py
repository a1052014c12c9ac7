"""The rolling restart's wait for a restarted region (operations/maas_rolling.wait_script),
run in a shell with stub python3/journalctl/systemctl on PATH, and the region's units per
version (facts/maas_units.region_units)."""

from __future__ import annotations

import subprocess
import textwrap
import time

import pytest

from facts.maas_units import rack_unit, region_service_units, region_units
from operations.maas_rolling import wait_script

PAUSE = "2026-11-29 17:10:01 maas.regiond: [ERROR] Database error during start-up; pausing for 3 seconds."
CAUSE = ('2026-11-29 17:10:01 maas.regiond: [ERROR] django.db.utils.OperationalError: connection to server '
         'at "10.77.0.10", port 5432 failed: FATAL:  password authentication failed for user "maas"')


def stub(directory, name, body):
    path = directory / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)


@pytest.fixture
def region_host(tmp_path):
    """Stubs: the API never answers; journalctl prints $tmp/journal (only what the region logged
    after the wait began); systemctl reports $tmp/substate."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub(bin_dir, "python3", "exit 1\n")
    stub(bin_dir, "journalctl", f'cat "{tmp_path}/journal" 2>/dev/null; exit 0\n')
    stub(bin_dir, "systemctl", f'cat "{tmp_path}/substate" 2>/dev/null || echo running\n')
    (tmp_path / "journal").write_text("")

    def run(units, timeout=20):
        script = wait_script("region1", "deb", "3.5", units, timeout, "http://localhost:5240/MAAS/")
        started = time.monotonic()
        result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                                env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
        return result, time.monotonic() - started

    return tmp_path, run


def test_start_up_database_error_fails_at_once_naming_host_and_cause(region_host):
    tmp, run = region_host
    (tmp / "journal").write_text((PAUSE + "\n" + CAUSE + "\n") * 2)  # retried; also in regiond.log
    result, seconds = run(["maas-regiond"])
    assert result.returncode == 1
    assert "regiond on region1 cannot use its database after its restart" in result.stderr
    assert result.stderr.count("password authentication failed") == 1  # the cause, once
    assert seconds < 5


def test_failing_unit_fails_at_once(region_host):
    tmp, run = region_host
    (tmp / "substate").write_text("auto-restart\n")
    result, seconds = run(["maas-apiserver", "maas-regiond"])
    assert result.returncode == 1
    assert "maas-apiserver on region1 failed to start after its restart (auto-restart)" in result.stderr
    assert seconds < 5


def test_silent_region_that_does_not_answer_times_out(region_host):
    _, run = region_host
    result, seconds = run(["maas-regiond"], timeout=2)
    assert result.returncode == 1
    assert "the region API on region1 did not answer within 2s" in result.stderr
    assert seconds >= 1  # whole seconds on the host clock


def test_region_units_per_version():
    assert region_units("deb", "3.4") == ["maas-regiond"]
    assert region_units("deb", "3.5") == ["maas-temporal", "maas-temporal-worker", "maas-apiserver", "maas-regiond"]
    assert region_units("deb", "3.6") == region_units("deb", "3.5")
    assert region_units("snap", "3.5") == []
    with pytest.raises(ValueError):
        region_units("tarball", "3.5")


def test_region_service_units_per_flavour():
    assert region_service_units("deb", "3.5") == ["named", "maas-temporal", "maas-temporal-worker",
                                                  "maas-apiserver", "maas-regiond"]
    assert region_service_units("deb", "3.4") == ["named", "maas-regiond"]
    assert region_service_units("snap", "3.5") == ["snap.maas.pebble"]
    assert region_service_units("snap", "3.4") == ["snap.maas.supervisor"]
    assert rack_unit("deb", "3.6") == "maas-rackd"
