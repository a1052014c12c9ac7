"""Lab test equipment (MAAS stand-in): this host's name and IPv4 interfaces.

`MAAS_STANDIN_HOSTNAME` and `MAAS_STANDIN_INTERFACES` ("eth0=MAC=10.0.0.5/24,..."
entries separated by ';') override discovery for tests on one machine.
"""
import json
import os
import socket
import subprocess


def hostname():
    """The kernel hostname, as a controller sends it when it registers (may be an FQDN)."""
    return os.environ.get("MAAS_STANDIN_HOSTNAME") or socket.gethostname()


def interfaces():
    """[{"name", "mac", "addresses": ["ip/prefix", ...]}] for non-loopback IPv4 links."""
    override = os.environ.get("MAAS_STANDIN_INTERFACES")
    if override is not None:
        result = []
        for entry in filter(None, override.split(";")):
            name, mac, addrs = (entry.split("=", 2) + ["", ""])[:3]
            result.append({"name": name, "mac": mac, "addresses": [a for a in addrs.split(",") if a]})
        return result
    try:
        out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=10).stdout
        links = json.loads(out or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        return []
    result = []
    for link in links:
        if link.get("link_type") == "loopback" or link.get("ifname") == "lo":
            continue
        addrs = ["%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info", [])
                 if a.get("family") == "inet"]
        if addrs:
            result.append({"name": link["ifname"].split("@")[0], "mac": link.get("address", ""),
                           "addresses": addrs})
    return result


def ip_addresses():
    return [a.split("/")[0] for i in interfaces() for a in i["addresses"]]
