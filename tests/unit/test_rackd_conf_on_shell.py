"""RackdConf's command run by a real shell on a real file: the host-side masking works."""

import subprocess

from facts.maas_config import RACKD_MASKED, RackdConf


def _run_fact(path):
    fact = RackdConf()
    done = subprocess.run(["sh", "-c", fact.command(str(path))], capture_output=True, text=True, check=True)
    return done.stdout, fact.process(done.stdout.splitlines())


def test_rackd_conf_read_and_parsed(tmp_path):
    conf = tmp_path / "rackd.conf"
    conf.write_text("maas_url:\n- http://10.77.0.11:5240/MAAS\n- http://10.77.0.12:5240/MAAS\ntftp_port: 69\n")
    _, fact = _run_fact(conf)
    assert fact["exists"] is True
    assert fact["settings"] == {"maas_url": ["http://10.77.0.11:5240/MAAS", "http://10.77.0.12:5240/MAAS"],
                                "tftp_port": 69}


def test_secret_keys_never_leave_the_host(tmp_path):
    conf = tmp_path / "rackd.conf"
    conf.write_text("database_pass: hunter2-secret\nmaas_url: http://10.77.0.11:5240/MAAS\n"
                    "extra:\n  vault_secret_id:   s3cr3t-id\n")
    raw, fact = _run_fact(conf)
    assert "hunter2-secret" not in raw and "s3cr3t-id" not in raw
    assert fact["settings"]["database_pass"] == RACKD_MASKED
    assert fact["settings"]["maas_url"] == "http://10.77.0.11:5240/MAAS"


def test_absent_file(tmp_path):
    _, fact = _run_fact(tmp_path / "missing.conf")
    assert fact["exists"] is False and fact["settings"] == {}
