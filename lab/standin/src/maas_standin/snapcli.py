"""Lab test equipment (MAAS stand-in): the snap's local `maas` commands.

init / config / status / migrate / createadmin / apikey as in MAAS's
src/maascli/snap.py (interface doc §3.4).  Every command refuses non-root.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

from . import conffile, db, netinfo, paths, region_cli

REGION_MODES = ("region", "region+rack")


def service_unit():
    """systemd unit of the snap's service manager (supervisord on 3.4, pebble on 3.5+)."""
    return "snap.maas.supervisor.service" if paths.series() == "3.4" else "snap.maas.pebble.service"


def require_root(cmd):
    if os.geteuid() != 0 and not os.environ.get("MAAS_STANDIN_ALLOW_NONROOT"):
        print("The '%s' command must be run by root." % cmd, file=sys.stderr)
        sys.exit(1)


def systemctl(action):
    subprocess.run([paths.systemctl(), action, service_unit()], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def prompt(label, default=None):
    """Ask one question as MAAS's required_prompt does (input(): only the line break is
    dropped; asked again while empty).  MAAS loops forever on EOF; the stand-in fails clearly
    instead, because a closed stdin can never answer (pass every flag in scripts)."""
    while True:
        sys.stdout.write(label)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            fail("\nError: stdin is closed while prompting for %r; pass the value as a flag."
                 % label.strip().rstrip(":"))
        line = line[:-1] if line.endswith("\n") else line
        if line:
            return line
        if default is not None:
            return default


def default_maas_url():
    ips = netinfo.ip_addresses()
    return "http://%s:5240/MAAS" % (ips[0] if ips else "localhost")


def write_snap_mode(mode):
    conffile.atomic_write(paths.snap_mode_file(), mode, mode=0o644)


def cmd_init(opts):
    require_root("init")
    mode = opts.run_mode
    current = paths.snap_mode()
    if current != "none" and not opts.force:
        sys.stdout.write("Are you sure you want to initialize again (yes/no) [default=no]? ")
        sys.stdout.flush()
        answer = sys.stdin.readline()
        if not answer:
            fail("\nError: stdin is closed; use --force to initialize again.")
        if answer.strip().lower() not in ("y", "yes"):
            sys.exit(0)
    maas_url = opts.maas_url or prompt("MAAS URL [default=%s]: " % default_maas_url(), default_maas_url())
    dbconf = None
    if mode in REGION_MODES:
        uri = opts.database_uri or prompt("Database URI: ")
        try:
            dbconf = conffile.parse_database_uri(uri)
        except conffile.ConfigError as e:
            fail("Error: %s" % e)
    secret = None
    if mode == "rack":
        secret = opts.secret or prompt("Secret: ")
    print("Stopping services")
    systemctl("stop")
    os.makedirs(os.path.join(paths.snap_data(), "certificates"), exist_ok=True)
    for name in os.listdir(os.path.join(paths.snap_data(), "certificates")):
        os.unlink(os.path.join(paths.snap_data(), "certificates", name))
    rpath, rdata = conffile.region_config()
    rdata["maas_url"] = maas_url
    if dbconf:
        rdata.update(dbconf)
    conffile.save(rpath, rdata)
    kpath = paths.rack_config()
    kdata = conffile.load(kpath)
    kdata["maas_url"] = maas_url
    conffile.save(kpath, kdata)
    if mode == "rack":
        conffile.write_secret(secret)
    else:
        try:
            os.unlink(paths.secret_file())
        except FileNotFoundError:
            pass
    if mode in REGION_MODES:
        try:
            conn = db.connect(rdata)
        except Exception as e:
            fail("Error: unable to connect to the database %s: %s" % (db.describe_target(rdata), str(e).strip()))
        try:
            if not db.has_tables(conn):
                print("Performing database migrations")
                db.migrate(conn, out=lambda *a: None)
        finally:
            conn.close()
    write_snap_mode(mode)
    print("Starting services")
    systemctl("restart")
    if mode in REGION_MODES and current == "none":
        print("MAAS has been set up.\n\nIf you want to configure external authentication or use\nMAAS with "
              "Canonical RBAC, please run\n\n  sudo maas configauth\n\nTo create admins when not using "
              "external authentication, run\n\n  sudo maas createadmin\n")


def config_lines(mode, show_db_pass, show_secret):
    _, data = conffile.region_config()
    lines = ["mode=%s" % mode]
    if mode == "none":
        return lines
    lines.append("maas_url=%s" % data.get("maas_url"))
    if "debug" in data:
        lines.append("debug=%s" % data["debug"])
    if mode in REGION_MODES:
        for key in ("database_host", "database_port", "database_name", "database_user"):
            lines.append("%s=%s" % (key, data.get(key)))
        lines.append("database_pass=%s" % (data.get("database_pass") if show_db_pass else "(hidden)"))
    if mode == "rack":
        lines.append("secret=%s" % (paths.read_secret() if show_secret else "(hidden)"))
    if mode != "rack":
        for key in ("num_workers", "debug_queries"):
            if key in data:
                lines.append("%s=%s" % (key, data[key]))
    return lines


def cmd_config(opts):
    require_root("config")
    mode = paths.snap_mode()
    settings = {"--maas-url": opts.maas_url, "--secret": opts.secret, "--num-workers": opts.num_workers,
                "--enable-debug/--disable-debug": opts.debug, "--enable-debug-queries/--disable-debug-queries":
                opts.debug_queries}
    given = [k for k, v in settings.items() if v is not None]
    if not given:
        lines = config_lines(mode, opts.show_database_password, opts.show_secret)
        if opts.parsable:
            print("\n".join(lines))
        else:
            print("Mode: %s" % mode)
            if mode != "none":
                print("Settings:")
                print("\n".join(lines[1:]))
        return
    if mode == "none":
        fail("MAAS is not configured")
    unsupported = []
    if opts.secret is not None and mode != "rack":
        unsupported.append("--secret")
    if mode == "rack":
        for flag, value in (("--num-workers", opts.num_workers), ("--enable-debug-queries", opts.debug_queries)):
            if value is not None:
                unsupported.append(flag)
    if unsupported:
        fail("Following flags are not supported in '%s' mode: %s" % (mode, ", ".join(unsupported)))
    rpath, rdata = conffile.region_config()
    kpath = paths.rack_config()
    kdata = conffile.load(kpath)
    before = (dict(rdata), dict(kdata))
    if opts.maas_url is not None:
        rdata["maas_url"] = opts.maas_url
        kdata["maas_url"] = opts.maas_url
    if opts.debug is not None:
        rdata["debug"] = opts.debug
        kdata["debug"] = opts.debug
    if opts.num_workers is not None:
        rdata["num_workers"] = opts.num_workers
    if opts.debug_queries is not None:
        rdata["debug_queries"] = opts.debug_queries
    if opts.secret is not None:
        conffile.write_secret(opts.secret)
    if (rdata, kdata) != before:
        conffile.save(rpath, rdata)
        conffile.save(kpath, kdata)
        print("Restarting services")
        systemctl("restart")


def services_state():
    path = os.path.join(paths.snap_common(), "pebble", "standin-services.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _since(text):
    if not text:
        return "-"
    when = datetime.datetime.fromisoformat(text)
    now = datetime.datetime.now(datetime.timezone.utc)
    day = "today" if when.date() == now.date() else when.strftime("%Y-%m-%d")
    return "%s at %s UTC" % (day, when.strftime("%H:%M"))


def layer_services(mode):
    """(name, startup, real service it follows) per pebble layer of this mode."""
    rows = [(n, "disabled", None) for n in ("bind9", "http", "ntp", "proxy", "syslog")]
    if mode in REGION_MODES:
        rows += [("regiond", "enabled", "regiond"), ("apiserver", "enabled", "regiond"),
                 ("temporal", "enabled", "regiond"), ("temporal-worker", "enabled", "regiond")]
    if mode in ("rack", "region+rack"):
        rows += [("rackd", "enabled", "rackd"), ("dhcpd", "disabled", None), ("dhcpd6", "disabled", None),
                 ("agent", "enabled", "rackd")]
    return sorted(rows)


def cmd_status(opts):
    require_root("status")
    mode = paths.snap_mode()
    if mode == "none":
        fail("MAAS is not configured")
    state = services_state()
    rows = []
    for name, startup, follows in layer_services(mode):
        svc = state.get(follows or "", {})
        active = svc.get("current") == "active"
        rows.append((name, startup, "active" if active else "inactive", _since(svc.get("since")) if active else "-"))
    if paths.series() == "3.4":
        for name, startup, current, since in rows:
            if startup == "enabled" or current == "active":
                pid = state.get(name, {}).get("pid", 0)
                print("%-33s%s" % (name, "RUNNING   pid %s, uptime 0:00:00" % pid if current == "active"
                                   else "STOPPED   Not started"))
        return
    rows.insert(0, ("Service", "Startup", "Current", "Since"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])


def cmd_migrate(opts):
    require_root("migrate")
    mode = paths.snap_mode()
    if mode == "none":
        fail("MAAS is not configured")
    if mode == "rack":
        fail("Mode 'rack' is not a region mode; migrations can only run in 'region' or 'region+rack' mode.")
    region_cli.run(lambda o: region_cli.dbupgrade(), opts)


def cmd_createadmin(opts):
    require_root("createadmin")
    region_cli.run(region_cli.cmd_createadmin, opts)


def cmd_apikey(opts):
    require_root("apikey")
    region_cli.run(region_cli.cmd_apikey, opts)


def add_commands(sub):
    """Register the snap-only commands on the `maas` CLI parser."""
    p = sub.add_parser("init", help="Initialise MAAS in the specified run mode.")
    p.add_argument("run_mode", choices=["region+rack", "region", "rack"])
    p.add_argument("--maas-url")
    p.add_argument("--database-uri")
    for flag in ("--vault-uri", "--vault-approle-id", "--vault-wrapped-token", "--vault-secrets-path"):
        p.add_argument(flag)
    p.add_argument("--vault-secrets-mount", default="secret")
    p.add_argument("--secret")
    p.add_argument("--num-workers", type=int)
    p.add_argument("--enable-debug", dest="debug", action="store_const", const=True)
    p.add_argument("--disable-debug", dest="debug", action="store_const", const=False)
    p.add_argument("--enable-debug-queries", dest="debug_queries", action="store_const", const=True)
    p.add_argument("--disable-debug-queries", dest="debug_queries", action="store_const", const=False)
    p.add_argument("--force", action="store_true")
    p.add_argument("--skip-admin", action="store_true", help=argparse.SUPPRESS)
    for flag in ("--admin-username", "--admin-password", "--admin-email", "--admin-ssh-import",
                 "--candid-agent-file", "--candid-domain", "--candid-admin-group", "--rbac-url",
                 "--rbac-service-name"):
        p.add_argument(flag, help=argparse.SUPPRESS)
    p.set_defaults(func=lambda o, parser: cmd_init(o))
    p = sub.add_parser("config", help="View or change controller configuration.")
    p.add_argument("--show", action="store_true")
    p.add_argument("--show-database-password", action="store_true")
    p.add_argument("--show-secret", action="store_true")
    p.add_argument("--parsable", action="store_true")
    p.add_argument("--maas-url")
    p.add_argument("--secret")
    p.add_argument("--num-workers", type=int)
    p.add_argument("--enable-debug", dest="debug", action="store_const", const=True)
    p.add_argument("--disable-debug", dest="debug", action="store_const", const=False)
    p.add_argument("--enable-debug-queries", dest="debug_queries", action="store_const", const=True)
    p.add_argument("--disable-debug-queries", dest="debug_queries", action="store_const", const=False)
    for flag in ("--vault-uri", "--vault-approle-id", "--vault-wrapped-token", "--vault-secrets-path",
                 "--vault-secrets-mount"):
        p.add_argument(flag, help=argparse.SUPPRESS)
    p.set_defaults(func=lambda o, parser: cmd_config(o))
    p = sub.add_parser("status", help="Status of controller services.")
    p.set_defaults(func=lambda o, parser: cmd_status(o))
    p = sub.add_parser("migrate", help="Perform migrations on connected database.")
    p.set_defaults(func=lambda o, parser: cmd_migrate(o))
    region_cli.add_account_commands(sub)
    sub.choices["createadmin"].set_defaults(func=lambda o, parser: cmd_createadmin(o))
    sub.choices["apikey"].set_defaults(func=lambda o, parser: cmd_apikey(o))
