"""Lab test equipment (MAAS stand-in): the `maas` API command line.

login/list/logout/refresh and the profile commands built from the region's
`describe` document, signed with OAuth 1.0 PLAINTEXT; POST/PUT bodies are
multipart with base64 parts (interface doc §4).  In the snap flavour the snap's
local commands (init, config, status, ...) are added; the deb flavour passes
createadmin/apikey through to maas-region.
"""
import argparse
import base64
import json
import os
import random
import re
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from . import _build

SNAP_COMMANDS = ("init", "config", "status", "migrate", "createadmin", "apikey")


def flavour():
    return os.environ.get("MAAS_STANDIN_FLAVOUR", _build.FLAVOUR)


# --- profiles ---------------------------------------------------------------------

def db_path():
    return os.path.join(os.path.expanduser("~"), ".maascli.db")


def open_profiles():
    path = db_path()
    new = not os.path.exists(path)
    if new:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS profiles (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                 "data BLOB)")
    os.chmod(path, 0o600)
    return conn


def load_profiles():
    if not os.path.exists(db_path()):
        return {}
    conn = open_profiles()
    with conn:
        rows = conn.execute("SELECT name, data FROM profiles ORDER BY name").fetchall()
    return {name: json.loads(data) for name, data in rows}


def save_profile(profile):
    conn = open_profiles()
    with conn:
        conn.execute("INSERT INTO profiles (name, data) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                     "data = excluded.data", (profile["name"], json.dumps(profile)))


def delete_profile(name):
    conn = open_profiles()
    with conn:
        conn.execute("DELETE FROM profiles WHERE name = ?", (name,))


# --- HTTP -------------------------------------------------------------------------

def oauth_header(credentials):
    """OAuth 1.0 PLAINTEXT header as oauthlib builds it for MAAS's client."""
    ck, tk, ts = credentials
    stamp = int(time.time())
    nonce = "%d%d" % (random.getrandbits(64), stamp)
    sig = urllib.parse.quote("&" + urllib.parse.quote(ts, safe="~"), safe="~")
    return ('OAuth oauth_nonce="%s", oauth_timestamp="%d", oauth_version="1.0", '
            'oauth_signature_method="PLAINTEXT", oauth_consumer_key="%s", oauth_token="%s", '
            'oauth_signature="%s"' % (nonce, stamp, urllib.parse.quote(ck, safe="~"),
                                      urllib.parse.quote(tk, safe="~"), sig))


def encode_multipart(data):
    """multipart/form-data with base64 parts, as apiclient.multipart does."""
    boundary = uuid.uuid4().hex
    lines = []
    for name, value in data:
        lines += ["--" + boundary,
                  'Content-Type: text/plain; charset="utf-8"',
                  "MIME-Version: 1.0",
                  "Content-Transfer-Encoding: base64",
                  'Content-Disposition: form-data; name="%s"' % name,
                  "",
                  base64.b64encode(str(value).encode()).decode()]
    lines += ["--" + boundary + "--", ""]
    return "\r\n".join(lines).encode(), "multipart/form-data; boundary=%s" % boundary


class _Redirects(urllib.request.HTTPRedirectHandler):
    """As httplib2 (MAAS's CLI): a redirect is followed for GET and HEAD only (any other
    method gets the redirect as its answer), and without the Authorization header."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if req.get_method() not in ("GET", "HEAD"):
            return None
        follow = super().redirect_request(req, fp, code, msg, headers, newurl)
        if follow is not None:
            follow.remove_header("Authorization")
        return follow


def tls_context(cacerts=None, insecure=False):
    """httplib2's: the certificate checked, names included, against the profile's CA
    certificates (`--cacerts`), else the system's; nothing checked with -k/--insecure."""
    import ssl
    context = ssl.create_default_context(cafile=cacerts)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def materialize_certificate(profile):
    """The profile's CA certificates as a file for the TLS context (MAAS: ~/.maascli.certs)."""
    if not profile.get("cacerts"):
        return None
    path = os.path.join(os.path.expanduser("~"), ".maascli.certs", profile["name"] + ".pem")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(profile["cacerts"])
    return path


def http(method, url, credentials=None, body=None, ctype=None, cacerts=None, insecure=False):
    headers = {}
    if credentials:
        headers["Authorization"] = oauth_header(credentials)
    if ctype:
        headers["Content-Type"] = ctype
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    opener = urllib.request.build_opener(
        _Redirects, urllib.request.HTTPSHandler(context=tls_context(cacerts, insecure)))
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except urllib.error.URLError as e:
        if "CERTIFICATE_VERIFY_FAILED" in str(e.reason):
            print("Certificate verification failed, use --insecure/-k to disable the certificate check.\n"
                  "%s" % e.reason, file=sys.stderr)
            sys.exit(1)
        raise


def parse_key(key):
    parts = (key or "").split(":")
    if len(parts) != 3:
        return None
    return parts


def normalise_url(url):
    if not url.endswith("/"):
        url += "/"
    if not re.search(r"/api/[0-9.]+/$", url):
        url = urllib.parse.urljoin(url, "api/2.0/")
    return url


# --- commands ---------------------------------------------------------------------

def cmd_login(opts, parser):
    url = normalise_url(opts.url)
    key = opts.credentials
    if key is None:
        sys.stdout.write("API key (leave empty for anonymous access): ")
        sys.stdout.flush()
        key = sys.stdin.readline().strip()
    elif key == "-":
        key = sys.stdin.readline().strip()
    if opts.insecure and opts.cacerts:
        sys.exit("You cannot use both cacerts and insecure arguments.")
    cacerts = None
    if opts.cacerts is not None:
        with open(opts.cacerts) as f:
            cacerts = f.read()
        if "-----BEGIN CERTIFICATE-----" not in cacerts:
            print("Invalid PEM material", file=sys.stderr)
            sys.exit(2)
    tls = {"cacerts": opts.cacerts, "insecure": opts.insecure}
    credentials = None
    if key:
        credentials = parse_key(key)
        if credentials is None:
            parser.error("Invalid API key %r; expected \"<consumer_key>:<key>:<secret>\"" % key)
    try:
        if credentials:
            status, _, _ = http("GET", url + "users/?op=whoami", credentials, **tls)
            if status == 401:
                print("The MAAS server rejected your API key.", file=sys.stderr)
                sys.exit(1)
            if status != 200:
                print("The MAAS server gave an unexpected response: %d" % status, file=sys.stderr)
                sys.exit(1)
        status, headers, body = http("GET", url + "describe/", credentials, **tls)
    except (urllib.error.URLError, OSError) as e:
        parser.error("%s" % getattr(e, "reason", e))
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type")
    if status != 200 or ctype != "application/json":
        print("The MAAS server gave an unexpected response: %d" % status, file=sys.stderr)
        sys.exit(1)
    save_profile({"name": opts.profile_name, "url": url, "credentials": credentials,
                  "description": json.loads(body), "cacerts": cacerts})
    print("\nYou are now logged in to the MAAS server at\n%s with the profile name '%s'.\n\n"
          "For help with the available commands, try:\n\n  maas %s --help\n"
          % (url, opts.profile_name, opts.profile_name))


def cmd_list(opts, parser):
    for name, profile in load_profiles().items():
        creds = profile.get("credentials")
        print(" ".join([name, profile["url"], ":".join(creds) if creds else ""]).rstrip())


def cmd_logout(opts, parser):
    delete_profile(opts.profile_name)


def cmd_refresh(opts, parser):
    for profile in load_profiles().values():
        # as MAAS's: without the profile's CA certificates
        status, _, body = http("GET", profile["url"] + "describe/", profile.get("credentials"))
        if status == 200:
            profile["description"] = json.loads(body)
            save_profile(profile)


def handler_command_name(name):
    """RackControllersHandler -> rack-controllers, IPRangesHandler -> ipranges."""
    name = re.sub(r"Handler$", "", re.sub(r"^Anon", "", name))
    parts = re.findall(r"[A-Z]+[a-z0-9]*", name)
    return "-".join(p.lower() for p in parts)


def run_action(profile, handler, action, opts, parser):
    path = handler["path"]
    for param in handler["params"]:
        path = path.replace("{%s}" % param, urllib.parse.quote(str(getattr(opts, param)), safe=""))
    split = urllib.parse.urlsplit(profile["url"])
    url = "%s://%s%s" % (split.scheme, split.netloc, path)
    data = []
    for item in getattr(opts, "data", None) or []:
        if "=" not in item:
            parser.error("%r is not a name=value pair" % item)
        data.append(tuple(item.split("=", 1)))
    query = [("op", action["op"])] if action["op"] else []
    body = ctype = None
    if action["method"] in ("GET", "DELETE"):
        query += data
    else:
        body, ctype = encode_multipart(data)
    if query:
        url += "?" + urllib.parse.urlencode(query)
    try:
        status, headers, content = http(action["method"], url, profile.get("credentials"), body, ctype,
                                        cacerts=materialize_certificate(profile),
                                        insecure=getattr(opts, "insecure", False))
    except (urllib.error.URLError, OSError) as e:
        parser.error("%s" % getattr(e, "reason", e))
    server_hash = {k.lower(): v for k, v in headers.items()}.get("x-maas-api-hash")
    if server_hash and server_hash != profile["description"].get("hash"):
        print("**********************************************************************\n"
              "*** WARNING! The API on the server differs from the description that\n"
              "*** is cached locally. This may result in failed API calls. Refresh\n"
              "*** the local API description with `maas refresh`.\n"
              "**********************************************************************", file=sys.stderr)
    tty = sys.stdout.isatty()
    if 200 <= status < 300:
        if tty:
            print("Success.")
            print("Machine-readable output follows:")
    sys.stdout.write(content.decode("utf-8", "replace"))
    if tty:
        sys.stdout.write("\n")
    sys.stdout.flush()
    if not 200 <= status < 300:
        sys.exit(2)


def add_profile_commands(sub, profile):
    pparser = sub.add_parser(profile["name"], help="Interact with %s" % profile["url"])
    psub = pparser.add_subparsers(dest="resource", metavar="COMMAND")
    psub.required = True
    anonymous = not profile.get("credentials")
    for resource in sorted(profile["description"]["resources"], key=lambda r: r["name"]):
        handlers = [resource["anon"]] if anonymous else [resource["auth"], resource["anon"]]
        handlers = [h for h in handlers if h]
        if not handlers:
            continue
        actions = {}
        for handler in handlers:
            for action in handler["actions"]:
                actions.setdefault(action["name"], (handler, action))
        rparser = psub.add_parser(handler_command_name(resource["name"]), help=handlers[0]["doc"].split("\n")[0])
        asub = rparser.add_subparsers(dest="action", metavar="COMMAND")
        asub.required = True
        for name, (handler, action) in sorted(actions.items()):
            aparser = asub.add_parser(name.replace("_", "-"), help=action["doc"].split("\n")[0],
                                      description=action["doc"],
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
            for param in handler["params"]:
                aparser.add_argument(param)
            if ":param" in (action["doc"] or ""):
                aparser.add_argument("data", nargs="*", metavar="key=value")
            aparser.add_argument("-d", "--debug", action="store_true")
            aparser.add_argument("-k", "--insecure", action="store_true")
            aparser.set_defaults(func=lambda o, p, _h=handler, _a=action, _pr=profile: run_action(_pr, _h, _a, o, p))


def passthrough_region(opts, parser):
    """Deb: `maas createadmin|apikey` run maas-region (root only)."""
    if os.geteuid() != 0 and not os.environ.get("MAAS_STANDIN_ALLOW_NONROOT"):
        print("You can only '%s' as root." % opts.command, file=sys.stderr)
        sys.exit(1)
    region = os.environ.get("MAAS_STANDIN_MAAS_REGION", "/usr/sbin/maas-region")
    if not os.path.exists(region):
        print("'maas %s' needs the region controller (maas-region-api) installed." % opts.command,
              file=sys.stderr)
        sys.exit(1)
    os.execv(region, [region, opts.command] + opts.rest)


def build_parser(profiles):
    parser = argparse.ArgumentParser(prog="maas", description="Issue commands to the MAAS region controller.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("login", help="Log in to a remote API, and remember its description and credentials.")
    p.add_argument("profile_name")
    p.add_argument("url")
    p.add_argument("credentials", nargs="?", default=None)
    p.add_argument("--cacerts")
    p.add_argument("-k", "--insecure", action="store_true")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="Log out of a remote API, purging any stored credentials.")
    p.add_argument("profile_name")
    p.set_defaults(func=cmd_logout)
    p = sub.add_parser("list", help="List remote APIs that have been logged-in to.")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("refresh", help="Refresh the API descriptions of all profiles.")
    p.set_defaults(func=cmd_refresh)
    if flavour() == "snap":
        from maas_standin import snapcli
        snapcli.add_commands(sub)
    else:
        for name in ("createadmin", "apikey"):
            sub.add_parser(name, help="Run 'maas-region %s' (root only)." % name)
    for profile in profiles.values():
        if profile["name"] in ("login", "logout", "list", "refresh") + SNAP_COMMANDS:
            continue
        add_profile_commands(sub, profile)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if flavour() != "snap" and argv and argv[0] in ("createadmin", "apikey"):
        passthrough_region(argparse.Namespace(command=argv[0], rest=argv[1:]), None)
    parser = build_parser(load_profiles())
    opts = parser.parse_args(argv)
    opts.func(opts, parser)


if __name__ == "__main__":
    main()
