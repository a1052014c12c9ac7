"""What the PostgreSQL operations decide, as plain data: which settings differ from the live
server and whether that needs a restart, which pg_hba lines to replace or append, and the
text of the files and checks they write.

No host, no facts: ``operations/maas_pg.py`` reads the facts, calls these, and turns the
answer into commands. ``host_name`` only goes into error messages.
"""

from __future__ import annotations

import ipaddress
import re

from pyinfra.api import OperationError, OperationValueError

from facts.pg_cluster import HBA_HOST_TYPES, normalise_hba_address, sql_literal

# Settings server_settings() can manage, and how their values compare.
INT_SETTINGS = ("max_connections", "superuser_reserved_connections")
LIST_SETTINGS = ("listen_addresses",)
STRING_SETTINGS = ("password_encryption",)
MANAGED_SETTINGS = INT_SETTINGS + LIST_SETTINGS + STRING_SETTINGS

HBA_METHODS = (
    "trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident", "peer",
    "ldap", "radius", "cert", "pam", "bsd",
)
# An entry's method may be left to the server's version (see hba_method).
AUTO_METHOD = "auto"
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # used with fullmatch, as the one below
_HBA_FIELD_RE = re.compile(r'[^\s#"\\\']+')
_DROPIN_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+\.conf")

DROPIN_HEADER = (
    "# Managed by maas-ha: PostgreSQL settings for a highly-available MAAS.\n"
    "# Changes here are overwritten on the next deploy.\n"
)


def hba_method(server_version_num: int | str) -> str:
    """The pg_hba method for MAAS regions: ``scram-sha-256`` on PostgreSQL >= 14, else ``md5``.

    ``server_version_num`` as in ``PostgresSettings`` (``"140011"``) or a major (``14``).
    """
    number = int(server_version_num)
    major = number // 10000 if number >= 10000 else number
    return "scram-sha-256" if major >= 14 else "md5"


# -- server settings ---------------------------------------------------------------------------

def normalise_setting(name: str, value):
    """Comparable form of a setting value, for the wanted and the live side alike."""
    if name in INT_SETTINGS:
        return int(str(value).strip().strip("'"))
    if name in LIST_SETTINGS:
        if isinstance(value, (list, tuple)):
            items = value
        else:
            items = str(value).strip().strip("'").split(",")
        return frozenset(item.strip() for item in items if item.strip())
    return str(value).strip().strip("'")


def check_settings(settings: dict, dropin_name: str, host_name: str) -> None:
    """Refuse settings maas-ha does not manage, values of the wrong kind, and a drop-in name
    that is not a plain ``*.conf`` file name."""
    if not settings:
        raise OperationValueError(f"postgresql server_settings for {host_name} got no settings")
    for name, value in settings.items():
        if name not in MANAGED_SETTINGS:
            raise OperationValueError(
                f"postgresql setting {name} on {host_name} is not managed by maas-ha "
                f"(supported: {', '.join(MANAGED_SETTINGS)})",
            )
        try:
            normalised = normalise_setting(name, value)
        except ValueError:
            raise OperationValueError(
                f"postgresql setting {name} on {host_name} must be an integer, got {value!r}",
            ) from None
        if name in INT_SETTINGS and normalised < 1:
            raise OperationValueError(
                f"postgresql setting {name} on {host_name} must be positive, got {value!r}",
            )
        if name in LIST_SETTINGS and not normalised:
            raise OperationValueError(f"postgresql setting {name} on {host_name} is empty")
    if not _DROPIN_NAME_RE.fullmatch(dropin_name):
        raise OperationValueError(
            f"postgresql drop-in name {dropin_name!r} for {host_name} must be a plain *.conf name",
        )


