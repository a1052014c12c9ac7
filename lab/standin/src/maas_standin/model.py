"""Lab test equipment (MAAS stand-in): database queries and API object shapes.

Builds the JSON objects of the MAAS API 2.0 (interface doc §4) from the stand-in's
tables, and holds the controller/network bookkeeping shared by the HTTP API and
the rack RPC.
"""
import ipaddress
import os

from . import db

API = "/MAAS/api/2.0"
NODE_TYPE_NAMES = {2: "Rack controller", 3: "Region controller", 4: "Region and rack controller"}
RACK_TYPES = (2, 4)
REGION_TYPES = (3, 4)
RACK_SERVICES = ["rackd", "tftp", "http", "dhcpd", "dhcpd6", "ntp_rack", "dns_rack", "proxy_rack", "syslog_rack"]
DOMAIN = {"authoritative": True, "ttl": None, "id": 0, "resource_record_count": 0, "is_default": True,
          "name": "maas", "resource_uri": API + "/domains/0/"}
ZONE = {"name": "default", "description": "", "id": 1, "resource_uri": API + "/zones/default/"}


def dead_after():
    """Seconds without a heartbeat after which a connection counts as lost."""
    return float(os.environ.get("MAAS_STANDIN_DEAD_AFTER", "35"))


def fetch(cur, sql, args=()):
    cur.execute(sql, args)
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def fetch_one(cur, sql, args=()):
    rows = fetch(cur, sql, args)
    return rows[0] if rows else None


def short_version(version):
    if not version:
        return None
    return version.split("-")[0].split("~")[0]


# --- networks ---------------------------------------------------------------

def vlan_name(vlan):
    if vlan["vid"] == 0:
        return "untagged"
    return vlan["name"] or str(vlan["vid"])


def node_sysid(cur, node_id):
    if node_id is None:
        return None
    row = fetch_one(cur, "SELECT system_id FROM maasserver_node WHERE id = %s", (node_id,))
    return row["system_id"] if row else None


def vlan_obj(cur, vlan, depth=0):
    fabric = fetch_one(cur, "SELECT name FROM maasserver_fabric WHERE id = %s", (vlan["fabric_id"],))
    relay = None
    if vlan["relay_vlan_id"] is not None and depth == 0:
        rv = get_vlan(cur, vlan["relay_vlan_id"])
        relay = vlan_obj(cur, rv, 1) if rv else None
    return {
        "vid": vlan["vid"],
        "mtu": vlan["mtu"],
        "dhcp_on": vlan["dhcp_on"],
        "external_dhcp": vlan["external_dhcp"],
        "relay_vlan": relay,
        "fabric": fabric["name"],
        "space": "undefined",
        "primary_rack": node_sysid(cur, vlan["primary_rack_id"]),
        "secondary_rack": node_sysid(cur, vlan["secondary_rack_id"]),
        "name": vlan_name(vlan),
        "description": vlan["description"],
        "id": vlan["id"],
        "fabric_id": vlan["fabric_id"],
        "resource_uri": "%s/vlans/%d/" % (API, vlan["id"]),
    }


def get_vlan(cur, vlan_id):
    return fetch_one(cur, "SELECT * FROM maasserver_vlan WHERE id = %s", (vlan_id,))


def subnet_obj(cur, subnet):
    return {
        "name": subnet["name"],
        "description": subnet["description"],
        "vlan": vlan_obj(cur, get_vlan(cur, subnet["vlan_id"])),
        "cidr": str(subnet["cidr"]),
        "rdns_mode": 2,
        "gateway_ip": subnet["gateway_ip"],
        "dns_servers": [],
        "allow_dns": True,
        "allow_proxy": True,
        "active_discovery": False,
        "managed": True,
        "disabled_boot_architectures": [],
        "id": subnet["id"],
        "space": "undefined",
        "resource_uri": "%s/subnets/%d/" % (API, subnet["id"]),
    }


