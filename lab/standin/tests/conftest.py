"""Lab test equipment tests: fixtures for the MAAS stand-in.

A throw-away PostgreSQL 15 cluster on 127.0.0.1 (never the system cluster), and
helpers that run the stand-in's programs with Debian's /usr/bin/python3 (which has
python3-yaml and python3-psycopg2, as lab hosts do) under a MAAS_ROOT prefix.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path.insert(0, SRC)
PGBIN = "/usr/lib/postgresql/15/bin"
PYTHON = "/usr/bin/python3"
DB_PASSWORD = "lab-db-pw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_postgres():
    return os.path.exists(os.path.join(PGBIN, "initdb")) and os.geteuid() == 0


@pytest.fixture(scope="session")
def pg():
    """A temporary PostgreSQL cluster with role `maas` and database `maasdb`."""
    if not have_postgres():
        pytest.skip("needs root and PostgreSQL 15 binaries")
    base = tempfile.mkdtemp(prefix="standin-pg-")
    shutil.chown(base, "postgres", "postgres")
    data, sock, port = os.path.join(base, "data"), base, free_port()
    run_pg = lambda *cmd: subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True,  # noqa: E731
                                         capture_output=True, text=True)
    run_pg(PGBIN + "/initdb", "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256")
    run_pg(PGBIN + "/pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "start", "-o",
           "-c listen_addresses=127.0.0.1 -p %d -k %s" % (port, sock))
    try:
        psql = lambda sql: run_pg("psql", "-h", sock, "-p", str(port), "-U", "postgres", "-v",  # noqa: E731
                                  "ON_ERROR_STOP=1", "-c", sql)
        psql("CREATE ROLE maas LOGIN PASSWORD '%s'" % DB_PASSWORD)
        yield {"port": port, "sock": sock, "psql": psql}
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", PGBIN + "/pg_ctl", "-D", data, "-m", "fast", "-w",
                        "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def database(pg, request):
    """A fresh database owned by maas for one test."""
    name = "maas_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:40].lower()
    pg["psql"]("DROP DATABASE IF EXISTS %s" % name)
    pg["psql"]("CREATE DATABASE %s OWNER maas" % name)
    return {"name": name, "port": pg["port"]}


class Host:
    """One simulated lab host: a MAAS_ROOT directory and its environment."""

    def __init__(self, base, name, address, flavour="deb", **env):
        self.name, self.address = name, address
        self.root = os.path.join(base, name)
        os.makedirs(self.root, exist_ok=True)
        self.home = os.path.join(self.root, "root")
        os.makedirs(self.home, exist_ok=True)
        self.port = free_port()
        self.env = dict(os.environ, MAAS_ROOT=self.root, PYTHONPATH=SRC, HOME=self.home,
                        MAAS_STANDIN_FLAVOUR=flavour, MAAS_STANDIN_HOSTNAME=name,
                        MAAS_STANDIN_INTERFACES="eth0=52:54:00:00:00:%02x=%s/24" % (int(address.split(".")[-1]) % 256,
                                                                                    address),
                        MAAS_STANDIN_HTTP_PORT=str(self.port), MAAS_STANDIN_BIND="127.0.0.1",
                        MAAS_STANDIN_HEARTBEAT="1", MAAS_STANDIN_DEAD_AFTER="4", MAAS_SYSTEMCTL="true",
                        # a rack's network refresh right after it connects (MAAS: 6 s and more)
                        MAAS_STANDIN_NETWORKS_INTERVAL="1", MAAS_STANDIN_BEACON_PAUSE="0",
                        MAAS_STANDIN_REFRESH_SECONDS="0",
                        PYTHONUNBUFFERED="1",
                        # no units beside regiond unless a test starts them (region_units.py)
                        MAAS_STANDIN_REGION_UNITS="")
        self.env.update(env)
        self.procs = []

    @property
    def url(self):
        return "http://127.0.0.1:%d/MAAS" % self.port

    def path(self, p):
        return self.root + p

    def run(self, module, *args, input=None, check=True):
        result = subprocess.run([PYTHON, "-m", module, *args], env=self.env, input=input, capture_output=True,
                                text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError("%s %s failed (%d):\n%s%s" % (module, args, result.returncode, result.stdout,
                                                                result.stderr))
        return result

    def maas_region(self, *args, **kw):
        return self.run("maas_standin.region_cli", *args, **kw)

    def maas_rack(self, *args, **kw):
        return self.run("maas_standin.rack_cli", *args, **kw)

    def maas(self, *args, **kw):
        return self.run("maascli_standin.cli", *args, **kw)

    def start(self, module, logname):
        log = open(os.path.join(self.root, logname), "w")
        proc = subprocess.Popen([PYTHON, "-m", module], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start_unit(self, unit):
        """One of the 3.5+ units beside regiond (region_units.py), logging to UNIT.out."""
        log = open(os.path.join(self.root, unit + ".out"), "w")
        proc = subprocess.Popen([PYTHON, "-m", "maas_standin.region_units", unit], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def log(self, logname):
        with open(os.path.join(self.root, logname)) as f:
            return f.read()

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def lab(tmp_path):
    hosts = []

    def make(name, address, **kw):
        host = Host(str(tmp_path), name, address, **kw)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop()


def configure_region(host, database):
    host.maas_region("local_config_set", "--database-host", "127.0.0.1", "--database-port",
                     str(database["port"]), "--database-name", database["name"], "--database-user", "maas",
                     "--database-pass", DB_PASSWORD, "--maas-url", host.url)


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s" % what)


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def http_status(url):
    """(status, body) of a GET, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def start_region(host, database, migrate=True):
    configure_region(host, database)
    if migrate:
        host.maas_region("dbupgrade")
    proc = host.start("maas_standin.regiond", "regiond.out")
    wait_for(lambda: http_ok(host.url + "/api/version/") or proc.poll() is not None, what="regiond")
    assert proc.poll() is None, host.log("regiond.out")
    return proc


def admin_key(host, username="admin"):
    existing = host.maas_region("apikey", "--username", username, check=False)
    if existing.returncode != 0:
        host.maas_region("createadmin", "--username", username, "--password", "pw", "--email",
                         "%s@example.com" % username)
    return host.maas_region("apikey", "--username", username).stdout.split()[0]


def api_json(host, *args):
    return json.loads(host.maas("admin", *args).stdout)
