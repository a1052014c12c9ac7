"""Region controller operations: regiond.conf settings, the admin user, the local CLI profile.

Both flavours: deb by writing regiond.conf itself and through ``maas-region createadmin`` /
``apikey``, snap through ``/snap/bin/maas init region|config|createadmin|apikey``. Secrets
(database password, admin password, API key) are on no command line: they reach the host on
the command's stdin (MAAS's own prompts, or a JSON line for the regiond.conf writer) and
pyinfra never prints stdin.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationError, OperationValueError

from facts.maas import (
    FLAVOURS,
    SNAP_MAAS,
    MaasAdminUser,
    MaasInstall,
    api_cli,
    region_cli,
)
from facts.maas_api import MaasCliProfiles
from facts.maas_config import RegiondConf, config_path as maas_config_path
from operations.config_apply import mark_pending
from operations._plan_region import (  # noqa: F401  (regiond_differences: tests use it from here)
    install_mode,
    plan_regiond,
    regiond_differences,
    regiond_settings,
    wanted_regiond,
)
from run.memo import recall
from operations._remote import quote as _q
from operations.maas_api_client import api_root

# Writes regiond.conf on the host from a JSON line on stdin: the keys given are set, every
# other key is kept. As MAAS's own writes: atomic (temporary file + rename), the old file's
# owner, group and mode kept, a new file root:maas 0640 (MAAS-INTERFACE section 1); the
# temporary file has its final owner and mode before anything is written to it.
REGIOND_WRITER = """
import grp, json, os, sys, tempfile, yaml
path = sys.argv[1]
updates = json.loads(sys.stdin.readline())
try:
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    info = os.stat(path)
    owner, group, mode = info.st_uid, info.st_gid, info.st_mode & 0o7777
except FileNotFoundError:
    data = {}
    try:
        owner, group, mode = 0, grp.getgrnam("maas").gr_gid, 0o640
    except KeyError:
        owner, group, mode = 0, 0, 0o600
if not isinstance(data, dict):
    sys.exit(path + " is not a YAML mapping; fix it by hand first")
data.update(updates)
fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".regiond.conf.")
try:
    os.fchown(fd, owner, group)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False)
    os.rename(temporary, path)
except BaseException:
    os.unlink(temporary)
    raise
"""


def fact_data(value):
    """A fact's plain value (dict/list/None/...), also when a test double wraps it."""
    if value is None or isinstance(value, (dict, list, str, int, float, bool)):
        return value
    return getattr(value, "data", value)


def check_flavour(flavour) -> None:
    """Refuse an unknown flavour with a message naming the host."""
    if flavour not in FLAVOURS:
        raise OperationValueError(
            f"{host.name}: MAAS flavour {flavour!r} is not one of {', '.join(FLAVOURS)}",
        )


def database_uri(user, password, db_host, port, name) -> str:
    """The snap's ``postgres://`` URI, every part percent-encoded but for unreserved
    characters: MAAS parses it with libpq (psycopg2 ``parse_dsn``), which decodes them."""
    def part(value):
        return quote(str(value), safe="")
    address = f"[{db_host}]" if ":" in str(db_host) else part(db_host)  # IPv6 in brackets
    return f"postgres://{part(user)}:{part(password)}@{address}:{int(port)}/{part(name)}"


VAULT_NOTE = ("; MAAS keeps the database name, user and password in Vault (blank in regiond.conf, "
              "Vault configured there): left as MAAS wrote them, not compared with maas_db_password")


