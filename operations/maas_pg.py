"""PostgreSQL for a highly-available MAAS: the MAAS role, server settings, pg_hba, backups.

Every region talks to one shared PostgreSQL. These operations converge it without
surprises: the role's password is only re-set when the stored verifier says it differs
(checked locally, see :func:`facts.pg_cluster.role_password_matches`), and then to a
verifier computed locally and sent on stdin; settings and
``pg_hba.conf`` are changed only when the live server disagrees, a ``pg_dump`` backup is
taken before any of that, every edit is checked by PostgreSQL itself before it is
applied (and rolled back when rejected), and the server is restarted only when a changed
setting needs it. Versions and paths always come from the live server.

Commands that talk to the server run as ``postgres`` (``_sudo=True, _sudo_user="postgres"``);
file changes and ``systemctl`` run with the operation's own arguments (call the operations
with ``_sudo=True`` or as root).
"""

from __future__ import annotations

import posixpath
from io import StringIO

from pyinfra import host
from pyinfra.api import (
    FileUploadCommand,
    FunctionCommand,
    OperationError,
    OperationValueError,
    QuoteString,
    StringCommand,
    operation,
)
from pyinfra.facts.postgres import make_execute_psql_command
from pyinfra.operations.util import files as files_util

from run.memo import recall
from facts.pg_reload import PgHbaLoaded
from facts.pg_cluster import (
    PgHbaEntries,
    PostgresClusters,
    PostgresIncludeDirs,
    PostgresRolePassword,
    PostgresSettings,
    md5_verifier,
    role_password_matches,
    scram_verifier,
    shell_double_quote,
    sql_literal,
)
from operations._remote import say
from operations._plan_pg import (
    IDENT_RE,
    check_settings,
    hba_reload_due,
    plan_hba,
    plan_settings,
    render_dropin,
    render_setting,
    settings_check_sql,
    stale_region_lines,
    wanted_hba_entries,
)

DEFAULT_BACKUP_DIR = "/var/backups/maas-ha"
DEFAULT_BACKUP_KEEP = 5
# Facts and pyinfra's postgres operations talk to the server as the postgres user; our
# operations switch user themselves where they need to (file edits and restarts need root).
AS_POSTGRES = {"_sudo": True, "_sudo_user": "postgres"}

def _checked_by_postgres(port: int, check_sql: str, restore: list, message: str) -> StringCommand:
    """Ask the server whether the file just written is sound (``check_sql`` lists problems);
    if not, run ``restore`` (put the previous file back) and fail with ``message``."""
    return StringCommand(
        "problems=$(psql -p",
        str(port),
        "-AtX -c",
        shell_double_quote(check_sql),
        ') || problems="psql failed";',
        'if [ -n "$problems" ]; then',
        *restore,
        "echo",
        QuoteString(message),
        '"$problems" >&2; exit 1; fi',
        **AS_POSTGRES,
    )


def _hba_checked_by_postgres(port: int, hba_file: str, backup: str) -> StringCommand:
    """PostgreSQL's check of the pg_hba file just edited; a rejected one is put back."""
    return _checked_by_postgres(
        port,
        HBA_ERRORS_SQL,
        restore=["cat", QuoteString(backup), ">", QuoteString(hba_file), ";"],
        message=f"PostgreSQL on {host.name} rejected the new {hba_file} (previous version restored):",
    )



def _server_down(port: int, what: str):
    """A command that fails with a clear message: the server is not there to ask.

    At planning time on a bare host PostgreSQL is not installed yet; pyinfra re-runs the
    operation at execution time, when an earlier install has started it, so this command
    only runs (and fails) when the server really is still not reachable.
    """
    return StringCommand(
        "echo",
        QuoteString(
            f"PostgreSQL is not running on port {port} on {host.name}: cannot {what}",
        ),
        ">&2; exit 1",
    )


def _live_settings(port: int):
    """The server's live settings. Three operations need them in a row (settings, role,
    pg_hba), and the run's opening round read them already: while nothing has run on the
    host since, that answer is reused (run/memo.py)."""
    return recall(host, PostgresSettings, port=port, **AS_POSTGRES) or {}


