"""The rehearsal lab (see lab/README.md): hosts from /var/lib/maas-ha-lab/hosts.json, written
by `make lab-up`. Secrets are generated once per lab and kept root-only beside it.

Environment knobs (for rehearsals and tests):
    MAAS_HA_REGION_FLAVOUR / MAAS_HA_RACK_FLAVOUR   deb | snap (default deb regions, snap racks)
    MAAS_HA_REGIONS   comma list of region hosts, primary first (default: every lab region)
    MAAS_HA_RACKS     comma list of rack hosts (default: every lab rack)
    MAAS_HA_HAPROXY   comma list of HAProxy hosts (default: every lab HAProxy; "" for none)
    MAAS_HA_DHCP_VLAN  "rackA,rackB" to enable DHCP HA on fabric-0 untagged with those racks
"""

import json
import os
import secrets
from pathlib import Path

LAB = Path(os.environ.get("MAAS_HA_LAB_DIR", "/var/lib/maas-ha-lab"))


def _lab_secrets() -> dict:
    path = LAB / "secrets.json"
    if not path.exists():
        values = {"maas_db_password": secrets.token_urlsafe(18),
                  "maas_admin_password": secrets.token_urlsafe(18)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
    return json.loads(path.read_text())


_hosts_file = LAB / "hosts.json"
if not _hosts_file.exists():
    raise SystemExit(f"{_hosts_file} not found: bring the lab up first (make lab-up)")
_lab = json.loads(_hosts_file.read_text())


def _pick(group: str, env: str) -> list:
    members = [name for name, spec in _lab["hosts"].items() if spec["group"] == group]
    chosen = os.environ.get(env)
    if chosen is None:
        return members
    wanted = [name for name in chosen.split(",") if name]
    missing = [name for name in wanted if name not in _lab["hosts"]]
    if missing:
        raise SystemExit(f"{env}: {missing} are not lab hosts")
    return wanted


def _host(name: str, **data) -> tuple:
    return (name, {
        "ssh_hostname": _lab["hosts"][name]["address"],
        "ssh_user": "root",
        "ssh_key": _lab["ssh_key"],
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
        **data,
    })


_region_flavour = os.environ.get("MAAS_HA_REGION_FLAVOUR", "deb")
_rack_flavour = os.environ.get("MAAS_HA_RACK_FLAVOUR", "snap")
_secrets = _lab_secrets()

maas_postgres = ([_host(name) for name in _pick("maas_postgres", "MAAS_HA_POSTGRES")], {
    "maas_db_password": _secrets["maas_db_password"],
})
maas_region = ([_host(name) for name in _pick("maas_region", "MAAS_HA_REGIONS")], {
    "maas_flavour": _region_flavour,
    "maas_db_password": _secrets["maas_db_password"],
    "maas_admin_password": _secrets["maas_admin_password"],
    "maas_num_workers": int(os.environ.get("MAAS_HA_NUM_WORKERS", "4")),
})
maas_rack = ([_host(name) for name in _pick("maas_rack", "MAAS_HA_RACKS")], {
    "maas_flavour": _rack_flavour,
})
maas_haproxy = [_host(name) for name in _pick("maas_haproxy", "MAAS_HA_HAPROXY")]

_dhcp = os.environ.get("MAAS_HA_DHCP_VLAN")
if _dhcp:
    _primary, _secondary = _dhcp.split(",")
    _net = _lab["network"].rsplit(".", 1)[0]  # 10.77.0.0/24 -> 10.77.0
    maas_region[1]["maas_dhcp_vlans"] = [{
        "fabric": "fabric-0", "vid": 0, "primary_rack": _primary, "secondary_rack": _secondary,
        "dynamic_range": {"start": f"{_net}.200", "end": f"{_net}.220"},
    }]
