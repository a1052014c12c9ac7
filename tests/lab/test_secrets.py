"""Scenario: a first converge from bare hosts with unusual passwords (quotes, `$`, spaces, `%`,
`:`, `@`, `/`, `#`, backslash, a leading `-`), on both flavours, works end to end and leaves
no secret on any command line, in any log, or in pyinfra's output at -vvv; a second run,
whose facts then report a password, a verifier and a config, changes nothing and prints no
password material either.

While the deploy runs, every lab host's process list is sampled (`ps -eo args` on the host,
and every process's command line read from this machine's /proc, which sees the containers'
processes too). Afterwards the journal (where sudo logs under a sudo login), /var/log (auth.log,
PostgreSQL's log with `log_statement = ddl` set before the deploy) and the deploy's -vvv output
are searched. Each password has a random core that survives any quoting or escaping, so a
password is found in whatever form it was written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time

import pytest

import ha_checks

PG, LBS = "pg1", ["lb1"]
REGIONS, RACKS = ["region1", "region2"], ["rack1", "rack2"]
SCENARIOS = {"deb-regions": ("deb", "snap"), "snap-regions": ("snap", "deb")}
SAMPLES = "/run/maas-ha-ps-samples"
SAMPLER_STOP = "/run/maas-ha-ps-samples.stop"


def unusual_password(tag: str) -> tuple[str, str]:
    """(core, password): the password holds every character the deploy must carry intact;
    the random core is what the logs are searched for."""
    core = secrets.token_hex(12)
    return core, f"-{tag}{core} q'uo\"te $HOME %41 a:b@c/d #e \\f"


class ProcScanner(threading.Thread):
    """Reads every process's command line from this machine's /proc until stopped: the lab's
    containers share this kernel, so their processes are listed here too."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: set[str] = set()
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        raw = handle.read()
                except OSError:
                    continue
                if raw:
                    self.seen.add(raw.replace(b"\0", b" ").decode("utf-8", "replace"))

    def stop(self) -> set[str]:
        self.stopped.set()
        self.join(timeout=10)
        return self.seen


def start_samplers(lab, hosts):
    for name in hosts:
        lab.ssh(name, f"rm -f {SAMPLES} {SAMPLER_STOP}; nohup sh -c 'while [ ! -e {SAMPLER_STOP} ]; "
                      f"do ps -eo args >> {SAMPLES}; sleep 0.05; done' </dev/null >/dev/null 2>&1 &")


def stop_samplers(lab, hosts) -> dict[str, str]:
    samples = {}
    for name in hosts:
        lab.ssh(name, f"touch {SAMPLER_STOP}")
    time.sleep(0.5)
    for name in hosts:
        samples[name] = lab.ssh(name, f"awk '!seen[$0]++' {SAMPLES}")
    return samples


def host_logs(lab, name) -> str:
    """The whole journal and every plain file under /var/log (auth.log, PostgreSQL's log, ...)."""
    # binary files (wtmp, lastlog) included; bytes outside printable ASCII become '?'
    return lab.ssh(name, "{ journalctl --no-pager -o cat 2>/dev/null; find /var/log -type f "
                         "-not -path '/var/log/journal/*' -exec cat {} + 2>/dev/null; } "
                         "| tr -c '\\11\\12\\40-\\176' '?'", timeout=300)


def stored_verifier(lab) -> str:
    return lab.ssh(PG, "runuser -u postgres -- psql -AtX -c "
                       "\"SELECT rolpassword FROM pg_authid WHERE rolname = 'maas'\"").strip()


def password_material(db_password: str, verifier: str) -> dict[str, str]:
    """Forms of the database password that must not be printed either: its unsalted digests
    and the parts of the role's stored verifier (each allows an offline guess)."""
    material = {
        "sha256 of the database password": hashlib.sha256(db_password.encode()).hexdigest(),
        "md5 verifier of the role": hashlib.md5((db_password + "maas").encode()).hexdigest(),
    }
    if verifier.startswith("SCRAM-SHA-256$"):
        _, keys = verifier.rsplit("$", 1)
        stored_key, server_key = keys.split(":")
        material["SCRAM StoredKey"] = stored_key
        material["SCRAM ServerKey"] = server_key
    elif verifier.startswith("md5"):
        material["md5 verifier of the role"] = verifier[3:]
    return material


