#!/usr/bin/env python3
"""Test equipment: bring the maas-ha rehearsal lab up and down.

The lab is a set of Debian bookworm hosts booted with systemd-nspawn on this machine, each in
its own network namespace on the private bridge mhlab0 (10.77.0.0/24, no route out), sharing a
cached base image through overlays and a local apt repository. Production code never uses it.
Up to four labs run side by side: MAAS_HA_LAB_SLOT=N (0..3, default 0) drives slot N's lab
(bridge mhlabN, 10.77.N.0/24, state in /var/lib/maas-ha-lab-N; slot 0 is the lab above).

  python3 lab/labctl.py up [--racks N] [--extra region3,b-pg1,b-region1] [--flavour deb|snap]
  python3 lab/labctl.py down
  python3 lab/labctl.py reset HOST...
  python3 lab/labctl.py stop HOST...   # power off, as on a power cut; disks kept
  python3 lab/labctl.py start HOST...  # boot stopped hosts again from their own disks
  python3 lab/labctl.py exec HOST -- CMD...
  python3 lab/labctl.py status
  python3 lab/labctl.py build          # only build/refresh the caches
  python3 lab/labctl.py gc             # delete cache entries nothing uses

See lab/README.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import slot  # noqa: E402

try:
    slot.current()
except ValueError as exc:  # before the library derives every name from it
    sys.exit("labctl: %s" % exc)

from lib import hosts as H  # noqa: E402
from lib import image, net  # noqa: E402
from lib.common import (HOSTS_JSON, SLOT, STATE_DIR, LabError, ensure_tools, locked,  # noqa: E402
                        log, raise_kernel_limits, require_root, restore_kernel_limits)

STATE_LOCK = os.path.join(STATE_DIR, ".lock")


def _write_hosts_json(names, flavour):
    doc = H.hosts_json(names, flavour)
    os.makedirs(STATE_DIR, exist_ok=True)
    tmp = HOSTS_JSON + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.rename(tmp, HOSTS_JSON)


def _read_hosts_json():
    try:
        with open(HOSTS_JSON) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _boot_all(names, img, all_infos, parallel, timeout):
    """Boot hosts with at most `parallel` boots in flight; report each as it becomes ready."""
    if not names:
        return
    log("booting %d host(s), %d at a time: %s" % (len(names), parallel, " ".join(names)))
    done, failures = 0, []

    def one(host):
        t = time.monotonic()
        attempts = 4
        for attempt in range(1, attempts + 1):
            pid = H.start(host, img, all_infos)
            try:
                H.wait_ready(host, pid, timeout=timeout)
                break
            except LabError as exc:
                # Seen on a loaded machine right after the host's previous container stopped:
                # nspawn exits at once with no message. A later boot from the same overlay
                # settles it; failing every attempt is real.
                if attempt == attempts or "exited during boot" not in str(exc):
                    raise
                log("%s exited during boot; booting it again (%d/%d)" % (host, attempt + 1, attempts))
                H.stop_many([host])
                time.sleep(1.5 * attempt)
        return time.monotonic() - t

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futs = {pool.submit(one, h): h for h in names}
        for fut in as_completed(futs):
            host = futs[fut]
            try:
                secs = fut.result()
                done += 1
                log("%s ready (ssh %s) in %.1f s [%d/%d]"
                    % (host, H.host_info(host)["address"], secs, done, len(names)))
            except Exception as exc:  # report all failures, not only the first
                failures.append((host, exc))
                log("%s FAILED: %s" % (host, exc))
    if failures:
        raise LabError("%d host(s) failed to boot: %s (see %s/logs/)"
                       % (len(failures), ", ".join(h for h, _ in failures), STATE_DIR))


def cmd_build(args):
    """Build or refresh the cached image and repository only."""
    ensure_tools()
    image.build_all(use_standin=not args.no_standin)


def cmd_up(args):
    """Bring the lab to the requested host set (idempotent)."""
    t0 = time.monotonic()
    extra = [e.strip() for e in (args.extra or "").split(",") if e.strip()]
    wanted = H.desired_hosts(args.racks, extra)
    ensure_tools()
    with locked(STATE_LOCK):
        img = image.build_all(use_standin=not args.no_standin)
        H.ssh_keygen()
        raise_kernel_limits()
        net.ensure_bridge()
        running = [h for h in H.recorded_hosts() if H.running_pid(h)]
        stuck = [h for h in running if h in wanted
                 and not H.ssh_banner(H.host_info(h)["address"], timeout=3)]
        if stuck:
            log("restarting hosts whose sshd does not answer: %s" % " ".join(stuck))
            H.stop_many(stuck)
            running = [h for h in running if h not in stuck]
        surplus = [h for h in H.recorded_hosts() if h not in wanted]
        if surplus:
            log("stopping hosts not requested: %s" % " ".join(surplus))
            H.stop_many(surplus)
            for h in surplus:
                net.teardown_host_net(h)
                H.drop_upper(h)
        to_boot = [h for h in wanted if h not in running]
        # stale records / half-made namespaces of hosts that are not running
        for h in to_boot:
            if H.read_record(h):
                H.stop_many([h])
        for h in wanted:
            rec = H.read_record(h)
            if h in running and rec and rec.get("layer_key") != img.layer_key:
                log("warning: %s runs an older image; `labctl.py reset %s` refreshes it" % (h, h))
        infos = {h: H.host_info(h) for h in wanted}
        _write_hosts_json([h for h in wanted if h in running], args.flavour)
        try:
            _boot_all(to_boot, img, infos, args.parallel, args.timeout)
        finally:
            _write_hosts_json([h for h in wanted if H.running_pid(h)], args.flavour)
    log("lab up (slot %d, %s): %d host(s) in %.0f s; inventory data in %s"
        % (SLOT.number, net.NETWORK, len(wanted), time.monotonic() - t0, HOSTS_JSON))


def cmd_down(args):
    """Stop everything the lab started and delete what it made (works after a partial up)."""
    t0 = time.monotonic()
    with locked(STATE_LOCK):
        hosts = sorted(set(H.recorded_hosts()) | set(H.stray_nspawns())
                       | set(net.leftover_namespaces()))
        if hosts:
            log("stopping %d container(s)" % len(hosts))
        H.stop_many(hosts)
        for h in hosts:
            net.teardown_host_net(h)
        for veth in net.leftover_veths():
            subprocess.run(["ip", "link", "del", veth], stderr=subprocess.DEVNULL)
        net.remove_bridge()
        others = H.other_slots_running()
        if others:  # their containers still need the raised limits; the next down restores
            log("kernel limits left raised: lab slot(s) %s still run"
                % ", ".join(str(n) for n in others))
        else:
            restore_kernel_limits()
        for sub in ("hosts", "run", "logs"):
            shutil.rmtree(os.path.join(STATE_DIR, sub), ignore_errors=True)
        for f in ("hosts.json", "hosts.json.tmp", "id_ed25519", "id_ed25519.pub"):
            try:
                os.remove(os.path.join(STATE_DIR, f))
            except OSError:
                pass
    try:
        os.remove(STATE_LOCK)
        os.rmdir(STATE_DIR)
    except OSError:
        pass
    log("lab down (slot %d) in %.1f s" % (SLOT.number, time.monotonic() - t0))


def cmd_reset(args):
    """Return hosts to the bare image: stop, drop the upper dir, boot, wait for sshd."""
    doc = _read_hosts_json()
    if not doc:
        raise LabError("the lab is not up (no %s)" % HOSTS_JSON)
    for h in args.hosts:
        if h not in doc["hosts"]:
            raise LabError("%s is not a host of the running lab (%s)" % (h, ", ".join(doc["hosts"])))
    with locked(STATE_LOCK):
        img = image.build_all(use_standin=not args.no_standin)
        raise_kernel_limits()
        log("resetting %s" % " ".join(args.hosts))
        H.stop_many(args.hosts)
        for h in args.hosts:
            H.drop_upper(h)
        infos = {h: H.host_info(h) for h in doc["hosts"]}
        _boot_all(args.hosts, img, infos, args.parallel, args.timeout)


def _lab_hosts(names):
    """hosts.json of the running lab; LabError when a name is not one of its hosts."""
    doc = _read_hosts_json()
    if not doc:
        raise LabError("the lab is not up (no %s)" % HOSTS_JSON)
    for h in names:
        if h not in doc["hosts"]:
            raise LabError("%s is not a host of the running lab (%s)" % (h, ", ".join(doc["hosts"])))
    return doc


def cmd_stop(args):
    """Power hosts off, keeping their disks: each drops off the lab network at once (its link
    goes down, as on a power cut: no goodbye reaches its peers), then its container stops."""
    _lab_hosts(args.hosts)
    with locked(STATE_LOCK):
        log("stopping %s" % " ".join(args.hosts))
        for h in args.hosts:
            subprocess.run(["ip", "link", "set", net.veth_name(h), "down"], stderr=subprocess.DEVNULL)
        H.stop_many(args.hosts)


def cmd_start(args):
    """Boot stopped hosts again from their own disks (what `stop` kept); running ones are left."""
    doc = _lab_hosts(args.hosts)
    with locked(STATE_LOCK):
        img = image.build_all(use_standin=not args.no_standin)
        raise_kernel_limits()
        infos = {h: H.host_info(h) for h in doc["hosts"]}
        _boot_all([h for h in args.hosts if not H.running_pid(h)], img, infos, args.parallel,
                  args.timeout)


def cmd_exec(args):
    """Run a command in a host over ssh; exits with the command's status."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    address = H.host_info(args.host)["address"]
    doc = _read_hosts_json()
    if not doc or args.host not in doc["hosts"]:
        raise LabError("%s is not a host of the running lab" % args.host)
    tty = sys.stdin.isatty() and not command
    return subprocess.call(H.ssh_cmd(address, command or None, tty=tty, user=doc.get("ssh_user")))


