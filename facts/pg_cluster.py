"""PostgreSQL facts for the shared MAAS database server.

Everything the PostgreSQL operations decide on is read from the live host: which clusters
exist (Debian ``postgresql-common``), the running server's settings (so versions and
config paths are never hard-coded), the ``pg_hba.conf`` entries and, for a role's stored
password verifier, only what :func:`role_password_matches` needs to check it locally: the
password never travels to the host just to find out whether it changed, and the verifier
itself is never printed (it would allow offline guesses; md5 ones even log in).

Every command exits 0 on a host without PostgreSQL and then returns an empty value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import re
import shlex
import stringprep
import unicodedata

from facts import keyed_digest
from facts._key_values import key_values
from facts.usage import Fact

# Live settings the operations compare against (PostgresSettings).
SETTING_NAMES = (
    "config_file",
    "data_directory",
    "hba_file",
    "listen_addresses",
    "max_connections",
    "password_encryption",
    "port",
    "server_version_num",
    "superuser_reserved_connections",
)

HBA_HOST_TYPES = ("host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
HBA_INCLUDE_KEYWORDS = ("include", "include_if_exists", "include_dir")


def sql_literal(value: str) -> str:
    """Quote ``value`` as an SQL string literal (standard_conforming_strings)."""
    return "'" + str(value).replace("'", "''") + "'"


def shell_double_quote(text: str) -> str:
    """Wrap ``text`` in shell double quotes, escaping what the shell would expand."""
    escaped = re.sub(r'([\\"$`])', r"\\\1", text)
    return f'"{escaped}"'


def psql_query_command(sql: str, port: int | str = 5432, separator: str | None = None) -> str:
    """A ``psql`` call that prints unaligned tuples only and ignores ``~/.psqlrc``.

    ``|| true`` makes a stopped or absent server (or a missing ``psql``) an empty answer
    instead of a failed fact.
    """
    sep = f" -F'{separator}'" if separator else ""
    return f"psql -p {int(port)} -AtX{sep} -c {shell_double_quote(sql)} || true"


class PostgresClusters(Fact):
    """PostgreSQL clusters known to Debian's ``postgresql-common`` (``pg_lsclusters``).

    .. code:: python

        [{"version": "15", "cluster": "main", "port": 5432, "running": True,
          "owner": "postgres", "data_directory": "/var/lib/postgresql/15/main",
          "log_file": "/var/log/postgresql/postgresql-15-main.log"}]

    ``[]`` when PostgreSQL is not installed.
    """

    default = list

    def command(self):
        return "pg_lsclusters --no-header 2>/dev/null || true"

    def process(self, output):
        clusters = []
        for line in output:
            bits = line.split(None, 6)
            if len(bits) < 6 or not bits[2].isdigit():
                continue
            clusters.append(
                {
                    "version": bits[0],
                    "cluster": bits[1],
                    "port": int(bits[2]),
                    # "online", "online,recovery", "down", "down,binaries_missing"
                    "running": bits[3].split(",")[0] == "online",
                    "owner": bits[4],
                    "data_directory": bits[5],
                    "log_file": bits[6].strip() if len(bits) > 6 else None,
                },
            )
        return clusters


class PostgresSettings(Fact):
    """The running server's view of the settings maas-ha manages or needs to find files.

    Read from ``pg_settings`` (run it as the ``postgres`` user):

    .. code:: python

        {"max_connections": {"value": "100", "context": "postmaster",
                             "pending_restart": False}, ...}

    ``{}`` when the server is down or PostgreSQL is absent.
    """

    default = dict

    def command(self, port=5432):
        names = ", ".join(sql_literal(name) for name in SETTING_NAMES)
        return psql_query_command(
            "SELECT name, setting, context, pending_restart FROM pg_settings "
            f"WHERE name IN ({names}) ORDER BY name",
            port=port,
            separator="|",
        )

    def process(self, output):
        settings = {}
        for line in output:
            bits = line.split("|")
            if len(bits) != 4 or bits[0] not in SETTING_NAMES:
                continue
            name, value, context, pending = bits
            settings[name] = {
                "value": value,
                "context": context,
                "pending_restart": pending == "t",
            }
        return settings


class PostgresIncludeDirs(Fact):
    """The ``include_dir`` directives of a PostgreSQL config file, in file order.

    Lets the settings operation confirm that its ``conf.d`` drop-in is read at all
    (Debian's default ``postgresql.conf`` ends with ``include_dir = 'conf.d'``).
    ``None`` when the file does not exist.
    """

    def command(self, path):
        quoted = shell_double_quote(path)
        return (
            f"if [ -f {quoted} ]; then echo found; "
            f"grep -E '^[[:space:]]*include_dir[[:space:]=]' {quoted} || true; fi"
        )

    def process(self, output):
        if not output or output[0] != "found":
            return None
        dirs = []
        for line in output[1:]:
            match = re.match(
                r"^\s*include_dir\s*=?\s*(?:'((?:[^']|'')*)'|(\S+?))\s*(?:#.*)?$",
                line,
            )
            if match:
                value = match.group(1) if match.group(1) is not None else match.group(2)
                dirs.append(value.replace("''", "'"))
        return dirs


def _hba_tokens(line: str) -> list[str]:
    """Split a pg_hba line into fields: whitespace separated, ``"..."`` quoted, ``#`` comment."""
    tokens = []
    current = ""
    in_quotes = False
    has_token = False
    for char in line:
        if in_quotes:
            current += char
            if char == '"':
                in_quotes = False
            continue
        if char == "#":
            break
        if char in " \t\r\f\v":
            if has_token:
                tokens.append(current)
                current = ""
                has_token = False
            continue
        if char == '"':
            in_quotes = True
        current += char
        has_token = True
    if has_token:
        tokens.append(current)
    return tokens


def _unquote(field: str) -> str:
    """Drop the double quotes of a whole-field quoted pg_hba value (``"maas"`` -> ``maas``)."""
    if len(field) >= 2 and field.startswith('"') and field.endswith('"'):
        return field[1:-1].replace('""', '"')
    return field


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalise_hba_address(address: str, mask: str | None = None) -> str:
    """Canonical form of a pg_hba address: ``IP/len`` for numeric ones, else unchanged.

    ``10.0.0.5`` + ``255.255.255.255`` and ``10.0.0.5/32`` and a bare ``10.0.0.5`` all
    become ``10.0.0.5/32``; keywords (``all``, ``samenet``) and host names stay as written.
    """
    address = _unquote(address)
    host_part = address.split("/", 1)[0]
    if not _is_ip(host_part):
        return address
    try:
        if mask is not None:
            network = ipaddress.ip_network(f"{host_part}/{mask}", strict=False)
        else:
            network = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return address
    return f"{network.network_address}/{network.prefixlen}"


class PgHbaEntries(Fact):
    """The entries of a ``pg_hba.conf`` file, with their line numbers: the file at ``path``
    (read it as root), or without one the running server's own ``hba_file`` (ask as the
    ``postgres`` user, like ``PostgresSettings``).

    .. code:: python

        [{"line": 98, "type": "host", "database": "maasdb", "user": "maas",
          "address": "10.77.0.11/32", "method": "scram-sha-256", "options": {},
          "raw": "host  maasdb  maas  10.77.0.11  255.255.255.255  scram-sha-256"}]

    Tolerates tabs and runs of spaces, comments, quoted fields, the two-column
    ``address mask`` form (returned as CIDR) and ``include*`` lines (skipped). ``local``
    entries have ``address`` ``None``. ``[]`` when the file does not exist.
    """

    default = list

    def command(self, path=None):
        if path is None:  # Debian's psql picks the host's cluster (pg_wrapper)
            return ('F=$(psql -AtX -c "SHOW hba_file" 2>/dev/null || true); '
                    'if [ -n "$F" ] && [ -f "$F" ]; then cat "$F"; fi')
        quoted = shell_double_quote(path)
        return f"if [ -f {quoted} ]; then cat {quoted}; fi"

    def process(self, output):
        entries = []
        pending = None  # (first line number, text) of a backslash-continued entry
        for number, text in enumerate(output, start=1):
            if pending is not None:
                start, joined = pending
                text = joined + " " + text
            else:
                start = number
            if text.rstrip().endswith("\\") and "#" not in text:
                pending = (start, text.rstrip()[:-1])
                continue
            pending = None

            tokens = _hba_tokens(text)
            if not tokens or tokens[0] in HBA_INCLUDE_KEYWORDS:
                continue
            entry = self._parse_entry(tokens)
            if entry is None:
                continue
            entry["line"] = start
            entry["raw"] = output[start - 1] if start == number else text
            entries.append(entry)
        return entries

    @staticmethod
    def _parse_entry(tokens):
        entry_type = tokens[0]
        if entry_type == "local":
            if len(tokens) < 4:
                return None
            database, user, method, rest = tokens[1], tokens[2], tokens[3], tokens[4:]
            address = None
        elif entry_type in HBA_HOST_TYPES:
            if len(tokens) < 5:
                return None
            database, user, address = tokens[1], tokens[2], tokens[3]
            rest = tokens[4:]
            mask = None
            if "/" not in address and _is_ip(address) and rest and _is_ip(rest[0]):
                mask, rest = rest[0], rest[1:]
            if not rest:
                return None
            method, rest = rest[0], rest[1:]
            address = normalise_hba_address(address, mask)
        else:
            return None

        options = {}
        for option in rest:
            key, _, value = option.partition("=")
            options[key] = _unquote(value)

        return {
            "type": entry_type,
            "database": _unquote(database),
            "user": _unquote(user),
            "address": address,
            "method": method,
            "options": options,
        }


# Runs on the host (no single quotes): reads psql's line, prints the verifier's scheme, the
# SCRAM salt and iteration count (public parts) and a keyed digest of the whole verifier.
_ROLE_PASSWORD_SCRIPT = keyed_digest.HOST_CODE + """
import re, sys
for line in sys.stdin:
    if not line.startswith("verifier:"):
        continue
    verifier = line[len("verifier:"):].strip()
    scram = re.match(r"^SCRAM-SHA-256[$]([0-9]+):([A-Za-z0-9+/=]+)[$]", verifier)
    if scram:
        print("kind=scram-sha-256")
        print("scram=" + scram.group(1) + ":" + scram.group(2))
    elif re.match(r"^md5[0-9a-f]{32}$", verifier):
        print("kind=md5")
    elif verifier:
        print("kind=other")
    if verifier:
        print("digest=" + keyed(verifier, sys.argv[1]))
"""


class PostgresRolePassword(Fact):
    """What is needed to check a role's stored password locally (run as ``postgres``), never
    the stored verifier itself.

    ``None`` when the role does not exist, has no password, or the server is down. Else the
    verifier's scheme, the SCRAM salt and iteration count, and a keyed digest of the
    verifier (facts/keyed_digest.py): compare with :func:`role_password_matches`. ``peer``
    is the control machine's public value, this run's unless given (tests give one).

    .. code:: python

        {"kind": "scram-sha-256", "iterations": 4096, "salt": "ay71w2QBTxKSnm8kY9LX/A==",
         "digest": "dh:...:..."}       # kind "md5" (no salt/iterations) or "other"
    """

    def command(self, role, port=5432, peer=None):
        query = psql_query_command(
            "SELECT 'verifier:' || coalesce(rolpassword, '') FROM pg_authid "
            f"WHERE rolname = {sql_literal(role)}",
            port=port,
        )
        script = shlex.quote(_ROLE_PASSWORD_SCRIPT.strip())
        peer = shlex.quote(peer or keyed_digest.public_value())
        return f"( {query} ) | python3 -c {script} {peer}"

    def process(self, output):
        values = key_values(output)
        if not values.get("digest"):
            return None
        result = {"kind": values.get("kind"), "iterations": None, "salt": None,
                  "digest": values["digest"]}
        if values.get("scram"):
            iterations, _, salt = values["scram"].partition(":")
            result["iterations"], result["salt"] = int(iterations), salt
        return result


def _saslprep(password: str) -> bytes:
    """SASLprep (RFC 4013) as PostgreSQL applies it before hashing a SCRAM password.

    Like PostgreSQL's ``pg_saslprep``, a password that is not valid under SASLprep
    (prohibited or badly ordered bidirectional characters) is used as raw UTF-8 bytes.
    """
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in password
        if not stringprep.in_table_b1(char)
    )
    normalised = unicodedata.normalize("NFKC", mapped)
    if not normalised:
        return raw
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    for char in normalised:
        if any(check(char) for check in prohibited):
            return raw
    if any(stringprep.in_table_d1(char) for char in normalised):
        if any(stringprep.in_table_d2(char) for char in normalised):
            return raw
        if not (
            stringprep.in_table_d1(normalised[0]) and stringprep.in_table_d1(normalised[-1])
        ):
            return raw
    return normalised.encode("utf-8")


