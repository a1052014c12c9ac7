"""Lab test equipment (MAAS stand-in): the region's HTTP API 2.0 and rack RPC endpoints.

Dispatch by (HTTP method, op) as MAAS's piston handlers do, OAuth 1.0 PLAINTEXT
(and HMAC-SHA1) checks with MAAS's error statuses and bodies, the describe document
the `maas` CLI builds its commands from, the stand-in rack RPC under /MAAS/rpc/
(interface doc §4, §5; README.md "RPC") and /MAAS/accounts/authenticate/.
"""
import base64
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import time
from collections import Counter
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import db, model, rpcauth
from .model import API, fetch, fetch_one

log = logging.getLogger("maas.regiond")

# MAAS also announces static-ipaddresses, devices-management and the *-deployment-ubuntu /
# bridging-* ones; the stand-in has no machines, devices or ipaddresses/ to serve them with,
# so it announces only what it serves: fabrics/VLANs/subnets/IP ranges and accounts/authenticate/.
CAPABILITIES = ["networks-management", "authenticate-api"]
OAUTH_REQUIRED = ("oauth_consumer_key", "oauth_token", "oauth_signature", "oauth_signature_method",
                  "oauth_timestamp", "oauth_nonce")
TIMESTAMP_THRESHOLD = 300
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class ApiError(Exception):
    """An HTTP error response."""

    def __init__(self, status, body, ctype=TEXT, headers=None):
        super().__init__(body)
        self.status, self.body, self.ctype, self.headers = status, body, ctype, headers or {}


def validation_error(errors):
    return ApiError(400, json.dumps(errors), JSON)


def not_found(what):
    return ApiError(404, "No %s matches the given query." % what)


class Request:
    """One parsed HTTP request."""

    def __init__(self, method, raw_path, headers, body, client):
        self.method = method
        split = urlsplit(raw_path)
        self.path = split.path
        self.raw_query = split.query
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.client = client
        self.form = parse_body(headers.get("Content-Type", ""), body)
        self.user = None

    def get(self, name, default=None):
        for source in (self.form, self.query):
            if name in source and source[name]:
                return source[name][-1]
        return default

    def getlist(self, name):
        return self.form.get(name, []) + self.query.get(name, [])

    def has(self, name):
        return name in self.form or name in self.query


def parse_body(ctype, body):
    """Form fields of a urlencoded or multipart (base64 parts allowed) body."""
    if not body:
        return {}
    if ctype.startswith("multipart/form-data"):
        msg = email.message_from_bytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body,
                                       policy=email.policy.HTTP)
        form = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name is None:
                continue
            data = part.get_payload(decode=True) or b""
            form.setdefault(name, []).append(data.decode("utf-8", "replace"))
        return form
    if ctype.startswith("application/x-www-form-urlencoded") or not ctype:
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {}


# --- OAuth -------------------------------------------------------------------

def parse_oauth_header(value):
    if not value or not value.strip().lower().startswith("oauth "):
        return None
    params = {}
    for m in re.finditer(r'([\w-]+)="([^"]*)"', value[6:]):
        params[m.group(1)] = unquote(m.group(2))
    return params


def _escape(text):
    return quote(text, safe="~")


def hmac_sha1_base(req, params, host):
    pairs = []
    for source in (req.query, req.form):
        for k, vals in source.items():
            pairs.extend((k, v) for v in vals)
    pairs.extend((k, v) for k, v in params.items() if k not in ("oauth_signature", "realm"))
    norm = "&".join("%s=%s" % (_escape(k), _escape(v)) for k, v in sorted((_escape(k), _escape(v))
                                                                          for k, v in pairs))
    url = "http://%s%s" % (host, req.path)
    return "&".join(_escape(x) for x in (req.method, url, norm))


def authenticate(conn, req):
    """The user of a signed request, None when anonymous, or ApiError (§5)."""
    params = parse_oauth_header(req.headers.get("Authorization"))
    if not params or not all(k in params for k in OAUTH_REQUIRED):
        return None
    unauthorized = {"WWW-Authenticate": 'OAuth realm="OAuth"'}
    method = params["oauth_signature_method"]
    if method not in ("PLAINTEXT", "HMAC-SHA1"):
        raise ApiError(400, "Bad Request: Invalid signature method: %s" % method)
    with conn.cursor() as cur:
        consumer = fetch_one(cur, "SELECT * FROM piston3_consumer WHERE key = %s", (params["oauth_consumer_key"],))
        if consumer is None:
            raise ApiError(401, "Authorization Error: Invalid API key.", headers=unauthorized)
        token = fetch_one(cur, "SELECT * FROM piston3_token WHERE key = %s AND consumer_id = %s",
                          (params["oauth_token"], consumer["id"]))
        if token is None:
            raise ApiError(401, "Authorization Error: 'Invalid access token: %s'" % params["oauth_token"],
                           headers=unauthorized)
        try:
            stamp = int(params["oauth_timestamp"])
        except ValueError:
            raise ApiError(400, "Bad Request: Invalid timestamp: %s" % params["oauth_timestamp"])
        now = int(time.time())
        if abs(now - stamp) > TIMESTAMP_THRESHOLD:
            raise ApiError(401, "Authorization Error: 'Expired timestamp: given %d and now %d has a greater "
                                "difference than threshold %d'" % (stamp, now, TIMESTAMP_THRESHOLD),
                           headers=unauthorized)
        key = "%s&%s" % (_escape(consumer["secret"]), _escape(token["secret"]))
        if method == "PLAINTEXT":
            ok = hmac.compare_digest(params["oauth_signature"], key)
        else:
            base = hmac_sha1_base(req, params, req.headers.get("Host", ""))
            expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
            ok = hmac.compare_digest(params["oauth_signature"], expected)
        if not ok:
            raise ApiError(401, "Authorization Error: 'Invalid signature'", headers=unauthorized)
        cur.execute("INSERT INTO piston3_nonce (consumer_key, token_key, key) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING RETURNING id",
                    (consumer["key"], token["key"], params["oauth_nonce"]))
        fresh = cur.fetchone()
        conn.commit()
        if not fresh:
            raise ApiError(401, "Authorization Error: 'Nonce already used: %s'" % params["oauth_nonce"],
                           headers=unauthorized)
        return fetch_one(cur, "SELECT * FROM auth_user WHERE id = %s", (token["user_id"],))