def _leaks(text: str, needles: dict[str, str]) -> list[str]:
    return sorted(label for label, needle in needles.items() if needle and needle in text)


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def converged(lab, request):
    region_flavour, rack_flavour = SCENARIOS[request.param]
    hosts = [PG, *REGIONS, *LBS, *RACKS]
    lab.ctl("reset", *hosts)
    # PostgreSQL first, with DDL statements logged: CREATE/ALTER ROLE ... PASSWORD would show
    lab.ssh(PG, "apt-get install -y postgresql >/dev/null 2>&1 && runuser -u postgres -- psql -AtX "
                "-c \"ALTER SYSTEM SET log_statement = 'ddl'\" -c 'SELECT pg_reload_conf()'",
            timeout=600)
    db_core, db_password = unusual_password("db")
    admin_core, admin_password = unusual_password("admin")
    env = {"MAAS_HA_REGION_FLAVOUR": region_flavour, "MAAS_HA_RACK_FLAVOUR": rack_flavour,
           "MAAS_HA_DB_PASSWORD": db_password, "MAAS_HA_ADMIN_PASSWORD": admin_password,
           # exactly the hosts reset above: earlier tests may have left other racks registered
           "MAAS_HA_POSTGRES": PG, "MAAS_HA_REGIONS": ",".join(REGIONS),
           "MAAS_HA_HAPROXY": ",".join(LBS), "MAAS_HA_RACKS": ",".join(RACKS)}

    scanner = ProcScanner()
    start_samplers(lab, hosts)
    scanner.start()
    try:
        result = lab.deploy(env, args=["-v"], label=f"secrets-{request.param}")  # -vv -v = -vvv
        # converged: now the facts have a password, a verifier and a config to report
        again = lab.deploy(env, args=["-v"], label=f"secrets-{request.param}-again")
    finally:
        processes = scanner.stop()
        samples = stop_samplers(lab, hosts)

    secret_file = "/var/snap/maas/common/maas/secret" if region_flavour == "snap" else "/var/lib/maas/secret"
    region_secret = lab.ssh(REGIONS[0], f"cat {secret_file} 2>/dev/null; true").strip()
    return {
        "scenario": request.param, "region_flavour": region_flavour, "rack_flavour": rack_flavour,
        "result": result, "again": again, "processes": processes, "samples": samples,
        "logs": {name: host_logs(lab, name) for name in hosts},
        "db_password": db_password, "admin_password": admin_password,
        "needles": {"database password": db_core, "admin password": admin_core,
                    "region secret": region_secret},
    }


def test_the_deploy_converges(converged):
    assert converged["result"].returncode == 0, converged["result"].tail(80)
    assert converged["needles"]["region secret"], "the region has no shared secret"


def test_a_second_run_with_the_same_passwords_changes_nothing(converged):
    again = converged["again"]
    assert again.returncode == 0, again.tail(80)
    assert again.changed_hosts == {}, again.tail(80)


def test_processes_sampled_during_the_deploy_hold_no_secret(converged):
    samples = converged["samples"]
    assert all("sshd" in text or "ps -eo args" in text for text in samples.values()), samples.keys()
    leaked = {name: _leaks(text, converged["needles"]) for name, text in samples.items()}
    leaked["this machine's /proc"] = sorted(
        {label for line in converged["processes"] for label in _leaks(line, converged["needles"])})
    assert not any(leaked.values()), leaked  # labels only: a failure never prints a secret


def test_logs_hold_no_secret(converged):
    pg_log = converged["logs"][PG]
    # the check can fail: DDL statements really were logged
    assert "statement: CREATE DATABASE" in pg_log or "statement: CREATE TABLE" in pg_log
    leaked = {name: _leaks(text, converged["needles"]) for name, text in converged["logs"].items()}
    assert not any(leaked.values()), leaked


def test_vvv_output_holds_no_secret_nor_password_material(lab, converged):
    output = converged["result"].output + converged["again"].output
    assert "Loaded fact" in output and ">>> " in output  # really at -vvv: fact input and output
    assert "] stat=" in output  # RegiondConf's output, printed
    needles = {**converged["needles"],
               **password_material(converged["db_password"], stored_verifier(lab))}
    needles["admin API key"] = lab.api_key(REGIONS[0])
    leaked = _leaks(output, needles)
    assert not leaked, leaked


def test_regions_hold_the_password_verbatim_and_serve_the_api(lab, converged):
    flavour = converged["region_flavour"]
    for name in REGIONS:
        conf = lab.read_yaml(name, ha_checks.regiond_conf_path(flavour))
        verbatim = conf.get("database_pass") == converged["db_password"]
        assert verbatim, f"{name}: regiond.conf's database_pass is not the password given"
        assert conf["database_user"] == "maas"
    ha_checks.assert_api_answers(lab, REGIONS, LBS)
    key = lab.api_key(REGIONS[0])
    for name in REGIONS:  # each region reads the database with the unusual password
        me = lab.client(f"http://{lab.address(name)}:5240/MAAS/", key).get("users/", op="whoami")
        assert me["username"] == "admin", me
    ha_checks.assert_racks_known_everywhere(lab, REGIONS, RACKS)


def test_maas_login_works_on_every_region(lab, converged):
    cli = "/snap/bin/maas" if converged["region_flavour"] == "snap" else "maas"
    for name in REGIONS:
        out = lab.ssh(name, f"{cli} maas-ha users whoami")  # the profile the deploy logged in
        assert '"username": "admin"' in out, (name, out)


def test_the_admin_password_is_stored_intact(lab, converged):
    stored = lab.ssh(PG, "runuser -u postgres -- psql -d maasdb -AtX -c "
                         "\"SELECT password FROM auth_user WHERE username = 'admin'\"").strip()
    algorithm, iterations, salt, digest = stored.split("$")
    assert algorithm == "pbkdf2_sha256"
    expected = hashlib.pbkdf2_hmac("sha256", converged["admin_password"].encode(), salt.encode(),
                                   int(iterations))
    assert hmac.compare_digest(base64.b64encode(expected).decode(), digest)