def plan_settings(wanted: dict, live: dict, where: str = "this host") -> dict:
    """What to do about ``wanted`` settings given the server's ``live`` ones (as
    ``PostgresSettings`` gives them): ``{"changed": [names, sorted], "restart": bool}``.

    A setting is changed when its value differs or it waits for a restart; ``restart`` is
    True when a changed one can only change at server start (context ``postmaster``) and the
    server runs with another value than the wanted one: a setting waiting for a restart to a
    value that is not wanted any more, while the server runs with the wanted one, only needs
    its file put back and a reload. ``where`` (``"<host> port <port>"``) names the server in
    the error for a setting the server does not report.
    """
    changed, differ = [], []
    for name in sorted(wanted):
        current = live.get(name)
        if current is None:
            raise OperationError(f"postgresql on {where} does not report setting {name}")
        differs = normalise_setting(name, wanted[name]) != normalise_setting(name, current["value"])
        if current["pending_restart"] or differs:
            changed.append(name)
        if differs:
            differ.append(name)
    return {
        "changed": changed,
        "restart": any(live[name]["context"] == "postmaster" for name in differ),
    }


def render_setting(name: str, value) -> str:
    """One line of the drop-in: ``max_connections = 200``, ``listen_addresses = '*'``."""
    if name in INT_SETTINGS:
        return f"{name} = {int(value)}"
    if name in LIST_SETTINGS and isinstance(value, (list, tuple)):
        value = ",".join(str(item).strip() for item in value)
    return f"{name} = {sql_literal(str(value).strip())}"


def render_dropin(settings: dict) -> str:
    """The ``conf.d`` drop-in holding every managed setting, sorted, under a header."""
    lines = [render_setting(name, settings[name]) for name in sorted(settings)]
    return DROPIN_HEADER + "\n".join(lines) + "\n"


def settings_check_sql(names, dropin: str) -> str:
    """SQL listing what is wrong once the drop-in ``dropin`` holding ``names`` is written: a
    value PostgreSQL refuses, or a later file overriding one of ours. Empty output: sound."""
    quoted = ", ".join(sql_literal(name) for name in sorted(names))
    return (
        "SELECT sourcefile || ':' || sourceline || ': ' || coalesce(name, '') || ': ' || error "
        "FROM pg_file_settings WHERE error IS NOT NULL "
        # a changed restart-only setting reports this until the restart: not a problem; for any
        # other setting the same words mean PostgreSQL refused the value
        "AND NOT (error = 'setting could not be applied' "
        "AND name IN (SELECT name FROM pg_settings WHERE context = 'postmaster')) "
        "UNION ALL "
        "SELECT sourcefile || ':' || sourceline || ': ' || name || ' overrides maas-ha' "
        "FROM (SELECT DISTINCT ON (name) name, sourcefile, sourceline FROM pg_file_settings "
        f"WHERE name IN ({quoted}) ORDER BY name, seqno DESC) AS last "
        f"WHERE sourcefile <> {sql_literal(dropin)}"
    )


# -- pg_hba --------------------------------------------------------------------------------------

def hba_key(entry) -> tuple:
    """What makes two pg_hba entries the same line: type, database, user, address."""
    return (entry["type"], entry["database"], entry["user"], entry.get("address"))


def hba_line(entry) -> str:
    fields = [entry["type"], entry["database"], entry["user"]]
    if entry["address"] is not None:
        fields.append(entry["address"])
    fields.append(entry["method"])
    return " ".join(fields)


def _refuse_host_bits(entry, address: str, host_name: str) -> None:
    """``fd00::11/32`` is a host's address with a too short prefix, not the network
    ``fd00::/32``: refused rather than widened to it."""
    try:
        interface = ipaddress.ip_interface(address.strip())
    except ValueError:
        return  # not IP/prefix: a keyword or host name, or a form the checks above refuse
    if "/" in address and interface.ip != interface.network.network_address:
        one = interface.ip
        raise OperationValueError(
            f"pg_hba entry {entry!r} for {host_name}: address {address!r} has host bits set beyond "
            f"its /{interface.network.prefixlen} prefix (one host is {one}/{one.max_prefixlen})",
        )


