"""Lab test equipment (MAAS stand-in): the units beside regiond on a 3.5+ deb region.

MAAS 3.5+ runs `maas-apiserver`, `maas-temporal` and `maas-temporal-worker` beside
`maas-regiond`; each reads regiond.conf's database settings once, at start
(MAAS-INTERFACE.md section 10). Restarting `maas-regiond` alone after a database change
leaves them on the old settings. Each stand-in unit does what matters of that: it reads the
settings at start, records a digest of them with its pid in a state file, and waits to be
stopped. regiond answers its API only while every one of them runs with the database
settings regiond started with (`stale()`), so a missed restart shows as a failing API.
"""
import hashlib
import json
import logging
import os
import signal
import sys
import threading

from . import conffile, logutil, paths, vault

log = logging.getLogger("maas.region_units")

UNITS = ("maas-apiserver", "maas-temporal", "maas-temporal-worker")


def units():
    """The units this region's API depends on: deb 3.5+ only (the snap's pebble restarts its
    own services). MAAS_STANDIN_REGION_UNITS (comma list, may be empty) overrides, for tests."""
    override = os.environ.get("MAAS_STANDIN_REGION_UNITS")
    if override is not None:
        return [name for name in override.split(",") if name]
    if paths.is_snap() or tuple(int(part) for part in paths.series().split(".")) < (3, 5):
        return []
    return list(UNITS)


def database_digest(conf):
    """A digest of the database settings a unit starts with (never the settings themselves):
    regiond.conf's host and port, and the credentials from Vault when MAAS keeps them there
    (src/maasapiserver/settings.py reads them from Vault too)."""
    user, password, name = vault.credentials(conf)
    values = [str(conffile.region_value(conf, "database_host")), str(conffile.region_value(conf, "database_port")),
              str(name), str(user), str(password)]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def state_file(unit):
    return os.path.join(paths.data_dir(), "region-units", unit + ".json")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale(conf):
    """[(unit, why)] for each unit that does not run with `conf`'s database settings."""
    wanted = database_digest(conf)
    result = []
    for unit in units():
        try:
            with open(state_file(unit)) as f:
                state = json.load(f)
        except (OSError, ValueError):
            result.append((unit, "not running"))
            continue
        if not _alive(int(state.get("pid") or 0)):
            result.append((unit, "not running"))
        elif state.get("database") != wanted:
            result.append((unit, "runs with other database settings (started before regiond.conf changed)"))
    return result


def run(unit):
    """A unit's main: read the database settings once, record them, wait for SIGTERM."""
    logutil.setup(unit.replace("maas-", ""), unit.replace("maas-", "") + ".log")
    path = paths.region_config()
    conf = conffile.load(path)
    if not conf:
        log.error("Configuration file %s does not exist or is empty; %s cannot start.", path, unit)
        return 1
    os.makedirs(os.path.dirname(state_file(unit)), exist_ok=True)
    conffile.atomic_write(state_file(unit), json.dumps({"pid": os.getpid(), "database": database_digest(conf)}),
                          mode=0o644)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    log.info("%s running with the database settings of %s.", unit, path)
    while not stopping.wait(3600):
        pass
    try:
        os.unlink(state_file(unit))
    except OSError:
        pass
    log.info("%s stopped.", unit)
    return 0


def main():
    """`python3 -m maas_standin.region_units UNIT` (the packaged launchers call run())."""
    if len(sys.argv) != 2 or sys.argv[1] not in UNITS:
        print("usage: region_units {%s}" % ",".join(UNITS), file=sys.stderr)
        return 2
    return run(sys.argv[1])


if __name__ == "__main__":
    sys.exit(main())
