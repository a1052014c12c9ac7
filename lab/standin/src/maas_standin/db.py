"""Lab test equipment (MAAS stand-in): the region's PostgreSQL schema and helpers.

All region state lives in the database named in regiond.conf, so several regions
on one database see the same controllers, users, networks and secret.
"""
import base64
import hashlib
import hmac
import os
import secrets
import string

from . import conffile, vault

SYSTEM_ID_CHARS = "34678abcdefghkmnpqrstwxy"
KEY_CHARS = string.ascii_letters + string.digits

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS maasserver_config (
        name text PRIMARY KEY, value text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS maasserver_node (
        id serial PRIMARY KEY,
        system_id varchar(6) UNIQUE NOT NULL,
        hostname text UNIQUE NOT NULL,
        node_type integer NOT NULL,
        version text,
        created timestamptz NOT NULL DEFAULT now(),
        region_eventloop text,
        region_port integer,
        region_last_seen timestamptz)""",
    """CREATE TABLE IF NOT EXISTS auth_user (
        id serial PRIMARY KEY,
        username text UNIQUE NOT NULL,
        email text NOT NULL DEFAULT '',
        password text NOT NULL,
        is_superuser boolean NOT NULL DEFAULT false,
        date_joined timestamptz NOT NULL DEFAULT now(),
        last_login timestamptz)""",
    """CREATE TABLE IF NOT EXISTS piston3_consumer (
        id serial PRIMARY KEY,
        name text NOT NULL DEFAULT '',
        key varchar(18) UNIQUE NOT NULL,
        secret varchar(32) NOT NULL DEFAULT '',
        user_id integer NOT NULL REFERENCES auth_user(id) ON DELETE CASCADE)""",
    """CREATE TABLE IF NOT EXISTS piston3_token (
        id serial PRIMARY KEY,
        key varchar(18) UNIQUE NOT NULL,
        secret varchar(32) NOT NULL,
        consumer_id integer NOT NULL REFERENCES piston3_consumer(id) ON DELETE CASCADE,
        user_id integer NOT NULL REFERENCES auth_user(id) ON DELETE CASCADE)""",
    """CREATE TABLE IF NOT EXISTS piston3_nonce (
        id serial PRIMARY KEY,
        consumer_key text NOT NULL, token_key text NOT NULL, key text NOT NULL,
        created timestamptz NOT NULL DEFAULT now(),
        UNIQUE (consumer_key, token_key, key))""",
    """CREATE TABLE IF NOT EXISTS maasserver_fabric (
        id serial PRIMARY KEY, name text UNIQUE NOT NULL, class_type text)""",
    """CREATE TABLE IF NOT EXISTS maasserver_vlan (
        id serial PRIMARY KEY,
        name text,
        vid integer NOT NULL,
        fabric_id integer NOT NULL REFERENCES maasserver_fabric(id) ON DELETE CASCADE,
        mtu integer NOT NULL DEFAULT 1500,
        dhcp_on boolean NOT NULL DEFAULT false,
        external_dhcp text,
        primary_rack_id integer REFERENCES maasserver_node(id) ON DELETE SET NULL,
        secondary_rack_id integer REFERENCES maasserver_node(id) ON DELETE SET NULL,
        relay_vlan_id integer REFERENCES maasserver_vlan(id) ON DELETE SET NULL,
        description text NOT NULL DEFAULT '',
        UNIQUE (fabric_id, vid))""",
    """CREATE TABLE IF NOT EXISTS maasserver_subnet (
        id serial PRIMARY KEY,
        name text NOT NULL,
        cidr cidr UNIQUE NOT NULL,
        vlan_id integer NOT NULL REFERENCES maasserver_vlan(id) ON DELETE CASCADE,
        gateway_ip inet,
        description text NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS maasserver_iprange (
        id serial PRIMARY KEY,
        subnet_id integer NOT NULL REFERENCES maasserver_subnet(id) ON DELETE CASCADE,
        type text NOT NULL,
        start_ip inet NOT NULL,
        end_ip inet NOT NULL,
        comment text NOT NULL DEFAULT '',
        user_id integer REFERENCES auth_user(id) ON DELETE SET NULL)""",
    """CREATE TABLE IF NOT EXISTS maasserver_interface (
        id serial PRIMARY KEY,
        node_id integer NOT NULL REFERENCES maasserver_node(id) ON DELETE CASCADE,
        name text NOT NULL,
        mac_address text NOT NULL DEFAULT '',
        vlan_id integer REFERENCES maasserver_vlan(id) ON DELETE SET NULL,
        UNIQUE (node_id, name))""",
    """CREATE TABLE IF NOT EXISTS maasserver_staticipaddress (
        id serial PRIMARY KEY,
        interface_id integer NOT NULL REFERENCES maasserver_interface(id) ON DELETE CASCADE,
        subnet_id integer REFERENCES maasserver_subnet(id) ON DELETE CASCADE,
        ip inet NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS standin_rack_heartbeat (
        rack_id integer NOT NULL REFERENCES maasserver_node(id) ON DELETE CASCADE,
        region_id integer NOT NULL REFERENCES maasserver_node(id) ON DELETE CASCADE,
        last_seen timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (rack_id, region_id))""",
    """CREATE TABLE IF NOT EXISTS standin_schema (version integer PRIMARY KEY)""",
]

MIGRATION_NAMES = [
    "auth.0001_initial", "piston3.0001_initial", "maasserver.0001_initial",
    "maasserver.0002_networks", "maasserver.0003_controllers", "standin.0001_heartbeats",
]


def connect(conf=None):
    """A psycopg2 connection to the database named in regiond.conf."""
    import psycopg2
    if conf is None:
        _, conf = conffile.region_config()
    v = lambda k: conffile.region_value(conf, k)  # noqa: E731
    user, password, name = vault.credentials(conf)
    return psycopg2.connect(
        host=v("database_host"), port=int(v("database_port")),
        dbname=name, user=user,
        password=password, connect_timeout=int(os.environ.get("MAAS_STANDIN_DB_TIMEOUT", "5")),
        application_name="maas-standin")


def describe_target(conf):
    v = lambda k: conffile.region_value(conf, k)  # noqa: E731
    user, _, name = vault.credentials(conf)
    return "%s@%s:%s/%s" % (user, v("database_host"), v("database_port"), name)


def has_tables(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        return cur.fetchone()[0] > 0


def schema_ready(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.standin_schema') IS NOT NULL")
        return cur.fetchone()[0]


def migrate(conn, out=print):
    """Create the schema (idempotent), printing Django-style progress."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(5240)")
        fresh = not schema_ready(conn)
        for stmt in SCHEMA:
            cur.execute(stmt)
        cur.execute("INSERT INTO standin_schema (version) VALUES (1) ON CONFLICT DO NOTHING")
        cur.execute("SELECT count(*) FROM maasserver_fabric")
        if cur.fetchone()[0] == 0:
            # MAAS always has the default fabric 'fabric-0' with its untagged VLAN.
            cur.execute("INSERT INTO maasserver_fabric (id, name) VALUES (0, 'fabric-0')")
            cur.execute("INSERT INTO maasserver_vlan (name, vid, fabric_id) VALUES ('untagged', 0, 0)")
    conn.commit()
    out("Operations to perform:")
    out("  Apply all migrations: auth, maasserver, piston3, standin")
    out("Running migrations:")
    if fresh:
        for name in MIGRATION_NAMES:
            app, mig = name.split(".")
            out("  Applying %s.%s... OK" % (app, mig))
    else:
        out("  No migrations to apply.")


def get_config(cur, name):
    cur.execute("SELECT value FROM maasserver_config WHERE name = %s", (name,))
    row = cur.fetchone()
    return row[0] if row else None


def set_config(cur, name, value):
    cur.execute("INSERT INTO maasserver_config (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", (name, value))


def get_or_create_secret(conn):
    """The cluster's shared secret, created (32 lowercase hex) when missing."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(5241)")
        value = get_config(cur, "rpc_shared_secret")
        if not value:
            value = secrets.token_hex(16)
            set_config(cur, "rpc_shared_secret", value)
    conn.commit()
    return value


def new_system_id(cur):
    while True:
        sid = "".join(secrets.choice(SYSTEM_ID_CHARS) for _ in range(6))
        cur.execute("SELECT 1 FROM maasserver_node WHERE system_id = %s", (sid,))
        if not cur.fetchone():
            return sid


def random_key(n):
    return "".join(secrets.choice(KEY_CHARS) for _ in range(n))


def hash_password(password):
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100000)
    return "pbkdf2_sha256$100000$%s$%s" % (salt, base64.b64encode(digest).decode())


def check_password(encoded, password):
    """Whether `password` matches a hash_password() value."""
    try:
        algorithm, iterations, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if algorithm != "pbkdf2_sha256":
        return False
    mine = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(base64.b64encode(mine).decode(), digest)


def create_user(cur, username, email, password, superuser=True):
    cur.execute("INSERT INTO auth_user (username, email, password, is_superuser) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (username, email, hash_password(password), superuser))
    uid = cur.fetchone()[0]
    create_token(cur, uid, "")
    return uid


def create_token(cur, user_id, name):
    """A new API key `consumer:token:secret` for the user."""
    ck, tk, ts = random_key(18), random_key(18), random_key(32)
    cur.execute("INSERT INTO piston3_consumer (name, key, secret, user_id) VALUES (%s, %s, '', %s) RETURNING id",
                (name, ck, user_id))
    cid = cur.fetchone()[0]
    cur.execute("INSERT INTO piston3_token (key, secret, consumer_id, user_id) VALUES (%s, %s, %s, %s)",
                (tk, ts, cid, user_id))
    return "%s:%s:%s" % (ck, tk, ts)


def user_tokens(cur, user_id):
    """[(name, key)] of a user's API keys, oldest first."""
    cur.execute("SELECT c.name, c.key, t.key, t.secret FROM piston3_token t "
                "JOIN piston3_consumer c ON c.id = t.consumer_id WHERE t.user_id = %s ORDER BY t.id",
                (user_id,))
    return [(r[0], "%s:%s:%s" % (r[1], r[2], r[3])) for r in cur.fetchall()]
