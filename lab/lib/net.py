"""Test equipment: a lab slot's private network (bridge mhlab<N>, one netns + veth per host).

Hosts get one address on the slot's 10.77.<N>.0/24 (slot.py), no default route and no NAT.
The control machine additionally refuses to forward anything that arrives on the bridge
(per-interface forwarding off, a policy-routing rule that answers "prohibited" for
destinations outside the slot's network, and iptables FORWARD drops when iptables exists),
so lab traffic never leaves the machine, nor reaches another slot's lab, even if someone
turns IP forwarding on. Everything here is found by the slot's own names, so tearing one
slot down never touches another's.
"""

import ipaddress
import os
import shutil

from .common import SLOT, STATE_DIR, LabError, log, run
from .slot import IFNAMSIZ

BRIDGE = SLOT.bridge
NETWORK = SLOT.network
GATEWAY = SLOT.gateway
NS_PREFIX = SLOT.ns_prefix
VETH_PREFIX = SLOT.veth_prefix
RULE_TABLE = SLOT.rule_table
RULE_PRIO = SLOT.rule_table
IPT_COMMENT = SLOT.ipt_comment
# `ip netns add` turns /run/netns into a mount point the first time; remember if we did that.
RUN_NETNS_MARK = os.path.join(STATE_DIR, "run-netns-mounted-by-lab")


def ns_name(host):
    """Network namespace name of a lab host (contract: mhlab-<name>, in slot N mhl<N>-<name>)."""
    return NS_PREFIX + host


def veth_name(host):
    """Host-side veth name (contract: mhv-<name>, in slot N mv<N>-<name>; at most 15
    characters)."""
    name = VETH_PREFIX + host
    if len(name) > IFNAMSIZ:
        raise LabError("host name %r too long for an interface name (%s > %d chars)"
                       % (host, name, IFNAMSIZ))
    return name


def _link_exists(name):
    return run(["ip", "link", "show", "dev", name], check=False, quiet=True).returncode == 0


def _sysctl(path, value):
    full = "/proc/sys/" + path
    if os.path.exists(full):
        try:
            with open(full, "w") as fh:
                fh.write(value)
        except OSError as exc:
            log("warning: cannot set %s=%s (%s)" % (path, value, exc))


def check_subnet_free():
    """Fail clearly if the slot's network is already routed through something that is not
    our bridge."""
    net = ipaddress.ip_network(NETWORK)
    out = run(["ip", "-4", "-o", "route", "show", "table", "all"], quiet=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if not fields or fields[0] in ("default", "broadcast", "local", "unreachable", "prohibit"):
            continue
        try:
            dest = ipaddress.ip_network(fields[0], strict=False)
        except ValueError:
            continue
        dev = fields[fields.index("dev") + 1] if "dev" in fields else ""
        if dest.overlaps(net) and dev != BRIDGE and "table %s" % RULE_TABLE not in line:
            raise LabError("the lab network %s is already in use on this machine (route: %s); "
                           "free it before running the lab" % (NETWORK, line.strip()))


def _is_mountpoint(path):
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == path for line in fh)


