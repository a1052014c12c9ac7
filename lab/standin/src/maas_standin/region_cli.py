"""Lab test equipment (MAAS stand-in): the `maas-region` command (deb, root only).

local_config_get|set|reset, dbupgrade, createadmin, apikey with MAAS's flags and
messages (interface doc §3.1, §3.2).
"""
import argparse
import getpass
import json
import os
import sys

import yaml

from . import conffile, db, paths, tls, vault


class CommandError(Exception):
    """Printed as `CommandError: <msg>` with exit 1, as Django does."""


def require_root(message="This utility may only be run as root."):
    if os.geteuid() != 0 and not os.environ.get("MAAS_STANDIN_ALLOW_NONROOT"):
        print(message, file=sys.stderr)
        sys.exit(1)


def drop_to_maas_group():
    """Effective gid maas and umask 007, like region_script.py/rack_script.py."""
    gid = conffile.maas_gid()
    if gid is not None:
        try:
            os.setegid(gid)
        except PermissionError:
            pass
    os.umask(0o007)


def _flag(key):
    return "--" + key.replace("_", "-")


def add_key_flags(parser, with_values):
    for key in sorted(conffile.region_keys()):
        if with_values:
            parser.add_argument(_flag(key), dest=key, default=None, metavar="VALUE")
        else:
            parser.add_argument(_flag(key), dest=key, action="store_true")


def cmd_local_config_get(opts):
    path, data = conffile.region_config()
    keys = [k for k in sorted(conffile.region_keys()) if getattr(opts, k)]
    selected = {k: conffile.region_value(data, k) for k in keys}
    if opts.format == "json":
        print(json.dumps(selected, sort_keys=True))
    elif opts.format == "plain":
        for k in keys:
            print(selected[k])
    else:
        sys.stdout.write(yaml.safe_dump(selected, default_flow_style=False))


def cmd_local_config_set(opts):
    path, data = conffile.region_config()
    keys = conffile.region_keys()
    changes = {}
    for key in sorted(keys):
        value = getattr(opts, key)
        if value is None:
            continue
        try:
            changes[key] = keys[key][1](value)
        except conffile.ConfigError as e:
            raise CommandError("%s: %s." % (key.replace("_", "-"), e))
    if changes:
        data.update(changes)
        conffile.save(path, data)
    else:
        conffile.touch(path)


def cmd_local_config_reset(opts):
    path, data = conffile.region_config()
    removed = False
    for key in conffile.region_keys():
        if getattr(opts, key) and key in data:
            del data[key]
            removed = True
    if removed:
        conffile.save(path, data)


def connect_or_fail():
    _, conf = conffile.region_config()
    try:
        return db.connect(conf)
    except Exception as e:  # psycopg2.OperationalError and friends
        raise CommandError("Unable to connect to the database %s: %s"
                           % (db.describe_target(conf), str(e).strip()))


def dbupgrade(out=print):
    conn = connect_or_fail()
    try:
        db.migrate(conn, out=out)
    finally:
        conn.close()


def cmd_dbupgrade(opts):
    dbupgrade()


def _prompt(label, secret=False):
    """One answer, as MAAS reads it: getpass for a password (stdin when there is no
    terminal), else input(); only the line break is dropped. MAAS asks again forever on
    EOF (read_input, read_password in src/maasserver/management/commands/createadmin.py);
    the stand-in fails clearly instead, since a closed stdin can never answer."""
    try:
        if secret:
            return getpass.getpass(label)
        sys.stdout.write(label)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line[:-1] if line.endswith("\n") else line
    except EOFError:
        raise CommandError("No value given for %r (stdin closed); MAAS would ask forever."
                           % label.strip().rstrip(":"))


