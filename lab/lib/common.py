"""Test equipment: shared paths, logging, command running and locking for the lab tools.

Kept separate so the image builder, the network code and the host manager agree on
where things live and report progress the same way.
"""

import fcntl
import hashlib
import os
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager

from . import slot

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_DIR = os.environ.get("MHLAB_CACHE_DIR", "/var/cache/maas-ha-lab")
SLOT = slot.current()                         # MAAS_HA_LAB_SLOT: which lab of this machine
STATE_DIR = slot.state_dir()
HOSTS_JSON = os.path.join(STATE_DIR, "hosts.json")
SSH_KEY = os.path.join(STATE_DIR, "id_ed25519")
RUN_DIR = os.path.join(STATE_DIR, "run")      # one JSON record per started container
HOSTS_DIR = os.path.join(STATE_DIR, "hosts")  # per-host overlay upper dirs
LOG_DIR = os.path.join(STATE_DIR, "logs")     # per-host console logs

# Like production, the lab is run by an operator who is not root: every host has this user
# (passwordless sudo, as on Ubuntu cloud images) and sshd refuses root. MAAS_HA_LAB_SSH_USER=root
# at `up`/`reset` boots hosts that let root in by key instead (the old, kinder lab).
OPERATOR_USER = "ubuntu"
OPERATOR_UID = 1000
# Hosts carry fully qualified hostnames (`region1.maas-lab.test`), as production hosts often
# do, while MAAS keeps only the short name; MAAS_HA_LAB_DOMAIN="" gives short hostnames.
DEFAULT_DOMAIN = "maas-lab.test"


def login_user():
    """The user ssh logs in as: the operator, or root when MAAS_HA_LAB_SSH_USER=root."""
    user = os.environ.get("MAAS_HA_LAB_SSH_USER") or OPERATOR_USER
    if user not in (OPERATOR_USER, "root"):
        raise LabError("MAAS_HA_LAB_SSH_USER must be %s or root (got %r)" % (OPERATOR_USER, user))
    return user


def domain():
    """The DNS domain of the lab hosts' kernel hostnames ("" for short hostnames)."""
    return os.environ.get("MAAS_HA_LAB_DOMAIN", DEFAULT_DOMAIN).strip(".")


def fqdn(host):
    """The kernel hostname of a lab host: its name, qualified with the lab's domain."""
    return "%s.%s" % (host, domain()) if domain() else host

_T0 = time.monotonic()


class LabError(Exception):
    """A lab step failed in a way the user has to look at; the message says what and why."""


def log(msg):
    """Print a progress line with the seconds since the command started (never stay silent)."""
    sys.stdout.write("[lab %6.1fs] %s\n" % (time.monotonic() - _T0, msg))
    sys.stdout.flush()


def run(cmd, check=True, capture=False, input=None, env=None, quiet=False):
    """Run a command (list), raising LabError with its output tail when it fails."""
    if not quiet and os.environ.get("MHLAB_DEBUG"):
        log("$ " + " ".join(shlex.quote(c) for c in cmd))
    proc = subprocess.run(
        cmd, input=input, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT if not capture else subprocess.PIPE,
    )
    if check and proc.returncode != 0:
        out = (proc.stdout or "") + (proc.stderr or "")
        tail = "\n".join(out.strip().splitlines()[-25:])
        raise LabError("command failed (exit %d): %s\n%s" % (
            proc.returncode, " ".join(shlex.quote(c) for c in cmd), tail))
    return proc


def run_streamed(cmd, label, summarise=None, env=None, interval=10.0):
    """Run a long command, printing a progress summary at least every `interval` seconds,
    also while the command itself prints nothing.

    `summarise(line)` may return a short status string for a line (or None); the latest one
    is reported. The output tail is shown on failure.
    """
    import threading
    log("%s: started" % label)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, bufsize=1)
    lines = []
    state = {"status": "working", "count": 0}
    start = time.monotonic()
    finished = threading.Event()

    def ticker():
        while not finished.wait(interval):
            log("%s: %s (%d s, %d lines of output)"
                % (label, state["status"], time.monotonic() - start, state["count"]))

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            state["count"] += 1
            if summarise:
                status = summarise(line)
                if status:
                    state["status"] = status
        rc = proc.wait()
    finally:
        finished.set()
        if proc.poll() is None:
            proc.kill()
    if rc != 0:
        raise LabError("%s failed (exit %d):\n%s" % (label, rc, "\n".join(lines[-40:])))
    log("%s: done in %.0f s" % (label, time.monotonic() - start))
    return lines