def backup_commands(
    port: int = 5432,
    backup_dir: str = DEFAULT_BACKUP_DIR,
    databases=("maasdb",),
    timestamp: str | None = None,
    keep: int = DEFAULT_BACKUP_KEEP,
):
    """Yield the commands of a PostgreSQL backup, taken before any config change.

    ``backup_dir`` gets ``<db>-<timestamp>.dump`` (``pg_dump -Fc``) for each listed database
    that exists (checked on the host when the command runs) and ``globals-<timestamp>.sql``
    (roles, with their password verifiers: the files are private to ``postgres``). Not an
    operation: the settings and pg_hba operations yield from it. Backups cannot fill the disk
    or pass for what they are not:

    - a missing ``backup_dir`` is created ``postgres`` 0700; an existing one is used as it is
      (never taken over), and refused by name when ``postgres`` cannot write to it;
    - the dump is refused before it starts when the directory's free space is below the size
      of the databases to dump;
    - each file is written under a temporary name and renamed when complete (a dump that
      fails half way leaves nothing behind);
    - only the newest ``keep`` dumps of each database (and as many ``globals``) are kept.

    An existing file of the same name is kept: the first backup of a minute is the one taken
    before any change in it.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise OperationValueError(f"number of backups to keep on {host.name} must be an integer "
                                  f"of at least 1, got {keep!r}")
    for database in databases:
        if not IDENT_RE.fullmatch(database):
            raise OperationValueError(
                f"backup database name {database!r} for {host.name} is not a plain identifier",
            )
    timestamp = timestamp or files_util.get_timestamp()
    directory = QuoteString(backup_dir)
    where = f"maas_pg_backup_dir {backup_dir} on {host.name}"
    yield StringCommand("if [ ! -e", directory, "]; then { mkdir -p -m 700", directory,
                        "&& chown postgres:postgres", directory, "; } || { echo",
                        QuoteString(f"cannot create {where}"), ">&2; exit 1; }; fi")
    yield StringCommand(
        "[ -d", directory, "] && [ -w", directory, "] && [ -x", directory, "] || { echo",
        QuoteString(f"{where} is not writable by the postgres user (an existing directory is "
                    "left as it is: give postgres write access or choose another one)"),
        ">&2; exit 1; }",
        **AS_POSTGRES,
    )
    yield _free_space_check(port, backup_dir, databases)
    for database in databases:
        exists_sql = f"SELECT 1 FROM pg_database WHERE datname = {sql_literal(database)}"
        dump = posixpath.join(backup_dir, f"{database}-{timestamp}.dump")
        yield StringCommand(
            "umask 077; if [ \"$(psql -p",
            str(port),
            "-AtX -c",
            shell_double_quote(exists_sql),
            ')" = 1 ] && [ ! -e',
            QuoteString(dump),
            "]; then",
            *_written_then_renamed(dump, "pg_dump -p", str(port), "-Fc -f", QuoteString(f"{dump}.partial"),
                                   database),
            "; fi",
            **AS_POSTGRES,
        )
    globals_file = posixpath.join(backup_dir, f"globals-{timestamp}.sql")
    yield StringCommand(
        "umask 077; [ -e", QuoteString(globals_file), "] ||",
        *_written_then_renamed(globals_file, "pg_dumpall -p", str(port), "--globals-only >",
                               QuoteString(f"{globals_file}.partial")),
        **AS_POSTGRES,
    )
    kinds = [f"{database}-{TIMESTAMP_GLOB}.dump" for database in databases]
    yield StringCommand(
        *[bit for kind in [*kinds, f"globals-{TIMESTAMP_GLOB}.sql"]
          for bit in ("ls -1r", StringCommand(directory, "/", kind, _separator=""),
                      "2>/dev/null | tail -n +" + str(keep + 1), "| xargs -r rm -f --;")],
        **AS_POSTGRES,
    )


# files_util.get_timestamp()'s %y%m%d%H%M: names sort in time order
TIMESTAMP_GLOB = "[0-9]" * 10


def _written_then_renamed(path: str, *command) -> tuple:
    """``command`` writes ``<path>.partial``; only a complete file is renamed to ``path``, a
    failed one is removed (and the command fails)."""
    partial = QuoteString(f"{path}.partial")
    return ("{", *command, "&& mv -f", partial, QuoteString(path), "|| { rm -f", partial,
            "; exit 1; }; }")


def _free_space_check(port: int, backup_dir: str, databases) -> StringCommand:
    """Fail, before any dump starts, when ``backup_dir`` has less room than the databases take
    on disk (``pg_database_size``; a custom-format dump is compressed, so it is smaller)."""
    names = ", ".join(sql_literal(database) for database in databases)
    size_sql = ("SELECT (coalesce(sum(pg_database_size(datname)), 0) / 1024)::bigint FROM pg_database "
                f"WHERE datname IN ({names})")
    return StringCommand(
        "need=$(psql -p", str(port), "-AtX -c", shell_double_quote(size_sql), ") &&",
        "free=$(df -Pk", QuoteString(backup_dir), "| awk 'NR == 2 { print $4 }') &&",
        '[ -n "$need" ] && [ -n "$free" ] || { echo',
        QuoteString(f"cannot measure the databases or the free space of maas_pg_backup_dir {backup_dir} "
                    f"on {host.name}"),
        ">&2; exit 1; };",
        'if ! [ "$free" -ge "$need" ]; then echo',
        QuoteString(f"cannot back up PostgreSQL on {host.name}: maas_pg_backup_dir {backup_dir} has"),
        '"$((free / 1024)) MiB free, the databases to dump take $((need / 1024 + 1)) MiB:"',
        QuoteString("free some space, lower maas_pg_backup_keep or choose another directory"),
        ">&2; exit 1; fi",
        **AS_POSTGRES,
    )


# Sent before a statement holding a verifier: the superuser session logs none of it, whatever
# log_statement, log_min_duration_statement or log_min_error_statement the server has.
QUIET_SESSION_SQL = (
    "SET log_statement = 'none';\n"
    "SET log_min_duration_statement = -1;\n"
    "SET log_min_error_statement = 'panic';\n"
)


def wanted_verifier_kind(password_encryption) -> str:
    """The verifier scheme the server wants (``password_encryption``; ``on`` is md5)."""
    value = str(password_encryption or "").strip().lower()
    return "md5" if value in ("md5", "on") else "scram-sha-256"


def role_change_reason(stored, role: str, password: str, password_encryption) -> str | None:
    """Why the role's password must be (re)set, or None when the stored one is right.

    ``stored`` as :class:`PostgresRolePassword` gives it. A verifier of another scheme than
    the server's ``password_encryption`` is replaced too: an md5 verifier left from an older
    PostgreSQL cannot log in through a ``scram-sha-256`` pg_hba line.
    """
    if stored is None:
        return "no password"
    if not role_password_matches(stored, role, password):
        return "another password"
    if stored.get("kind") != wanted_verifier_kind(password_encryption):
        return f"a {stored.get('kind')} verifier"
    return None


def role_password_sql(role: str, verifier: str) -> str:
    """The SQL (sent on psql's stdin) that creates the login role, or sets its password, to
    ``verifier``: the plain password never reaches the server, and nothing is logged."""
    return QUIET_SESSION_SQL + (
        "DO $maas_ha$ BEGIN\n"
        f"  IF EXISTS (SELECT FROM pg_roles WHERE rolname = {sql_literal(role)}) THEN\n"
        f'    ALTER ROLE "{role}" LOGIN PASSWORD {sql_literal(verifier)};\n'
        "  ELSE\n"
        f'    CREATE ROLE "{role}" LOGIN PASSWORD {sql_literal(verifier)};\n'
        "  END IF;\n"
        "END $maas_ha$;\n"
    )


def new_verifier(role: str, password: str, password_encryption) -> str:
    """A fresh verifier of the server's scheme for ``password`` (random salt for SCRAM)."""
    if wanted_verifier_kind(password_encryption) == "md5":
        return md5_verifier(password, role)
    return scram_verifier(password)


@operation()
def role(role: str, password: str, port: int = 5432):
    """Ensure the login role MAAS uses exists with ``password``, without re-setting it each run.

    Reads what is needed to check the stored verifier locally (:func:`role_change_reason`)
    and only when it differs sends a verifier computed here, of the server's
    ``password_encryption`` scheme, in a ``CREATE``/``ALTER ROLE`` on psql's stdin: the
    password is on no command line, and the statement is in no server log.

    + role: the role name
    + password: its password (a secret: on stdin, never printed)
    + port: the cluster's port, which picks the cluster on a host with several

    **Example:**

    .. code:: python

        from pyinfra import host

        from operations import maas_pg

        maas_pg.role(
            name="PostgreSQL role maas",
            role="maas",
            password=host.data.maas_db_password,
        )
    """
    if not IDENT_RE.fullmatch(role or ""):
        raise OperationValueError(
            f"postgresql role name {role!r} for {host.name} must be a plain identifier",
        )
    if not password:
        raise OperationValueError(f"postgresql role {role} on {host.name} needs a password")

    live = _live_settings(port)
    if not live:
        yield _server_down(port, f"manage role {role}")
        return

    encryption = (live.get("password_encryption") or {}).get("value")
    stored = host.get_fact(PostgresRolePassword, role=role, port=port, **AS_POSTGRES)
    reason = role_change_reason(stored, role, password, encryption)
    if reason is None:
        host.noop(f"postgresql role {role} exists with the wanted password")
        return

    sql = role_password_sql(role, new_verifier(role, password, encryption))
    yield StringCommand("psql -p", str(port), "-AtXq -v ON_ERROR_STOP=1", _stdin=sql, **AS_POSTGRES)


@operation()
def server_settings(
    settings: dict,
    port: int = 5432,
    backup_dir: str = DEFAULT_BACKUP_DIR,
    backup_databases=("maasdb",),
    dropin_name: str = "50-maas-ha.conf",
    backup_keep: int = DEFAULT_BACKUP_KEEP,
    ready_timeout: int = 60,
):
    """Set server settings (``listen_addresses``, ``max_connections``, ...) through a drop-in.

    Compares ``settings`` with the running server; when something differs (or a managed
    setting is waiting for a restart): backup, write ``conf.d/<dropin_name>`` beside the
    detected ``config_file`` (adding ``include_dir = 'conf.d'`` to the main file if it
    lacks it), let PostgreSQL check the files (``pg_file_settings``: no errors, and no
    later file such as ``postgresql.auto.conf`` overriding ours; otherwise the previous
    drop-in is put back and the operation fails), then restart the cluster
    (``postgresql@VER-CLUSTER``) if a changed setting has context ``postmaster``, else
    reload.

    + settings: ``{name: value}`` of PostgreSQL settings
    + port: the cluster's port, which picks the cluster on a host with several
    + backup_dir, backup_databases, backup_keep: where the ``pg_dump`` taken before a change
      goes, of which databases, and how many dumps of each are kept
    + dropin_name: the drop-in file in ``conf.d``
    + ready_timeout: seconds a restarted server may take to accept connections

    **Example:**

    .. code:: python

        from operations import maas_pg

        maas_pg.server_settings(
            name="PostgreSQL listen_addresses and max_connections",
            settings={"listen_addresses": "*", "max_connections": 200},
        )
    """
    check_settings(settings, dropin_name, host.name)
    live = _live_settings(port)
    if not live:
        yield _server_down(port, "change its settings")
        return

    plan = plan_settings(settings, live, where=f"{host.name} port {port}")
    if not plan["changed"]:
        host.noop(
            f"postgresql on port {port} already has {', '.join(sorted(settings))} as wanted",
        )
        return

    config_file = live["config_file"]["value"]
    dropin_dir = posixpath.join(posixpath.dirname(config_file), "conf.d")
    dropin = posixpath.join(dropin_dir, dropin_name)
    unit = _cluster_unit(port, plan["changed"]) if plan["restart"] else None
    include_dirs = host.get_fact(PostgresIncludeDirs, path=config_file) or []

    timestamp = files_util.get_timestamp()
    yield from backup_commands(port, backup_dir, backup_databases, timestamp, backup_keep)
    if not _includes(config_file, include_dirs, dropin_dir):
        yield _include_dropins_command(config_file, dropin_dir, timestamp)

    previous = posixpath.join(backup_dir, f"{dropin_name}.bak-{timestamp}")
    yield StringCommand("if [ -f", QuoteString(dropin), "]; then cp -a", QuoteString(dropin),
                        QuoteString(previous), "; fi")
    # staged beside it and renamed over it: PostgreSQL never reads a half-written drop-in
    # (pyinfra writes an upload in place), and include_dir skips this name (not *.conf)
    staged = posixpath.join(dropin_dir, f".{dropin_name}.maas-ha-new")
    yield FileUploadCommand(StringIO(render_dropin(settings)), staged)
    yield StringCommand("chown", _owner_of(config_file), QuoteString(staged),
                        "&& chmod 644", QuoteString(staged), "&& mv -f", QuoteString(staged), QuoteString(dropin))
    restore = ["if [ -f", QuoteString(previous), "]; then cat", QuoteString(previous), ">",
               QuoteString(dropin), "; else rm -f", QuoteString(dropin), "; fi;"]
    yield _checked_by_postgres(
        port,
        settings_check_sql(settings, dropin),
        restore=restore,
        message=f"PostgreSQL on {host.name} rejected the maas-ha settings in {dropin} "
        "(previous version restored):",
    )
    if plan["restart"]:
        at_start = [name for name in plan["changed"] if live[name]["context"] == "postmaster"]
        yield _restart_or_roll_back(unit, port, restore, ready_timeout, what=", ".join(
            render_setting(name, settings[name]) for name in at_start) + f" (in {dropin})")
    else:
        yield _reload(port)


def _restart_or_roll_back(unit: str, port: int, restore: list, ready_timeout: int,
                          what: str) -> StringCommand:
    """Restart ``unit`` and wait (at most ``ready_timeout`` seconds) until the server accepts
    connections. A setting PostgreSQL accepted in its files can still stop it at start (an
    address the host lacks in ``listen_addresses``: "could not create any TCP/IP sockets"):
    then ``restore`` puts the previous drop-in back, the server is started again with it,
    and the command fails naming the host and ``what`` was being set."""
    ready = StringCommand(
        "{ i=0; until pg_isready -q -p", str(port), "; do i=$((i + 1)); [ $i -le",
        str(int(ready_timeout)), "] || break; sleep 1; done; pg_isready -q -p", str(port), "; }",
    )
    restart = StringCommand("systemctl restart", QuoteString(unit))
    return StringCommand(
        "why=$(", restart, "2>&1) &&", ready, "&& exit 0;",
        *restore,
        "if", restart, "&&", ready, "; then back='running again'; else back='still down'; fi;",
        "echo", QuoteString(f"PostgreSQL on {host.name} did not start with {what}:"),
        '"previous settings restored, PostgreSQL $back." "$why" >&2;',
        "journalctl -u", QuoteString(unit), "-n 5 -o cat --no-pager >&2 2>/dev/null; exit 1",
    )


def _owner_of(path: str) -> StringCommand:
    """``chown``'s ``--reference=PATH``: a file gets the owner of ``path``."""
    return StringCommand("--reference=", QuoteString(path), _separator="")


HBA_ERRORS_SQL = "SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL"


def _reload(port: int) -> StringCommand:
    return StringCommand(make_execute_psql_command("SELECT pg_reload_conf()", port=port), **AS_POSTGRES)


def _includes(config_file: str, include_dirs, dropin_dir: str) -> bool:
    """True when the main config's ``include_dir`` lines already read ``dropin_dir``."""
    conf_dir = posixpath.dirname(config_file)
    return any(posixpath.normpath(posixpath.join(conf_dir, item)) == dropin_dir
               for item in include_dirs)


def _include_dropins_command(config_file: str, dropin_dir: str, timestamp: str) -> StringCommand:
    """Create ``conf.d`` and add ``include_dir = 'conf.d'`` to the main file (kept as a copy)."""
    return StringCommand(
        "mkdir -p",
        QuoteString(dropin_dir),
        # owned as the config file: the check's restore runs as postgres and must be able
        # to remove a rejected drop-in
        "&& chown",
        _owner_of(config_file),
        QuoteString(dropin_dir),
        "&& cp -a",
        QuoteString(config_file),
        QuoteString(f"{config_file}.bak-{timestamp}"),
        "&& printf",
        QuoteString(r"\n# Added by maas-ha: read the drop-ins in conf.d\ninclude_dir = 'conf.d'\n"),
        ">>",
        QuoteString(config_file),
    )


def _cluster_unit(port: int, changed) -> str:
    """The systemd unit of the cluster on ``port`` (``postgresql@VER-CLUSTER``), to restart it."""
    clusters = list(host.get_fact(PostgresClusters) or [])
    matching = [cluster for cluster in clusters if int(cluster["port"]) == int(port)]
    if not matching:
        raise OperationError(
            f"no pg_lsclusters cluster listens on port {port} on {host.name}: cannot "
            f"restart PostgreSQL for {', '.join(changed)}",
        )
    return f"postgresql@{matching[0]['version']}-{matching[0]['cluster']}"


@operation()
def hba_entries(
    entries: list,
    port: int = 5432,
    backup_dir: str = DEFAULT_BACKUP_DIR,
    backup_databases=("maasdb",),
    backup_keep: int = DEFAULT_BACKUP_KEEP,
):
    """Ensure ``pg_hba.conf`` has these entries (one per region host), keeping the rest as is.

    ``entries``: ``[{"type": "host", "database": "maasdb", "user": "maas",
    "address": "10.77.0.11/32", "method": "scram-sha-256"}]``; a method of ``None`` or
    ``"auto"`` takes the one the live server's version calls for (:func:`operations._plan_pg.hba_method`).
    The file is the one the running server uses; entries match by type, database, user
    and address (whitespace and the ``addr mask`` form do not matter). A missing entry is
    appended; the first entry with the same match but another method has its line
    replaced in place (every other byte of the file stays). Before a change: backup and
    ``cp -a`` of the file; after: PostgreSQL checks the file (``pg_hba_file_rules``; a
    rejected file is put back and the operation fails), then a reload. A file that already
    has every entry but changed after the server last loaded its config (a run stopped
    before its reload, :func:`operations._plan_pg.hba_reload_due`) is checked and loaded.

    + entries: the lines to have, as above
    + port: the cluster's port, which picks the cluster on a host with several
    + backup_dir, backup_databases, backup_keep: where the ``pg_dump`` taken before a change
      goes, of which databases, and how many dumps of each are kept

    **Example:**

    .. code:: python

        from operations import maas_pg

        maas_pg.hba_entries(
            name="pg_hba: one line per region",
            entries=[
                {"type": "host", "database": "maasdb", "user": "maas",
                 "address": f"{address}/32", "method": "auto"}
                for address in ("10.0.0.11", "10.0.0.12")
            ],
        )
    """
    wanted = wanted_hba_entries(entries, host.name)
    live = _live_settings(port)
    if not live:
        yield _server_down(port, "change pg_hba.conf")
        return
    hba_file = live["hba_file"]["value"]
    current = list(host.get_fact(PgHbaEntries, path=hba_file) or [])
    plan = plan_hba(wanted, current, live["server_version_num"]["value"])
    if not plan["replace"] and not plan["append"]:
        if not hba_reload_due(host.get_fact(PgHbaLoaded, port=port, **AS_POSTGRES)):
            host.noop(f"{hba_file} already has the {len(wanted)} wanted entries")
            return
        # the file is right, but changed after the server last loaded it (a run stopped
        # before its reload): checked and loaded now
        yield _checked_by_postgres(
            port,
            HBA_ERRORS_SQL,
            restore=[],
            message=f"PostgreSQL on {host.name} finds errors in {hba_file} (not loaded):",
        )
        yield _reload(port)
        return

    timestamp = files_util.get_timestamp()
    backup = f"{hba_file}.bak-{timestamp}"
    yield from backup_commands(port, backup_dir, backup_databases, timestamp, backup_keep)
    yield StringCommand("cp -a", QuoteString(hba_file), QuoteString(backup))
    if plan["replace"]:
        edits = [bit for number, line in plan["replace"]
                 for bit in ("-e", QuoteString(f"{number}c\\{line}"))]
        yield StringCommand("sed -i", *edits, QuoteString(hba_file))
    if plan["append"]:
        yield StringCommand(
            '[ -z "$(tail -c 1',
            QuoteString(hba_file),
            ')" ] || echo >>',
            QuoteString(hba_file),
            "; printf '%s\\n'",
            QuoteString("# Added by maas-ha: MAAS region database access"),
            *[QuoteString(line) for line in plan["append"]],
            ">>",
            QuoteString(hba_file),
        )
    yield _hba_checked_by_postgres(port, hba_file, backup)
    yield _reload(port)


@operation()
def hba_region_lines_absent(
    database: str,
    user: str,
    keep: list,
    port: int = 5432,
    backup_dir: str = DEFAULT_BACKUP_DIR,
    backup_databases=("maasdb",),
    backup_keep: int = DEFAULT_BACKUP_KEEP,
):
    """Remove the ``pg_hba.conf`` lines of regions that are gone: lines for ``database`` and
    ``user`` open to one address that is not in ``keep`` (:func:`operations._plan_pg.stale_region_lines`).

    Before a change: backup and ``cp -a`` of the file; after: PostgreSQL checks the file
    (a rejected one is put back), then a reload. Says which lines it removed.

    + database, user: the MAAS database and role of the lines
    + keep: addresses (or one-address networks) whose lines stay: every region in the
      inventory, and every region MAAS still knows
    + port: the cluster's port, which picks the cluster on a host with several
    + backup_dir, backup_databases, backup_keep: where the ``pg_dump`` taken before a change
      goes, and how many of them are kept

    **Example:**

    .. code:: python

        from operations import maas_pg

        maas_pg.hba_region_lines_absent(
            name="pg_hba: no line for a region that is gone",
            database="maasdb",
            user="maas",
            keep=["10.0.0.11/32", "10.0.0.12/32"],
        )
    """
    live = _live_settings(port)
    if not live:
        host.noop(f"PostgreSQL is not running on port {port}: no pg_hba line to remove")
        return
    hba_file = live["hba_file"]["value"]
    current = list(host.get_fact(PgHbaEntries, path=hba_file) or [])
    stale = stale_region_lines(current, database, user, keep)
    if not stale:
        host.noop(f"{hba_file} has no line of a region that is gone")
        return

    timestamp = files_util.get_timestamp()
    backup = f"{hba_file}.bak-{timestamp}"
    removed = ", ".join(f"line {entry['line']} ({entry['address']})" for entry in stale)
    yield from backup_commands(port, backup_dir, backup_databases, timestamp, backup_keep)
    yield StringCommand("cp -a", QuoteString(hba_file), QuoteString(backup))
    edits = [bit for entry in stale for bit in ("-e", QuoteString(f"{entry['line']}d"))]
    yield StringCommand("sed -i", *edits, QuoteString(hba_file))
    yield _hba_checked_by_postgres(port, hba_file, backup)
    yield _reload(port)
    yield FunctionCommand(say, [f"removed from {hba_file} (backup {backup}) the lines of regions that "
                                 f"are gone: {removed}"], {})