_SCRAM_RE = re.compile(
    r"^SCRAM-SHA-256\$(?P<iterations>\d+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored_key>[A-Za-z0-9+/=]+):(?P<server_key>[A-Za-z0-9+/=]+)$",
)


def md5_verifier(password: str, role: str) -> str:
    """PostgreSQL's md5 verifier: ``"md5" + md5(password + role)``."""
    return "md5" + hashlib.md5((password + role).encode("utf-8")).hexdigest()


def random_salt() -> bytes:
    """16 random bytes: the salt of a new SCRAM verifier (PostgreSQL uses 16 too)."""
    return os.urandom(16)


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """A SCRAM-SHA-256 verifier as PostgreSQL stores it (RFC 5802/5803), computed here.

    SaltedPassword = PBKDF2-HMAC-SHA256 of the SASLprep'd password, StoredKey =
    H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").
    A new random 16-byte salt unless one is given; 4096 iterations as PostgreSQL's default.
    PostgreSQL stores a verifier given in ``PASSWORD`` as is, so the password itself never
    reaches the server (what psql's ``\\password`` does too).
    """
    salt = random_salt() if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password), salt, int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return (f"SCRAM-SHA-256${int(iterations)}:{b64(salt)}"
            f"${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")


def role_password_matches(stored: dict | None, role: str, password: str) -> bool:
    """Whether ``password`` is the one behind :class:`PostgresRolePassword`'s value: the
    verifier ``password`` gives with the stored salt and iterations is compared through the
    keyed digest."""
    if not stored or password is None:
        return False
    if stored.get("kind") == "md5":
        expected = md5_verifier(password, role)
    elif stored.get("kind") == "scram-sha-256" and stored.get("salt") and stored.get("iterations"):
        try:
            salt = base64.b64decode(stored["salt"], validate=True)
        except ValueError:
            return False
        expected = scram_verifier(password, salt, stored["iterations"])
    else:
        return False
    return keyed_digest.matches(stored.get("digest"), expected)