# --- handlers ----------------------------------------------------------------

def _node_or_404(cur, system_id, types, what):
    node = model.get_node(cur, system_id, types)
    if node is None:
        raise not_found(what)
    return node


def version_read(ctx, req, cur):
    versions = [model.short_version(r["version"]) for r in
                fetch(cur, "SELECT version FROM maasserver_node WHERE version IS NOT NULL")]
    common = Counter(versions).most_common(1)
    version = common[0][0] if common else model.short_version(ctx.version)
    return {"capabilities": CAPABILITIES, "version": version, "subversion": ""}


def users_read(ctx, req, cur):
    return [model.user_obj(u) for u in fetch(cur, "SELECT * FROM auth_user ORDER BY id")]


def users_whoami(ctx, req, cur):
    return model.user_obj(req.user)


def user_read(ctx, req, cur, username):
    user = fetch_one(cur, "SELECT * FROM auth_user WHERE username = %s", (username,))
    if user is None:
        raise not_found("User")
    return model.user_obj(user)


def zones_read(ctx, req, cur):
    return [model.ZONE]


def zone_read(ctx, req, cur, name):
    if name != model.ZONE["name"]:
        raise not_found("Zone")
    return model.ZONE


def domains_read(ctx, req, cur):
    return [model.DOMAIN]


def domain_read(ctx, req, cur, id):
    """By id or name, as MAAS's get_domain_or_404 takes either."""
    if id not in (str(model.DOMAIN["id"]), model.DOMAIN["name"]):
        raise not_found("Domain")
    return model.DOMAIN


def _interfaces(cur, system_id):
    node = fetch_one(cur, "SELECT * FROM maasserver_node WHERE system_id = %s", (system_id,))
    if node is None:
        raise not_found("Node")
    return model.interface_objs(cur, node)


def interfaces_read(ctx, req, cur, system_id):
    return _interfaces(cur, system_id)


def interface_read(ctx, req, cur, system_id, id):
    for interface in _interfaces(cur, system_id):
        if str(interface["id"]) == id:
            return interface
    raise not_found("Interface")


def _filter_nodes(cur, req, types):
    rows = fetch(cur, "SELECT * FROM maasserver_node WHERE node_type = ANY(%s) ORDER BY id", (list(types),))
    hostnames = req.getlist("hostname")
    ids = req.getlist("id")
    if hostnames:
        rows = [r for r in rows if r["hostname"] in hostnames]
    if ids:
        rows = [r for r in rows if r["system_id"] in ids]
    return rows


def racks_read(ctx, req, cur):
    return [model.node_obj(cur, n, "rack") for n in _filter_nodes(cur, req, model.RACK_TYPES)]


def rack_read(ctx, req, cur, system_id):
    return model.node_obj(cur, _node_or_404(cur, system_id, model.RACK_TYPES, "RackController"), "rack")


def _truthy(value):
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def rack_delete(ctx, req, cur, system_id):
    node = _node_or_404(cur, system_id, model.RACK_TYPES, "RackController")
    force = _truthy(req.get("force", "false"))
    delete_rack(cur, node, force)
    return None


