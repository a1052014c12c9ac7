"""The rehearsal lab (see lab/README.md): hosts from /var/lib/maas-ha-lab/hosts.json, written
by `make lab-up`. Secrets are generated once per lab and kept root-only beside it.

Environment knobs (for rehearsals and tests):
    MAAS_HA_LAB_SLOT  which of the machine's labs (0..3, default 0; slot N's hosts.json is in
        /var/lib/maas-ha-lab-N); MAAS_HA_LAB_DIR names the lab's directory outright
    MAAS_HA_REGION_FLAVOUR / MAAS_HA_RACK_FLAVOUR   deb | snap (default deb regions, snap racks)
    MAAS_HA_MAAS_VERSION  3.4 | 3.5: the MAAS series of every host (default: group_data's); the
        lab's repository and snap store carry both (debs pinned to the lab's build of it)
    MAAS_HA_REGIONS   comma list of region hosts, primary first (default: every lab region)
    MAAS_HA_RACKS     comma list of rack hosts (default: every lab rack); a region host named here
        is a region+rack (MAAS's default mode) and keeps the region flavour
    MAAS_HA_HAPROXY   comma list of HAProxy hosts (default: the first lab HAProxy, lb1; "" for
        none); two or more share the lab's floating API address (hosts.json's api_vip)
    MAAS_HA_API_VIP   "" to deploy two or more HAProxy hosts without the floating address (each
        serves on its own address, as when an operator unsets maas_api_vip)
    MAAS_HA_POSTGRES  comma list of database hosts (default: pg1; "pg1,pg2,pg3" for the
        Patroni cluster)
    MAAS_HA_DHCP_VLAN  "rackA,rackB" to enable DHCP HA on fabric-0 untagged with those racks
    MAAS_HA_DHCP_RACK_INTERFACE_TIMEOUT  seconds DHCP HA waits for MAAS to know the racks' interfaces
    MAAS_HA_INSTANCE  a (default) | b: deploy the lab's second MAAS (hosts b-pg1, b-region1)
    MAAS_HA_MOVE_TARGET  comma list of the second MAAS's regions, as group maas_move_target
    MAAS_HA_RACK_REGISTER_TIMEOUT  seconds to wait for a rack to register
    MAAS_HA_DB_ADDRESS  the address the regions use for the database host (its maas_address;
        default: its lab address), e.g. a second address a test gave it
    MAAS_HA_DB_PASSWORD / MAAS_HA_ADMIN_PASSWORD  use this database / admin password instead of
        the one in secrets.json (tests with unusual passwords; the environment of a process is
        readable only by its own user and root, unlike its command line)

Like production, the deploy logs in as an operator who is not root and becomes root with
sudo (``_sudo``); the login user is the lab's ``ssh_user`` (MAAS_HA_LAB_SSH_USER=root when the
lab is brought up gives a lab that lets root in, and then no sudo is used).
"""

import importlib.util
import json
import os
import secrets
from pathlib import Path

# the PostgreSQL cluster's own secrets (config.CLUSTER_SECRETS)
_CLUSTER_SECRETS = ("maas_pg_superuser_password", "maas_pg_replication_password", "maas_patroni_rest_password",
                    "maas_etcd_root_password", "maas_etcd_patroni_password")


def _lab_dir() -> Path:
    """The lab's directory, as the lab tools derive it (lab/lib/slot.py, loaded by path: the
    inventory runs from any working directory)."""
    path = Path(__file__).resolve().parent.parent / "lab" / "lib" / "slot.py"
    spec = importlib.util.spec_from_file_location("maas_ha_lab_slot", path)
    slots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slots)
    try:
        return Path(slots.state_dir())
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


LAB = _lab_dir()


def _lab_secrets() -> dict:
    """The lab's secrets (both MAAS instances), made once and kept root-only (0600)."""
    path = LAB / "secrets.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    wanted = [f"{prefix}{key}" for prefix in ("", "b_")
              for key in ("maas_db_password", "maas_admin_password", *_CLUSTER_SECRETS)]
    missing = [key for key in wanted if key not in values]
    if missing:
        values.update({key: secrets.token_urlsafe(18) for key in missing})
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        os.replace(tmp, path)
    return values


_hosts_file = LAB / "hosts.json"
if not _hosts_file.exists():
    raise SystemExit(f"{_hosts_file} not found: bring the lab up first (make lab-up)")
_lab = json.loads(_hosts_file.read_text())


_instance = os.environ.get("MAAS_HA_INSTANCE", "a")
_prefix = "" if _instance == "a" else f"{_instance}_"


def _pick(group: str, env: str) -> list:
    members = [name for name, spec in _lab["hosts"].items() if spec["group"] == _prefix + group]
    chosen = os.environ.get(env)
    if chosen is None:
        return members
    wanted = [name for name in chosen.split(",") if name]
    missing = [name for name in wanted if name not in _lab["hosts"]]
    if missing:
        raise SystemExit(f"{env}: {missing} are not lab hosts")
    return wanted


def _lab_secrets_key(name: str) -> str:
    return name if _instance == "a" else f"{_instance}_{name}"


_login = {"ssh_user": _lab.get("ssh_user", "root")}
if _login["ssh_user"] != "root":
    _login["_sudo"] = True

