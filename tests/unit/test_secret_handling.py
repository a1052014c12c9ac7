"""Secrets stay off command lines and out of fact output: the keyed digests facts print, the
on-host scripts behind RegiondConf / PostgresRolePassword run for real, the SQL that sets the
role's password, the snap's database URI and the regiond.conf writer."""

import hashlib
import json
import os
import subprocess

import pytest
import yaml
from psycopg2.extensions import parse_dsn

from facts import keyed_digest
from facts.maas_config import RegiondConf, secret_matches
from facts.pg_cluster import (
    PostgresRolePassword,
    md5_verifier,
    password_matches,
    role_password_matches,
    scram_verifier,
)
from operations.maas_pg import role_change_reason, role_password_sql
from operations.maas_region import REGIOND_WRITER, database_uri, regiond_differences, wanted_regiond

UNUSUAL = "-x q'uo\"te $HOME %41 a:b@c/d #e \\f"
SCRAM_OF_VX = (  # PostgreSQL 15's verifier of "Vx9Gq2LpE7tR" (tests/unit/test_pg_password.py)
    "SCRAM-SHA-256$4096:ay71w2QBTxKSnm8kY9LX/A==$F1bE1jAWOwwvcZAwq7atnufSobkbSu4eQM/uUuyk8Hc="
    ":3MI6N8BtYBC4at4MZrJefF0aJsCI6wJbDwYj1YP126M="
)


def run_sh(command: str, stdin: str = "") -> list[str]:
    result = subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, text=True,
                            check=True, timeout=60)
    return result.stdout.splitlines()


def host_keyed(text: str) -> str:
    """What a host prints for `text`: HOST_CODE really run, with this run's public value."""
    script = keyed_digest.HOST_CODE + "\nimport sys\nprint(keyed(sys.stdin.read(), sys.argv[1]))\n"
    return run_sh(f"python3 -c '{script}' {keyed_digest.public_value()}", text)[0]


def test_keyed_digest_matches_only_its_secret_and_holds_no_plain_digest():
    digest = host_keyed(UNUSUAL)
    assert keyed_digest.matches(digest, UNUSUAL)
    assert not keyed_digest.matches(digest, UNUSUAL + "x")
    assert hashlib.sha256(UNUSUAL.encode()).hexdigest() not in digest
    assert host_keyed(UNUSUAL) != digest  # a new host exponent each time: nothing to correlate


@pytest.mark.parametrize("digest", [None, "", "sha256:" + "0" * 64, "dh:1:ab", "dh:zz:ab", "dh:" + "f" * 600 + ":ab"])
def test_malformed_digests_never_match(digest):
    assert not keyed_digest.matches(digest, UNUSUAL)


def test_regiond_conf_fact_prints_no_password_material(tmp_path):
    path = tmp_path / "regiond.conf"
    path.write_text(json.dumps({"database_pass": UNUSUAL, "database_host": "10.77.0.10"}))  # JSON is YAML
    lines = run_sh(RegiondConf().command(str(path)))
    text = "\n".join(lines)
    assert "-x q" not in text and hashlib.sha256(UNUSUAL.encode()).hexdigest() not in text
    settings = RegiondConf().process(lines)["settings"]
    assert settings["database_host"] == "10.77.0.10"
    assert secret_matches(settings["database_pass"], UNUSUAL)
    assert not secret_matches(settings["database_pass"], "other")


@pytest.mark.parametrize("verifier", [SCRAM_OF_VX, md5_verifier("Vx9Gq2LpE7tR", "maas")])
def test_role_password_fact_prints_no_verifier(verifier):
    command = PostgresRolePassword().command("maas")
    script = command[command.index("| python3"):]  # the part after psql, fed psql's line
    lines = run_sh("cat " + script, f"verifier:{verifier}\n")
    text = "\n".join(lines)
    assert verifier not in text and verifier.rsplit("$", 1)[-1].split(":")[0] not in text
    assert verifier[3:] not in text
    stored = PostgresRolePassword().process(lines)
    assert role_password_matches(stored, "maas", "Vx9Gq2LpE7tR")
    assert not role_password_matches(stored, "maas", "Vx9Gq2LpE7tRx")


