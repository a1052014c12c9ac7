"""PostgreSQL's own check of every settings and pg_hba change, against a throwaway cluster on
127.0.0.1 (never the system one): a change the server rejects is rolled back, the previous
file is back byte for byte, and the server is not reloaded with it; a restart the server does
not survive is rolled back too, and it runs again. The backup taken before each change fits the
disk: checked free space, a bounded number of dumps, no half-written dump under a dump's name,
and a backup directory the deploy did not create is left as it is."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from facts.pg_reload import PgHbaLoaded
from local_host import RUNUSER, LocalHost, free_port
from facts.pg_cluster import PostgresClusters
from operations import maas_pg
from operations._plan_pg import hba_reload_due
from real_tools import missing, require_postgres_bin, require_program

DROPIN = "50-maas-ha.conf"
UNIT = "postgresql@16-throwaway"  # what the operation restarts; pg_ctl stands in for systemd


class Cluster:
    """A throwaway PostgreSQL cluster owned by `postgres`, its socket in its own directory."""

    def __init__(self, bindir: str, template: str):
        self.bindir = bindir
        self.base = tempfile.mkdtemp(prefix="maas-ha-pg-")
        shutil.chown(self.base, "postgres", "postgres")
        self.data = os.path.join(self.base, "data")
        self.port = free_port()
        self.backups = os.path.join(self.base, "backups")
        self.log = os.path.join(self.base, "log")
        restart = (f"{RUNUSER} -u postgres -- {bindir}/pg_ctl -D {self.data} -l {self.log} -w -t 30 "
                   "restart >/dev/null")
        self.host = LocalHost("pg1", env={"PATH": f"{bindir}:{os.environ['PATH']}",
                                          "PGHOST": self.base},
                              stand_ins={f"systemctl restart {UNIT}": restart},
                              facts={PostgresClusters: [{"version": "16", "cluster": "throwaway",
                                                         "port": self.port}]})
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

    def settings(self, wanted: dict, backup_dir: str | None = None, **kwargs):
        return self.host.run(maas_pg.server_settings, wanted, port=self.port,
                             backup_dir=backup_dir or self.backups, dropin_name=DROPIN, **kwargs)

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


# --- restarts with a way back --------------------------------------------------------------

def test_a_restart_setting_goes_live_and_the_server_answers(cluster):
    """The positive control for restarts: listen_addresses changes only at server start."""
    outcome = cluster.settings({"listen_addresses": "localhost"})
    assert outcome.ok, outcome.stderr
    assert any(f"systemctl restart {UNIT}" in command for command in outcome.ran)
    assert cluster.sql("SHOW listen_addresses") == "localhost"


def test_a_server_that_does_not_start_gets_its_previous_settings_back(cluster):
    """An address the host lacks passes pg_file_settings but stops PostgreSQL at start
    ("could not create any TCP/IP sockets"): the previous drop-in is put back, the server
    runs again, and the error names the host and the setting."""
    assert cluster.settings({"listen_addresses": "localhost"}).ok
    before = read(cluster.dropin)

    outcome = cluster.settings({"listen_addresses": "192.0.2.1"})  # TEST-NET-1: on no host

    assert not outcome.ok
    assert "PostgreSQL on pg1 did not start with listen_addresses = '192.0.2.1'" in outcome.stderr
    assert "previous settings restored, PostgreSQL running again" in outcome.stderr
    assert read(cluster.dropin) == before
    assert cluster.sql("SHOW listen_addresses") == "localhost"  # up, on the previous settings


def test_a_first_dropin_that_stops_the_server_is_removed(cluster):
    outcome = cluster.settings({"listen_addresses": "192.0.2.1"})

    assert not outcome.ok
    assert "did not start with listen_addresses = '192.0.2.1'" in outcome.stderr
    assert not os.path.exists(cluster.dropin)
    assert cluster.sql("SHOW listen_addresses") == "127.0.0.1"


# --- backups that cannot fill the disk --------------------------------------------------------

def dumps(directory: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.startswith("maasdb-"))


def test_only_the_newest_dumps_are_kept(cluster):
    cluster.sql("CREATE DATABASE maasdb")
    os.makedirs(cluster.backups)
    shutil.chown(cluster.backups, "postgres", "postgres")
    old = [f"maasdb-20010100{minute:02d}.dump" for minute in range(7)]
    for name in [*old, *(name.replace("maasdb-", "globals-").replace(".dump", ".sql") for name in old)]:
        with open(os.path.join(cluster.backups, name), "w") as dump:
            dump.write("an older backup\n")
    unrelated = os.path.join(cluster.backups, "operator-notes.txt")
    open(unrelated, "w").close()

    assert cluster.settings({"password_encryption": "md5"}, backup_keep=3).ok

    kept = dumps(cluster.backups)
    assert len(kept) == 3 and kept[:2] == old[-2:], kept  # the two newest old ones and today's
    assert cluster.as_postgres(f"{cluster.bindir}/pg_restore", "-l",
                               os.path.join(cluster.backups, kept[-1]))  # a real dump
    assert len([name for name in os.listdir(cluster.backups) if name.startswith("globals-")]) == 3
    assert os.path.exists(unrelated)


def test_five_dumps_are_kept_by_default(cluster):
    cluster.sql("CREATE DATABASE maasdb")
    os.makedirs(cluster.backups)
    shutil.chown(cluster.backups, "postgres", "postgres")
    for minute in range(7):
        open(os.path.join(cluster.backups, f"maasdb-20010100{minute:02d}.dump"), "w").close()

    assert cluster.settings({"password_encryption": "md5"}).ok

    assert len(dumps(cluster.backups)) == 5


@pytest.fixture()
def small_disk():
    """A 2 MiB file system: too small for a fresh database (about 7 MiB)."""
    require_program("mount")
    mountpoint = tempfile.mkdtemp(prefix="maas-ha-small-disk-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", mountpoint],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        os.rmdir(mountpoint)
        missing(f"a tmpfs mount ({mounted.stderr.strip()})")
    yield mountpoint
    subprocess.run(["umount", mountpoint], check=False)
    os.rmdir(mountpoint)


def test_a_dump_that_does_not_fit_is_refused_before_it_starts(cluster, small_disk):
    cluster.sql("CREATE DATABASE maasdb")
    backups = os.path.join(small_disk, "maas-ha")

    outcome = cluster.settings({"password_encryption": "md5"}, backup_dir=backups)

    assert not outcome.ok
    assert f"cannot back up PostgreSQL on pg1: maas_pg_backup_dir {backups} has" in outcome.stderr
    assert "MiB free, the databases to dump take" in outcome.stderr
    assert not any("pg_dump " in command for command in outcome.ran[:-1])
    assert os.listdir(backups) == []
    assert not os.path.exists(cluster.dropin)  # refused before any change
    assert cluster.sql("SHOW password_encryption") == "scram-sha-256"


def test_a_failed_dump_leaves_no_file_under_a_dumps_name(cluster):
    """A pg_dump that dies half way (disk full, killed) must not leave a file that looks like
    a backup, nor one that a later run would take for this minute's backup and keep."""
    cluster.sql("CREATE DATABASE maasdb")
    broken = os.path.join(cluster.base, "broken-bin")
    os.makedirs(broken)
    with open(os.path.join(broken, "pg_dump"), "w") as fake:
        fake.write('#!/bin/sh\nwhile [ "$1" != -f ]; do shift; done\n'
                   'echo "half a dump" > "$2"\necho "pg_dump: error: out of disk space" >&2\nexit 1\n')
    os.chmod(os.path.join(broken, "pg_dump"), 0o755)
    cluster.host.env["PATH"] = f"{broken}:{cluster.host.env['PATH']}"

    outcome = cluster.settings({"password_encryption": "md5"})

    assert not outcome.ok
    assert "out of disk space" in outcome.stderr
    assert dumps(cluster.backups) == []
    assert not os.path.exists(cluster.dropin)