def createadmin(username, password, email, ssh_import=None):
    """Create a superuser; silent on success. Prompts as MAAS's createadmin does: for each
    missing value, and for SSH keys when --ssh-import is not given and something else was
    missing."""
    prompt_ssh_import = ssh_import is None and (username is None or password is None or email is None)
    if username is None:
        username = _prompt("Username: ")
        if not username:
            raise CommandError("You must input a username or provide it with --username.")
    if password is None:
        password = _prompt("Password: ", secret=True)
        again = _prompt("Again: ", secret=True)
        if again != password:
            raise CommandError("Passwords do not match")
        if not password:
            raise CommandError("Passwords cannot be empty")
    if email is None:
        email = _prompt("Email: ")
        if not email:
            raise CommandError("You must input an email or provide it with --email")
    if prompt_ssh_import:
        ssh_import = _prompt("Import SSH keys [] (lp:user-id or gh:user-id): ")
    if ssh_import:
        raise CommandError("The stand-in cannot import SSH keys (no network): %s" % ssh_import)
    conn = connect_or_fail()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM auth_user WHERE username = %s", (username,))
            if cur.fetchone():
                print("AlreadyExistingUser: A user with the username %s already exists." % username,
                      file=sys.stderr)
                sys.exit(1)
            cur.execute("SELECT 1 FROM auth_user WHERE email = %s AND email <> ''", (email,))
            if cur.fetchone():
                print("AlreadyExistingUser: A user with the email %s already exists." % email,
                      file=sys.stderr)
                sys.exit(1)
            db.create_user(cur, username, email, password, superuser=True)
        conn.commit()
    finally:
        conn.close()


def cmd_createadmin(opts):
    createadmin(opts.username, opts.password, opts.email, opts.ssh_import)


def apikey(username, generate=False, delete=None, name=None, with_names=False):
    if not username:
        raise CommandError("You must provide a username with --username.")
    conn = connect_or_fail()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM auth_user WHERE username = %s", (username,))
            row = cur.fetchone()
            if not row:
                raise CommandError("User does not exist.")
            uid = row[0]
            if generate:
                key = db.create_token(cur, uid, name or "")
                conn.commit()
                print(key)
                return
            if delete:
                parts = delete.split(":")
                if len(parts) != 3:
                    raise CommandError("Malformed key.")
                cur.execute("SELECT t.consumer_id FROM piston3_token t JOIN piston3_consumer c "
                            "ON c.id = t.consumer_id WHERE c.key = %s AND t.key = %s AND t.user_id = %s",
                            (parts[0], parts[1], uid))
                found = cur.fetchone()
                if not found:
                    raise CommandError("No matching api key found.")
                cur.execute("DELETE FROM piston3_consumer WHERE id = %s", (found[0],))
                conn.commit()
                return
            for tname, key in db.user_tokens(cur, uid):
                print("%s %s" % (tname, key) if with_names else key)
    finally:
        conn.close()


def cmd_apikey(opts):
    apikey(opts.username, opts.generate, opts.delete, opts.name, opts.with_names)


VAULT_CONFIGURED = """
Vault successfully configured for the region!
Once all regions in cluster are configured, use the following command to migrate secrets:

sudo maas config-vault migrate
"""


def cmd_config_vault(opts):
    """`config-vault configure|migrate|status` (management/commands/config_vault.py). The
    stand-in has no Vault server to unwrap the token with: the wrapped token is kept as the
    secret id. `migrate` does not signal the regions to restart; restart them as MAAS would."""
    path, data = conffile.region_config()
    if opts.vault_command == "configure":
        data.update({"vault_url": opts.url, "vault_approle_id": opts.approle_id,
                     "vault_secret_id": opts.wrapped_token, "vault_secrets_path": opts.secrets_path,
                     "vault_secrets_mount": opts.mount})
        conffile.save(path, data)
        print(VAULT_CONFIGURED)
        return
    conn = connect_or_fail()
    try:
        with conn.cursor() as cur:
            enabled = db.get_config(cur, "vault_enabled") == "true"
            if opts.vault_command == "status":
                print(yaml.safe_dump({"status": "enabled" if enabled else "disabled"}), end="")
                return
            if enabled:
                raise CommandError("Secrets are already migrated to Vault.")
            if not vault.configured(data):
                raise CommandError("Vault is not configured for the current region. Please use `sudo maas "
                                   "config-vault configure` command on all regions before migrating.")
            print("Migrating secrets")
            db.set_config(cur, "vault_enabled", "true")
        conn.commit()
    finally:
        conn.close()