def delete_rack(cur, node, force):
    """RackController.delete: move DHCP off the rack first (§5)."""
    updates, blocking = [], []
    for vlan in model.vlans_of_rack(cur, node["id"], "primary"):
        others = model.racks_on_vid(cur, vlan["vid"], exclude={node["id"]})
        if vlan["secondary_rack_id"] and vlan["secondary_rack_id"] != node["id"]:
            new_primary = vlan["secondary_rack_id"]
            rest = [r["id"] for r in others if r["id"] != new_primary]
            new_secondary = rest[0] if rest else None
        else:
            new_primary = others[0]["id"] if others else None
            new_secondary = None
        dhcp_on = vlan["dhcp_on"]
        if new_primary is None and dhcp_on:
            if not force:
                fabric = fetch_one(cur, "SELECT name FROM maasserver_fabric WHERE id = %s", (vlan["fabric_id"],))
                blocking.append("%s.%s" % (fabric["name"], model.vlan_name(vlan)))
                continue
            dhcp_on = False
        updates.append((new_primary, new_secondary, dhcp_on, vlan["id"]))
    if blocking:
        raise ApiError(400, "Unable to delete '%s'; it is currently set as a primary rack controller on VLANs %s "
                            "and no other rack controller can provide DHCP." % (node["hostname"], ", ".join(blocking)))
    for new_primary, new_secondary, dhcp_on, vid in updates:
        cur.execute("UPDATE maasserver_vlan SET primary_rack_id = %s, secondary_rack_id = %s, dhcp_on = %s "
                    "WHERE id = %s", (new_primary, new_secondary, dhcp_on, vid))
    for vlan in model.vlans_of_rack(cur, node["id"], "secondary"):
        others = [r["id"] for r in model.racks_on_vid(cur, vlan["vid"], exclude={node["id"]})
                  if r["id"] != vlan["primary_rack_id"]]
        cur.execute("UPDATE maasserver_vlan SET secondary_rack_id = %s WHERE id = %s",
                    (others[0] if others else None, vlan["id"]))
    cur.execute("DELETE FROM standin_rack_heartbeat WHERE rack_id = %s", (node["id"],))
    if node["node_type"] == 4:
        cur.execute("UPDATE maasserver_node SET node_type = 3 WHERE id = %s", (node["id"],))
    else:
        cur.execute("DELETE FROM maasserver_node WHERE id = %s", (node["id"],))
    log.info("Rack controller '%s' (%s) deleted.", node["system_id"], node["hostname"])


def regions_read(ctx, req, cur):
    return [model.node_obj(cur, n, "region") for n in _filter_nodes(cur, req, model.REGION_TYPES)]


def region_read(ctx, req, cur, system_id):
    return model.node_obj(cur, _node_or_404(cur, system_id, model.REGION_TYPES, "RegionController"), "region")


def region_delete(ctx, req, cur, system_id):
    node = _node_or_404(cur, system_id, model.REGION_TYPES, "RegionController")
    if node["id"] in model.alive_regions(cur):
        raise ApiError(400, "Unable to delete %s as it's currently running." % node["hostname"])
    if node["node_type"] == 4:
        cur.execute("UPDATE maasserver_node SET node_type = 2, region_last_seen = NULL WHERE id = %s", (node["id"],))
    else:
        cur.execute("DELETE FROM maasserver_node WHERE id = %s", (node["id"],))
    return None


def _fabric(cur, ident):
    if str(ident).isdigit():
        row = fetch_one(cur, "SELECT * FROM maasserver_fabric WHERE id = %s", (int(ident),))
    else:
        row = fetch_one(cur, "SELECT * FROM maasserver_fabric WHERE name = %s", (ident,))
    if row is None:
        raise not_found("Fabric")
    return row


def fabrics_read(ctx, req, cur):
    return [model.fabric_obj(cur, f) for f in fetch(cur, "SELECT * FROM maasserver_fabric ORDER BY id")]


def fabric_read(ctx, req, cur, id):
    return model.fabric_obj(cur, _fabric(cur, id))


def vlans_read(ctx, req, cur, fabric_id):
    fabric = _fabric(cur, fabric_id)
    return [model.vlan_obj(cur, v) for v in
            fetch(cur, "SELECT * FROM maasserver_vlan WHERE fabric_id = %s ORDER BY vid", (fabric["id"],))]


def _vlan(cur, fabric_id, vid):
    fabric = _fabric(cur, fabric_id)
    row = None
    if str(vid).lstrip("-").isdigit():
        row = fetch_one(cur, "SELECT * FROM maasserver_vlan WHERE fabric_id = %s AND vid = %s",
                        (fabric["id"], int(vid)))
    if row is None:
        raise not_found("VLAN")
    return row


def _vlan_by_id(cur, vlan_id):
    row = model.get_vlan(cur, int(vlan_id)) if str(vlan_id).isdigit() else None
    if row is None:
        raise not_found("VLAN")
    return row


def vlan_read(ctx, req, cur, fabric_id, vid):
    return model.vlan_obj(cur, _vlan(cur, fabric_id, vid))


def vlan_read_by_id(ctx, req, cur, vlan_id):
    return model.vlan_obj(cur, _vlan_by_id(cur, vlan_id))


def vlan_update(ctx, req, cur, fabric_id, vid):
    return update_vlan(cur, req, _vlan(cur, fabric_id, vid))


def vlan_update_by_id(ctx, req, cur, vlan_id):
    return update_vlan(cur, req, _vlan_by_id(cur, vlan_id))


PRIMARY_DEAD = ("The primary rack controller must be up and running to set a secondary rack controller. Without "
                "the primary the secondary DHCP service will not be able to synchronize, preventing it from being "
                "able to provide DHCP.")


