"""Lab test equipment (MAAS stand-in): the region controller daemon `regiond`.

Reads regiond.conf, waits (for ever, as MAAS's start_up() does) until its PostgreSQL is
reachable and migrated, keeps all state in that database, writes the shared secret and
maas_id, registers itself as a region controller and serves the API and rack RPC on :5240.
On a 3.5+ deb region the API answers only while the units beside regiond run with the same
database settings (region_units.py).
"""
import logging
import os
import queue
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import api, conffile, db, logutil, model, netinfo, paths, region_units, tls, vault

log = logging.getLogger("maas.regiond")

IDLE_CONNECTIONS = 8
START_UP_PAUSE = 3.0  # seconds, as MAAS's start_up()


class Region:
    """This region's identity and shared state for request handlers."""

    def __init__(self, conf):
        self.conf = conf
        self.hostname = netinfo.hostname()
        self.version = paths.version()
        self.eventloop = "%s:pid=%d" % (self.hostname, os.getpid())
        self.secret = None
        self.system_id = None
        self.node_id = None
        self.local = threading.local()
        self.stopping = threading.Event()
        # Idle connections shared by the request threads. ThreadingHTTPServer starts a thread
        # per request, so a per-thread connection would mean a new PostgreSQL session (fork and
        # password exchange) for every rack heartbeat; MAAS's regiond keeps its connections
        # (database_conn_max_age), and so does this stand-in.
        self.idle = queue.LifoQueue(maxsize=IDLE_CONNECTIONS)
        self.tls_port = None  # MAAS TLS on: the HTTPS port (tls.py)
        self.tls_server = None

    def conn(self):
        """A per-thread database connection (reconnecting after failures)."""
        conn = getattr(self.local, "conn", None)
        if conn is None or conn.closed:
            conn = db.connect(self.conf)
            self.local.conn = conn
        return conn

    def drop_conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
        self.local.conn = None

    def checkout(self):
        """A connection for one request: an idle one if there is one, else a new one."""
        try:
            conn = self.idle.get_nowait()
        except queue.Empty:
            conn = None
        if conn is None or conn.closed:
            conn = db.connect(self.conf)
        return conn

    def checkin(self, conn, broken=False):
        """Return a request's connection; a broken one is closed with every idle one."""
        if not broken and not conn.closed:
            try:
                conn.rollback()  # never hand on an open transaction
                self.idle.put_nowait(conn)
                return
            except (queue.Full, Exception):
                pass
        _close(conn)
        if broken:  # the database went away: the idle ones are stale too
            while True:
                try:
                    _close(self.idle.get_nowait())
                except queue.Empty:
                    break

    def heartbeat(self):
        with self.conn().cursor() as cur:
            cur.execute("UPDATE maasserver_node SET region_last_seen = now(), region_eventloop = %s, "
                        "region_port = %s WHERE id = %s", (self.eventloop, paths.http_port(), self.node_id))
            cur.execute("DELETE FROM piston3_nonce WHERE created < now() - interval '1 hour'")
        self.conn().commit()


def _close(conn):
    try:
        conn.close()
    except Exception:
        pass


def write_secret_file(secret):
    """The secret file as MAAS's region writes it: no newline, maas:maas 0640 (deb)."""
    path = paths.secret_file()
    if paths.read_text(path) == secret:
        return
    conffile.atomic_write(path, secret)
    os.chmod(path, 0o640)


def write_maas_id(system_id):
    if paths.read_maas_id() != system_id:
        conffile.atomic_write(paths.maas_id_file(), system_id, mode=0o640)


def make_handler(region):
    class Handler(BaseHTTPRequestHandler):
        server_version = "maas-standin"
        sys_version = ""

        def log_message(self, fmt, *args):
            log.debug("%s %s", self.address_string(), fmt % args)

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            plain = self.server is not region.tls_server
            if plain and region.tls_port:
                location = tls.redirect(self.path, self.headers.get("Host"), region.tls_port)
                if location is not None:
                    status, payload = (301, b"") if location else (404, b"Not Found")
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Type", api.TEXT)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
            req = api.Request(self.command, self.path, self.headers, body, self.client_address[0])
            status, payload, ctype, headers = 500, b"Internal server error", api.TEXT, {}
            unavailable = req.path.startswith("/MAAS/api/") and region_units.stale(region.conf)
            if unavailable:
                status, payload = 503, ("MAAS API unavailable: " + "; ".join(
                    "%s %s" % (unit, why) for unit, why in unavailable)).encode()
            for attempt in (() if unavailable else (1, 2)):
                conn = None
                try:
                    conn = region.checkout()
                    if req.path.startswith("/MAAS/rpc/") or req.path == "/MAAS/rpc":
                        status, payload, ctype, headers = api.handle_rpc(region, conn, req)
                    elif req.path.startswith("/MAAS/api/"):
                        status, payload, ctype, headers = api.handle_api(region, conn, req)
                    elif req.path.startswith("/MAAS/accounts/"):
                        status, payload, ctype, headers = api.handle_accounts(region, conn, req)
                    else:
                        status, payload, ctype = 404, b"Not Found", api.TEXT
                    region.checkin(conn)
                    break
                except Exception as e:  # database gone: reconnect once, else 500
                    log.error("Request %s %s failed: %s", self.command, self.path, e)
                    if conn is not None:
                        region.checkin(conn, broken=True)
                    status, payload, ctype, headers = 500, str(e).encode(), api.TEXT, {}
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


