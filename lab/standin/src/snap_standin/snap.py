#!/usr/bin/python3
"""Lab test equipment: a stand-in for snapd's `snap` command (package `snapd`).

Installs the stand-in `maas` snap payloads from the lab repository
(/srv/labrepo/snaps/), lays them out like snapd (/snap/maas/<rev>, /snap/bin/maas,
/var/snap/maas/{<rev>,current,common}, unit snap.maas.pebble.service), and prints
`snap list` / `snap info` / `snap services` as snapd does when its output is piped
and the store is unreachable (interface doc §8).  There is no store: `snap info`
prints only local data.
"""
import datetime
import json
import os
import sys

# shutil, subprocess and tarfile are imported where they are used, so that the commands
# that do not need them (list, info, services) start sooner.

VERSION = "2.63+labstandin"
ROOT = os.environ.get("MAAS_ROOT", "").rstrip("/")


def p(path):
    return ROOT + path


STORE = os.environ.get("SNAP_STANDIN_STORE") or p("/srv/labrepo/snaps")
STATE = p("/var/lib/snapd/standin-state.json")
LISTINGS = p("/var/lib/snapd/standin-list")  # `snap list NAME` output, one file per snap
UNIT_DIR = p("/etc/systemd/system")
SYSTEMCTL = os.environ.get("MAAS_SYSTEMCTL", "systemctl")
MARK = "**"  # publisher mark when stdout is not a UTF-8 terminal (pyinfra runs us piped)