def fabric_obj(cur, fabric):
    vlans = fetch(cur, "SELECT * FROM maasserver_vlan WHERE fabric_id = %s ORDER BY vid", (fabric["id"],))
    return {
        "class_type": fabric["class_type"],
        "name": fabric["name"],
        "id": fabric["id"],
        "vlans": [vlan_obj(cur, v) for v in vlans],
        "resource_uri": "%s/fabrics/%d/" % (API, fabric["id"]),
    }


def user_obj(user):
    if user is None:
        return None
    return {"is_superuser": user["is_superuser"], "username": user["username"], "email": user["email"],
            "is_local": True, "sshkeys_count": 0,
            "last_login": user["last_login"].isoformat() if user.get("last_login") else None,
            "resource_uri": "%s/users/%s/" % (API, user["username"])}


def iprange_obj(cur, rng):
    subnet = fetch_one(cur, "SELECT * FROM maasserver_subnet WHERE id = %s", (rng["subnet_id"],))
    user = None
    if rng["user_id"] is not None:
        user = fetch_one(cur, "SELECT * FROM auth_user WHERE id = %s", (rng["user_id"],))
    return {
        "subnet": subnet_obj(cur, subnet),
        "type": rng["type"],
        "start_ip": str(rng["start_ip"]).split("/")[0],
        "end_ip": str(rng["end_ip"]).split("/")[0],
        "user": user_obj(user),
        "comment": rng["comment"],
        "id": rng["id"],
        "resource_uri": "%s/ipranges/%d/" % (API, rng["id"]),
    }


def default_vlan(cur):
    return fetch_one(cur, "SELECT * FROM maasserver_vlan WHERE fabric_id = 0 AND vid = 0")


def subnet_for_cidr(cur, cidr):
    """The subnet for a network; new networks get a fabric (fabric-0 first)."""
    network = ipaddress.ip_network(cidr, strict=False)
    row = fetch_one(cur, "SELECT * FROM maasserver_subnet WHERE cidr = %s", (str(network),))
    if row:
        return row
    vlan = default_vlan(cur)
    used = vlan and fetch_one(cur, "SELECT 1 AS x FROM maasserver_subnet WHERE vlan_id = %s", (vlan["id"],))
    if vlan is None or used:
        cur.execute("INSERT INTO maasserver_fabric (name) VALUES ('fabric-tmp-' || md5(random()::text)) RETURNING id")
        fid = cur.fetchone()[0]
        cur.execute("UPDATE maasserver_fabric SET name = %s WHERE id = %s", ("fabric-%d" % fid, fid))
        cur.execute("INSERT INTO maasserver_vlan (name, vid, fabric_id) VALUES ('untagged', 0, %s) RETURNING id",
                    (fid,))
        vlan = get_vlan(cur, cur.fetchone()[0])
    cur.execute("INSERT INTO maasserver_subnet (name, cidr, vlan_id) VALUES (%s, %s, %s) RETURNING id",
                (str(network), str(network), vlan["id"]))
    return fetch_one(cur, "SELECT * FROM maasserver_subnet WHERE id = %s", (cur.fetchone()[0],))


def record_interfaces(cur, node_id, interfaces):
    """Store a controller's interfaces, their VLANs and IP links."""
    names = []
    for iface in interfaces:
        names.append(iface["name"])
        subnets = [(addr.split("/")[0], subnet_for_cidr(cur, addr)) for addr in iface.get("addresses", [])
                   if "/" in addr]
        vlan_id = subnets[0][1]["vlan_id"] if subnets else None
        cur.execute(
            "INSERT INTO maasserver_interface (node_id, name, mac_address, vlan_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (node_id, name) DO UPDATE SET mac_address = EXCLUDED.mac_address, "
            "vlan_id = EXCLUDED.vlan_id RETURNING id",
            (node_id, iface["name"], iface.get("mac", ""), vlan_id))
        iid = cur.fetchone()[0]
        cur.execute("DELETE FROM maasserver_staticipaddress WHERE interface_id = %s", (iid,))
        for ip, subnet in subnets:
            cur.execute("INSERT INTO maasserver_staticipaddress (interface_id, subnet_id, ip) VALUES (%s, %s, %s)",
                        (iid, subnet["id"], ip))
    if names:
        cur.execute("DELETE FROM maasserver_interface WHERE node_id = %s AND NOT (name = ANY(%s))",
                    (node_id, names))


