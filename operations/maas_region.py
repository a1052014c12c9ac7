"""Region controller operations: regiond.conf settings, the admin user, the local CLI profile.

Both flavours: deb through ``maas-region local_config_set`` / ``createadmin`` / ``apikey``,
snap through ``/snap/bin/maas init region|config|createadmin|apikey``. Secrets (database
password, admin password, API key) only ever appear as ``HiddenValue`` or stay on the host.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationError, OperationValueError
from pyinfra.api.hiddenvalue import HiddenValue

from facts.maas import (
    FLAVOURS,
    RACK_MODES,
    REGION_MODES,
    SNAP_MAAS,
    MaasAdminUser,
    MaasInstall,
    api_cli,
    region_cli,
)
from facts.maas_api import MaasCliProfiles
from facts.maas_config import RegiondConf, config_path as maas_config_path, secret_digest
from facts.memo import recall
from operations.maas_api_client import api_root

DB_KEYS = ("database_host", "database_name", "database_pass", "database_port", "database_user")

# Characters a snap ``--database-uri`` cannot carry in the user name / password.
_URI_UNSAFE = set("/?#@%[] \t\n")


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


def _q(value) -> str:
    return shlex.quote(str(value))


def _same(current, wanted) -> bool:
    return current is not None and str(current) == str(wanted)


def _database_uri(user, password, db_host, port, name) -> StringCommand:
    for label, value in (("database_user", user), ("database_password", password)):
        if set(str(value)) & (_URI_UNSAFE | ({":"} if label == "database_user" else set())):
            raise OperationValueError(
                f"{host.name}: {label} contains a character that cannot be passed in the snap's "
                "--database-uri (one of / ? # @ % [ ] : or whitespace)",
            )
    return StringCommand(
        _q(f"postgres://{user}:"),
        HiddenValue(_q(password)),
        _q(f"@{db_host}:{port}/{name}"),
        _separator="",
    )


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
):
    """
    Make regiond.conf hold the region URL, database settings and worker count.

    + flavour: ``deb`` or ``snap``
    + maas_url: the URL this region advertises (``http://IP:5240/MAAS``)
    + database_*: where the shared PostgreSQL is and how to log in
    + num_workers: regiond worker processes
    + config_path: regiond.conf path (default: the flavour's)

    Every other key in the file is kept. Deb runs one ``maas-region local_config_set``
    with only the keys that differ; snap re-runs ``maas init region`` when the database
    settings (or the run mode) differ and ``maas config`` for the URL and worker count.
    The database password is compared through its digest and passed hidden. Deploys use
    this operation's ``did_change()`` to decide a region restart.
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
    conf = fact_data(recall(host, RegiondConf, path=path)) or {}
    settings = conf.get("settings") if conf.get("exists") else {}
    if settings is None:
        raise OperationError(
            f"{host.name}: {path} is not a readable YAML mapping; fix it by hand first",
        )

    wanted = {
        "database_host": database_host,
        "database_name": database_name,
        "database_pass": secret_digest(database_password),
        "database_port": database_port,
        "database_user": database_user,
        "maas_url": maas_url,
        "num_workers": num_workers,
    }
    differ = [key for key in sorted(wanted) if not _same(settings.get(key), wanted[key])]

    if flavour == "deb":
        if not differ:
            host.noop(f"regiond.conf {path} already holds the requested settings")
            return
        bits: list = ["maas-region", "local_config_set"]
        for key in differ:
            flag = "--" + key.replace("_", "-")
            if key == "database_pass":
                bits += [flag, HiddenValue(_q(database_password))]
            else:
                bits += [flag, _q(wanted[key])]
        yield StringCommand(*bits)
        return

    install = fact_data(host.get_fact(MaasInstall)) or {}
    mode = install.get("mode") or "none"
    needs_init = mode not in REGION_MODES or any(key in differ for key in DB_KEYS)

    if not differ and not needs_init:
        host.noop(f"snap MAAS in {mode} mode already holds the requested settings ({path})")
        return

    config_flags: list = []
    if needs_init:
        init_mode = "region+rack" if mode in RACK_MODES else "region"
        yield StringCommand(
            SNAP_MAAS,
            "init",
            init_mode,
            "--maas-url",
            _q(maas_url),
            "--database-uri",
            _database_uri(database_user, database_password, database_host, database_port, database_name),
            "--force",
        )
    elif "maas_url" in differ:
        config_flags += ["--maas-url", _q(maas_url)]
    if "num_workers" in differ:
        config_flags += ["--num-workers", str(num_workers)]
    if config_flags:
        yield StringCommand(SNAP_MAAS, "config", *config_flags)


@operation()
def admin(flavour, username, password, email):
    """
    Create the MAAS admin user when the region does not know it.

    + flavour: ``deb`` (``maas-region createadmin``) or ``snap`` (``/snap/bin/maas createadmin``)
    + username, password, email: the account (the password is passed hidden)

    When the region could not answer at planning time (not up yet), the command checks
    again on the host before creating the user, so reruns stay harmless.
    """
    check_flavour(flavour)
    exists = fact_data(host.get_fact(MaasAdminUser, username=username, flavour=flavour))
    if exists is True:
        host.noop(f"MAAS admin user {username} already exists")
        return

    cli = region_cli(flavour)
    create = [
        cli,
        "createadmin",
        "--username",
        _q(username),
        # one word, so that a password starting with "-" is not taken for an option
        HiddenValue(f"--password={_q(password)}"),
        "--email",
        _q(email),
    ]
    if exists is None:
        yield StringCommand(
            cli, "apikey", "--username", _q(username), ">/dev/null", "2>&1", "||", *create
        )
    else:
        yield StringCommand(*create)


def profile_points_at(profiles, profile: str, url: str) -> bool:
    """True when the MaasCliProfiles value has `profile` pointing at `url`'s API."""
    return (profiles or {}).get(profile) == api_root(url)


@operation()
def cli_profile(flavour, profile, url, username):
    """
    Log the host's ``maas`` CLI into the region as ``username`` under ``profile``.

    + flavour: ``deb`` (``maas-region`` + ``maas``) or ``snap`` (``/snap/bin/maas`` for both)
    + profile: CLI profile name the ``maas_api`` facts read through
    + url: region URL (``http://IP:5240/MAAS``)
    + username: MAAS user whose first API key is used

    The key is piped from ``apikey`` into ``maas login PROFILE URL -`` on the host and
    never appears in the command. Noop when the profile exists with the same URL.
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
        _q(profile),
        _q(url),
        "-",
    )