def _wanted_hba_entry(entry, host_name: str) -> dict:
    """One wanted entry, validated, with its address as a CIDR and an unset method as auto."""
    entry_type = entry.get("type", "host")
    if entry_type not in HBA_HOST_TYPES and entry_type != "local":
        raise OperationValueError(
            f"pg_hba entry {entry!r} for {host_name}: type {entry_type!r} is not a pg_hba type",
        )
    if entry.get("method") in (None, "auto"):
        entry = {**entry, "method": AUTO_METHOD}
    for key in ("database", "user", "method"):
        value = str(entry.get(key) or "")
        if not _HBA_FIELD_RE.fullmatch(value):
            raise OperationValueError(
                f"pg_hba entry {entry!r} for {host_name}: {key} {value!r} is not usable",
            )
    if entry["method"] not in HBA_METHODS and entry["method"] != AUTO_METHOD:
        raise OperationValueError(
            f"pg_hba entry {entry!r} for {host_name}: method {entry['method']!r} is not a "
            "pg_hba method",
        )
    address = None
    if entry_type != "local":
        address = normalise_hba_address(str(entry.get("address") or ""))
        if not _HBA_FIELD_RE.fullmatch(address):
            raise OperationValueError(
                f"pg_hba entry {entry!r} for {host_name}: address {address!r} is not usable",
            )
        _refuse_host_bits(entry, str(entry.get("address")), host_name)
    return {
        "type": entry_type,
        "database": str(entry["database"]),
        "user": str(entry["user"]),
        "address": address,
        "method": entry["method"],
    }


def wanted_hba_entries(entries, host_name: str) -> list[dict]:
    """Validate and normalise the wanted pg_hba entries (address as CIDR), dropping duplicates."""
    if not entries:
        raise OperationValueError(f"postgresql hba_entries for {host_name} got no entries")
    wanted: dict = {}
    for entry in entries:
        normalised = _wanted_hba_entry(entry, host_name)
        wanted.setdefault(hba_key(normalised), normalised)
    return list(wanted.values())


def plan_hba(wanted: list, current: list, server_version_num) -> dict:
    """The edits that give the file ``current`` (``PgHbaEntries``) the ``wanted`` entries
    (from :func:`wanted_hba_entries`): ``{"replace": [(line number, new line)], "append":
    [lines]}``, both empty when nothing is due. An auto method becomes the one the server's
    version calls for; an entry is matched against the first line with its key."""
    auto = hba_method(server_version_num)
    first_by_key: dict = {}
    for entry in current:
        first_by_key.setdefault(hba_key(entry), entry)
    replace, append = [], []
    for entry in wanted:
        if entry["method"] == AUTO_METHOD:
            entry = {**entry, "method": auto}
        existing = first_by_key.get(hba_key(entry))
        if existing is None:
            append.append(hba_line(entry))
        elif existing["method"] != entry["method"]:
            replace.append((existing["line"], hba_line(entry)))
    return {"replace": sorted(replace), "append": append}


def stale_region_lines(current: list, database: str, user: str, keep) -> list[dict]:
    """The lines of ``current`` (``PgHbaEntries``) that the deploy wrote for a region and that
    no region needs any more: type ``host``, ``database`` and ``user`` alone, open to a single
    address (``/32``, ``/128``) that is not one of ``keep`` (addresses or one-address
    networks, in any form). Sorted by line number."""
    kept = {normalise_hba_address(str(address)) for address in keep}
    stale = []
    for entry in current:
        address = entry.get("address") or ""
        if entry.get("type") != "host" or entry.get("database") != database or entry.get("user") != user:
            continue
        try:
            network = ipaddress.ip_network(address)
        except ValueError:
            continue  # a keyword, a host name: not a line the deploy writes
        if network.num_addresses == 1 and normalise_hba_address(address) not in kept:
            stale.append(entry)
    return sorted(stale, key=lambda entry: entry["line"])


def hba_reload_due(loaded) -> bool:
    """True when pg_hba.conf changed after the server last loaded its config files (as
    ``PgHbaLoaded`` reports them): the file may hold rules the server does not apply yet.
    False when the server did not answer (``{}``)."""
    loaded = loaded or {}
    if "loaded_at" not in loaded or "hba_mtime" not in loaded:
        return False
    return float(loaded["hba_mtime"]) > float(loaded["loaded_at"])