@operation()
def configure(
    flavour,
    maas_url,
    database_host,
    database_port,
    database_name,
    database_user,
    database_password,
    num_workers,
    config_path=None,
    with_rack=False,
):
    """
    Make regiond.conf hold the region URL, database settings and worker count.

    + flavour: ``deb`` or ``snap``
    + maas_url: the URL this region advertises (``http://IP:5240/MAAS``)
    + database_*: where the shared PostgreSQL is and how to log in
    + num_workers: regiond worker processes
    + config_path: regiond.conf path (default: the flavour's)
    + with_rack: the host is a rack controller too (snap: ``maas init region+rack``)

    Every other key in the file is kept. Deb writes the keys that differ into the file
    (``REGIOND_WRITER``, values on stdin); snap re-runs ``maas init region`` when the
    database settings (or the run mode) differ, the database URI answering its prompt on
    stdin, and ``maas config`` for the URL and worker count. The database password is
    compared through a keyed digest (facts/keyed_digest.py). Where MAAS keeps the database
    credentials in Vault (blanked in regiond.conf) they are left alone, with a message.
    Before any change, the file's pending-apply marker is set (operations/config_apply.py):
    the deploy clears it once the region runs the new file, so a run stopped in between is
    finished by the next one. Deploys use this operation's ``did_change()`` to decide a
    region restart.

    **Example:**

    .. code:: python

        from pyinfra import host

        from operations import maas_region

        conf = maas_region.configure(
            name="regiond.conf (database, URL, workers)",
            flavour="deb",
            maas_url="http://10.0.0.10/MAAS",
            database_host="10.0.0.5",
            database_port=5432,
            database_name="maasdb",
            database_user="maas",
            database_password=host.data.maas_db_password,
            num_workers=4,
        )
        # then restart the region only when conf.did_change()
    """
    check_flavour(flavour)
    try:
        database_port = int(database_port)
        num_workers = int(num_workers)
    except (TypeError, ValueError):
        raise OperationValueError(
            f"{host.name}: database_port and num_workers must be integers "
            f"(got {database_port!r}, {num_workers!r})",
        ) from None
    if num_workers < 1:
        raise OperationValueError(f"{host.name}: num_workers must be >= 1 (got {num_workers})")

    path = config_path or maas_config_path("regiond", flavour)
    settings = regiond_settings(fact_data(recall(host, RegiondConf, path=path)))
    if settings is None:
        raise OperationError(
            f"{host.name}: {path} is not a readable YAML mapping; fix it by hand first",
        )
    wanted = wanted_regiond(maas_url, database_host, database_port, database_name,
                            database_user, database_password, num_workers)
    mode = install_mode(fact_data(host.get_fact(MaasInstall))) if flavour == "snap" else None
    plan = plan_regiond(flavour, settings, wanted, mode, with_rack=bool(with_rack))
    if not plan["changes"]:
        held = (f"regiond.conf {path} already holds the requested settings" if flavour == "deb"
                else f"snap MAAS in {mode} mode already holds the requested settings ({path})")
        host.noop(held + (VAULT_NOTE if plan["vault"] else ""))
        return

    # Until the region has restarted on the new file (deploys/region.py), the marker says so.
    yield mark_pending(path)
    if plan["write"]:
        updates = json.dumps(plan["write"], sort_keys=True)
        yield StringCommand("python3 -c", _q(REGIOND_WRITER.strip()), _q(path), _stdin=updates)
    if plan["init"]:
        # `maas init` prompts for the database URI when no --database-uri is given, and
        # reads the answer from stdin (src/maascli/snap.py get_database_settings).
        uri = database_uri(database_user, database_password, database_host, database_port,
                           database_name)
        yield StringCommand(SNAP_MAAS, "init", plan["init"], "--maas-url", _q(maas_url), "--force",
                            _stdin=uri)
    config_flags = []
    if "maas_url" in plan["config"]:
        config_flags += ["--maas-url", _q(maas_url)]
    if "num_workers" in plan["config"]:
        config_flags += ["--num-workers", str(num_workers)]
    if config_flags:
        yield StringCommand(SNAP_MAAS, "config", *config_flags)


