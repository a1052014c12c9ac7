"""Test equipment: the lab's host catalogue and the systemd-nspawn containers that run them.

Every container is started detached with its PID (and the PID's start time, to survive PID
reuse) recorded in <state dir>/run/<name>.json before anything else happens, so
`down` can stop exactly what `up` started, even after a partial `up`.
"""

import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time

from . import net
from .common import (HOSTS_DIR, LOG_DIR, OPERATOR_UID, OPERATOR_USER, RUN_DIR, SLOT, SSH_KEY,
                     LabError, domain, fqdn, log, login_user, run)
from .slot import SLOTS, for_number

# name -> (last octet, inventory group, role, MAAS instance)
FIXED_HOSTS = {
    "pg1": (10, "maas_postgres", "postgres", "a"),
    "region1": (11, "maas_region", "region", "a"),
    "region2": (12, "maas_region", "region", "a"),
    "lb1": (13, "maas_haproxy", "haproxy", "a"),
    "region3": (14, "maas_region_spare", "region", "a"),
    "lb2": (15, "maas_haproxy", "haproxy", "a"),
    # the PostgreSQL cluster's other members (inventory: MAAS_HA_POSTGRES=pg1,pg2,pg3)
    "pg2": (16, "maas_postgres_spare", "postgres", "a"),
    "pg3": (17, "maas_postgres_spare", "postgres", "a"),
    "b-pg1": (30, "b_maas_postgres", "postgres", "b"),
    "b-region1": (31, "b_maas_region", "region", "b"),
}
# Three database hosts and two load balancers, as a production HA MAAS has; the lab inventory
# deploys pg1 and lb1 alone unless told otherwise (MAAS_HA_POSTGRES, MAAS_HA_HAPROXY)
DEFAULT_FIXED = ["pg1", "pg2", "pg3", "region1", "region2", "lb1", "lb2"]
OPTIONAL_FIXED = ["region3", "b-pg1", "b-region1"]
MAX_RACKS = 100
# The load balancers' floating API address: this host number on the lab's network (no host
# has it; the inventory gives it to two or more load balancers as maas_api_vip)
API_VIP_OCTET = 20
# Capabilities a role needs beyond nspawn's defaults. With --network-namespace-path nspawn
# drops CAP_NET_ADMIN; a load balancer needs it to take the API's floating address (and
# CAP_NET_RAW for VRRP). Each host has a network namespace of its own: what it changes there
# stays in the lab.
ROLE_CAPABILITIES = {"haproxy": ["CAP_NET_ADMIN", "CAP_NET_RAW"]}
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]


def host_info(name):
    """Address (in the slot's network), group, role and instance of a lab host name;
    LabError for unknown names."""
    if name in FIXED_HOSTS:
        octet, group, role, inst = FIXED_HOSTS[name]
    elif name.startswith("rack") and name[4:].isdigit() and 1 <= int(name[4:]) <= MAX_RACKS \
            and str(int(name[4:])) == name[4:]:
        octet, group, role, inst = 100 + int(name[4:]), "maas_rack", "rack", "a"
    else:
        raise LabError("unknown lab host %r (known: %s, rack1..rack%d)"
                       % (name, ", ".join(FIXED_HOSTS), MAX_RACKS))
    return {"address": SLOT.address(octet), "group": group, "role": role, "instance": inst}


def desired_hosts(racks, extra):
    """The host set `up` should run: defaults, rack1..rackN and the requested extras."""
    if not 0 <= racks <= MAX_RACKS:
        raise LabError("--racks must be between 0 and %d" % MAX_RACKS)
    names = list(DEFAULT_FIXED)
    for e in extra:
        host_info(e)
        if e not in names:
            names.append(e)
    names += ["rack%d" % i for i in range(1, racks + 1) if "rack%d" % i not in names]
    return names


def machine_name(host):
    """nspawn machine name (contract: mhlab-<name>, in slot N mhl<N>-<name>)."""
    return SLOT.ns_prefix + host


# ---------------------------------------------------------------- runtime records

def _record_path(host):
    return os.path.join(RUN_DIR, host + ".json")


