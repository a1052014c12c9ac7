"""Lab test equipment (MAAS stand-in): MAAS's own TLS (`maas config-tls enable`).

As MAAS (src/maasserver/management/commands/config_tls.py, regiondservices/http.py and
templates/http/regiond.nginx.conf.template): the certificate, key and optional CA certificate
and the port (default 5443) are cluster-wide, in the database; every region then serves HTTPS
on that port with the full chain in <http config dir>/certs/regiond-proxy.pem, and on 5240 keeps
answering in plain HTTP only what machines and racks need (RPC, metadata, enlistment, scripts,
images); every other /MAAS path answers 301 to https://<Host header's host>:<port><same URI>,
and any other path 404. A region picks up a change at its next heartbeat (MAAS: at once,
through a database notification).
"""
import os
import ssl
import threading
from http.server import ThreadingHTTPServer

from . import conffile, db, paths

DEFAULT_PORT = 5443
# what nginx keeps serving on 5240 when TLS is on (prefix match, or exact for "=")
PLAIN_PREFIXES = ("/MAAS/rpc/", "/MAAS/metadata/", "/MAAS/api/2.0/machines", "/MAAS/machine-resources/",
                  "/MAAS/images-stream", "/MAAS/boot-resources/")
PLAIN_EXACT = ("/MAAS/maas-run-scripts",)


def redirect(path, host_header, port):
    """For a plain-HTTP request with TLS on: None to serve it, "" for 404, else the Location."""
    uri_path = path.split("?", 1)[0]
    if uri_path in PLAIN_EXACT or uri_path.startswith(PLAIN_PREFIXES):
        return None
    if not uri_path.startswith("/MAAS"):
        return ""
    host = (host_header or "localhost").strip()
    if host.startswith("["):
        host = host[:host.index("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return "https://%s:%d%s" % (host, port, path)


def certs_dir():
    base = os.path.join(paths.snap_data(), "http") if paths.is_snap() else os.path.join(paths.data_dir(), "http")
    return os.path.join(base, "certs")


def read_config(cur):
    """(port, cert, key, cacert) when TLS is on, else None."""
    cert = db.get_config(cur, "tls_cert")
    if not cert:
        return None
    port = int(db.get_config(cur, "tls_port") or DEFAULT_PORT)
    return port, cert, db.get_config(cur, "tls_key"), db.get_config(cur, "tls_cacert") or ""


def follow_config(region, conn, handler, bind):
    """Start serving HTTPS when TLS is turned on (and the redirects on 5240 with it)."""
    with conn.cursor() as cur:
        config = read_config(cur)
    conn.rollback()
    if config is None or region.tls_server is not None:
        return
    port, cert, key, cacert = config
    chain = os.path.join(certs_dir(), "regiond-proxy.pem")
    key_path = os.path.join(certs_dir(), "regiond-proxy-key.pem")
    conffile.atomic_write(chain, cert.strip() + "\n" + (cacert.strip() + "\n" if cacert else ""), mode=0o644)
    conffile.atomic_write(key_path, key, mode=0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(chain, key_path)
    server = ThreadingHTTPServer((bind, port), handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    region.tls_server = server
    region.tls_port = port
    threading.Thread(target=server.serve_forever, daemon=True).start()


def enable(conn, key, cert, cacert, port):
    """`config-tls enable`: store the certificate and port for every region."""
    with conn.cursor() as cur:
        db.set_config(cur, "tls_cert", cert)
        db.set_config(cur, "tls_key", key)
        db.set_config(cur, "tls_cacert", cacert or "")
        db.set_config(cur, "tls_port", str(port))
    conn.commit()