def cmd_config_tls(opts):
    """`config-tls enable KEY CERT [--cacert CA] [-p PORT] [--yes]` (config_tls.py): the
    certificate for every region, which then serve HTTPS (tls.py). No output on success."""
    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError as e:
            raise CommandError("Unable to read %s: %s" % (path, e.strerror))
    key, cert = read(opts.key), read(opts.cert)
    cacert = read(opts.cacert) if opts.cacert else ""
    conn = connect_or_fail()
    try:
        tls.enable(conn, key, cert, cacert, opts.port)
    finally:
        conn.close()


def build_parser(prog="maas-region"):
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("local_config_get", help="Get local configuration for the MAAS region controller.")
    add_key_flags(p, with_values=False)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--yaml", dest="format", action="store_const", const="yaml")
    fmt.add_argument("--json", dest="format", action="store_const", const="json")
    fmt.add_argument("--plain", dest="format", action="store_const", const="plain")
    p.set_defaults(func=cmd_local_config_get, format="yaml")
    p = sub.add_parser("local_config_set", help="Set local configuration for the MAAS region controller.")
    add_key_flags(p, with_values=True)
    p.set_defaults(func=cmd_local_config_set)
    p = sub.add_parser("local_config_reset", help="Reset local configuration for the MAAS region controller.")
    add_key_flags(p, with_values=False)
    p.set_defaults(func=cmd_local_config_reset)
    p = sub.add_parser("dbupgrade", help="Perform a database upgrade.")
    p.set_defaults(func=cmd_dbupgrade)
    add_account_commands(sub)
    p = sub.add_parser("config-vault", help="Configure MAAS Region Vault integration.")
    vault_sub = p.add_subparsers(dest="vault_command", metavar="COMMAND")
    vault_sub.required = True
    q = vault_sub.add_parser("configure")
    for name in ("url", "approle_id", "wrapped_token", "secrets_path"):
        q.add_argument(name)
    q.add_argument("--mount", default="secret")
    q.add_argument("--yes", action="store_true")
    vault_sub.add_parser("migrate")
    vault_sub.add_parser("status")
    p.set_defaults(func=cmd_config_vault)
    p = sub.add_parser("config-tls", help="Configure MAAS Region TLS.")
    tls_sub = p.add_subparsers(dest="tls_command", metavar="COMMAND")
    tls_sub.required = True
    q = tls_sub.add_parser("enable")
    q.add_argument("key")
    q.add_argument("cert")
    q.add_argument("--cacert")
    q.add_argument("-p", "--port", type=int, default=tls.DEFAULT_PORT)
    q.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_config_tls)
    return parser


def add_account_commands(sub):
    p = sub.add_parser("createadmin", help="Create a MAAS administrator account.")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--email")
    p.add_argument("--ssh-import")
    p.set_defaults(func=cmd_createadmin)
    p = sub.add_parser("apikey", help="Used to manage a user's API keys.")
    p.add_argument("--username")
    p.add_argument("--generate", action="store_true")
    p.add_argument("--delete", metavar="KEY")
    p.add_argument("--name")
    p.add_argument("--with-names", action="store_true")
    p.set_defaults(func=cmd_apikey)


def run(func, opts):
    try:
        func(opts)
    except CommandError as e:
        print("CommandError: %s" % e, file=sys.stderr)
        sys.exit(1)


def main(argv=None):
    require_root()
    drop_to_maas_group()
    opts = build_parser().parse_args(argv)
    run(opts.func, opts)


if __name__ == "__main__":
    main()
