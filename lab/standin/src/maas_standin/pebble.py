"""Lab test equipment (MAAS stand-in): the snap's service manager (pebble/supervisord).

Runs regiond and/or rackd according to $SNAP_COMMON/snap_mode, restarts them when
they exit, and records their state for `maas status`.  Where a child's output goes follows
MAAS's snap: 3.5+ (pebble) runs each service through `systemd-cat -t maas-<service>`, journal
only (snap/local/tree/usr/share/maas/pebble/layers/*.yaml); 3.4 (supervisord) sends it to
$SNAP_COMMON/log/<service>.log only (`stdout_logfile`, `redirect_stderr`,
snap/local/tree/usr/share/maas/supervisord.conf.template).
"""
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from . import conffile, paths

SERVICES = {"regiond": "maas_standin.regiond", "rackd": "maas_standin.rackd"}


def wanted(mode):
    result = []
    if mode in ("region", "region+rack"):
        result.append("regiond")
    if mode in ("rack", "region+rack"):
        result.append("rackd")
    return result


def state_path():
    return os.path.join(paths.snap_common(), "pebble", "standin-services.json")


def save_state(procs, since, last=None):
    """Record the services' state for `maas status`; returns it. Written only when it changed."""
    state = {}
    for name in SERVICES:
        proc = procs.get(name)
        active = proc is not None and proc.poll() is None
        state[name] = {"current": "active" if active else "inactive", "since": since.get(name),
                       "pid": proc.pid if active else None}
    text = json.dumps(state)
    if text != last:
        conffile.atomic_write(state_path(), text, mode=0o644)
    return text


def supervisord():
    """True for 3.4, whose snap runs its services under supervisord."""
    return paths.series() == "3.4"


def spawn(name):
    cmd = [sys.executable, "-m", SERVICES[name]]
    if supervisord():
        os.makedirs(paths.log_dir(), exist_ok=True)
        with open(os.path.join(paths.log_dir(), name + ".log"), "ab") as log:
            return subprocess.Popen(cmd, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    if shutil.which("systemd-cat") and os.environ.get("JOURNAL_STREAM"):
        cmd = ["systemd-cat", "-t", "maas-" + name] + cmd
    return subprocess.Popen(cmd, env=dict(os.environ))


def main():
    stopping = []
    signal.signal(signal.SIGTERM, lambda s, f: stopping.append(s))
    signal.signal(signal.SIGINT, lambda s, f: stopping.append(s))
    mode = paths.snap_mode()
    names = wanted(mode)
    print("maas snap service manager (stand-in): mode %s, services %s" % (mode, ", ".join(names) or "none"),
          flush=True)
    procs, since, backoff, saved = {}, {}, {}, None
    while not stopping:
        for name in names:
            proc = procs.get(name)
            if proc is None or proc.poll() is not None:
                if proc is not None and time.time() < backoff.get(name, 0):
                    continue
                procs[name] = spawn(name)
                since[name] = datetime.datetime.now(datetime.timezone.utc).isoformat()
                backoff[name] = time.time() + 5
        saved = save_state(procs, since, saved)
        time.sleep(1)
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    save_state({}, {})


if __name__ == "__main__":
    main()