def read_record(host):
    """The run record of a host, or None."""
    try:
        with open(_record_path(host)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def recorded_hosts():
    """Names of hosts with a run record."""
    if not os.path.isdir(RUN_DIR):
        return []
    return sorted(f[:-5] for f in os.listdir(RUN_DIR) if f.endswith(".json"))


def _write_record(host, rec):
    os.makedirs(RUN_DIR, exist_ok=True)
    tmp = _record_path(host) + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(rec, fh, indent=1)
    os.rename(tmp, _record_path(host))


def _proc_start(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def _is_our_nspawn(pid, host, start=None):
    """True when pid is still the systemd-nspawn we started for host (not a reused PID)."""
    argv = _proc_cmdline(pid)
    if not argv or not os.path.basename(argv[0].decode(errors="replace")) == "systemd-nspawn":
        return False
    if ("--machine=" + machine_name(host)).encode() not in argv:
        return False
    return start is None or _proc_start(pid) == start


def running_pid(host):
    """PID of the host's container (its systemd-nspawn) if it is running, else None."""
    rec = read_record(host)
    if rec and rec.get("pid") and _is_our_nspawn(rec["pid"], host, rec.get("start")):
        return rec["pid"]
    return None


def stray_nspawns(prefix=None):
    """systemd-nspawn processes carrying one of the slot's machine names and netns paths,
    host -> PIDs, recorded or not (a crash between start and record leaves one unrecorded);
    found by those exact arguments, never by process name. `prefix`: another slot's."""
    prefix = prefix or SLOT.ns_prefix
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _proc_cmdline(int(entry))
        if not argv or os.path.basename(argv[0].decode(errors="replace")) != "systemd-nspawn":
            continue
        args = [a.decode(errors="replace") for a in argv]
        machine = [a for a in args if a.startswith("--machine=" + prefix)]
        nspath = [a for a in args if a.startswith("--network-namespace-path=/run/netns/" + prefix)]
        if machine and nspath:
            found.setdefault(machine[0][len("--machine=" + prefix):], []).append(int(entry))
    return found


def other_slots_running():
    """Numbers of the other lab slots that have containers running on this machine."""
    return [n for n in SLOTS
            if n != SLOT.number and stray_nspawns(for_number(n).ns_prefix)]


# ---------------------------------------------------------------- boot / stop

def upper_dir(host):
    """Overlay upper dir of a host (its whole difference from the base image)."""
    return os.path.join(HOSTS_DIR, host, "upper")


def _inject(host, info, all_hosts):
    """Files each host gets on top of the image: its hostname (qualified with the lab's
    domain), the lab's /etc/hosts, the ssh key and who may log in with it."""
    up = upper_dir(host)
    os.makedirs(os.path.join(up, "etc"), exist_ok=True)
    os.chmod(os.path.join(up, "etc"), 0o755)
    with open(os.path.join(up, "etc/hostname"), "w") as fh:
        fh.write(fqdn(host) + "\n")
    lines = ["127.0.0.1 localhost", "127.0.1.1 %s" % _names(host), "::1 localhost ip6-localhost"]
    lines += ["%s %s" % (h["address"], _names(n)) for n, h in sorted(all_hosts.items()) if n != host]
    with open(os.path.join(up, "etc/hosts"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    user = login_user()
    sshd = os.path.join(up, "etc/ssh/sshd_config.d")
    os.makedirs(sshd, exist_ok=True)
    with open(os.path.join(sshd, "00-login.conf"), "w") as fh:  # first match wins in sshd
        fh.write("# lab: who may log in (MAAS_HA_LAB_SSH_USER at boot)\n"
                 "PermitRootLogin %s\n" % ("prohibit-password" if user == "root" else "no"))
    _authorize("root", 0, os.path.join(up, "root"))
    _authorize(OPERATOR_USER, OPERATOR_UID, os.path.join(up, "home", OPERATOR_USER))


def _names(host):
    """A host's /etc/hosts names: the qualified hostname first, then the short one."""
    return fqdn(host) if fqdn(host) == host else "%s %s" % (fqdn(host), host)


def _authorize(user, uid, home):
    """The lab key in a user's authorized_keys (sshd decides whether that user may log in)."""
    ssh = os.path.join(home, ".ssh")
    os.makedirs(ssh, exist_ok=True)
    os.chmod(home, 0o700 if uid == 0 else 0o750)
    os.chmod(ssh, 0o700)
    keys = os.path.join(ssh, "authorized_keys")
    with open(SSH_KEY + ".pub") as src, open(keys, "w") as dst:
        dst.write(src.read())
    os.chmod(keys, 0o600)
    for path in (home, ssh, keys):
        os.chown(path, uid, uid)


PROPAGATE_DIR = "/run/systemd/nspawn/propagate"


def _clear_stale_propagate_dir(host):
    """Remove the mount-propagation dir a previous, killed nspawn of this host left behind.

    nspawn removes it on a clean exit; when it finds one at start it refuses to delete it
    itself unless /run is a tmpfs ("Attempted to remove disk file system ..."), which it is
    not on every control machine, and the host then fails to boot."""
    path = os.path.join(PROPAGATE_DIR, machine_name(host))
    if not os.path.isdir(path):
        return
    with open("/proc/self/mounts") as mounts:
        mounted = [line.split()[1] for line in mounts if line.split()[1].startswith(path)]
    for point in sorted(mounted, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    shutil.rmtree(path, ignore_errors=True)


def start(host, image, all_hosts):
    """Set up the host's network and start its container detached; returns the nspawn PID."""
    info = host_info(host)
    _clear_stale_propagate_dir(host)
    net.setup_host_net(host, info["address"])
    _inject(host, info, all_hosts)
    os.makedirs(LOG_DIR, exist_ok=True)
    overlay = ":".join(image.lowers() + [upper_dir(host), "/"])
    cmd = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
           "--machine=" + machine_name(host), "--hostname=" + fqdn(host),
           "--directory=" + image.rootfs, "--overlay=" + overlay,
           "--network-namespace-path=/run/netns/" + net.ns_name(host),
           "--bind-ro=%s:/srv/labrepo" % image.repo,
           "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=read-only"]
    if ROLE_CAPABILITIES.get(info["role"]):
        cmd.append("--capability=" + ",".join(ROLE_CAPABILITIES[info["role"]]))
    logf = open(os.path.join(LOG_DIR, host + ".log"), "ab")
    logf.write(("\n=== %s start\n" % time.ctime()).encode())
    logf.flush()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True,
                            env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
    logf.close()
    _write_record(host, {"name": host, "pid": proc.pid, "start": _proc_start(proc.pid),
                         "machine": machine_name(host), "netns": net.ns_name(host),
                         "address": info["address"], "upper": upper_dir(host),
                         "layer_key": image.layer_key, "base_key": image.base_key,
                         "started": time.time()})
    return proc.pid


def log_tail(host, n=20):
    """Last lines of a host's container log (for error messages)."""
    try:
        with open(os.path.join(LOG_DIR, host + ".log"), errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return ""


def ssh_banner(address, timeout=1.0):
    """True when something answers with an SSH banner on address:22."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def ssh_cmd(address, command=None, tty=False, user=None):
    """The ssh command line that runs `command` (argv) as root on a lab host: logged in with
    the lab key as `user` (default: the login user), through `sudo -n` unless that is root.
    Without a command: an interactive root shell."""
    user = user or login_user()
    cmd = ["ssh", "-i", SSH_KEY] + SSH_OPTS + (["-t"] if tty else []) + [user + "@" + address]
    if user != "root":
        if command:
            command = ["sudo", "-n", "sh", "-c", shlex.quote(" ".join(command))]
        else:
            command = ["sudo", "-n", "-i"]
    if command:
        cmd += ["--"] + list(command)
    return cmd


def wait_ready(host, pid, timeout=180):
    """Wait until sshd answers and a key login (with sudo) works (polling, no fixed sleep)."""
    address = host_info(host)["address"]
    deadline = time.monotonic() + timeout
    delay = 0.2
    while time.monotonic() < deadline:
        if not _is_our_nspawn(pid, host):
            raise LabError("container of %s exited during boot; log tail:\n%s" % (host, log_tail(host)))
        if ssh_banner(address):
            proc = run(ssh_cmd(address, ["true"]), check=False, quiet=True)
            if proc.returncode == 0:
                return
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    raise LabError("%s (%s) did not answer ssh within %d s; log tail:\n%s"
                   % (host, address, timeout, log_tail(host)))


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def stop_many(hosts, timeout=20):
    """Stop containers: SIGTERM (nspawn powers the container off cleanly), then SIGKILL the
    container's init and nspawn if they linger. Only PIDs we recorded (or that carry our
    exact machine name and netns arguments)."""
    # Every nspawn of these machines, recorded or not: a second one left on a host's netns
    # would keep answering ssh for it after a reset.
    strays = stray_nspawns()
    targets = [(host, pid) for host in hosts
               for pid in sorted(set(strays.get(host, [])) | {running_pid(host)} - {None})]
    for host, pid in targets:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while targets and time.monotonic() < deadline:
        targets = [(h, p) for h, p in targets if _is_our_nspawn(p, h)]
        if targets:
            time.sleep(0.2)
    for host, pid in targets:
        log("%s did not power off within %d s; killing its container" % (host, timeout))
        for kid in _children(pid):
            try:
                os.kill(kid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 10
    while any(_is_our_nspawn(p, h) for h, p in targets) and time.monotonic() < end:
        time.sleep(0.1)
    for host in hosts:
        try:
            os.remove(_record_path(host))
        except OSError:
            pass
        if not any(_is_our_nspawn(p, h) for h, p in targets if h == host):
            _clear_stale_propagate_dir(host)


def drop_upper(host):
    """Forget everything a host changed: its overlay upper dir (and nspawn's work dir)."""
    shutil.rmtree(os.path.join(HOSTS_DIR, host), ignore_errors=True)


def ssh_keygen():
    """Generate the lab's ssh key once (the login user logs in to every host with it)."""
    if os.path.exists(SSH_KEY) and os.path.exists(SSH_KEY + ".pub"):
        return
    os.makedirs(os.path.dirname(SSH_KEY), exist_ok=True)
    for p in (SSH_KEY, SSH_KEY + ".pub"):
        if os.path.exists(p):
            os.remove(p)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "maas-ha-lab", "-f", SSH_KEY])
    os.chmod(SSH_KEY, 0o600)


def hosts_json(names, flavour=None):
    """The document inventories read: network, gateway, key, and each host's address/group."""
    doc = {"network": net.NETWORK, "gateway": net.GATEWAY, "ssh_key": SSH_KEY,
           "ssh_user": login_user(), "domain": domain(), "hosts": {},
           "api_vip": str(ipaddress.ip_network(net.NETWORK).network_address + API_VIP_OCTET)}
    if flavour:
        doc["flavour"] = flavour
    for n in names:
        info = host_info(n)
        info["machine"] = machine_name(n)
        info["hostname"] = fqdn(n)
        doc["hosts"][n] = info
    return doc
