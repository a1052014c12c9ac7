"""Lab test equipment tests: region/rack behaviour of the MAAS stand-in against real PostgreSQL."""
import json
import os
import stat
import time

from conftest import (DB_PASSWORD, admin_key, api_json, configure_region, http_ok, http_status,
                      start_region, wait_for)


PAUSE_LINE = "Database error during start-up; pausing for 3 seconds."


def test_regiond_keeps_retrying_an_unreachable_database(lab, database):
    """As MAAS's start_up(): regiond never exits on a database error; it logs why, pauses
    3 s and retries (the unit stays active), and stops cleanly when told to."""
    region = lab("region1", "10.77.0.11")
    configure_region(region, database)
    region.maas_region("local_config_set", "--database-pass", "wrong")
    proc = region.start("maas_standin.regiond", "regiond.out")
    wait_for(lambda: region.log("regiond.out").count(PAUSE_LINE) >= 2 or proc.poll() is not None,
             timeout=20, what="two start-up attempts")
    assert proc.poll() is None, region.log("regiond.out")
    assert "password authentication failed" in region.log("regiond.out")
    proc.terminate()
    assert proc.wait(timeout=10) == 0


def test_regiond_comes_up_once_the_schema_is_there(lab, database):
    region = lab("region1", "10.77.0.11")
    configure_region(region, database)
    proc = region.start("maas_standin.regiond", "regiond.out")
    wait_for(lambda: PAUSE_LINE in region.log("regiond.out") or proc.poll() is not None, what="a pause")
    assert proc.poll() is None and "has no MAAS schema" in region.log("regiond.out")
    region.maas_region("dbupgrade")
    wait_for(lambda: http_ok(region.url + "/api/2.0/version/"), timeout=20, what="the API after dbupgrade")
    assert proc.poll() is None


def test_api_needs_the_units_beside_regiond_on_its_database_settings(lab, database):
    """3.5+ deb: maas-apiserver, maas-temporal and maas-temporal-worker read the database
    settings at start; regiond's API answers only while each runs with regiond's settings."""
    units = "maas-apiserver,maas-temporal,maas-temporal-worker"
    region = lab("region1", "10.77.0.11", MAAS_STANDIN_REGION_UNITS=units)
    configure_region(region, database)
    region.maas_region("dbupgrade")
    side = {unit: region.start_unit(unit) for unit in units.split(",")}
    wait_for(lambda: all(os.path.exists(region.path("/var/lib/maas/region-units/%s.json" % unit))
                         for unit in side), what="the units' state")
    regiond = region.start("maas_standin.regiond", "regiond.out")
    version = region.url + "/api/2.0/version/"
    wait_for(lambda: http_ok(version) or regiond.poll() is not None, what="regiond")
    assert http_ok(version)

    side["maas-temporal"].terminate()
    side["maas-temporal"].wait(timeout=10)
    assert http_status(version) == (503, "MAAS API unavailable: maas-temporal not running")
    side["maas-temporal"] = region.start_unit("maas-temporal")
    wait_for(lambda: http_ok(version), what="the API with maas-temporal back")

    # regiond restarted alone after a database settings change: the API server still has the old ones
    region.maas_region("local_config_set", "--database-host", "localhost")
    regiond.terminate()
    regiond.wait(timeout=10)
    regiond = region.start("maas_standin.regiond", "regiond2.out")
    wait_for(lambda: "serving http" in region.log("regiond2.out"), what="regiond restarted")
    status, body = http_status(version)
    assert status == 503 and "maas-apiserver runs with other database settings" in body, body
    for unit in side:
        side[unit].terminate()
        side[unit].wait(timeout=10)
        side[unit] = region.start_unit(unit)
    wait_for(lambda: http_ok(version), what="the API with every unit restarted")