# --- controllers --------------------------------------------------------------

def get_node(cur, ident, types=None):
    """A controller by system_id or hostname."""
    row = fetch_one(cur, "SELECT * FROM maasserver_node WHERE system_id = %s OR hostname = %s "
                         "ORDER BY (system_id = %s) DESC LIMIT 1", (ident, ident, ident))
    if row and types and row["node_type"] not in types:
        return None
    return row


def alive_regions(cur):
    return [r["id"] for r in fetch(
        cur, "SELECT id FROM maasserver_node WHERE node_type IN (3, 4) AND region_last_seen IS NOT NULL "
             "AND region_last_seen > now() - make_interval(secs => %s)", (dead_after(),))]


def rackd_status(cur, rack_id):
    """(status, status_info) of a rack's rackd from its heartbeats to live regions."""
    alive = set(alive_regions(cur))
    seen = {r["region_id"] for r in fetch(
        cur, "SELECT region_id FROM standin_rack_heartbeat WHERE rack_id = %s "
             "AND last_seen > now() - make_interval(secs => %s)", (rack_id, dead_after()))}
    connected = seen & alive if alive else seen
    if not connected:
        return "dead", ""
    if alive and not alive <= connected:
        return "degraded", "%d%% connected to region controllers." % (100 * len(connected) // len(alive))
    return "running", ""


def service_set(cur, node):
    status, info = rackd_status(cur, node["id"])
    dhcp = fetch_one(cur, "SELECT count(*) AS n FROM maasserver_vlan WHERE dhcp_on AND "
                          "(primary_rack_id = %s OR secondary_rack_id = %s)", (node["id"], node["id"]))["n"]
    result = []
    names = list(RACK_SERVICES)
    if node.get("version") and short_version(node["version"]) >= "3.5":
        names.append("agent")
    for name in names:
        if name == "rackd":
            result.append({"name": name, "status": status, "status_info": info})
        elif name in ("dhcpd", "dhcpd6"):
            on = dhcp and name == "dhcpd" and status != "dead"
            result.append({"name": name, "status": "running" if on else "off", "status_info": ""})
        else:
            result.append({"name": name, "status": "running" if status != "dead" else "dead",
                           "status_info": ""})
    return result


def interface_objs(cur, node):
    result = []
    for iface in fetch(cur, "SELECT * FROM maasserver_interface WHERE node_id = %s ORDER BY id", (node["id"],)):
        vlan = get_vlan(cur, iface["vlan_id"]) if iface["vlan_id"] is not None else None
        links = []
        for ip in fetch(cur, "SELECT * FROM maasserver_staticipaddress WHERE interface_id = %s ORDER BY id",
                        (iface["id"],)):
            subnet = fetch_one(cur, "SELECT * FROM maasserver_subnet WHERE id = %s", (ip["subnet_id"],))
            links.append({"id": ip["id"], "mode": "static", "ip_address": str(ip["ip"]).split("/")[0],
                          "subnet": subnet_obj(cur, subnet) if subnet else None})
        result.append({
            "system_id": node["system_id"], "id": iface["id"], "name": iface["name"], "type": "physical",
            "mac_address": iface["mac_address"], "vlan": vlan_obj(cur, vlan) if vlan else None,
            "links": links, "parents": [], "children": [], "tags": [], "enabled": True, "params": "",
            "discovered": None, "effective_mtu": vlan["mtu"] if vlan else 1500, "vendor": None,
            "product": None, "firmware_version": None, "link_connected": True, "interface_speed": 0,
            "link_speed": 0, "numa_node": 0, "sriov_max_vf": 0,
            "resource_uri": "%s/nodes/%s/interfaces/%d/" % (API, node["system_id"], iface["id"]),
        })
    return result


def node_obj(cur, node, kind):
    """A rack ('rack') or region ('region') controller object."""
    ifaces = interface_objs(cur, node)
    ips = [link["ip_address"] for i in ifaces for link in i["links"]]
    obj = {
        "system_id": node["system_id"],
        "hostname": node["hostname"],
        "description": "",
        "hardware_uuid": None,
        "domain": DOMAIN,
        "fqdn": node["hostname"] + ".maas",
        "architecture": "amd64/generic",
        "cpu_count": 1, "cpu_speed": 0, "memory": 1024, "swap_size": None,
        "osystem": "ubuntu", "distro_series": "jammy",
        "power_type": "", "power_state": "unknown",
        "ip_addresses": ips,
        "interface_set": ifaces,
        "zone": ZONE,
        "status_action": "",
        "node_type": node["node_type"],
        "node_type_name": NODE_TYPE_NAMES[node["node_type"]],
        "current_commissioning_result_id": None,
        "current_testing_result_id": None,
        "current_installation_result_id": None,
        "version": node["version"],
        "commissioning_status": -1, "commissioning_status_name": "Unknown",
        "testing_status": -1, "testing_status_name": "Unknown",
        "hardware_info": {"system_vendor": "Unknown", "system_product": "Unknown", "cpu_model": "Unknown"},
        "tag_names": [],
        "resource_uri": "%s/%scontrollers/%s/" % (API, kind, node["system_id"]),
    }
    for test in ("cpu", "memory", "network", "storage", "other", "interface"):
        obj["%s_test_status" % test] = -1
        obj["%s_test_status_name" % test] = "Unknown"
    if kind == "rack":
        obj["service_set"] = service_set(cur, node)
    return obj


def vlans_of_rack(cur, rack_id, role):
    return fetch(cur, "SELECT * FROM maasserver_vlan WHERE %s_rack_id = %%s ORDER BY id" % role, (rack_id,))


def racks_on_vid(cur, vid, exclude=()):
    """Rack controllers with an interface on a VLAN of this VID."""
    rows = fetch(cur, "SELECT DISTINCT n.* FROM maasserver_node n JOIN maasserver_interface i ON i.node_id = n.id "
                      "JOIN maasserver_vlan v ON v.id = i.vlan_id WHERE v.vid = %s AND n.node_type IN (2, 4) "
                      "ORDER BY n.id", (vid,))
    return [r for r in rows if r["id"] not in exclude]


def register_controller(cur, hostname, system_id, node_type, version, interfaces, record=True):
    """Create or update a controller; returns its row (MAAS's RegisterRackController).

    A known node (by system_id, then hostname, then an interface's MAC) keeps its id; a region
    gaining a rack (or the reverse) becomes a region+rack (node_type 4). The hostname is stored
    without its domain, as MAAS does (src/maasserver/rpc/rackcontrollers.py). MAAS's
    ``register`` uses a rack's interfaces only to find the node: they are recorded by the
    rack's network refresh later (``record=False``; ``record_interfaces``).
    """
    hostname = hostname.split(".", 1)[0]
    cur.execute("SELECT pg_advisory_xact_lock(5242)")
    node = None
    if system_id:
        node = fetch_one(cur, "SELECT * FROM maasserver_node WHERE system_id = %s", (system_id,))
    if node is None:
        node = fetch_one(cur, "SELECT * FROM maasserver_node WHERE hostname = %s", (hostname,))
    macs = [iface.get("mac") for iface in interfaces if iface.get("mac")]
    if node is None and macs:
        node = fetch_one(cur, "SELECT n.* FROM maasserver_node n JOIN maasserver_interface i ON i.node_id = n.id "
                              "WHERE i.mac_address = ANY(%s) ORDER BY n.id LIMIT 1", (macs,))
    if node is None:
        sid = db.new_system_id(cur)
        cur.execute("INSERT INTO maasserver_node (system_id, hostname, node_type, version) "
                    "VALUES (%s, %s, %s, %s) RETURNING id", (sid, hostname, node_type, version))
        nid = cur.fetchone()[0]
    else:
        nid = node["id"]
        new_type = node_type if node["node_type"] == node_type else 4
        cur.execute("UPDATE maasserver_node SET hostname = %s, node_type = %s, version = %s WHERE id = %s",
                    (hostname, new_type, version, nid))
    if record:
        record_interfaces(cur, nid, interfaces)
    return fetch_one(cur, "SELECT * FROM maasserver_node WHERE id = %s", (nid,))