def ensure_tools():
    """Install the control-machine tools the lab needs when they are missing (fresh CI box)."""
    needed = {
        "debootstrap": "debootstrap",
        "systemd-nspawn": "systemd-container",
        "apt-ftparchive": "apt-utils",
        "ip": "iproute2",
        "ssh": "openssh-client",
        "ssh-keygen": "openssh-client",
        "dpkg-deb": "dpkg",
    }
    missing = sorted({pkg for tool, pkg in needed.items() if not _which(tool)})
    if not missing:
        return
    log("installing control-machine tools: %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run_streamed(["apt-get", "update"], "apt-get update", env=env)
    run_streamed(["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                 "apt-get install " + " ".join(missing), env=env)


def _which(tool):
    for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":") + ["/usr/sbin", "/sbin"]:
        if os.access(os.path.join(d, tool), os.X_OK):
            return True
    return False


def sha256_text(*parts):
    """Stable short hash of some strings (cache keys)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_hash(root, skip=("__pycache__", "tests")):
    """Hash every file (path and content) under root; None when root does not exist."""
    if not os.path.isdir(root):
        return None
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".swp")):
                continue
            path = os.path.join(dirpath, name)
            h.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as fh:
                h.update(fh.read())
            h.update(b"\0")
    return h.hexdigest()[:16]


@contextmanager
def locked(path):
    """Hold an exclusive flock on path (so two labctl runs never build or boot at once)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("waiting for another labctl run holding %s" % path)
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def require_root():
    """The lab creates namespaces, bridges and containers: only root can."""
    if os.geteuid() != 0:
        raise LabError("labctl must run as root")


# Kernel limits a few dozen systemd containers need: each container's systemd and its services
# use inotify instances (default limit 128 per user, all containers run as root), so 20+ hosts
# fail with "Too many open files" without this. Raised only when lower; the old values are
# saved and restored by `down`.
SYSCTL_MINIMUMS = {
    "fs/inotify/max_user_instances": 8192,
    "fs/inotify/max_user_watches": 524288,
}
SYSCTL_SAVED = os.path.join(STATE_DIR, "sysctl-saved.json")


def raise_kernel_limits():
    """Raise the inotify limits when they are below what many containers need."""
    import json
    saved = {}
    if os.path.exists(SYSCTL_SAVED):
        with open(SYSCTL_SAVED) as fh:
            saved = json.load(fh)
    for key, minimum in SYSCTL_MINIMUMS.items():
        path = "/proc/sys/" + key
        try:
            with open(path) as fh:
                current = int(fh.read().strip())
            if current < minimum:
                saved.setdefault(key, current)
                with open(path, "w") as fh:
                    fh.write(str(minimum))
                log("raised %s from %d to %d (restored by `down`)" % (key.replace("/", "."), current, minimum))
        except (OSError, ValueError) as exc:
            log("warning: cannot raise %s (%s); many hosts may fail to boot" % (key, exc))
    if saved:
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(SYSCTL_SAVED, "w") as fh:
            json.dump(saved, fh)


def restore_kernel_limits():
    """Put back the kernel limits raise_kernel_limits changed."""
    import json
    if not os.path.exists(SYSCTL_SAVED):
        return
    with open(SYSCTL_SAVED) as fh:
        saved = json.load(fh)
    for key, value in saved.items():
        try:
            with open("/proc/sys/" + key, "w") as fh:
                fh.write(str(value))
        except OSError as exc:
            log("warning: cannot restore %s (%s)" % (key, exc))
    os.remove(SYSCTL_SAVED)
