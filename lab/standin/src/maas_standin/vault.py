"""Lab test equipment (MAAS stand-in): MAAS's Vault integration, as regiond.conf sees it.

What is modelled is what MAAS does with regiond.conf (src/maasserver/vault.py,
start_up.py, djangosettings/settings.py, management/commands/config_vault.py):

- a region has a Vault client when regiond.conf holds vault_url, vault_approle_id and
  vault_secret_id (all non-empty);
- `config-vault migrate` sets `vault_enabled` in the database, cluster-wide;
- at each start, with Vault enabled and credentials on disk (a non-empty database_name;
  absent reads as the default `maasdb`), regiond stores database user/pass/name in Vault
  under controller/<maas_id>/database-creds and rewrites them in regiond.conf as "";
  with Vault disabled and none on disk it moves them back;
- regiond (and the 3.5+ units beside it) read the credentials from Vault when a client is
  configured and Vault holds them, else from regiond.conf.

The Vault server itself is stood in by a root:maas 0640 JSON file on each region (paths to
values). MAAS keeps the database credentials under the region's own path, so a file per
region holds what a shared Vault would.
"""
import json
import os

from . import conffile, paths

CLIENT_KEYS = ("vault_url", "vault_approle_id", "vault_secret_id")
CREDENTIALS = (("user", "database_user"), ("pass", "database_pass"), ("name", "database_name"))


def store_path():
    return os.path.join(paths.data_dir(), "standin-vault.json")


def configured(conf):
    """A Vault client exists for this region (vault.py `_get_region_vault_client`)."""
    return all(conffile.region_value(conf, key) for key in CLIENT_KEYS)


def _load():
    try:
        with open(store_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def get(path):
    return _load().get(path)


def put(path, value):
    data = _load()
    if value is None:
        data.pop(path, None)
    else:
        data[path] = value
    conffile.atomic_write(store_path(), json.dumps(data, sort_keys=True))


def credentials_path(maas_id=None):
    return "controller/%s/database-creds" % (maas_id or paths.read_maas_id())


def credentials(conf):
    """(user, pass, name) regiond connects with: Vault's when a client is configured and
    Vault holds them, else regiond.conf's (settings.py `_get_default_db_config`)."""
    stored = get(credentials_path()) if configured(conf) and paths.read_maas_id() else None
    if stored:
        return stored["user"], stored["pass"], stored["name"]
    return tuple(conffile.region_value(conf, key) for _, key in CREDENTIALS)


def migrate_credentials_if_necessary(vault_enabled, log):
    """start_up.py `migrate_db_credentials_if_necessary`, run by regiond at each start.

    The rewrite keeps the file's owner as MAAS's atomic_write does: it chowns the new file
    to the old one's owner and gives up (PermissionError) when it cannot, which stops the
    region's start-up."""
    path, conf = conffile.region_config()
    on_disk = bool(conffile.region_value(conf, "database_name"))
    if on_disk != bool(vault_enabled):
        return
    if not configured(conf):
        return
    if on_disk:
        put(credentials_path(), {name: conffile.region_value(conf, key) for name, key in CREDENTIALS})
        for _, key in CREDENTIALS:
            conf[key] = ""
        conffile.atomic_write(path, conffile.dump(conf), keep_owner_strictly=True)
        log.info("Migrated DB credentials from local config to vault")
    else:
        stored = get(credentials_path()) or {}
        for name, key in CREDENTIALS:
            conf[key] = stored.get(name, "")
        conffile.atomic_write(path, conffile.dump(conf), keep_owner_strictly=True)
        put(credentials_path(), None)
        log.info("Migrated DB credentials from vault to local config")
