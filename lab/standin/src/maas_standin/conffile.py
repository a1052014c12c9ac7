"""Lab test equipment (MAAS stand-in): regiond.conf / rackd.conf handling.

YAML mappings written with yaml.safe_dump(default_flow_style=False); rewrites are
atomic and keep owner/group/mode; a new file is root:maas 0640 (interface doc §1-§2).
"""
import grp
import os
import tempfile
from urllib.parse import urlparse

import yaml

from . import paths


class ConfigError(Exception):
    """A value that does not validate (message formatted like formencode)."""


def _int(lo=None, hi=None):
    def conv(value):
        if isinstance(value, bool):
            raise ConfigError("Please enter an integer value")
        try:
            num = int(value)
        except (TypeError, ValueError):
            raise ConfigError("Please enter an integer value")
        if lo is not None and num < lo:
            raise ConfigError("Please enter a number that is %d or greater" % lo)
        if hi is not None and num > hi:
            raise ConfigError("Please enter a number that is %d or smaller" % hi)
        return num
    return conv


def _bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ConfigError("Value should be %r or %r" % ("true", "false"))


def _str(value):
    return "" if value is None else str(value)


def _url(value):
    text = _str(value)
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError("You must start your URL with http://, https://, etc")
    return text


def region_keys():
    """regiond.conf keys -> (default, converter), per MAAS series."""
    keys = {
        "maas_url": ("http://localhost:5240/MAAS", _url),
        "database_host": ("localhost", _str),
        "database_port": (5432, _int(1, 65535)),
        "database_name": ("maasdb", _str),
        "database_user": ("maas", _str),
        "database_pass": ("", _str),
        "database_conn_max_age": (300, _int(0)),
        "database_keepalive": (True, _bool),
        "database_keepalive_idle": (15, _int(0)),
        "database_keepalive_interval": (15, _int(0)),
        "database_keepalive_count": (2, _int(0)),
        "vault_url": ("", _str),
        "vault_approle_id": ("", _str),
        "vault_secret_id": ("", _str),
        "vault_secrets_path": ("", _str),
        "vault_secrets_mount": ("secret", _str),
        "num_workers": (4, _int(1)),
        "debug": (False, _bool),
        "debug_queries": (False, _bool),
        "debug_http": (False, _bool),
    }
    if paths.series() != "3.4":
        keys["broadcast_address"] = ("", _str)
    return keys


def rack_defaults():
    """rackd.conf defaults for this series."""
    d = {
        "maas_url": ["http://localhost:5240/MAAS"],
        "max_idle_rpc_connections": 1,
        "max_rpc_connections": 4,
        "rpc_keepalive": 1000,
        "tftp_port": 69,
        "debug": False,
    }
    if paths.series() == "3.4":
        d["tftp_root"] = "/var/lib/maas/boot-resources/current"
    else:
        d["tftp_root"] = "/var/lib/maas/tftp_root"
        d["tftp_max_blksize"] = 8192
        d["httpproxy_cache_size"] = 20000000000
    return d


def load(path):
    """The mapping stored in path ({} when missing or empty)."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("Configuration in %s is not a mapping" % path)
    return data


def maas_gid():
    """gid of group maas, or None (tests outside a lab host)."""
    try:
        return grp.getgrnam("maas").gr_gid
    except KeyError:
        return None


def atomic_write(path, data, mode=0o640, text=False, keep_owner_strictly=False):
    """Write bytes/text atomically; keep an existing file's owner, group and mode.

    A new file gets `mode`, owner = caller, group maas when it exists. With
    `keep_owner_strictly`, a caller that cannot give the new file the old one's owner gets
    PermissionError and nothing changes, as MAAS's own atomic_write (provisioningserver
    utils/fs.py, used by regiond's config saves); else the new file is the caller's.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    try:
        st = os.stat(path)
        uid, gid, fmode = st.st_uid, st.st_gid, st.st_mode & 0o7777
    except FileNotFoundError:
        gid = maas_gid()
        uid, gid, fmode = os.geteuid(), (gid if gid is not None else os.getegid()), mode
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, fmode)
        try:
            os.chown(tmp, uid, gid)
        except PermissionError:
            if keep_owner_strictly:
                raise
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def dump(data):
    """YAML text as MAAS writes it."""
    if not data:
        return ""
    return yaml.safe_dump(data, default_flow_style=False)


def save(path, data):
    atomic_write(path, dump(data))


def touch(path):
    """Create an empty config file (root:maas 0640) if it does not exist."""
    if not os.path.exists(path):
        atomic_write(path, "")


def region_config():
    """(path, data) of regiond.conf."""
    path = paths.region_config()
    return path, load(path)


def region_value(data, key):
    """A regiond.conf value with its default filled in."""
    default, conv = region_keys()[key]
    if key in data:
        return data[key]
    return default


def rack_urls(data):
    """maas_url of rackd.conf as a list (string or list accepted)."""
    value = data.get("maas_url", rack_defaults()["maas_url"])
    if isinstance(value, str):
        return [value]
    return list(value)


def write_secret(secret, path=None):
    """Write the shared secret (no trailing newline), new file root:maas 0640."""
    atomic_write(path or paths.secret_file(), secret.strip())


def parse_database_uri(uri):
    """postgres://user:pass@host[:port]/db -> dict of regiond.conf database keys.

    As MAAS's get_database_settings (src/maascli/snap.py): the URI must start with
    postgres://, libpq parses it (psycopg2's parse_dsn, which percent-decodes every part and
    ends the user info at the first '@' or '/'), only user, password, host, dbname and port
    are allowed, the host defaults to localhost and the database name to the user name."""
    from psycopg2 import ProgrammingError
    from psycopg2.extensions import parse_dsn
    if uri.startswith("maas-test-db://"):
        return {"database_host": "/var/snap/maas-test-db/common/postgres/sockets",
                "database_name": "maasdb", "database_user": "maas", "database_pass": ""}
    if not uri.startswith("postgres://"):
        raise ConfigError("Database URI needs to be either 'maas-test-db:///' or start with 'postgres://'")
    try:
        dsn = parse_dsn(uri)
    except ProgrammingError as error:
        raise ConfigError("Error parsing database URI: " + str(error).strip())
    unsupported = set(dsn) - {"user", "password", "host", "dbname", "port"}
    if unsupported:
        raise ConfigError("Error parsing database URI: Unsupported parameters: " + ", ".join(sorted(unsupported)))
    if "user" not in dsn:
        raise ConfigError("No user found in URI: %s" % uri)
    result = {
        "database_host": dsn.get("host", "localhost"),
        "database_name": dsn.get("dbname", dsn["user"]),
        "database_user": dsn["user"],
        "database_pass": dsn.get("password"),
    }
    if "port" in dsn:
        result["database_port"] = int(dsn["port"])
    return result