def update_vlan(cur, req, vlan):
    """VLANForm: partial update with MAAS's rack and DHCP rules (§5)."""
    errors = {}
    new = dict(vlan)
    if req.has("name"):
        new["name"] = req.get("name", "") or None
    if req.has("description"):
        new["description"] = req.get("description", "")
    if req.has("mtu"):
        try:
            mtu = int(req.get("mtu"))
            if mtu < 552:
                errors["mtu"] = ["Ensure this value is greater than or equal to 552."]
            elif mtu > 65535:
                errors["mtu"] = ["Ensure this value is less than or equal to 65535."]
            new["mtu"] = mtu
        except (TypeError, ValueError):
            errors["mtu"] = ["Enter a whole number."]
    if req.has("dhcp_on"):
        new["dhcp_on"] = _truthy(req.get("dhcp_on", ""))
    if req.has("relay_vlan"):
        value = req.get("relay_vlan", "")
        if not value:
            new["relay_vlan_id"] = None
        else:
            rv = model.get_vlan(cur, int(value)) if value.isdigit() else None
            if rv is None:
                errors["relay_vlan"] = ["Select a valid choice. That choice is not one of the available choices."]
            else:
                new["relay_vlan_id"] = rv["id"]
    eligible = model.racks_on_vid(cur, vlan["vid"])
    given = {}
    for field in ("primary_rack", "secondary_rack"):
        if not req.has(field):
            continue
        value = req.get(field, "") or ""
        if not value:
            given[field] = None
            continue
        match = [r for r in eligible if r["system_id"] == value] or [r for r in eligible if r["hostname"] == value]
        if not match:
            errors[field] = ["Select a valid choice. %s is not one of the available choices." % value]
        else:
            given[field] = match[0]["id"]
    if errors:
        raise validation_error(errors)
    primary, secondary = vlan["primary_rack_id"], vlan["secondary_rack_id"]
    all_errors = []
    if "primary_rack" in given and "secondary_rack" in given:
        primary, secondary = given["primary_rack"], given["secondary_rack"]
        if primary is not None and primary == secondary:
            all_errors.append("The primary and secondary rack must be different")
        if primary is None and secondary is not None:
            primary, secondary = secondary, None
    elif "secondary_rack" in given:
        secondary = given["secondary_rack"]
        if secondary is not None and secondary == vlan["primary_rack_id"]:
            all_errors.append("%s is already set as the primary rack controller" % model.node_sysid(cur, secondary))
        elif secondary is not None and primary is None:
            all_errors.append("The primary rack controller must be set before a secondary rack controller.")
    elif "primary_rack" in given:
        primary = given["primary_rack"]
        if primary is None and secondary is not None:
            primary, secondary = secondary, None
        elif primary is not None and primary == secondary:
            secondary = None
    if secondary is not None and secondary != vlan["secondary_rack_id"] and primary is not None and not all_errors:
        if model.rackd_status(cur, primary)[0] == "dead":
            all_errors.append(PRIMARY_DEAD)
    if new["dhcp_on"]:
        ranges = fetch_one(cur, "SELECT count(*) AS n FROM maasserver_iprange r JOIN maasserver_subnet s "
                                "ON s.id = r.subnet_id WHERE s.vlan_id = %s AND r.type = 'dynamic'", (vlan["id"],))
        if ranges["n"] == 0:
            errors["dhcp_on"] = ["dhcp can only be turned on when a dynamic IP range is defined."]
        if primary is None:
            all_errors.append("dhcp can only be turned on when a primary rack controller is set.")
        if not vlan["dhcp_on"]:
            new["relay_vlan_id"] = None
    if all_errors:
        errors["__all__"] = all_errors
    if errors:
        raise validation_error(errors)
    cur.execute("UPDATE maasserver_vlan SET name = %s, description = %s, mtu = %s, dhcp_on = %s, "
                "relay_vlan_id = %s, primary_rack_id = %s, secondary_rack_id = %s WHERE id = %s",
                (new["name"], new["description"], new["mtu"], new["dhcp_on"], new["relay_vlan_id"],
                 primary, secondary, vlan["id"]))
    return model.vlan_obj(cur, model.get_vlan(cur, vlan["id"]))


def subnets_read(ctx, req, cur):
    return [model.subnet_obj(cur, s) for s in fetch(cur, "SELECT * FROM maasserver_subnet ORDER BY id")]


def _subnet(cur, ident):
    row = None
    if str(ident).isdigit():
        row = fetch_one(cur, "SELECT * FROM maasserver_subnet WHERE id = %s", (int(ident),))
    else:
        try:
            net = ipaddress.ip_network(str(ident).replace("cidr:", ""), strict=False)
            row = fetch_one(cur, "SELECT * FROM maasserver_subnet WHERE cidr = %s", (str(net),))
        except ValueError:
            row = fetch_one(cur, "SELECT * FROM maasserver_subnet WHERE name = %s", (ident,))
    return row


def subnet_read(ctx, req, cur, id):
    row = _subnet(cur, id)
    if row is None:
        raise not_found("Subnet")
    return model.subnet_obj(cur, row)