def start_up(region, target):
    """A connection to a reachable, migrated database; None when stopped while waiting.

    As MAAS's start_up(): a database error never ends regiond. It logs the error, pauses
    3 seconds and tries again, for ever, and the unit stays active; only the log says why
    the region does not come up."""
    while not region.stopping.is_set():
        try:
            conn = region.conn()
            if db.schema_ready(conn):
                conn.rollback()
                return conn
            conn.rollback()
            cause = ('django.db.utils.ProgrammingError: database %s has no MAAS schema '
                     '(run \'maas-region dbupgrade\')' % target)
        except Exception as e:
            region.drop_conn()
            cause = "django.db.utils.OperationalError: %s (database %s)" % (" ".join(str(e).split()), target)
        log.error("Database error during start-up; pausing for 3 seconds.")
        log.error(cause)
        region.stopping.wait(START_UP_PAUSE)
    return None


def main():
    logutil.setup("regiond", "regiond.log")
    path = paths.region_config()
    if not os.path.exists(path):
        log.error("Configuration file %s does not exist; regiond cannot start.", path)
        sys.exit(1)
    try:
        conf = conffile.load(path)
    except (conffile.ConfigError, Exception) as e:
        log.error("Unable to read %s: %s; regiond cannot start.", path, e)
        sys.exit(1)
    region = Region(conf)
    target = db.describe_target(conf)
    server = None

    def stop(signum, frame):
        region.stopping.set()
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    conn = start_up(region, target)
    if conn is None:
        log.info("regiond stopped.")
        return
    region.secret = db.get_or_create_secret(conn)
    write_secret_file(region.secret)
    with conn.cursor() as cur:
        node = model.register_controller(cur, region.hostname, paths.read_maas_id(), 3, region.version,
                                         netinfo.interfaces())
    conn.commit()
    region.system_id, region.node_id = node["system_id"], node["id"]
    write_maas_id(region.system_id)
    with conn.cursor() as cur:
        vault_enabled = db.get_config(cur, "vault_enabled") == "true"
    conn.rollback()
    try:
        vault.migrate_credentials_if_necessary(vault_enabled, log)
    except OSError as e:
        # as MAAS's start-up: a failed save of regiond.conf stops the region
        log.error("Unable to save %s while migrating the database credentials: %s", paths.region_config(), e)
        sys.exit(1)
    region.heartbeat()
    bind = os.environ.get("MAAS_STANDIN_BIND", "0.0.0.0")
    server = ThreadingHTTPServer((bind, paths.http_port()), make_handler(region))
    server.daemon_threads = True
    log.info("Region controller '%s' (%s) running MAAS %s; database %s; serving http://%s:%d/MAAS/ as %s.",
             region.system_id, region.hostname, region.version, target, bind, paths.http_port(), region.eventloop)

    handler = make_handler(region)

    def tls_follows_config():
        try:
            tls.follow_config(region, region.conn(), handler, bind)
        except Exception as e:
            log.error("Unable to configure TLS: %s", e)
            region.drop_conn()

    tls_follows_config()

    def beat():
        interval = float(os.environ.get("MAAS_STANDIN_HEARTBEAT", "10"))
        while not region.stopping.wait(interval):
            try:
                region.heartbeat()
            except Exception as e:
                log.error("Database heartbeat failed: %s", e)
                region.drop_conn()
            tls_follows_config()

    threading.Thread(target=beat, daemon=True).start()
    if region.stopping.is_set():  # stopped while starting
        server.server_close()
    else:
        server.serve_forever()
    try:
        region.drop_conn()
        conn = db.connect(conf)
        with conn.cursor() as cur:
            cur.execute("UPDATE maasserver_node SET region_last_seen = NULL WHERE id = %s", (region.node_id,))
        conn.commit()
        conn.close()
    except Exception:
        pass
    log.info("regiond stopped.")


if __name__ == "__main__":
    main()