def ensure_bridge():
    """Create the bridge with the control machine's lab address and the isolation rules."""
    check_subnet_free()
    if not _is_mountpoint("/run/netns") and not os.path.exists(RUN_NETNS_MARK):
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(RUN_NETNS_MARK, "w") as fh:
            fh.write("dir-existed\n" if os.path.isdir("/run/netns") else "dir-created\n")
    if not _link_exists(BRIDGE):
        log("creating bridge %s (%s on %s)" % (BRIDGE, GATEWAY, NETWORK))
        run(["ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
    _sysctl("net/ipv6/conf/%s/disable_ipv6" % BRIDGE, "1")
    _sysctl("net/ipv4/conf/%s/forwarding" % BRIDGE, "0")
    addrs = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE], quiet=True).stdout
    if GATEWAY + "/" not in addrs:
        run(["ip", "addr", "add", GATEWAY + "/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    _ensure_isolation()


def _ensure_isolation():
    # Anything arriving from the bridge that is not for the lab or for this machine is refused,
    # whatever ip_forward says: local addresses are matched earlier (the local table, prio 0).
    run(["ip", "route", "replace", NETWORK, "dev", BRIDGE, "table", RULE_TABLE])
    run(["ip", "route", "replace", "prohibit", "default", "table", RULE_TABLE])
    if not _our_rule_present():
        run(["ip", "rule", "add", "iif", BRIDGE, "priority", RULE_PRIO, "lookup", RULE_TABLE])
    if shutil.which("iptables"):
        for rule in (["-i", BRIDGE, "!", "-o", BRIDGE], ["-o", BRIDGE, "!", "-i", BRIDGE]):
            spec = ["FORWARD"] + rule + ["-m", "comment", "--comment", IPT_COMMENT, "-j", "DROP"]
            if run(["iptables", "-C"] + spec, check=False, quiet=True).returncode != 0:
                if run(["iptables", "-I"] + spec, check=False, quiet=True).returncode != 0:
                    log("warning: iptables present but could not add a FORWARD drop rule")


def _our_rule_present():
    """Whether the slot's policy rule exists (the table matched as a whole word: another
    slot's 77070 would contain 7707)."""
    for line in run(["ip", "rule", "show"], quiet=True).stdout.splitlines():
        words = line.split()
        if any(a == "lookup" and b == RULE_TABLE for a, b in zip(words, words[1:])):
            return True
    return False


def remove_bridge():
    """Delete the bridge and the isolation rules (only ours, found by table/comment/name)."""
    while _our_rule_present():
        if run(["ip", "rule", "del", "priority", RULE_PRIO, "lookup", RULE_TABLE],
               check=False, quiet=True).returncode != 0:
            break
    run(["ip", "route", "flush", "table", RULE_TABLE], check=False, quiet=True)
    if shutil.which("iptables"):
        for rule in (["-i", BRIDGE, "!", "-o", BRIDGE], ["-o", BRIDGE, "!", "-i", BRIDGE]):
            spec = ["FORWARD"] + rule + ["-m", "comment", "--comment", IPT_COMMENT, "-j", "DROP"]
            while run(["iptables", "-C"] + spec, check=False, quiet=True).returncode == 0:
                run(["iptables", "-D"] + spec, check=False, quiet=True)
    if _link_exists(BRIDGE):
        run(["ip", "link", "del", BRIDGE])
    if os.path.exists(RUN_NETNS_MARK):
        how = open(RUN_NETNS_MARK).read().strip()
        if os.path.isdir("/run/netns") and not os.listdir("/run/netns"):
            while _is_mountpoint("/run/netns"):
                if run(["umount", "/run/netns"], check=False, quiet=True).returncode != 0:
                    break
            if how == "dir-created":
                try:
                    os.rmdir("/run/netns")
                except OSError:
                    pass
        os.remove(RUN_NETNS_MARK)


def setup_host_net(host, address):
    """Create (or repair) the namespace, veth pair and address of one host."""
    ns, veth = ns_name(host), veth_name(host)
    if not os.path.exists("/run/netns/" + ns):
        run(["ip", "netns", "add", ns])
    nsrun = ["ip", "netns", "exec", ns]
    if not _link_exists(veth):
        # A leftover eth0 in the namespace (partial earlier run) would block the new pair.
        run(nsrun + ["ip", "link", "del", "eth0"], check=False, quiet=True)
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    _sysctl("net/ipv6/conf/%s/disable_ipv6" % veth, "1")
    run(nsrun + ["sh", "-c",
                 # no IPv6 on the lab link (no link-local chatter); ::1 on lo stays, as on
                 # any normal host
                 "echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null || true; "
                 "ip link set lo up && ip addr replace %s/24 dev eth0 && ip link set eth0 up"
                 % address])


def teardown_host_net(host):
    """Delete a host's namespace and veth (a no-op for whatever is already gone)."""
    ns, veth = ns_name(host), VETH_PREFIX + host
    if os.path.exists("/run/netns/" + ns):
        run(["ip", "netns", "del", ns], check=False, quiet=True)
    if _link_exists(veth):
        run(["ip", "link", "del", veth], check=False, quiet=True)


def leftover_namespaces():
    """Namespaces named like this slot's (mhlab-* in slot 0), e.g. after a partial `up`."""
    if not os.path.isdir("/run/netns"):
        return []
    return sorted(n[len(NS_PREFIX):] for n in os.listdir("/run/netns") if n.startswith(NS_PREFIX))


def leftover_veths():
    """Host-side veths named like this slot's (mhv-* in slot 0)."""
    out = run(["ip", "-o", "link", "show"], quiet=True).stdout
    names = []
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(VETH_PREFIX):
            names.append(name)
    return names