def cmd_status(args):
    """Print each host with its address, group, container PID and whether sshd answers."""
    doc = _read_hosts_json()
    names = sorted(set(H.recorded_hosts()) | set((doc or {}).get("hosts", {})),
                   key=lambda n: H.host_info(n)["address"].rsplit(".", 1)[1].zfill(3))
    if not names:
        print("lab is down (slot %d)" % SLOT.number)
        return 1
    print("%-10s %-12s %-18s %-8s %s" % ("HOST", "ADDRESS", "GROUP", "PID", "SSH"))
    bad = 0
    for n in names:
        info = H.host_info(n)
        pid = H.running_pid(n)
        ok = bool(pid) and H.ssh_banner(info["address"])
        bad += not ok
        print("%-10s %-12s %-18s %-8s %s" % (n, info["address"], info["group"], pid or "-",
                                             "up" if ok else "DOWN"))
    if doc:
        print("slot %d (%s)  inventory: %s  key: %s"
              % (SLOT.number, doc["network"], HOSTS_JSON, doc["ssh_key"]))
    return 1 if bad else 0


def cmd_gc(args):
    """Delete cached images/repos that neither the current inputs nor a running host use."""
    with locked(STATE_LOCK):
        if any(H.running_pid(h) for h in H.recorded_hosts()):
            raise LabError("the lab is up and its hosts use the cache; run `labctl.py down` first")
        img = image.build_all(use_standin=not args.no_standin)
        keep = [os.path.dirname(img.rootfs), img.repo, os.path.dirname(img.layer)]
        if img.standin_key:
            keep.append(os.path.join(image.CACHE_DIR, "standin-" + img.standin_key))
        with image.cache_locked():  # no other slot builds meanwhile
            others = H.other_slots_running()
            if others:  # the cache is shared: their hosts may boot from an older entry
                raise LabError("lab slot(s) %s run hosts from the shared cache; gc when they are down"
                               % ", ".join(str(n) for n in others))
            for path in image.gc(keep):
                log("removed %s" % path)