def verifier_kind(verifier: str | None) -> str | None:
    """``"scram-sha-256"``, ``"md5"`` or ``None``: the scheme a stored verifier uses."""
    if not verifier:
        return None
    if verifier.startswith("SCRAM-SHA-256$"):
        return "scram-sha-256"
    if re.match(r"^md5[0-9a-f]{32}$", verifier):
        return "md5"
    return None


def password_matches(verifier: str | None, role: str, password: str) -> bool:
    """Whether ``password`` is the one a stored verifier (``pg_authid.rolpassword``) holds:
    SCRAM-SHA-256 recomputed with the verifier's salt and iterations (:func:`scram_verifier`),
    md5 as :func:`md5_verifier`. Anything else is no match.
    """
    if not verifier or password is None:
        return False
    kind = verifier_kind(verifier)
    if kind == "md5":
        return hmac.compare_digest(md5_verifier(password, role), verifier)
    match = _SCRAM_RE.match(verifier) if kind == "scram-sha-256" else None
    if not match:
        return False
    try:
        salt = base64.b64decode(match.group("salt"), validate=True)
        base64.b64decode(match.group("stored_key"), validate=True)
        base64.b64decode(match.group("server_key"), validate=True)
    except ValueError:
        return False
    expected = scram_verifier(password, salt, int(match.group("iterations")))
    return hmac.compare_digest(expected, verifier)