def test_a_backup_directory_the_deploy_did_not_create_keeps_its_owner(cluster):
    """An operator's shared directory (root's, writable by all, sticky like /tmp): dumps go in,
    but the deploy does not take it over."""
    os.makedirs(cluster.backups)
    os.chmod(cluster.backups, 0o1777)

    assert cluster.settings({"password_encryption": "md5"}).ok

    status = os.stat(cluster.backups)
    assert (status.st_uid, status.st_mode & 0o7777) == (0, 0o1777)
    assert any(name.startswith("globals-") for name in os.listdir(cluster.backups))


def test_a_backup_directory_postgres_cannot_write_is_refused_by_name(cluster):
    os.makedirs(cluster.backups, mode=0o755)

    outcome = cluster.settings({"password_encryption": "md5"})

    assert not outcome.ok
    assert f"maas_pg_backup_dir {cluster.backups} on pg1 is not writable by the postgres user" \
        in outcome.stderr
    assert os.stat(cluster.backups).st_uid == 0
    assert not os.path.exists(cluster.dropin)


def test_the_deploy_creates_a_missing_backup_directory_private_to_postgres(cluster):
    assert cluster.settings({"password_encryption": "md5"}).ok
    status = os.stat(cluster.backups)
    assert pwd.getpwuid(status.st_uid).pw_name == "postgres" and status.st_mode & 0o777 == 0o700