def test_region_writes_secret_and_maas_id(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    secret = open(region.path("/var/lib/maas/secret")).read()
    assert len(secret) == 32 and secret == secret.lower() and int(secret, 16) >= 0
    assert stat.S_IMODE(os.stat(region.path("/var/lib/maas/secret")).st_mode) == 0o640
    maas_id = open(region.path("/var/lib/maas/maas_id")).read()
    assert len(maas_id) == 6 and set(maas_id) <= set("34678abcdefghkmnpqrstwxy")
    # dbupgrade is idempotent
    assert "No migrations to apply." in region.maas_region("dbupgrade").stdout


def test_login_and_profile_commands(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    key = admin_key(region)
    out = region.maas("login", "admin", region.url, key).stdout
    assert out == ("\nYou are now logged in to the MAAS server at\n%s/api/2.0/ with the profile name "
                   "'admin'.\n\nFor help with the available commands, try:\n\n  maas admin --help\n\n" % region.url)
    assert stat.S_IMODE(os.stat(os.path.join(region.home, ".maascli.db")).st_mode) == 0o600
    assert region.maas("list").stdout.split() == ["admin", region.url + "/api/2.0/", key]
    regions = api_json(region, "region-controllers", "read")
    assert [r["hostname"] for r in regions] == ["region1"]
    assert regions[0]["node_type"] == 3 and "service_set" not in regions[0]
    assert api_json(region, "version", "read")["version"] == "3.5.13"
    fabrics = api_json(region, "fabrics", "read")
    assert fabrics[0]["name"] == "fabric-0" and fabrics[0]["vlans"][0]["name"] == "untagged"
    bad = region.maas("login", "bad", region.url, "a:b:c", check=False)
    assert bad.returncode == 1 and bad.stderr == "The MAAS server rejected your API key.\n"
    malformed = region.maas("login", "bad", region.url, "nocolons", check=False)
    assert malformed.returncode == 2


def register_rack(lab, name, address, regions, secret, start=True):
    rack = lab(name, address)
    args = ["register"]
    for region in regions:
        args += ["--url", region.url]
    args += ["--secret", secret]
    result = rack.maas_rack(*args)
    assert result.stdout == "" and result.returncode == 0
    if start:
        rack.start("maas_standin.rackd", "rackd.out")
    return rack


def test_rack_register_wrong_secret_is_refused(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    rack = register_rack(lab, "rack1", "10.77.0.101", [region], "0" * 32, start=False)
    conf = open(rack.path("/etc/maas/rackd.conf")).read()
    assert conf == "maas_url:\n- %s\n" % region.url
    result = rack.run("maas_standin.rackd", "--once", check=False)
    assert result.returncode == 1
    assert "FAILED authentication; dropping connection." in result.stdout
    assert not os.path.exists(rack.path("/var/lib/maas/maas_id"))
    assert "FAILED authentication" in region.log("regiond.out")


def test_rack_unreachable_region_logged(lab):
    rack = lab("rack1", "10.77.0.101")
    rack.maas_rack("register", "--url", "http://127.0.0.1:9/MAAS", "--secret", "ab" * 16)
    result = rack.run("maas_standin.rackd", "--once", check=False)
    assert "Region not available: " in result.stdout
    assert "(While requesting RPC info at http://127.0.0.1:9/MAAS/rpc/)." in result.stdout


def test_two_regions_one_database_see_the_rack(lab, database):
    region1 = lab("region1", "10.77.0.11")
    region2 = lab("region2", "10.77.0.12")
    start_region(region1, database)
    start_region(region2, database)
    secret1 = open(region1.path("/var/lib/maas/secret")).read()
    assert open(region2.path("/var/lib/maas/secret")).read() == secret1
    rack = register_rack(lab, "rack1", "10.77.0.101", [region1, region2], secret1)
    wait_for(lambda: os.path.exists(rack.path("/var/lib/maas/maas_id")), what="maas_id")
    sysid = open(rack.path("/var/lib/maas/maas_id")).read()
    assert "Rack controller '%s' registered (via region" % sysid in rack.log("rackd.out")
    key = admin_key(region1)
    region1.maas("login", "admin", region1.url, key)
    wait_for(lambda: api_json(region1, "rack-controllers", "read")[0]["interface_set"], what="network refresh")
    for region in (region1, region2):
        region.maas("login", "admin", region.url, key)
        racks = api_json(region, "rack-controllers", "read")
        assert [r["system_id"] for r in racks] == [sysid]
        assert racks[0]["interface_set"][0]["vlan"]["vid"] == 0
        assert racks[0]["ip_addresses"] == ["10.77.0.101"]
    rackd = lambda: [s for s in api_json(region1, "rack-controller", "read", sysid)["service_set"]  # noqa: E731
                     if s["name"] == "rackd"][0]["status"]
    wait_for(lambda: rackd() == "running", what="rackd running")
    assert "Fully connected to all 2 event-loops on all 2 region controllers" in rack.log("rackd.out")
    # filters
    assert api_json(region2, "rack-controllers", "read", "hostname=rack1")[0]["system_id"] == sysid
    assert api_json(region2, "rack-controllers", "read", "hostname=nope") == []
    # delete: the rack learns it on its next heartbeat and drops its secret
    assert region2.maas("admin", "rack-controller", "delete", sysid).stdout == ""
    wait_for(lambda: not os.path.exists(rack.path("/var/lib/maas/secret")), what="secret removal")
    assert "DisableAndShutoffRackd" in rack.log("rackd.out")
    assert api_json(region1, "rack-controllers", "read") == []
    # a dead rack goes dead after missed beats
    rack2 = register_rack(lab, "rack2", "10.77.0.102", [region1], secret1)
    wait_for(lambda: os.path.exists(rack2.path("/var/lib/maas/maas_id")), what="rack2 maas_id")
    sysid2 = open(rack2.path("/var/lib/maas/maas_id")).read()
    status = lambda: [s for s in api_json(region1, "rack-controller", "read", sysid2)["service_set"]  # noqa: E731
                      if s["name"] == "rackd"][0]
    wait_for(lambda: status()["status"] == "degraded", what="rack2 degraded (one of two regions)")
    rack2.stop()
    wait_for(lambda: status()["status"] == "dead", timeout=15, what="rack2 dead")


def test_a_rack_with_an_fqdn_hostname_is_stored_short(lab, database):
    """MAAS drops the domain of the hostname a rack registers with; ?hostname= is exact."""
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    rack = register_rack(lab, "rack1.maas-lab.test", "10.77.0.101", [region],
                         open(region.path("/var/lib/maas/secret")).read())
    wait_for(lambda: os.path.exists(rack.path("/var/lib/maas/maas_id")), what="maas_id")
    region.maas("login", "admin", region.url, admin_key(region))
    assert [r["hostname"] for r in api_json(region, "rack-controllers", "read")] == ["rack1"]
    assert len(api_json(region, "rack-controllers", "read", "hostname=rack1")) == 1
    assert api_json(region, "rack-controllers", "read", "hostname=rack1.maas-lab.test") == []


def test_vlan_rules_and_rack_delete(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    secret = open(region.path("/var/lib/maas/secret")).read()
    racks = [register_rack(lab, "rack%d" % i, "10.77.0.%d" % (100 + i), [region], secret) for i in (1, 2, 3)]
    for rack in racks:
        wait_for(lambda: os.path.exists(rack.path("/var/lib/maas/maas_id")), what="maas_id")
    ids = [open(r.path("/var/lib/maas/maas_id")).read() for r in racks]
    key = admin_key(region)
    region.maas("login", "admin", region.url, key)
    wait_for(lambda: all(r["interface_set"] for r in api_json(region, "rack-controllers", "read")),
             what="the racks' network refresh")
    vlan = api_json(region, "vlan", "read", "0", "0")
    assert vlan["primary_rack"] is None and vlan["fabric"] == "fabric-0"

    def update(*args):
        return region.maas("admin", "vlan", "update", "0", "0", *args, check=False)

    r = update("primary_rack=nosuch")
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"primary_rack": ["Select a valid choice. nosuch is not one of the available "
                                                     "choices."]}
    r = update("primary_rack=%s" % ids[0], "secondary_rack=%s" % ids[0])
    assert json.loads(r.stdout) == {"__all__": ["The primary and secondary rack must be different"]}
    r = update("dhcp_on=true")
    assert json.loads(r.stdout) == {
        "dhcp_on": ["dhcp can only be turned on when a dynamic IP range is defined."],
        "__all__": ["dhcp can only be turned on when a primary rack controller is set."]}
    r = update("primary_rack=rack1")  # hostname accepted
    assert r.returncode == 0 and json.loads(r.stdout)["primary_rack"] == ids[0]
    r = update("secondary_rack=%s" % ids[0])
    assert json.loads(r.stdout) == {"__all__": ["%s is already set as the primary rack controller" % ids[0]]}
    assert region.maas("admin", "ipranges", "create", "type=dynamic", "start_ip=10.77.0.200",
                       "end_ip=10.77.0.220").returncode == 0
    r = update("secondary_rack=%s" % ids[1], "dhcp_on=true")
    vlan = json.loads(r.stdout)
    assert (vlan["primary_rack"], vlan["secondary_rack"], vlan["dhcp_on"]) == (ids[0], ids[1], True)
    # deleting the primary promotes the secondary, the third rack becomes secondary
    assert region.maas("admin", "rack-controller", "delete", ids[0]).returncode == 0
    vlan = api_json(region, "vlan", "read", "0", "0")
    assert (vlan["primary_rack"], vlan["secondary_rack"]) == (ids[1], ids[2])
    assert region.maas("admin", "rack-controller", "delete", ids[2]).returncode == 0
    vlan = api_json(region, "vlan", "read", "0", "0")
    assert (vlan["primary_rack"], vlan["secondary_rack"]) == (ids[1], None)
    r = region.maas("admin", "rack-controller", "delete", ids[1], check=False)
    assert r.returncode == 2
    assert r.stdout == ("Unable to delete 'rack2'; it is currently set as a primary rack controller on VLANs "
                        "fabric-0.untagged and no other rack controller can provide DHCP.")
    assert region.maas("admin", "rack-controller", "delete", ids[1], "force=true").returncode == 0
    vlan = api_json(region, "vlan", "read", "0", "0")
    assert (vlan["primary_rack"], vlan["dhcp_on"]) == (None, False)


def test_a_rack_is_on_no_vlan_until_its_network_refresh(lab, database):
    """As MAAS: registering does not record a rack's interfaces; its network refresh (beacon
    pause, then the refresh's run) does. Until then the VLAN form does not offer the rack."""
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    rack = register_rack(lab, "rack1", "10.77.0.101", [region], open(region.path("/var/lib/maas/secret")).read(),
                         start=False)
    rack.env.update(MAAS_STANDIN_BEACON_PAUSE="1", MAAS_STANDIN_REFRESH_SECONDS="3",
                    MAAS_STANDIN_NETWORKS_INTERVAL="30")
    rack.start("maas_standin.rackd", "rackd.out")
    region.maas("login", "admin", region.url, admin_key(region))
    wait_for(lambda: api_json(region, "rack-controllers", "read"), what="registration")
    registered = time.monotonic()
    [node] = api_json(region, "rack-controllers", "read")
    assert node["interface_set"] == [] and node["ip_addresses"] == []
    refused = region.maas("admin", "vlan", "update", "0", "0", "primary_rack=rack1", check=False)
    assert refused.returncode == 2
    assert json.loads(refused.stdout) == {
        "primary_rack": ["Select a valid choice. rack1 is not one of the available choices."]}
    wait_for(lambda: api_json(region, "rack-controllers", "read")[0]["interface_set"], timeout=15,
             what="the network refresh")
    assert time.monotonic() - registered >= 2  # beacon pause and refresh, not at registration
    [node] = api_json(region, "rack-controllers", "read")
    assert node["ip_addresses"] == ["10.77.0.101"] and node["interface_set"][0]["vlan"]["vid"] == 0
    accepted = region.maas("admin", "vlan", "update", "0", "0", "primary_rack=rack1")
    assert json.loads(accepted.stdout)["primary_rack"] == node["system_id"]
    assert "network configuration recorded by the region" in rack.log("rackd.out")


def test_createadmin_and_apikey_messages(lab, database):
    region = lab("region1", "10.77.0.11")
    configure_region(region, database)
    region.maas_region("dbupgrade")
    region.maas_region("createadmin", "--username", "admin", "--password", "pw", "--email", "a@example.com")
    r = region.maas_region("createadmin", "--username", "other", "--password", "pw", "--email", "a@example.com",
                           check=False)
    assert r.returncode == 1 and r.stderr == "AlreadyExistingUser: A user with the email a@example.com already exists.\n"
    r = region.maas_region("apikey", "--username", "nobody", check=False)
    assert r.returncode == 1 and r.stderr == "CommandError: User does not exist.\n"
    key = region.maas_region("apikey", "--username", "admin").stdout.strip()
    ck, tk, ts = key.split(":")
    assert (len(ck), len(tk), len(ts)) == (18, 18, 32)
    new = region.maas_region("apikey", "--username", "admin", "--generate").stdout.strip()
    assert region.maas_region("apikey", "--username", "admin").stdout.split() == [key, new]
    region.maas_region("apikey", "--username", "admin", "--delete", new)
    assert region.maas_region("apikey", "--username", "admin").stdout.split() == [key]
