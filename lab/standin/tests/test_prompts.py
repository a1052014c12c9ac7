"""Lab test equipment tests: secrets given at MAAS's prompts (stdin), as a deploy passes them.

createadmin reads the password twice and asks for SSH keys unless --ssh-import is given;
`maas init` reads the database URI (percent-encoded, parsed by libpq) and the rack secret;
`maas-rack register --url` reads the secret. No terminal: each command runs in a new session,
so getpass falls back to stdin as it does under ssh without a pty.
"""
import base64
import hashlib
import os
import subprocess

import pytest

from conftest import PYTHON, configure_region
from maas_standin import conffile

UNUSUAL = "-x q'uo\"te $HOME %41 a:b@c/d #e \\f"


def run(host, module, *args, stdin=""):
    return subprocess.run([PYTHON, "-m", module, *args], env=host.env, input=stdin, capture_output=True,
                          text=True, timeout=60, start_new_session=True)


def stored_password_matches(stored, password):
    algorithm, iterations, salt, digest = stored.split("$")
    expected = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return algorithm == "pbkdf2_sha256" and base64.b64encode(expected).decode() == digest


def test_createadmin_reads_the_password_twice_from_stdin(lab, database):
    region = lab("region1", "10.77.0.11")
    configure_region(region, database)
    region.maas_region("dbupgrade")
    r = run(region, "maas_standin.region_cli", "createadmin", "--username", "admin", "--email", "a@example.com",
            "--ssh-import", "", stdin=f"{UNUSUAL}\n{UNUSUAL}\n")
    assert r.returncode == 0, r.stderr
    import psycopg2
    conn = psycopg2.connect(host="127.0.0.1", port=database["port"], dbname=database["name"], user="maas",
                            password="lab-db-pw")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT password FROM auth_user WHERE username = 'admin'")
        assert stored_password_matches(cur.fetchone()[0], UNUSUAL)
    conn.close()


def test_createadmin_without_ssh_import_also_prompts_for_keys(lab, database):
    region = lab("region1", "10.77.0.11")
    configure_region(region, database)
    region.maas_region("dbupgrade")
    r = run(region, "maas_standin.region_cli", "createadmin", "--username", "admin", "--email", "a@example.com",
            stdin="pw\npw\n")
    assert r.returncode == 1 and "Import SSH keys" in r.stdout and "stdin closed" in r.stderr
    r = run(region, "maas_standin.region_cli", "createadmin", "--username", "admin", "--email", "a@example.com",
            stdin="pw\nother\n")
    assert r.returncode == 1 and r.stderr.endswith("CommandError: Passwords do not match\n")


@pytest.mark.parametrize("password", [UNUSUAL, "a/b?c#d@e%f:g[h]"])
def test_database_uri_is_percent_decoded_as_libpq_does(password):
    from urllib.parse import quote
    uri = "postgres://maas:%s@10.77.0.10:5432/maasdb" % quote(password, safe="")
    assert conffile.parse_database_uri(uri) == {"database_host": "10.77.0.10", "database_name": "maasdb",
                                                "database_user": "maas", "database_pass": password,
                                                "database_port": 5432}


def test_database_uri_user_info_ends_at_the_first_at_sign():
    # libpq, unlike urllib, stops the user info at the first '@': MAAS needs it encoded
    parsed = conffile.parse_database_uri("postgres://maas:a@b@10.77.0.10/maasdb")
    assert (parsed["database_pass"], parsed["database_host"]) == ("a", "b@10.77.0.10")
    assert conffile.parse_database_uri("postgres://maas@h")["database_name"] == "maas"


def test_snap_init_reads_the_database_uri_and_the_secret_at_their_prompts(lab, pg):
    from urllib.parse import quote
    pg["psql"]("DROP DATABASE IF EXISTS maas_unusual")
    pg["psql"]("DROP ROLE IF EXISTS maas_unusual")
    pg["psql"]("CREATE ROLE maas_unusual LOGIN PASSWORD '%s'" % UNUSUAL.replace("'", "''"))
    pg["psql"]("CREATE DATABASE maas_unusual OWNER maas_unusual")
    host = lab("region1", "10.77.0.11", flavour="snap")
    uri = "postgres://maas_unusual:%s@127.0.0.1:%d/maas_unusual" % (quote(UNUSUAL, safe=""), pg["port"])
    r = run(host, "maascli_standin.cli", "init", "region", "--maas-url", "http://10.77.0.11:5240/MAAS", "--force",
            stdin=uri + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Database URI: ")
    import yaml
    conf = yaml.safe_load(open(host.path("/var/snap/maas/current/regiond.conf")))
    assert conf["database_pass"] == UNUSUAL and conf["database_user"] == "maas_unusual"
    r = run(host, "maascli_standin.cli", "init", "rack", "--maas-url", "http://10.77.0.11:5240/MAAS", "--force",
            stdin="ab" * 16 + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert open(host.path("/var/snap/maas/common/maas/secret")).read() == "ab" * 16


def test_rack_register_reads_the_secret_from_stdin(lab):
    host = lab("rack1", "10.77.0.101")
    r = run(host, "maas_standin.rack_cli", "register", "--url", "http://10.20.0.5:5240/MAAS", stdin="DEADbeef\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Secret installed to %s.\n" % host.path("/var/lib/maas/secret")
    assert open(host.path("/var/lib/maas/secret")).read() == "deadbeef"
    assert os.path.exists(host.path("/etc/maas/rackd.conf"))