# the stand-in's deb builds in the lab's repository, by MAAS series
LAB_DEB_VERSIONS = {"3.4": "1:3.4.10-0ubuntu1", "3.5": "1:3.5.13-0ubuntu1"}
_version = {}
if os.environ.get("MAAS_HA_MAAS_VERSION"):
    _series = os.environ["MAAS_HA_MAAS_VERSION"]
    if _series not in LAB_DEB_VERSIONS:
        raise SystemExit(f"MAAS_HA_MAAS_VERSION: the lab has MAAS {', '.join(LAB_DEB_VERSIONS)}, not {_series!r}")
    _version = {"maas_version": _series, "maas_deb_version": LAB_DEB_VERSIONS[_series]}


def _host(name: str, **data) -> tuple:
    return (name, {
        "ssh_hostname": _lab["hosts"][name]["address"],
        **_login,
        **_version,
        "ssh_key": _lab["ssh_key"],
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
        **data,
    })


# MAAS's deb packages come from the lab's own repository, as an air-gapped site's mirror
# (lab/README.md); the deploy adds it where it installs a MAAS deb.
LAB_MAAS_MIRROR = "deb [trusted=yes] file:/srv/labrepo/maas ./"

_region_flavour = os.environ.get("MAAS_HA_REGION_FLAVOUR", "deb")
_rack_flavour = os.environ.get("MAAS_HA_RACK_FLAVOUR", "snap")
_all_secrets = _lab_secrets()
_secrets = {key: _all_secrets[_lab_secrets_key(key)] for key in ("maas_db_password", "maas_admin_password")}
for _key, _env in (("maas_db_password", "MAAS_HA_DB_PASSWORD"), ("maas_admin_password", "MAAS_HA_ADMIN_PASSWORD")):
    if os.environ.get(_env):
        _secrets[_key] = os.environ[_env]

_db_address = {"maas_address": os.environ["MAAS_HA_DB_ADDRESS"]} if os.environ.get("MAAS_HA_DB_ADDRESS") else {}
maas_postgres = ([_host(name, **_db_address) for name in _pick("maas_postgres", "MAAS_HA_POSTGRES")], {
    "maas_db_password": _secrets["maas_db_password"],
    # used when MAAS_HA_POSTGRES names three hosts (a Patroni cluster)
    **{key: _all_secrets[_lab_secrets_key(key)] for key in _CLUSTER_SECRETS},
})
_regions = _pick("maas_region", "MAAS_HA_REGIONS")
maas_region = ([_host(name) for name in _regions], {
    "maas_flavour": _region_flavour,
    "maas_package_mirror": LAB_MAAS_MIRROR,
    "maas_db_password": _secrets["maas_db_password"],
    "maas_admin_password": _secrets["maas_admin_password"],
    "maas_num_workers": int(os.environ.get("MAAS_HA_NUM_WORKERS", "4")),
})
# A region that is a rack too is one MAAS install: the region's flavour (host data wins over
# the rack group's).
maas_rack = ([_host(name, **({"maas_flavour": _region_flavour} if name in _regions else {}))
              for name in _pick("maas_rack", "MAAS_HA_RACKS")], {
    "maas_flavour": _rack_flavour,
    "maas_package_mirror": LAB_MAAS_MIRROR,
    "maas_rack_register_timeout": int(os.environ.get("MAAS_HA_RACK_REGISTER_TIMEOUT", "90")),
})
# The first lab load balancer by default, as the lab always had; MAAS_HA_HAPROXY=lb1,lb2
# deploys both, sharing the lab's floating API address (keepalived): `make demo` does.
_lbs = _pick("maas_haproxy", "MAAS_HA_HAPROXY")
if "MAAS_HA_HAPROXY" not in os.environ:
    _lbs = _lbs[:1]
_api_vip = os.environ.get("MAAS_HA_API_VIP", _lab.get("api_vip"))
maas_haproxy = ([_host(name) for name in _lbs],
                {"maas_api_vip": _api_vip} if len(_lbs) > 1 and _api_vip else {})

_dhcp = os.environ.get("MAAS_HA_DHCP_VLAN")
if _dhcp:
    _primary, _secondary = _dhcp.split(",")
    _net = _lab["network"].rsplit(".", 1)[0]  # 10.77.N.0/24 -> 10.77.N
    maas_region[1]["maas_dhcp_vlans"] = [{
        "fabric": "fabric-0", "vid": 0, "primary_rack": _primary, "secondary_rack": _secondary,
        "dynamic_range": {"start": f"{_net}.200", "end": f"{_net}.220"},
    }]
    if os.environ.get("MAAS_HA_DHCP_RACK_INTERFACE_TIMEOUT"):
        maas_region[1]["maas_dhcp_rack_interface_timeout"] = int(os.environ["MAAS_HA_DHCP_RACK_INTERFACE_TIMEOUT"])

if os.environ.get("MAAS_HA_MOVE_TARGET"):
    maas_move_target = ([_host(name) for name in os.environ["MAAS_HA_MOVE_TARGET"].split(",")], {
        "maas_flavour": _region_flavour,
        "maas_package_mirror": LAB_MAAS_MIRROR,
    })