def test_role_password_fact_without_a_password_is_none():
    command = PostgresRolePassword().command("maas")
    assert PostgresRolePassword().process(run_sh("cat " + command[command.index("| python3"):], "")) is None


def stored_of(verifier: str) -> dict:
    kind = "md5" if verifier.startswith("md5") else "scram-sha-256"
    iterations, salt = (None, None)
    if kind != "md5":
        iterations, salt = verifier.split("$")[1].split(":")
    return {"kind": kind, "iterations": iterations and int(iterations), "salt": salt,
            "digest": host_keyed(verifier)}


def test_role_change_reasons():
    assert role_change_reason(None, "maas", "pw", "scram-sha-256") == "no password"
    assert role_change_reason(stored_of(SCRAM_OF_VX), "maas", "Vx9Gq2LpE7tR", "scram-sha-256") is None
    assert role_change_reason(stored_of(SCRAM_OF_VX), "maas", "other", "scram-sha-256") == "another password"
    md5 = stored_of(md5_verifier("Vx9Gq2LpE7tR", "maas"))
    assert role_change_reason(md5, "maas", "Vx9Gq2LpE7tR", "md5") is None
    assert role_change_reason(md5, "maas", "Vx9Gq2LpE7tR", "scram-sha-256") == "a md5 verifier"


def test_role_sql_holds_a_fresh_verifier_never_the_password_and_logs_nothing():
    verifier = scram_verifier(UNUSUAL)
    assert password_matches(verifier, "maas", UNUSUAL)
    sql = role_password_sql("maas", verifier)
    assert "q'uo" not in sql and "q''uo" not in sql
    assert sql.index("SET log_statement = 'none'") < sql.index("ALTER ROLE")
    assert f"ALTER ROLE \"maas\" LOGIN PASSWORD '{verifier}'" in sql
    assert f"CREATE ROLE \"maas\" LOGIN PASSWORD '{verifier}'" in sql


@pytest.mark.parametrize("password", [UNUSUAL, "a/b?c#d@e%f:g[h]", "plain", "%2F", "é ü"])
def test_database_uri_reads_back_through_libpq(password):
    uri = database_uri("maas", password, "10.77.0.10", 5432, "maasdb")
    assert parse_dsn(uri) == {"user": "maas", "password": password, "host": "10.77.0.10",
                              "port": "5432", "dbname": "maasdb"}


def test_regiond_differences_compares_the_password_through_its_keyed_digest():
    wanted = wanted_regiond("http://10.77.0.11:5240/MAAS", "10.77.0.10", 5432, "maasdb", "maas", UNUSUAL, 4)
    current = {**wanted, "database_pass": host_keyed(UNUSUAL), "database_port": "5432"}
    assert regiond_differences(current, wanted) == []
    assert regiond_differences({**current, "database_pass": host_keyed("old")}, wanted) == ["database_pass"]
    assert regiond_differences({}, wanted) == sorted(wanted)


def write_regiond(path, updates: dict):
    subprocess.run(["python3", "-c", REGIOND_WRITER, str(path)], input=json.dumps(updates), text=True,
                   check=True, timeout=60)


def test_regiond_writer_keeps_other_keys_owner_and_mode(tmp_path):
    path = tmp_path / "regiond.conf"
    path.write_text("debug_http: true\nmaas_url: http://old/MAAS\n")
    os.chmod(path, 0o640)
    before = os.stat(path)
    write_regiond(path, {"database_pass": UNUSUAL, "maas_url": "http://10.77.0.11:5240/MAAS"})
    assert yaml.safe_load(path.read_text()) == {
        "database_pass": UNUSUAL, "debug_http": True, "maas_url": "http://10.77.0.11:5240/MAAS"}
    after = os.stat(path)
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (0o640, before.st_uid, before.st_gid)
    assert sorted(os.listdir(tmp_path)) == ["regiond.conf"]  # no temporary file left


def test_regiond_writer_creates_a_private_file(tmp_path):
    path = tmp_path / "regiond.conf"
    write_regiond(path, {"database_pass": "x"})
    assert os.stat(path).st_mode & 0o077 in (0o040, 0o000)  # 0640 root:maas, or 0600 without maas