def createadmin_command(flavour, username, email, check_first: bool) -> list:
    """``createadmin`` without ``--password``: MAAS then prompts for it twice ("Password:",
    "Again:", getpass, which reads stdin when there is no terminal), and ``--ssh-import ''``
    keeps it from also prompting for keys (src/maasserver/management/commands/createadmin.py).
    With ``check_first`` it only runs when ``apikey`` does not know the user."""
    cli = region_cli(flavour)
    create = [cli, "createadmin", "--username", _q(username), "--email", _q(email),
              "--ssh-import", "''"]
    if check_first:
        return [cli, "apikey", "--username", _q(username), ">/dev/null", "2>&1", "||", *create]
    return create


def prompt_answers(*answers: str) -> str:
    """Lines for a command's prompts on stdin; a value with a line break cannot be one."""
    for answer in answers:
        if "\n" in answer or "\r" in answer:
            raise OperationValueError(
                f"{host.name}: a password with a line break cannot be given to MAAS's prompt",
            )
    return "".join(f"{answer}\n" for answer in answers)


@operation()
def admin(flavour, username, password, email):
    """
    Create the MAAS admin user when the region does not know it.

    + flavour: ``deb`` (``maas-region createadmin``) or ``snap`` (``/snap/bin/maas createadmin``)
    + username, password, email: the account (the password answers MAAS's prompt on stdin)

    When the region could not answer at planning time (not up yet), the command checks
    again on the host before creating the user, so reruns stay harmless.

    **Example:**

    .. code:: python

        from pyinfra import host

        from operations import maas_region

        maas_region.admin(
            name="MAAS admin admin",
            flavour="snap",
            username="admin",
            password=host.data.maas_admin_password,
            email="admin@example.com",
        )
    """
    check_flavour(flavour)
    answers = prompt_answers(password, password)
    exists = fact_data(host.get_fact(MaasAdminUser, username=username, flavour=flavour))
    if exists is True:
        host.noop(f"MAAS admin user {username} already exists")
        return
    yield StringCommand(*createadmin_command(flavour, username, email, check_first=exists is None),
                        _stdin=answers)


def profile_points_at(profiles, profile: str, url: str) -> bool:
    """True when the MaasCliProfiles value has `profile` pointing at `url`'s API."""
    return (profiles or {}).get(profile) == api_root(url)


@operation()
def cli_profile(flavour, profile, url, username, cacerts=None):
    """
    Log the host's ``maas`` CLI into the region as ``username`` under ``profile``.

    + flavour: ``deb`` (``maas-region`` + ``maas``) or ``snap`` (``/snap/bin/maas`` for both)
    + profile: CLI profile name the ``maas_api`` facts read through
    + url: region URL (``http://IP:5240/MAAS``; with MAAS TLS on, ``https://IP:5443/MAAS``)
    + username: MAAS user whose first API key is used
    + cacerts: for an ``https`` URL, the file on the host with the certificate chain to trust
      (``maas login --cacerts``: the CLI keeps a copy in the profile)

    The key is piped from ``apikey`` into ``maas login PROFILE URL -`` on the host and
    never appears in the command. Noop when the profile exists with the same URL.

    **Example:**

    .. code:: python

        from operations import maas_region

        maas_region.cli_profile(
            name="maas CLI profile for queries",
            flavour="deb",
            profile="maas-ha",
            url="http://localhost:5240/MAAS/",
            username="admin",
        )
    """
    check_flavour(flavour)
    cli = api_cli(flavour)
    profiles = fact_data(host.get_fact(MaasCliProfiles, maas_cli=cli)) or {}
    wanted = api_root(url)
    if profile_points_at(profiles, profile, url):
        host.noop(f"maas CLI profile {profile} already points at {wanted}")
        return

    yield StringCommand(
        region_cli(flavour),
        "apikey",
        "--username",
        _q(username),
        "|",
        "head",
        "-n",
        "1",
        "|",
        cli,
        "login",
        *(["--cacerts", _q(cacerts)] if cacerts else []),
        _q(profile),
        _q(url),
        "-",
    )