def main(argv=None):
    """Parse the command line and run one subcommand; errors print one clear message."""
    p = argparse.ArgumentParser(prog="labctl.py", description=__doc__.split("\n\n")[1])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, boot=True):
        sp.add_argument("--no-standin", action="store_true",
                        help="build the image without lab/standin packages")
        if boot:
            sp.add_argument("--parallel", type=int, default=8, help="boots in flight (default 8)")
            sp.add_argument("--timeout", type=int, default=180,
                            help="seconds to wait for each host's sshd (default 180)")

    sp = sub.add_parser("up", help="build caches, boot hosts, write hosts.json")
    sp.add_argument("--racks", type=int, default=2, help="number of rack hosts (default 2)")
    sp.add_argument("--extra", default="", help="comma list of region3,pg2,pg3,b-pg1,b-region1")
    sp.add_argument("--flavour", choices=["deb", "snap"], default=None,
                    help="recorded in hosts.json for inventories (hosts are the same for both)")
    common(sp)
    sp.set_defaults(func=cmd_up)
    sp = sub.add_parser("down", help="stop and delete everything the lab made")
    sp.set_defaults(func=cmd_down)
    sp = sub.add_parser("reset", help="return hosts to the bare image")
    sp.add_argument("hosts", nargs="+")
    common(sp)
    sp.set_defaults(func=cmd_reset)
    sp = sub.add_parser("stop", help="power hosts off (link down first), keeping their disks")
    sp.add_argument("hosts", nargs="+")
    sp.set_defaults(func=cmd_stop)
    sp = sub.add_parser("start", help="boot stopped hosts again from their own disks")
    sp.add_argument("hosts", nargs="+")
    common(sp)
    sp.set_defaults(func=cmd_start)
    sp = sub.add_parser("exec", help="run a command in a host via ssh")
    sp.add_argument("host")
    sp.add_argument("command", nargs=argparse.REMAINDER)
    sp.set_defaults(func=cmd_exec)
    sp = sub.add_parser("status", help="show hosts and whether they answer")
    sp.set_defaults(func=cmd_status)
    sp = sub.add_parser("build", help="only build or refresh the cached image and repo")
    common(sp, boot=False)
    sp.set_defaults(func=cmd_build)
    sp = sub.add_parser("gc", help="delete cache entries the current inputs do not use")
    common(sp, boot=False)
    sp.set_defaults(func=cmd_gc)

    args = p.parse_args(argv)
    try:
        if args.cmd not in ("status", "exec"):
            require_root()
        return args.func(args) or 0
    except LabError as exc:
        log("ERROR: %s" % exc)
        return 1
    except KeyboardInterrupt:
        log("interrupted; run `labctl.py down` to clean up a partial lab")
        return 130


if __name__ == "__main__":
    sys.exit(main())
