"""Scenario: a snap rack that cannot register fails with rackd's own last lines, read from where
MAAS's snap of that version logs them: 3.4 runs supervisord, which writes rackd's output to
/var/snap/maas/common/log/rackd.log and nothing of it to the journal; 3.5+ runs pebble, which
sends it to the journal only, tagged maas-rackd, in the one unit snap.maas.pebble. Regions are
snaps too (one MAAS version throughout; the lab's deb repository holds both series side by side,
which apt cannot pin through the deploy's single-package pin)."""

import re

import pytest

HOSTS = ["pg1", "region1", "rack1"]
SNAP_LOG = "/var/snap/maas/common/log/rackd.log"
SECRET = "/var/snap/maas/common/maas/secret"


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_snap_rack_that_does_not_register_shows_rackd_log(lab, version):
    lab.ctl("reset", *HOSTS)
    env = {"MAAS_HA_MAAS_VERSION": version, "MAAS_HA_REGION_FLAVOUR": "snap", "MAAS_HA_RACK_FLAVOUR": "snap",
           "MAAS_HA_REGIONS": "region1", "MAAS_HA_HAPROXY": "", "MAAS_HA_RACK_REGISTER_TIMEOUT": "20"}
    first = lab.deploy({**env, "MAAS_HA_RACKS": ""}, label=f"snap-logs-{version}-regions")
    assert first.returncode == 0, first.tail()
    good = lab.ssh("region1", f"cat {SECRET}")
    lab.ssh("region1", f"printf '%s' 0123456789abcdef0123456789abcdef > {SECRET}")
    try:
        result = lab.deploy({**env, "MAAS_HA_RACKS": "rack1"}, label=f"snap-logs-{version}-wrong-secret")
    finally:
        lab.ssh("region1", f"printf '%s' {good} > {SECRET}")
    assert result.returncode != 0
    failure = re.search(r"^\s*\[rack1\]\s+rack1: rack did not register within 20s .*?Last rackd log lines:\n"
                        r"(.*?)(?=^\s*\[|\Z)", result.output, re.M | re.S)
    assert failure, result.tail(40)
    # the cause, as rackd logged it, is in the deploy's own message
    assert "FAILED authentication" in failure.group(1), failure.group(0)

    # the lab logs where this version of MAAS's snap does, so a reader of the other place finds nothing
    in_file = lab.ssh("rack1", f"cat {SNAP_LOG} 2>/dev/null || true")
    in_journal = lab.ssh("rack1", "journalctl -q -t maas-rackd --no-pager -o cat")
    if version == "3.4":
        assert "FAILED authentication" in in_file and not in_journal.strip()
        assert "supervisor" in lab.ssh("rack1", "snap services maas")
    else:
        assert "FAILED authentication" in in_journal and not in_file.strip()
