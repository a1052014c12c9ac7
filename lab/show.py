"""Show what the deploy built in the lab: regions and racks as the MAAS API lists them,
HAProxy's view of its backends, the API answering through HAProxy, and which load balancer
holds the floating API address.

Lab tooling (test equipment): reads the lab's hosts.json (/var/lib/maas-ha-lab/, or the
slot's dir with MAAS_HA_LAB_SLOT); never prints a secret.
"""

import json
import re
import shlex
import subprocess
import sys
import time

import requests
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.lib import slot  # noqa: E402
from operations.maas_api_client import MaasClient  # noqa: E402

LAB = Path(slot.state_dir())


def ssh(hosts: dict, name: str, command: str) -> str:
    """`command` run as root on a lab host (through `sudo -n` when the login user is not root)."""
    address = hosts["hosts"][name]["address"]
    user = hosts.get("ssh_user", "root")
    if user != "root":
        command = f"sudo -n sh -c {shlex.quote(command)}"
    result = subprocess.run(
        ["ssh", "-i", hosts["ssh_key"], "-o", "StrictHostKeyChecking=no", "-o",
         "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
         f"{user}@{address}", command],
        capture_output=True, text=True, timeout=60, check=False)
    return result.stdout


def group(hosts: dict, name: str) -> list[str]:
    return [host for host, spec in hosts["hosts"].items() if spec["group"] == name]


def api_key(hosts: dict, region: str) -> str:
    command = ("if [ -s /var/snap/maas/common/snap_mode ]; then /snap/bin/maas apikey --username admin; "
               "else maas-region apikey --username admin; fi | head -n 1")
    return ssh(hosts, region, command).strip()


def show_api_vip(hosts: dict, lbs: list[str]) -> None:
    """Which load balancer holds the floating API address (keepalived), if the deploy set one up."""
    vip = hosts.get("api_vip")
    configured = [lb for lb in lbs if ssh(hosts, lb, "systemctl is-active keepalived").strip() == "active"]
    if not vip or not configured:
        print("\nFloating API address: none (one load balancer serves on its own address)")
        return
    # right after a deploy keepalived may still be electing (every host starts as BACKUP)
    for _ in range(10):
        holders = [lb for lb in configured
                   if re.search(rf"\binet {re.escape(vip)}/", ssh(hosts, lb, "ip -o addr show"))]
        if holders:
            break
        time.sleep(1)
    print(f"\nFloating API address {vip} (keepalived on {', '.join(configured)}): "
          f"held by {', '.join(holders) or 'NO HOST'}")
    try:
        answer = requests.get(f"http://{vip}/MAAS/api/2.0/version/", timeout=10).json()["version"]
    except (requests.RequestException, ValueError, KeyError) as error:
        answer = f"no answer ({type(error).__name__})"
    print(f"  API on {vip}: version {answer}")


def show_database(hosts: dict) -> None:
    """The PostgreSQL cluster's members and roles as Patroni lists them, or the single server."""
    databases = group(hosts, "maas_postgres") + group(hosts, "maas_postgres_spare")
    for name in databases:
        listed = ssh(hosts, name, "[ -r /etc/patroni/config.yml ] && "
                                  "patronictl -c /etc/patroni/config.yml list -f json")
        if listed.strip():
            print("\nPostgreSQL cluster (Patroni, asked on %s):" % name)
            for member in json.loads(listed):
                print(f"  {member['Member']:<8} {member['Host']:<14} {member['Role']:<13} {member['State']:<10}"
                      f" timeline {member.get('TL', '-')}  lag {member.get('Lag in MB', '-')} MB")
            return
    if databases:
        print(f"\nPostgreSQL: single server {databases[0]}")


def main() -> int:
    hosts = json.loads((LAB / "hosts.json").read_text())
    regions, racks = group(hosts, "maas_region"), group(hosts, "maas_rack")
    # the lab's load balancers the deploy set up (the inventory may leave one out)
    lbs = [lb for lb in group(hosts, "maas_haproxy") if ssh(hosts, lb, "systemctl is-active haproxy").strip() == "active"]
    lb_url = f"http://{hosts['hosts'][lbs[0]]['address']}/MAAS/" if lbs else None
    base = lb_url or f"http://{hosts['hosts'][regions[0]]['address']}:5240/MAAS/"
    client = MaasClient(base, api_key(hosts, regions[0]))

    version = client.get("version/")
    print(f"MAAS API through {'HAProxy' if lb_url else 'the primary region'} ({base}): "
          f"version {version['version']}")
    print("\nRegion controllers:")
    for region in client.get("regioncontrollers/"):
        print(f"  {region['hostname']:<12} {region['system_id']}  {', '.join(region['ip_addresses'])}"
              f"  {region.get('version')}")
    print("\nRack controllers:")
    for rack in client.get("rackcontrollers/"):
        services = {s["name"]: s["status"] for s in rack.get("service_set", [])}
        print(f"  {rack['hostname']:<12} {rack['system_id']}  {', '.join(rack['ip_addresses'])}"
              f"  rackd={services.get('rackd', '?')}")
    for region in regions:
        url = f"http://{hosts['hosts'][region]['address']}:5240/MAAS/api/2.0/version/"
        print(f"\nDirect to {region}: version {requests.get(url, timeout=10).json()['version']}")
    for lb in lbs:
        print(f"\nHAProxy {lb} backends (show servers state):")
        state = ssh(hosts, lb, "echo 'show servers state maas_regions' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock")
        for line in state.splitlines()[2:]:
            fields = line.split()
            if len(fields) > 6:
                op_state = {"0": "DOWN", "1": "STARTING", "2": "UP", "3": "STOPPING"}.get(fields[5], fields[5])
                print(f"  {fields[3]:<12} {fields[4]}  {op_state}")
    show_database(hosts)
    show_api_vip(hosts, lbs)
    print(f"\n{len(regions)} regions, {len(racks)} racks in the lab inventory.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
