"""What configuring a region decides, as plain data: which regiond.conf keys differ from the
wanted ones, and what each flavour does about it (deb: the keys to write; snap: ``maas init``
and/or ``maas config``).

One truth for two callers: ``maas_region.configure`` turns the plan into commands, and the
rolling restart (``deploys/rolling_restart.restart_reason``) restarts a region exactly when
the same plan says its config changes.
"""

from __future__ import annotations

from facts.maas import RACK_MODES
from facts.maas_config import secret_matches

DB_KEYS = ("database_host", "database_name", "database_pass", "database_port", "database_user")
SECRET_SETTINGS = ("database_pass",)
SNAP_RUN_MODE = "snap run mode"  # the reason given when a snap is not in a region mode
# With Vault enabled, MAAS moves these into Vault and blanks them in regiond.conf
VAULT_CREDENTIALS = ("database_name", "database_pass", "database_user")
VAULT_CLIENT_KEYS = ("vault_url", "vault_approle_id", "vault_secret_id")


def _same(current, wanted) -> bool:
    return current is not None and str(current) == str(wanted)


def wanted_regiond(maas_url, database_host, database_port, database_name, database_user,
                   database_password, num_workers) -> dict:
    """The regiond.conf keys this package manages, as they should read."""
    return {
        "database_host": database_host,
        "database_name": database_name,
        "database_pass": database_password,
        "database_port": database_port,
        "database_user": database_user,
        "maas_url": maas_url,
        "num_workers": num_workers,
    }


def regiond_differences(current: dict, wanted: dict) -> list[str]:
    """The managed keys whose value in regiond.conf (as ``RegiondConf`` reports it, secrets
    as keyed digests) is not the wanted one, sorted."""
    current = current or {}
    return [
        key for key in sorted(wanted)
        if not (secret_matches(current.get(key), wanted[key]) if key in SECRET_SETTINGS
                else _same(current.get(key), wanted[key]))
    ]


def regiond_settings(conf) -> dict | None:
    """The settings in a ``RegiondConf`` value: ``{}`` when there is no file, None when the
    file is not a readable YAML mapping."""
    conf = conf or {}
    return conf.get("settings") if conf.get("exists") else {}


def vault_keeps_credentials(current: dict) -> bool:
    """True when MAAS keeps this region's database credentials in Vault, not in regiond.conf.

    With Vault enabled, regiond's start-up moves ``database_user``/``_pass``/``_name`` into
    Vault and writes them back as ``""``; at each start it moves them again if they are on
    disk (``src/maasserver/start_up.py`` ``migrate_db_credentials_if_necessary``, which reads
    "on disk" as a non-empty ``database_name``), and regiond reads them from Vault when Vault is
    configured (``vault_url``, ``vault_approle_id``, ``vault_secret_id``;
    ``src/maasserver/vault.py``, ``djangosettings/settings.py``). Writing them back would make
    every run change the file and restart the region, and MAAS blank them again."""
    current = current or {}
    return (all(current.get(key) for key in VAULT_CLIENT_KEYS)
            and "database_name" in current and current["database_name"] in ("", None))


def install_mode(install) -> str:
    """The run mode a ``MaasInstall`` value shows (``none`` when it shows none)."""
    return (install or {}).get("mode") or "none"


def snap_run_mode(mode: str, with_rack: bool) -> str:
    """The run mode a snap region should be in: ``region+rack`` when the host is also a rack
    (`with_rack`) or already runs one (a rack is never dropped here), else ``region``."""
    return "region+rack" if with_rack or mode in RACK_MODES else "region"


def plan_regiond(flavour: str, current: dict, wanted: dict, mode: str, with_rack: bool = False) -> dict:
    """What ``maas_region.configure`` does for ``wanted`` given regiond.conf's ``current``
    settings and the install's run ``mode`` (`with_rack`: the host is a rack controller too):

    - ``changes``: why the region's config changes, empty when it does not (differing keys,
      and on snap :data:`SNAP_RUN_MODE` when the snap is not in its run mode);
    - ``write`` (deb): the keys to write into the file with their values;
    - ``init`` (snap): the mode to re-run ``maas init`` in (database settings or the run
      mode differ), else None;
    - ``config`` (snap): the ``maas config`` settings left to set, ``{name: value}``;
    - ``vault``: True when MAAS keeps the database credentials in Vault
      (:func:`vault_keeps_credentials`): they are neither compared nor written.
    """
    vault = vault_keeps_credentials(current)
    if vault:
        wanted = {key: value for key, value in wanted.items() if key not in VAULT_CREDENTIALS}
    differ = regiond_differences(current, wanted)
    plan = {"changes": list(differ), "write": {}, "init": None, "config": {}, "vault": vault}
    if flavour != "snap":
        plan["write"] = {key: wanted[key] for key in differ}
        return plan
    run_mode = snap_run_mode(mode, with_rack)
    if mode != run_mode:
        plan["changes"].append(SNAP_RUN_MODE)
    if mode != run_mode or any(key in differ for key in DB_KEYS):
        plan["init"] = run_mode
    elif "maas_url" in differ:
        plan["config"]["maas_url"] = wanted["maas_url"]
    if "num_workers" in differ:
        plan["config"]["num_workers"] = wanted["num_workers"]
    return plan
