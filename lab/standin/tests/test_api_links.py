"""Lab test equipment tests: the stand-in serves what it points to and what it advertises.

Operators' own tools follow the `resource_uri` of the objects the API returns and read the
capabilities of `version/`; neither may lead to a 404.
"""
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from conftest import admin_key, api_json, start_region, wait_for
from test_region_rack import register_rack

API = "/MAAS/api/2.0/"


def request(host, path, key=None, method="GET", form=None):
    """(status, body text, headers) of one request; signed (PLAINTEXT) when `key` is given."""
    headers = {}
    if key:
        ck, tk, ts = key.split(":")
        stamp = int(time.time())
        headers["Authorization"] = (
            'OAuth oauth_nonce="%d%d", oauth_timestamp="%d", oauth_version="1.0", '
            'oauth_signature_method="PLAINTEXT", oauth_consumer_key="%s", oauth_token="%s", '
            'oauth_signature="%%26%s"' % (int.from_bytes(os.urandom(8), "big"), stamp, stamp, ck, tk, ts))
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = "http://127.0.0.1:%d%s" % (host.port, path)
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def resource_uris(value):
    """Every `resource_uri` anywhere in a decoded JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "resource_uri":
                yield item
            else:
                yield from resource_uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from resource_uris(item)


def populated_region(lab, database):
    """A region with a registered rack (interfaces, a subnet), an IP range and a second user."""
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    key = admin_key(region)
    secret = open(region.path("/var/lib/maas/secret")).read()
    rack = register_rack(lab, "rack1", "10.77.0.101", [region], secret)
    wait_for(lambda: os.path.exists(rack.path("/var/lib/maas/maas_id")), what="rack maas_id")
    region.maas("login", "admin", region.url, key)
    api_json(region, "ipranges", "create", "type=reserved", "start_ip=10.77.0.200", "end_ip=10.77.0.210")
    admin_key(region, "operator")
    return region, key


def test_every_resource_uri_answers(lab, database):
    region, key = populated_region(lab, database)
    status, body, _ = request(region, API + "describe/")
    assert status == 200
    collections = [handler["path"] for handler in json.loads(body)["handlers"] if not handler["params"]
                   and any(a["method"] == "GET" and a["op"] is None for a in handler["actions"])]
    assert API + "rackcontrollers/" in collections
    to_visit = collections + [API + "users/?op=whoami"]
    visited, failures, kinds = set(), [], set()
    while to_visit:
        path = to_visit.pop(0)
        if path in visited:
            continue
        visited.add(path)
        status, body, _ = request(region, path, key)
        if status != 200:
            failures.append("%s -> %d %s" % (path, status, body[:80]))
            continue
        document = json.loads(body)
        if isinstance(document, dict) and "resource_uri" in document and "?" not in path:
            if document["resource_uri"] != path:
                failures.append("%s -> an object whose resource_uri is %s" % (path, document["resource_uri"]))
        for uri in resource_uris(document):
            kinds.add(uri.split("/")[4])
            to_visit.append(uri)
    assert failures == []
    # the crawl reached every kind of object the stand-in returns
    assert {"users", "zones", "domains", "nodes", "rackcontrollers", "regioncontrollers", "vlans", "subnets",
            "fabrics", "ipranges"} <= kinds


def test_resource_uris_of_missing_objects_answer_404(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    key = admin_key(region)
    for path, what in (("users/nobody/", "User"), ("zones/nozone/", "Zone"), ("domains/99/", "Domain"),
                       ("nodes/abcdef/interfaces/1/", "Node")):
        assert request(region, API + path, key)[:2] == (404, "No %s matches the given query." % what)
    assert request(region, API + "zones/default/")[0] == 401  # like every non-anonymous handler


# What MAAS serves for each capability its version/ announces; a capability the stand-in
# announces must be listed here, with requests that work.
def networks_management(region, key, password):
    for path in ("fabrics/", "fabrics/0/vlans/", "fabrics/0/vlans/0/", "subnets/", "ipranges/"):
        status, body, _ = request(region, API + path, key)
        assert status == 200, (path, body)


def authenticate_api(region, key, password):
    status, body, headers = request(region, "/MAAS/accounts/authenticate/", method="POST",
                                    form={"username": "admin", "password": password})
    assert status == 200 and headers["Content-Type"] == "application/json", body
    token = json.loads(body)
    assert "%(consumer_key)s:%(token_key)s:%(token_secret)s" % token == key
    status, body, _ = request(region, API + "users/?op=whoami", key)
    assert status == 200 and json.loads(body)["username"] == "admin"


SERVED_BY = {"networks-management": networks_management, "authenticate-api": authenticate_api}


def test_every_advertised_capability_is_served(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    key = admin_key(region)  # conftest's admin has the password "pw"
    status, body, _ = request(region, API + "version/")
    assert status == 200
    capabilities = json.loads(body)["capabilities"]
    assert capabilities
    for capability in capabilities:
        assert capability in SERVED_BY, "advertised but not served: %s" % capability
        SERVED_BY[capability](region, key, "pw")


def test_authenticate_exchanges_a_password_for_an_api_key(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    first = admin_key(region)
    url = "/MAAS/accounts/authenticate/"
    login = {"username": "admin", "password": "pw"}
    assert request(region, url, method="POST", form={"username": "admin", "password": "wrong"})[0] == 403
    assert request(region, url, method="POST", form={"username": "nobody", "password": "pw"})[0] == 403
    status, _, headers = request(region, url)
    assert status == 405 and headers["Allow"] == "POST"
    # without a consumer name: the user's first key
    status, body, _ = request(region, url, method="POST", form=login)
    assert status == 200
    assert "%(consumer_key)s:%(token_key)s:%(token_secret)s" % json.loads(body) == first
    # with a consumer name: a key of that name, made on first use and returned after
    status, body, _ = request(region, url, method="POST", form=dict(login, consumer="my-tool"))
    named = json.loads(body)
    assert status == 200 and named["name"] == "my-tool"
    key = "%(consumer_key)s:%(token_key)s:%(token_secret)s" % named
    assert key != first
    assert json.loads(request(region, url, method="POST", form=dict(login, consumer="my-tool"))[1]) == named
    assert key in region.maas_region("apikey", "--username", "admin").stdout.split()
    status, body, _ = request(region, API + "users/?op=whoami", key)
    assert status == 200 and json.loads(body)["username"] == "admin"