def die(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_state(state):
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.rename(tmp, STATE)
    save_listings(state["snaps"])


def save_listings(snaps):
    """Write `snap list NAME`'s output for every installed snap into LISTINGS, for the
    launcher's fast path (see build.py's SNAP_LAUNCHER); drop those of removed snaps."""
    os.makedirs(LISTINGS, exist_ok=True)
    for name in os.listdir(LISTINGS):
        if name not in snaps:
            os.unlink(os.path.join(LISTINGS, name))
    for name in snaps:
        tmp = os.path.join(LISTINGS, "." + name)
        with open(tmp, "w") as f:
            f.write(listing([name], snaps) + "\n")
        os.rename(tmp, os.path.join(LISTINGS, name))


def store_index():
    return load_json(os.path.join(STORE, "index.json"), {})


def systemctl(*args):
    import subprocess
    return subprocess.run([SYSTEMCTL, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def unit_active(unit):
    import subprocess
    return subprocess.run([SYSTEMCTL, "is-active", "--quiet", unit]).returncode == 0


def unit_enabled(unit):
    import subprocess
    return subprocess.run([SYSTEMCTL, "is-enabled", "--quiet", unit]).returncode == 0


def tabulate(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + str(r[-1]) for r in rows]


def size_str(size):
    for unit, div in (("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3)):
        if size >= div:
            return "%d%s" % (size // div, unit)
    return "%dB" % size


def human_date(iso):
    when = datetime.datetime.fromisoformat(iso)
    now = datetime.datetime.now(datetime.timezone.utc)
    days = (now.date() - when.date()).days
    day = "today" if days == 0 else "yesterday" if days == 1 else "%d days ago" % days
    return "%s, at %s UTC" % (day, when.strftime("%H:%M")) if days > 1 else "%s at %s UTC" % (day, when.strftime("%H:%M"))


# --- layout ------------------------------------------------------------------------

def unit_name(info):
    return "snap.%s.%s.service" % (info["name"], info["service_app"])


def write_unit(info, rev):
    name, app = info["name"], info["service_app"]
    env = ("SNAP=/snap/{n}/{r} SNAP_NAME={n} SNAP_REVISION={r} SNAP_DATA=/var/snap/{n}/{r} "
           "SNAP_COMMON=/var/snap/{n}/common HOME=/root/snap/{n}/{r} PYTHONPATH=/snap/{n}/{r}/lib").format(n=name, r=rev)
    text = (
        "# Lab test equipment: stand-in for the unit snapd generates for %s.%s.\n"
        "[Unit]\nDescription=Service for snap application %s.%s\nAfter=network-online.target\n"
        "Wants=network-online.target\n\n"
        "[Service]\nEnvironment=%s\nExecStart=/usr/bin/python3 -m %s\nRestart=on-failure\nRestartSec=2\n"
        "TimeoutStopSec=30\nType=simple\n\n[Install]\nWantedBy=multi-user.target\n"
        % (name, app, name, app, env, info["service_module"]))
    os.makedirs(UNIT_DIR, exist_ok=True)
    with open(os.path.join(UNIT_DIR, unit_name(info)), "w") as f:
        f.write(text)


def write_launcher(info):
    name = info["name"]
    os.makedirs(p("/snap/bin"), exist_ok=True)
    path = p("/snap/bin/%s" % name)
    with open(path, "w") as f:
        f.write(
            "#!/bin/sh\n"
            "# Lab test equipment: stand-in for snapd's /snap/bin/{n} launcher.\n"
            "R='{root}'\n"
            "REV=$(readlink \"$R/snap/{n}/current\")\n"
            "export SNAP=\"$R/snap/{n}/$REV\" SNAP_NAME={n} SNAP_REVISION=\"$REV\"\n"
            "export SNAP_DATA=\"$R/var/snap/{n}/$REV\" SNAP_COMMON=\"$R/var/snap/{n}/common\"\n"
            "export HOME=\"${{HOME:-/root}}/snap/{n}/$REV\"\n"
            "mkdir -p \"$HOME\" 2>/dev/null\n"
            "export PYTHONPATH=\"$SNAP/lib\"\n"
            "exec /usr/bin/python3 -m {module} \"$@\"\n".format(n=name, root=ROOT, module=info["command_module"]))
    os.chmod(path, 0o755)


def set_current(name, rev):
    for base in (p("/snap/%s" % name), p("/var/snap/%s" % name)):
        link = os.path.join(base, "current")
        tmp = link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(str(rev), tmp)
        os.replace(tmp, link)


def unpack(name, chan):
    import shutil
    import tarfile
    rev = str(chan["revision"])
    target = p("/snap/%s/%s" % (name, rev))
    if os.path.isdir(target):
        shutil.rmtree(target)
    os.makedirs(target)
    with tarfile.open(os.path.join(STORE, chan["file"])) as tar:
        tar.extractall(target, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(target)
    return rev


# --- commands ------------------------------------------------------------------------

def resolve_channel(name, channel):
    index = store_index()
    if name not in index:
        die('error: snap "%s" not found' % name)
    info = index[name]
    channels = info["channels"]
    if channel in (None, "stable", "latest/stable", "latest"):
        channel = info.get("default_channel") or sorted(channels)[-1]
    if channel.count("/") == 0 and channel + "/stable" in channels:
        channel += "/stable"
    if channel not in channels:
        die('error: snap "%s" is not available on %s but is available to install on the following channels:\n'
            "%s" % (name, channel, "\n".join("  %s" % c for c in sorted(channels))))
    info = dict(info, name=name)
    for key in ("service_app", "service_module", "command_module"):
        if key in channels[channel]:
            info[key] = channels[channel][key]
    return info, channel, channels[channel]


def cmd_install(args):
    name = args.name
    state = load_json(STATE, {"snaps": {}})
    if name in state["snaps"]:
        print('snap "%s" is already installed, see \'snap help refresh\'' % name)
        return
    info, channel, chan = resolve_channel(name, args.channel)
    rev = unpack(name, chan)
    os.makedirs(p("/var/snap/%s/%s" % (name, rev)), exist_ok=True)
    os.makedirs(p("/var/snap/%s/common" % name), exist_ok=True)
    set_current(name, rev)
    write_launcher(info)
    state["snaps"][name] = {"revision": rev, "channel": channel, "version": chan["version"],
                            "size": chan["size"], "install_date": now_iso(), "service_app": info["service_app"],
                            "service_module": info["service_module"], "command_module": info["command_module"]}
    save_state(state)
    write_unit(dict(info, name=name), rev)
    systemctl("daemon-reload")
    systemctl("enable", "--now", unit_name(dict(info, name=name)))
    print("%s (%s) %s from %s%s installed" % (name, channel, chan["version"], info["publisher_display"], MARK))


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def cmd_refresh(args):
    import shutil
    name = args.name
    state = load_json(STATE, {"snaps": {}})
    if name not in state["snaps"]:
        die('error: snap "%s" is not installed' % name)
    cur = state["snaps"][name]
    info, channel, chan = resolve_channel(name, args.channel or cur["channel"])
    if str(chan["revision"]) == cur["revision"]:
        if channel != cur["channel"]:
            cur["channel"] = channel
            save_state(state)
            print("%s (%s) %s from %s%s refreshed" % (name, channel, chan["version"], info["publisher_display"],
                                                      MARK))
        else:
            print('snap "%s" has no updates available' % name, file=sys.stderr)
        return
    old_unit = unit_name({"name": name, "service_app": cur["service_app"]})
    systemctl("stop", old_unit)
    rev = unpack(name, chan)
    old_data, new_data = p("/var/snap/%s/%s" % (name, cur["revision"])), p("/var/snap/%s/%s" % (name, rev))
    if os.path.isdir(new_data):
        shutil.rmtree(new_data)
    if os.path.isdir(old_data):
        shutil.copytree(old_data, new_data, symlinks=True)
    else:
        os.makedirs(new_data)
    set_current(name, rev)
    write_launcher(info)
    new_unit = unit_name(dict(info, name=name))
    if new_unit != old_unit:
        systemctl("disable", old_unit)
        try:
            os.unlink(os.path.join(UNIT_DIR, old_unit))
        except FileNotFoundError:
            pass
    write_unit(dict(info, name=name), rev)
    # snapd keeps the previous revision; drop anything older.
    for base in (p("/snap/%s" % name), p("/var/snap/%s" % name)):
        for entry in os.listdir(base):
            if entry not in ("current", "common", rev, cur["revision"]):
                shutil.rmtree(os.path.join(base, entry), ignore_errors=True)
    state["snaps"][name].update({"revision": rev, "channel": channel, "version": chan["version"],
                                 "size": chan["size"], "install_date": now_iso(),
                                 "service_app": info["service_app"], "service_module": info["service_module"],
                                 "command_module": info["command_module"]})
    save_state(state)
    systemctl("daemon-reload")
    systemctl("enable", new_unit)
    systemctl("restart", new_unit)
    print("%s (%s) %s from %s%s refreshed" % (name, channel, chan["version"], info["publisher_display"], MARK))


def cmd_remove(args):
    import shutil
    name = args.name
    state = load_json(STATE, {"snaps": {}})
    if name not in state["snaps"]:
        print('snap "%s" is not installed' % name, file=sys.stderr)
        return
    cur = state["snaps"].pop(name)
    unit = unit_name({"name": name, "service_app": cur["service_app"]})
    systemctl("disable", "--now", unit)
    try:
        os.unlink(os.path.join(UNIT_DIR, unit))
    except FileNotFoundError:
        pass
    systemctl("daemon-reload")
    for path in (p("/snap/%s" % name), p("/var/snap/%s" % name), p("/root/snap/%s" % name)):
        shutil.rmtree(path, ignore_errors=True)
    try:
        os.unlink(p("/snap/bin/%s" % name))
    except FileNotFoundError:
        pass
    save_state(state)
    print("%s removed" % name if args.purge else "%s removed (snap data snapshot saved)" % name)


def cmd_list(args):
    snaps = load_json(STATE, {"snaps": {}})["snaps"]
    names = sorted(snaps)
    if args.names:
        names = [n for n in names if n in args.names]
        if not names:
            die("error: no matching snaps installed")
    if not names:
        print("No snaps are installed yet. Try 'snap install hello-world'.", file=sys.stderr)
        return
    print(listing(names, snaps))


def listing(names, snaps):
    """`snap list`'s table for the given installed snaps."""
    rows = [("Name", "Version", "Rev", "Tracking", "Publisher", "Notes")]
    for n in names:
        s = snaps[n]
        rows.append((n, s["version"], s["revision"], s["channel"], "canonical" + MARK, "-"))
    return "\n".join(tabulate(rows))


def service_line(name, s):
    unit = unit_name({"name": name, "service_app": s["service_app"]})
    return "%s.%s" % (name, s["service_app"]), unit_enabled(unit), unit_active(unit)


def cmd_info(args):
    snaps = load_json(STATE, {"snaps": {}})["snaps"]
    for i, name in enumerate(args.names):
        if name not in snaps:
            die('error: no snap found for "%s"' % name)
        s = snaps[name]
        meta = store_index().get(name, {})
        if i:
            print("---")
        head = [("name:", name), ("summary:", meta.get("summary", "")),
                ("publisher:", meta.get("publisher_display", "Canonical") + MARK),
                ("store-url:", "https://snapcraft.io/%s" % name),
                ("contact:", meta.get("contact", "")), ("license:", meta.get("license", "unset"))]
        width = max(len(k) for k, _ in head) + 1
        for k, v in head:
            print(k.ljust(width) + v)
        print("description: |\n  %s" % meta.get("description", ""))
        print("commands:")
        for cmd in meta.get("commands", [name]):
            print("  - %s" % cmd)
        svc, enabled, active = service_line(name, s)
        print("services:")
        print("  %s: simple, %s, %s" % (svc, "enabled" if enabled else "disabled", "active" if active else "inactive"))
        tail = [("snap-id:", meta.get("snap_id", "")), ("tracking:", s["channel"]),
                ("refresh-date:", human_date(s["install_date"])),
                ("installed:", "%s (%s) %s -" % (s["version"], s["revision"], size_str(s["size"])))]
        width = max(len(k) for k, _ in tail) + 1
        for k, v in tail:
            print(k.ljust(width) + v)


def cmd_services(args):
    snaps = load_json(STATE, {"snaps": {}})["snaps"]
    rows = [("Service", "Startup", "Current", "Notes")]
    for name in sorted(snaps):
        if args.names and name not in args.names and not any(a.startswith(name + ".") for a in args.names):
            continue
        svc, enabled, active = service_line(name, snaps[name])
        rows.append((svc, "enabled" if enabled else "disabled", "active" if active else "inactive", "-"))
    if len(rows) == 1:
        print("There are no services provided by installed snaps.", file=sys.stderr)
        return
    print("\n".join(tabulate(rows)))


def cmd_service_action(args):
    snaps = load_json(STATE, {"snaps": {}})["snaps"]
    for target in args.names:
        name = target.split(".")[0]
        if name not in snaps:
            die('error: snap "%s" not found' % name)
        unit = unit_name({"name": name, "service_app": snaps[name]["service_app"]})
        if args.command == "start":
            systemctl("enable" if args.enable else "start", *(["--now"] if args.enable else []), unit)
        elif args.command == "stop":
            systemctl("disable" if args.disable else "stop", *(["--now"] if args.disable else []), unit)
        else:
            systemctl("restart", unit)
    print({"start": "Started.", "stop": "Stopped.", "restart": "Restarted."}[args.command])


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="snap", description="Lab stand-in for snapd's snap command.")
    parser.add_argument("--version", action="store_true")
    sub = parser.add_subparsers(dest="command")
    p_ = sub.add_parser("install")
    p_.add_argument("name")
    p_.add_argument("--channel")
    for risk in ("stable", "candidate", "beta", "edge"):
        p_.add_argument("--" + risk, dest="channel", action="store_const", const=risk)
    p_.add_argument("--classic", action="store_true")
    p_.set_defaults(func=cmd_install)
    p_ = sub.add_parser("refresh")
    p_.add_argument("name")
    p_.add_argument("--channel")
    p_.set_defaults(func=cmd_refresh)
    p_ = sub.add_parser("remove")
    p_.add_argument("name")
    p_.add_argument("--purge", action="store_true")
    p_.set_defaults(func=cmd_remove)
    p_ = sub.add_parser("list")
    p_.add_argument("names", nargs="*")
    p_.add_argument("--all", action="store_true")
    p_.set_defaults(func=cmd_list)
    p_ = sub.add_parser("info")
    p_.add_argument("names", nargs="+")
    p_.add_argument("--verbose", action="store_true")
    p_.set_defaults(func=cmd_info)
    p_ = sub.add_parser("services")
    p_.add_argument("names", nargs="*")
    p_.set_defaults(func=cmd_services)
    for action in ("start", "stop", "restart"):
        p_ = sub.add_parser(action)
        p_.add_argument("names", nargs="+")
        p_.add_argument("--enable", action="store_true")
        p_.add_argument("--disable", action="store_true")
        p_.add_argument("--reload", action="store_true")
        p_.set_defaults(func=cmd_service_action)
    args = parser.parse_args(argv)
    if args.version:
        print("snap    %s\nsnapd   %s\nseries  16\ndebian  12\nkernel  %s" % (VERSION, VERSION, os.uname().release))
        return
    if not args.command:
        parser.print_help()
        return
    if args.command in ("install", "refresh", "remove", "start", "stop", "restart") and os.geteuid() != 0:
        die("error: access denied (try with sudo)")
    args.func(args)


if __name__ == "__main__":
    main()
