"""PostgreSQL's own check of every settings and pg_hba change, against a throwaway cluster on
127.0.0.1 (never the system one): a change the server rejects is rolled back, the previous
file is back byte for byte, and the server is not reloaded with it."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from facts.pg_reload import PgHbaLoaded
from local_host import RUNUSER, LocalHost, free_port
from operations import maas_pg
from operations._plan_pg import hba_reload_due
from real_tools import missing, require_postgres_bin, require_program

DROPIN = "50-maas-ha.conf"


class Cluster:
    """A throwaway PostgreSQL cluster owned by `postgres`, its socket in its own directory."""

    def __init__(self, bindir: str, template: str):
        self.bindir = bindir
        self.base = tempfile.mkdtemp(prefix="maas-ha-pg-")
        shutil.chown(self.base, "postgres", "postgres")
        self.data = os.path.join(self.base, "data")
        self.port = free_port()
        self.backups = os.path.join(self.base, "backups")
        self.host = LocalHost("pg1", env={"PATH": f"{bindir}:{os.environ['PATH']}",
                                          "PGHOST": self.base})
        subprocess.run(["cp", "-a", template, self.data], check=True)
        with open(self.config_file, "a") as conf:
            conf.write(f"port = {self.port}\nunix_socket_directories = '{self.base}'\n"
                       "listen_addresses = '127.0.0.1'\n")
        self.as_postgres(f"{bindir}/pg_ctl", "-D", self.data, "-l", os.path.join(self.base, "log"),
                         "-w", "start")

    @property
    def config_file(self) -> str:
        return os.path.join(self.data, "postgresql.conf")

    @property
    def hba_file(self) -> str:
        return os.path.join(self.data, "pg_hba.conf")

    @property
    def dropin(self) -> str:
        return os.path.join(self.data, "conf.d", DROPIN)

    def as_postgres(self, *argv) -> str:
        result = subprocess.run([RUNUSER, "-u", "postgres", "--", *argv], capture_output=True,
                                text=True, timeout=60, cwd="/tmp")
        assert result.returncode == 0, result.stderr
        return result.stdout

    def sql(self, query: str) -> str:
        return self.as_postgres(f"{self.bindir}/psql", "-h", self.base, "-p", str(self.port), "-AtX",
                                "-v", "ON_ERROR_STOP=1", "-c", query).strip()

    def settings(self, wanted: dict):
        return self.host.run(maas_pg.server_settings, wanted, port=self.port, backup_dir=self.backups,
                             dropin_name=DROPIN)

    def hba(self, entries: list):
        return self.host.run(maas_pg.hba_entries, entries, port=self.port, backup_dir=self.backups)

    def stop(self):
        subprocess.run([RUNUSER, "-u", "postgres", "--", f"{self.bindir}/pg_ctl", "-D", self.data,
                        "-m", "fast", "-w", "stop"], capture_output=True, timeout=60, cwd="/tmp")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def initdb():
    """(bin directory, a fresh data directory to copy): initdb once for the module."""
    bindir = require_postgres_bin()
    require_program("runuser")
    if os.geteuid() != 0:
        missing("root (the throwaway cluster runs as the postgres user)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("the postgres user")
    base = tempfile.mkdtemp(prefix="maas-ha-pg-template-")
    shutil.chown(base, "postgres", "postgres")
    template = os.path.join(base, "data")
    subprocess.run([RUNUSER, "-u", "postgres", "--", f"{bindir}/initdb", "-D", template, "-U",
                    "postgres", "--auth-local=trust", "--auth-host=scram-sha-256"],
                   check=True, capture_output=True, timeout=120, cwd="/tmp")
    yield bindir, template
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def cluster(initdb):
    pg = Cluster(*initdb)
    yield pg
    pg.stop()


def read(path: str) -> str:
    with open(path) as file:
        return file.read()


def test_settings_change_goes_live_through_the_dropin(cluster):
    """The positive control: the same commands apply a change PostgreSQL accepts."""
    outcome = cluster.settings({"password_encryption": "md5"})
    assert outcome.ok, outcome.stderr
    assert read(cluster.dropin).endswith("password_encryption = 'md5'\n")
    assert "include_dir = 'conf.d'" in read(cluster.config_file)
    assert cluster.sql("SHOW password_encryption") == "md5"
    assert any(name.startswith("globals-") for name in os.listdir(cluster.backups))


def test_overridden_setting_is_rejected_and_the_previous_dropin_restored(cluster):
    assert cluster.settings({"password_encryption": "md5"}).ok
    before = read(cluster.dropin)
    # a later file (ALTER SYSTEM's postgresql.auto.conf) would override what maas-ha writes
    cluster.sql("ALTER SYSTEM SET password_encryption = 'md5'")

    outcome = cluster.settings({"password_encryption": "scram-sha-256"})

    assert not outcome.ok
    assert f"PostgreSQL on pg1 rejected the maas-ha settings in {cluster.dropin} (previous version " \
           "restored):" in outcome.stderr
    assert "postgresql.auto.conf:3: password_encryption overrides maas-ha" in outcome.stderr
    assert read(cluster.dropin) == before
    assert not any("pg_reload_conf" in command for command in outcome.ran[outcome.ran.index(
        f"upload {os.path.dirname(cluster.dropin)}/.{DROPIN}.maas-ha-new"):])  # nothing after the check ran: no reload
    assert cluster.sql("SHOW password_encryption") == "md5"


def test_rejected_first_dropin_is_removed(cluster):
    """No drop-in before: a rejected one is deleted, the server keeps reading its own files."""
    os.makedirs(os.path.dirname(cluster.dropin))
    shutil.chown(os.path.dirname(cluster.dropin), "postgres", "postgres")
    with open(cluster.config_file, "a") as conf:
        conf.write("include_dir = 'conf.d'\n")
    with open(os.path.join(cluster.data, "conf.d", "40-local.conf"), "w") as broken:
        broken.write("work_mem = = 4MB\n")  # an operator's own file PostgreSQL cannot parse

    outcome = cluster.settings({"password_encryption": "md5"})

    assert not outcome.ok
    assert "40-local.conf:1: : syntax error" in outcome.stderr
    assert not os.path.exists(cluster.dropin)
    assert cluster.sql("SHOW password_encryption") == "scram-sha-256"


def test_pg_hba_entry_goes_live(cluster):
    """The positive control for pg_hba: an entry PostgreSQL accepts is appended and loaded."""
    outcome = cluster.hba([{"database": "maasdb", "user": "maas", "address": "10.77.0.11",
                            "method": "auto"}])
    assert outcome.ok, outcome.stderr
    rules = cluster.sql("SELECT database, user_name, address, auth_method FROM pg_hba_file_rules "
                        "WHERE address = '10.77.0.11'")
    assert rules == "{maasdb}|{maas}|10.77.0.11|scram-sha-256"


def test_pg_hba_written_by_a_stopped_run_is_loaded_by_the_next(cluster):
    """A run stopped after the pg_hba edit, before the reload (here: its reload does nothing):
    the next run finds every entry in the file, and still has the server load it."""
    entries = [{"database": "maasdb", "user": "maas", "address": "10.77.0.11", "method": "auto"}]
    reload = maas_pg._reload(cluster.port).get_raw_value()
    stopped = LocalHost("pg1", env=cluster.host.env, stand_ins={reload: "true"})
    assert stopped.run(maas_pg.hba_entries, entries, port=cluster.port, backup_dir=cluster.backups).ok
    loaded = cluster.host.get_fact(PgHbaLoaded, port=cluster.port, _sudo=True, _sudo_user="postgres")
    assert hba_reload_due(loaded), loaded  # the fact sees the file newer than the server's load

    outcome = cluster.hba(entries)

    assert outcome.ok, outcome.stderr
    assert outcome.ran[-1] == reload
    loaded = cluster.host.get_fact(PgHbaLoaded, port=cluster.port, _sudo=True, _sudo_user="postgres")
    assert not hba_reload_due(loaded), loaded
    assert cluster.hba(entries).ran == []  # loaded: nothing left to do


def test_rejected_pg_hba_is_restored_byte_for_byte(cluster):
    before = read(cluster.hba_file)
    # `ldap` without an `ldapserver` option: a line PostgreSQL refuses to load
    outcome = cluster.hba([{"database": "maasdb", "user": "maas", "address": "10.77.0.11",
                            "method": "ldap"}])

    assert not outcome.ok
    assert f"PostgreSQL on pg1 rejected the new {cluster.hba_file} (previous version restored):" \
        in outcome.stderr
    assert '100: authentication method "ldap" requires argument' in outcome.stderr
    assert read(cluster.hba_file) == before
    assert cluster.sql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"
    assert cluster.sql("SELECT count(*) FROM pg_hba_file_rules WHERE address = '10.77.0.11'") == "0"
    assert not any("pg_reload_conf" in command for command in outcome.ran)


def test_a_value_postgresql_refuses_is_rejected(cluster):
    outcome = cluster.settings({"password_encryption": "bogus"})
    assert not outcome.ok
    assert not os.path.exists(cluster.dropin)