def ipranges_read(ctx, req, cur):
    return [model.iprange_obj(cur, r) for r in fetch(cur, "SELECT * FROM maasserver_iprange ORDER BY id")]


def ipranges_create(ctx, req, cur):
    errors = {}
    rtype = req.get("type")
    if not rtype:
        errors["type"] = ["This field is required."]
    elif rtype not in ("dynamic", "reserved"):
        errors["type"] = ["Select a valid choice. %s is not one of the available choices." % rtype]
    ips = {}
    for field in ("start_ip", "end_ip"):
        value = req.get(field)
        if not value:
            errors[field] = ["This field is required."]
            continue
        try:
            ips[field] = ipaddress.ip_address(value)
        except ValueError:
            errors[field] = ["Enter a valid IPv4 or IPv6 address."]
    if errors:
        raise validation_error(errors)
    if rtype == "dynamic" and not req.user["is_superuser"]:
        raise ApiError(403, "This method is reserved for admin users.")
    start, end = ips["start_ip"], ips["end_ip"]
    subnet = None
    if req.get("subnet"):
        subnet = _subnet(cur, req.get("subnet"))
        if subnet is None:
            raise validation_error({"subnet": ["Select a valid choice. That choice is not one of the available "
                                               "choices."]})
    else:
        for row in fetch(cur, "SELECT * FROM maasserver_subnet ORDER BY id"):
            if start in ipaddress.ip_network(str(row["cidr"])):
                subnet = row
                break
        if subnet is None:
            raise validation_error({"subnet": ["This field is required."]})
    network = ipaddress.ip_network(str(subnet["cidr"]))
    if start not in network:
        errors["start_ip"] = ["Start IP address must be within subnet: %s." % network]
    if end not in network:
        errors["end_ip"] = ["End IP address must be within subnet: %s." % network]
    if not errors and end < start:
        errors["end_ip"] = ["End IP address must not be less than Start IP address."]
    if not errors:
        for other in fetch(cur, "SELECT * FROM maasserver_iprange WHERE subnet_id = %s", (subnet["id"],)):
            ostart = ipaddress.ip_address(str(other["start_ip"]).split("/")[0])
            oend = ipaddress.ip_address(str(other["end_ip"]).split("/")[0])
            if start <= oend and ostart <= end:
                errors["__all__"] = ["Requested %s range conflicts with an existing %s range." % (rtype, other["type"])]
                break
    if errors:
        raise validation_error(errors)
    cur.execute("INSERT INTO maasserver_iprange (subnet_id, type, start_ip, end_ip, comment, user_id) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (subnet["id"], rtype, str(start), str(end), req.get("comment", "") or "", req.user["id"]))
    return model.iprange_obj(cur, fetch_one(cur, "SELECT * FROM maasserver_iprange WHERE id = %s",
                                            (cur.fetchone()[0],)))


def _iprange(cur, id):
    row = fetch_one(cur, "SELECT * FROM maasserver_iprange WHERE id = %s", (int(id),)) if str(id).isdigit() else None
    if row is None:
        raise not_found("IPRange")
    return row


def iprange_read(ctx, req, cur, id):
    return model.iprange_obj(cur, _iprange(cur, id))


def iprange_delete(ctx, req, cur, id):
    cur.execute("DELETE FROM maasserver_iprange WHERE id = %s", (_iprange(cur, id)["id"],))
    return None


# --- resources and describe -----------------------------------------------------

class Action:
    def __init__(self, name, method, func, doc, op=None, admin=False, anon=False, status=200):
        self.name, self.method, self.func, self.doc = name, method, func, doc
        self.op, self.admin, self.anon, self.status = op, admin, anon, status
        self.restful = op is None


class Resource:
    def __init__(self, name, template, doc, actions, in_describe=True):
        self.name, self.template, self.doc, self.actions = name, template, doc, actions
        self.in_describe = in_describe
        self.params = re.findall(r"{(\w+)}", template)
        self.regex = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", template) + "$")

    def has_anon(self):
        return any(a.anon for a in self.actions)

    def handler(self, base, anon):
        acts = [a for a in self.actions if a.anon == anon]
        if not acts:
            return None
        path = "%s/%s" % (API, self.template)
        return {"name": ("Anon" + self.name) if anon and any(not a.anon for a in self.actions) else self.name,
                "doc": self.doc, "params": self.params, "path": path, "uri": base + path,
                "actions": [{"name": a.name, "method": a.method, "op": a.op, "restful": a.restful, "doc": a.doc}
                            for a in acts]}


RESOURCES = [
    Resource("VersionHandler", "version/", "Information about this MAAS instance.",
             [Action("read", "GET", version_read, "Read version and capabilities.", anon=True)]),
    Resource("UsersHandler", "users/", "Manage the user accounts of this MAAS.", [
        Action("read", "GET", users_read, "List users."),
        Action("whoami", "GET", users_whoami, "Returns the currently logged in user.", op="whoami"),
    ]),
    Resource("UserHandler", "users/{username}/", "Manage a user account.", [
        Action("read", "GET", user_read, "Retrieve user details."),
    ]),
    Resource("ZonesHandler", "zones/", "Manage physical zones.", [
        Action("read", "GET", zones_read, "List zones."),
    ]),
    Resource("ZoneHandler", "zones/{name}/", "Manage a physical zone.", [
        Action("read", "GET", zone_read, "Returns a named zone."),
    ]),
    Resource("DomainsHandler", "domains/", "Manage domains.", [
        Action("read", "GET", domains_read, "List all domains."),
    ]),
    Resource("DomainHandler", "domains/{id}/", "Manage domain.", [
        Action("read", "GET", domain_read, "Read a domain with the given id."),
    ]),
    Resource("InterfacesHandler", "nodes/{system_id}/interfaces/", "Manage interfaces on a node.", [
        Action("read", "GET", interfaces_read, "List interfaces\n\nList all interfaces belonging to a node."),
    ]),
    Resource("InterfaceHandler", "nodes/{system_id}/interfaces/{id}/", "Manage a node's interface.", [
        Action("read", "GET", interface_read, "Read an interface."),
    ]),
    Resource("RackControllersHandler", "rackcontrollers/", "Manage the collection of all rack controllers in MAAS.", [
        Action("read", "GET", racks_read, "List Nodes visible to the user, optionally filtered by criteria.\n\n"
               ":param hostname: An optional hostname. Only nodes relating to the node with the matching "
               "hostname will be returned.\n:type hostname: unicode\n\n:param id: Only nodes relating to the "
               "nodes with matching system ids will be returned.\n:type id: unicode"),
    ]),
    Resource("RackControllerHandler", "rackcontrollers/{system_id}/", "Manage an individual rack controller.", [
        Action("read", "GET", rack_read, "Read a node\n\nReads a node with the given system_id."),
        Action("delete", "DELETE", rack_delete, "Delete a rack controller.\n\n:param force: Always delete the rack "
               "controller even if it's the primary rack controller on a VLAN.\n:type force: boolean",
               admin=True, status=204),
    ]),
    Resource("RegionControllersHandler", "regioncontrollers/", "Manage the collection of all region controllers.", [
        Action("read", "GET", regions_read, "List Nodes visible to the user, optionally filtered by criteria.\n\n"
               ":param hostname: An optional hostname.\n:type hostname: unicode\n\n:param id: system ids.\n"
               ":type id: unicode"),
    ]),
    Resource("RegionControllerHandler", "regioncontrollers/{system_id}/", "Manage an individual region controller.", [
        Action("read", "GET", region_read, "Read a node\n\nReads a node with the given system_id."),
        Action("delete", "DELETE", region_delete, "Delete a specific region controller.\n\n:param force: "
               "Tells MAAS to override disallowing deletion.\n:type force: boolean", admin=True, status=204),
    ]),
    Resource("FabricsHandler", "fabrics/", "Manage fabrics.", [
        Action("read", "GET", fabrics_read, "List all fabrics."),
    ]),
    Resource("FabricHandler", "fabrics/{id}/", "Manage fabric.", [
        Action("read", "GET", fabric_read, "Read a fabric."),
    ]),
    Resource("VlansHandler", "fabrics/{fabric_id}/vlans/", "Manage VLANs on a fabric.", [
        Action("read", "GET", vlans_read, "List VLANs\n\nList all VLANs belonging to fabric."),
    ]),
    Resource("VlanHandler", "fabrics/{fabric_id}/vlans/{vid}/", "Manage a VLAN on a fabric.", [
        Action("read", "GET", vlan_read, "Retrieve VLAN\n\nRetrieves a VLAN on a given fabric_id."),
        Action("update", "PUT", vlan_update, "Update VLAN\n\nUpdates a given VLAN.\n\n:param name: Name of the "
               "VLAN.\n:param description: Description of the VLAN.\n:param mtu: The MTU to use on the VLAN.\n"
               ":param dhcp_on: Whether or not DHCP should be managed on the VLAN.\n:param primary_rack: The "
               "primary rack controller managing the VLAN (system_id).\n:param secondary_rack: The secondary "
               "rack controller managing the VLAN (system_id).\n:param relay_vlan: Relay VLAN ID.",
               admin=True),
    ]),
    Resource("VlanByIdHandler", "vlans/{vlan_id}/", "Manage a VLAN by its id.", [
        Action("read", "GET", vlan_read_by_id, "Retrieve VLAN."),
        Action("update", "PUT", vlan_update_by_id, "Update VLAN.\n\n:param dhcp_on: Whether DHCP is on.",
               admin=True),
    ], in_describe=False),
    Resource("SubnetsHandler", "subnets/", "Manage subnets.", [
        Action("read", "GET", subnets_read, "List all subnets."),
    ]),
    Resource("SubnetHandler", "subnets/{id}/", "Manage a subnet.", [
        Action("read", "GET", subnet_read, "Get information about a subnet."),
    ]),
    Resource("IPRangesHandler", "ipranges/", "Manage IP ranges.", [
        Action("read", "GET", ipranges_read, "List all available IP ranges."),
        Action("create", "POST", ipranges_create, "Create an IP range\n\n:param type: Type of this range "
               "(dynamic or reserved).\n:param start_ip: Start IP address of this range (inclusive).\n"
               ":param end_ip: End IP address of this range (inclusive).\n:param subnet: Subnet associated "
               "with this range.\n:param comment: A description of this range."),
    ]),
    Resource("IPRangeHandler", "ipranges/{id}/", "Manage IP range.", [
        Action("read", "GET", iprange_read, "Read an IP range."),
        Action("delete", "DELETE", iprange_delete, "Delete an IP range.", status=204),
    ]),
]
# Collections with an anonymous handler in MAAS (nodes/ and so rackcontrollers/): anonymous GET without a
# known op gives 400 "Unrecognised signature" instead of 401.
ANON_COLLECTIONS = {"RackControllersHandler"}


def describe(base):
    resources, handlers = [], []
    for res in RESOURCES:
        if not res.in_describe:
            continue
        anon = res.handler(base, True)
        auth = res.handler(base, False)
        resources.append({"name": res.name, "anon": anon, "auth": auth})
        handlers.extend(h for h in (anon, auth) if h)
    return {"doc": "MAAS API", "hash": api_hash(), "resources": resources, "handlers": handlers}


_HASH = None


def api_hash():
    global _HASH
    if _HASH is None:
        shape = [(r.name, r.template, [(a.name, a.method, a.op, a.doc) for a in r.actions]) for r in RESOURCES]
        _HASH = hashlib.sha1(json.dumps(shape, sort_keys=True).encode()).hexdigest()
    return _HASH


# --- dispatch --------------------------------------------------------------------

def dumps(obj):
    return json.dumps(obj, indent=4)


def handle_api(ctx, conn, req):
    """(status, body bytes, content type, headers) for a request under /MAAS/api/."""
    path = req.path
    headers = {"X-MAAS-API-Hash": api_hash()}
    if path in ("/MAAS/api/version/", "/MAAS/api/version"):
        return 200, b"2.0", TEXT, headers
    if path.startswith("/MAAS/api/1.0/"):
        return 410, b"The 1.0 API is no longer available. Please use API version 2.0.", TEXT, headers
    prefix = API + "/"
    if not path.startswith(prefix):
        return 404, b"Not Found", TEXT, headers
    rest = path[len(prefix):]
    op = req.get("op")
    m = re.match(r"^(.*/)op-([\w-]+)/?$", rest)
    if m:
        rest, op = m.group(1), m.group(2)
    if rest == "describe/":
        host = req.headers.get("Host", "localhost:5240")
        return 200, dumps(describe("http://" + host)).encode(), "application/json", headers
    for res in RESOURCES:
        match = res.regex.match(rest)
        if match:
            break
    else:
        return 404, b"Not Found", TEXT, headers
    try:
        with conn.cursor() as cur:
            req.user = authenticate(conn, req)
            candidates = [a for a in res.actions if a.method == req.method and a.op == (op or None)]
            if req.user is None:
                candidates = [a for a in candidates if a.anon]
                if not candidates:
                    if res.has_anon() or res.name in ANON_COLLECTIONS:
                        raise ApiError(400, "Unrecognised signature: method=%s op=%s" % (req.method, op))
                    raise ApiError(401, "Forbidden", headers={"WWW-Authenticate": 'OAuth realm="OAuth"'})
            if not candidates:
                raise ApiError(400, "Unrecognised signature: method=%s op=%s" % (req.method, op))
            action = candidates[0]
            if action.admin and not req.user["is_superuser"]:
                raise ApiError(403, "This method is reserved for admin users.")
            result = action.func(ctx, req, cur, **match.groupdict())
        conn.commit()
    except ApiError as e:
        conn.rollback()
        headers.update(e.headers)
        return e.status, e.body.encode(), e.ctype, headers
    if action.status == 204:
        return 204, b"", TEXT, headers
    return 200, dumps(result).encode(), JSON, headers


# --- accounts/authenticate/ (the `authenticate-api` capability) ---------------------

GENERIC_CONSUMER = "MAAS consumer"
HTML = "text/html; charset=utf-8"


def handle_accounts(ctx, conn, req):
    """A username and password exchanged for an API key, as MAAS's views/account.py
    `authenticate` (anonymous, POST only): the user's first key, or the first named
    `consumer`; a new one when there is none. Wrong credentials: 403, empty body."""
    if req.path != "/MAAS/accounts/authenticate/":
        return 404, b"Not Found", TEXT, {}
    if req.method != "POST":
        return 405, b"", HTML, {"Allow": "POST"}
    field = lambda name: req.form[name][-1] if req.form.get(name) else None  # noqa: E731
    consumer = field("consumer")
    with conn.cursor() as cur:
        user = fetch_one(cur, "SELECT * FROM auth_user WHERE username = %s", (field("username") or "",))
        if user is None or not db.check_password(user["password"], field("password") or ""):
            conn.rollback()
            return 403, b"", HTML, {}
        keys = [(name, key) for name, key in db.user_tokens(cur, user["id"]) if consumer in (None, name)]
        if keys:
            name, key = keys[0]
        else:
            name = GENERIC_CONSUMER if consumer is None else consumer
            key = db.create_token(cur, user["id"], name)
    conn.commit()
    consumer_key, token_key, token_secret = key.split(":")
    body = {"consumer_key": consumer_key, "name": name, "token_key": token_key, "token_secret": token_secret}
    return 200, json.dumps(body).encode(), "application/json", {}


# --- rack RPC (stand-in for the AMP protocol on ports 5250+) ------------------------

def handle_rpc(ctx, conn, req):
    """The stand-in rack RPC; returns (status, body, ctype, headers)."""
    action = req.path[len("/MAAS/rpc"):].strip("/")
    if action == "" and req.method == "GET":
        with conn.cursor() as cur:
            rows = fetch(cur, "SELECT * FROM maasserver_node WHERE node_type IN (3, 4) AND region_eventloop IS NOT "
                              "NULL AND region_last_seen > now() - make_interval(secs => %s) ORDER BY id",
                         (model.dead_after(),))
            loops = {}
            for row in rows:
                ips = [str(r["ip"]).split("/")[0] for r in fetch(
                    cur, "SELECT s.ip FROM maasserver_staticipaddress s JOIN maasserver_interface i ON "
                         "i.id = s.interface_id WHERE i.node_id = %s ORDER BY s.id", (row["id"],))]
                loops[row["region_eventloop"]] = [[ip, row["region_port"]] for ip in ips]
        conn.commit()
        body = {"eventloops": loops, "this": ctx.eventloop, "system_id": ctx.system_id}
        return 200, dumps(body).encode(), JSON, {}
    try:
        payload = json.loads(req.body or b"{}")
    except ValueError:
        return 400, b"Bad JSON", TEXT, {}
    if action == "authenticate" and req.method == "POST":
        message = payload.get("message", "")
        rack_salt = payload.get("salt", "")
        try:
            proof_ok = hmac.compare_digest(payload.get("digest", ""), rpcauth.digest(ctx.secret, message, rack_salt))
        except (ValueError, TypeError):
            proof_ok = False
        if not proof_ok:
            log.error("Rack controller '%s' (%s) FAILED authentication; dropping connection.",
                      payload.get("hostname", "?"), req.client)
            return 403, dumps({"error": "authentication failed"}).encode(), JSON, {}
        salt = rpcauth.new_message()
        return 200, dumps({"digest": rpcauth.digest(ctx.secret, message, salt), "salt": salt,
                           "eventloop": ctx.eventloop, "system_id": ctx.system_id}).encode(), JSON, {}
    if action in ("register", "heartbeat", "refresh") and req.method == "POST":
        if not rpcauth.verify(ctx.secret, req.method, req.path, req.body or b"",
                              req.headers.get(rpcauth.HEADER)):
            log.error("Rack controller '%s' (%s) FAILED authentication; dropping connection.",
                      payload.get("hostname", "?"), req.client)
            return 403, dumps({"error": "authentication failed"}).encode(), JSON, {}
        try:
            with conn.cursor() as cur:
                if action == "register":
                    node = model.register_controller(cur, payload["hostname"], payload.get("system_id"), 2,
                                                     payload.get("version"), payload.get("interfaces", []),
                                                     record=False)
                    cur.execute("INSERT INTO standin_rack_heartbeat (rack_id, region_id) VALUES (%s, %s) "
                                "ON CONFLICT (rack_id, region_id) DO UPDATE SET last_seen = now()",
                                (node["id"], ctx.node_id))
                    result = {"system_id": node["system_id"], "region": ctx.hostname, "version": ctx.version}
                    log.info("Rack controller '%s' (%s) registered via %s.", node["system_id"],
                             node["hostname"], req.client)
                else:
                    node = fetch_one(cur, "SELECT * FROM maasserver_node WHERE system_id = %s",
                                     (payload.get("system_id"),))
                    if node is None or node["node_type"] not in model.RACK_TYPES:
                        conn.rollback()
                        return 410, dumps({"command": "DisableAndShutoffRackd"}).encode(), JSON, {}
                if action == "refresh":
                    # MAAS: RequestRackRefresh, then the rack posts its commissioning output,
                    # whose processing records the interfaces
                    model.record_interfaces(cur, node["id"], payload.get("interfaces") or [])
                    result = {"ok": True}
                    log.info("Rack controller '%s' (%s) recorded its network interfaces.", node["system_id"],
                             node["hostname"])
                elif action == "heartbeat":
                    cur.execute("INSERT INTO standin_rack_heartbeat (rack_id, region_id) VALUES (%s, %s) "
                                "ON CONFLICT (rack_id, region_id) DO UPDATE SET last_seen = now()",
                                (node["id"], ctx.node_id))
                    result = {"ok": True, "region": ctx.hostname, "region_system_id": ctx.system_id}
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        return 200, dumps(result).encode(), JSON, {}
    return 404, b"Not Found", TEXT, {}
