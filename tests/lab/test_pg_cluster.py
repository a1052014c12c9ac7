"""Scenario: the database is a Patroni cluster of three hosts (pg1, pg2, pg3).

Its etcd answers Patroni alone: a request without credentials from a region is refused, and a
cluster of the previous version (etcd without authentication) gets it in one run, without a
leader change or a PostgreSQL restart.

Under a bounded loop of API writes and reads through the floating address that lb1 and lb2
share: the primary's host is powered off; writes come back, and every write the API
acknowledged (before, during and after) is in the database of the new primary. The old
primary's host comes back as a replica, and a deploy then changes nothing. (A planned
`patronictl switchover`, and a rolling region restart, on the same topology:
test_ha_topology.py.)
"""

from __future__ import annotations

import base64
import json
import time

import pytest

import ha_checks
from labtools import wait_for
from patroni_checks import PATRONICTL, PG, b64, converged_cluster, etcd_auth_on, etcd_call, healthy, leader, members
from test_rolling_restart import ApiKey, RequestStream
from write_loop import OUTAGE_BOUND, WriteLoop, in_background, stored_comments

REGIONS, LBS, RACKS = ["region1", "region2"], ["lb1", "lb2"], ["rack1"]
ENV = {"MAAS_HA_POSTGRES": ",".join(PG), "MAAS_HA_REGIONS": ",".join(REGIONS), "MAAS_HA_HAPROXY": ",".join(LBS),
       "MAAS_HA_RACKS": ",".join(RACKS), "MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACK_FLAVOUR": "deb"}
PREFIX = "/service/maas/"  # Patroni's keys in etcd: /service/<scope>/
SECRETS = ("maas_pg_superuser_password", "maas_pg_replication_password", "maas_patroni_rest_password",
           "maas_db_password", "maas_etcd_root_password", "maas_etcd_patroni_password")


@pytest.fixture(scope="module")
def cluster(lab):
    return converged_cluster(lab, [*PG, *REGIONS, *LBS, *RACKS], ENV, "pg-cluster-converge")


def test_cluster_is_synchronous_with_rewind(lab, cluster):
    listed = members(lab, PG)
    roles = sorted(m["Role"] for m in listed)
    assert roles == ["Leader", "Replica", "Sync Standby"], listed
    config = rest_config(lab, PG[0])
    assert config["synchronous_mode"] is True
    assert config["postgresql"]["use_pg_rewind"] is True
    for region in REGIONS:
        conf = lab.read_yaml(region, "/etc/maas/regiond.conf")
        assert (conf["database_host"], conf["database_port"]) == ("127.0.0.1", 5433), conf
    # the secrets file is the postgres user's alone
    for name in PG:
        assert lab.stat(name, "/etc/patroni/config.yml") == "postgres:postgres 600"


def test_cluster_secrets_in_no_output_or_log(lab, cluster):
    """The deploy's output and the database hosts' journals and PostgreSQL logs hold none of
    the cluster's secrets (they travel in 0600 files and on stdin only)."""
    values = lab.secrets()
    secrets = {name: values[name] for name in SECRETS}
    logs = {name: lab.ssh(name, "journalctl --no-pager -o cat; cat /var/log/postgresql/*.log 2>/dev/null; "
                                "ps -eo args", timeout=120) for name in PG}
    logs["deploy output"] = cluster.output
    leaked = {where: sorted(label for label, value in secrets.items() if value in text)
              for where, text in logs.items()}
    assert not any(leaked.values()), leaked  # names only: a failure never prints a secret
    assert "patroni" in logs[PG[0]].lower()  # the journal was really read


def test_etcd_refuses_anyone_but_patroni(lab, cluster):
    """From a region (no database host), every member's etcd refuses a read and a write under
    Patroni's key prefix without credentials; Patroni's own user reads its prefix and may
    write nowhere else."""
    via, probe = REGIONS[0], b64(PREFIX + "maas-ha-probe")
    for member in PG:
        read = etcd_call(lab, via, member, "/v3/kv/range", {"key": b64(PREFIX + "leader")})
        assert "user name is empty" in str(read.get("error")), (member, read)
        write = etcd_call(lab, via, member, "/v3/kv/put", {"key": probe, "value": b64("x")})
        assert "user name is empty" in str(write.get("error")), (member, write)
    login = ("patroni", lab.secrets()["maas_etcd_patroni_password"])
    own = etcd_call(lab, via, PG[0], "/v3/kv/range", {"key": b64(PREFIX + "leader")}, login)
    assert base64.b64decode(own["kvs"][0]["value"]).decode() == leader(lab), own
    assert "kvs" not in etcd_call(lab, via, PG[0], "/v3/kv/range", {"key": probe}, login)
    outside = etcd_call(lab, via, PG[0], "/v3/kv/put", {"key": b64("/maas-ha-probe"), "value": b64("x")}, login)
    assert "permission denied" in str(outside.get("error")), outside
    assert healthy(lab)


def postmaster_starts(lab) -> dict:
    """When each member's PostgreSQL started (a restart changes it)."""
    return {name: lab.ssh(name, "runuser -u postgres -- psql -AtX -c 'SELECT pg_postmaster_start_time()'").strip()
            for name in PG}


# What Patroni logs when etcd asks it for credentials it lacks or that etcd refuses.
PATRONI_LOGIN_FAILURES = ("authentication is not possible", "authentication failed")


def patroni_login_failures(lab, since: dict) -> dict:
    """Each member's Patroni log lines since `since` (member -> epoch seconds) that show a
    failed login to etcd."""
    found = {}
    for name in PG:
        log = lab.ssh(name, f"journalctl --no-pager -o cat -u patroni --since @{since[name]}")
        found[name] = [line[:200] for line in log.splitlines()
                       if any(failure in line for failure in PATRONI_LOGIN_FAILURES)]
    return {name: lines for name, lines in found.items() if lines}


def clocks(lab) -> dict:
    return {name: lab.ssh(name, "date +%s").strip() for name in PG}


def etcd_auth_off(lab) -> None:
    """Back to the previous version's cluster: etcd without authentication, users or role;
    each Patroni started afresh on a config.yml without etcd credentials or their tag, as that
    version left it. Restarted, not reloaded: a Patroni that once logged in keeps its etcd
    token, and with authentication off and no credentials it can neither use nor renew it
    (Patroni logs "Username or password not set" until it restarts), a state no earlier
    version left. The cluster is paused meanwhile, so PostgreSQL keeps running."""
    lab.ssh(PG[0], f"{PATRONICTL} pause --wait")
    if etcd_auth_on(lab, PG[0], PG[0]):
        root = ("root", lab.secrets()["maas_etcd_root_password"])
        disabled = etcd_call(lab, PG[0], PG[0], "/v3/auth/disable", {}, root)
        assert "error" not in disabled, disabled
        for path, body in (("user", {"name": "patroni"}), ("user", {"name": "root"}), ("role", {"role": "patroni"})):
            gone = etcd_call(lab, PG[0], PG[0], f"/v3/auth/{path}/delete", body)
            assert "error" not in gone, gone
    strip = ("python3 -c 'import yaml; path = \"/etc/patroni/config.yml\"; doc = yaml.safe_load(open(path)); "
             "[doc[\"etcd3\"].pop(key, None) for key in (\"username\", \"password\")]; doc.pop(\"tags\", None); "
             "open(path, \"w\").write(yaml.safe_dump(doc))' && systemctl restart patroni")
    for name in PG:
        lab.ssh(name, strip)
    for name in PG:  # as that version left it: running, its member key without the credentials' tag
        wait_for(lambda: etcd_login_tag(lab, name) is None, 60,
                 f"Patroni on {name} running on its config.yml without etcd credentials")
    lab.ssh(PG[0], f"{PATRONICTL} resume --wait")


def etcd_login_tag(lab, name: str):
    """The tag of a config.yml with etcd credentials, as `name`'s member key in etcd shows it
    (Patroni rewrites the key after a whole reload, credentials included); None when it runs
    on a file without them. Read without credentials: etcd's authentication is off."""
    answer = etcd_call(lab, name, name, "/v3/kv/range", {"key": b64(f"{PREFIX}members/{name}")})
    member = json.loads(base64.b64decode(answer["kvs"][0]["value"])) if answer.get("kvs") else {}
    return (member.get("tags") or {}).get("maas_ha_etcd_user")


def test_existing_cluster_gets_etcd_auth_without_failover(lab, cluster):
    """A cluster of the previous version (etcd open to anyone) gets etcd's authentication in
    one run: Patroni's credentials and a reload, etcd's users, then authentication on; the
    leader stays, no timeline changes (no failover), no PostgreSQL restarts."""
    etcd_auth_off(lab)
    wait_for(lambda: healthy(lab), 60, "the cluster healthy without etcd authentication")
    assert not etcd_auth_on(lab, REGIONS[0], PG[0])
    before = {m["Member"]: (m["Role"], m["TL"]) for m in members(lab, PG)}
    starts, since = postmaster_starts(lab), clocks(lab)

    result = lab.deploy(ENV, label="pg-cluster-etcd-auth-on")
    assert result.returncode == 0, result.tail()
    assert all(etcd_auth_on(lab, REGIONS[0], name) for name in PG)
    wait_for(lambda: healthy(lab), 60, "the cluster healthy with etcd authentication")
    after = {m["Member"]: (m["Role"], m["TL"]) for m in members(lab, PG)}
    leaders = [[name for name, (role, _) in state.items() if role == "Leader"] for state in (before, after)]
    assert leaders[0] == leaders[1], (before, after)
    assert {tl for _, tl in after.values()} == {tl for _, tl in before.values()}, (before, after)
    assert postmaster_starts(lab) == starts
    # every Patroni had its credentials before etcd asked for them
    assert patroni_login_failures(lab, since) == {}
    values = lab.secrets()
    leaked = sorted(name for name in SECRETS if values[name] in result.output)
    assert not leaked, leaked


def test_etcd_password_change(lab, cluster):
    """A new maas_etcd_patroni_password reaches etcd's user and every Patroni in one run,
    without a leader change; the old password no longer logs in."""
    old_password = lab.secrets()["maas_etcd_patroni_password"]
    new_password = old_password + "-changed"
    old_leader, since = leader(lab), clocks(lab)
    result = lab.deploy(ENV, args=["--data", f"maas_etcd_patroni_password={new_password}"],
                        label="pg-cluster-etcd-password")
    assert result.returncode == 0, result.tail()
    wait_for(lambda: healthy(lab), 60, "the cluster healthy with the new password")
    assert leader(lab) == old_leader
    read = {"key": b64(PREFIX + "leader")}
    assert "kvs" in etcd_call(lab, PG[1], PG[1], "/v3/kv/range", read, ("patroni", new_password))
    assert etcd_call(lab, PG[1], PG[1], "/v3/kv/range", read, ("patroni", old_password)) == \
        {"error": "login refused"}
    assert patroni_login_failures(lab, since) == {}


def rest_config(lab, name: str) -> dict:
    """The cluster's dynamic configuration, as Patroni on `name` answers `GET /config`."""
    return json.loads(lab.ssh(name, "python3 -c 'import urllib.request; "
                                    "print(urllib.request.urlopen(\"http://127.0.0.1:8008/config\").read().decode())'"))


def live_max_connections(lab) -> set:
    return {ha_checks.max_connections(lab, name) for name in PG}


def test_settings_go_through_patroni(lab, cluster):
    """max_connections is sized with room to spare (no restart for routine changes) and never
    lowered; a raise goes through Patroni's dynamic configuration, which restarts the members
    one at a time, after a backup on the primary."""
    primary = leader(lab)
    dumps = "ls /var/backups/maas-ha | grep -c '^maasdb-.*\\.dump$' || true"
    before = int(lab.ssh(primary, dumps).strip() or 0)
    first = live_max_connections(lab)
    assert len(first) == 1, first
    first = first.pop()
    assert rest_config(lab, primary)["postgresql"]["parameters"]["max_connections"] == first

    raised = first + 100
    grown = lab.deploy(ENV, args=["--data", f"maas_pg_max_connections={raised}"],
                       label="pg-cluster-more-connections")
    assert grown.returncode == 0, grown.tail()
    wait_for(lambda: healthy(lab), 60, "the cluster back after its restarts")
    assert rest_config(lab, primary)["postgresql"]["parameters"]["max_connections"] == raised
    assert live_max_connections(lab) == {raised}
    assert int(lab.ssh(primary, dumps).strip() or 0) > before, "no backup taken on the primary first"
    # pg_hba as Patroni wrote it from the dynamic configuration: each region alone
    ha_checks.assert_pg_hba(lab, leader(lab), REGIONS)

    again = lab.deploy(ENV, args=["--data", f"maas_pg_max_connections={raised}"],
                       label="pg-cluster-more-connections-again")
    assert again.returncode == 0, again.tail()
    assert again.changed_hosts == {}, again.changed_ops

    # without the setting the sized value is below the live one: never lowered, no restart
    kept = lab.deploy(ENV, label="pg-cluster-fewer-connections")
    assert kept.returncode == 0, kept.tail()
    assert kept.changed_hosts == {}, kept.changed_ops
    assert live_max_connections(lab) == {raised}


def test_writes_survive_losing_the_primary(lab, cluster):
    old = leader(lab)
    others = [name for name in PG if name != old]
    loop = WriteLoop(lab, f"http://{lab.api_vip}/MAAS/", REGIONS[0], "pgfail")
    reads = RequestStream(lab, ApiKey(lab.api_key(REGIONS[0])), max_seconds=300, address=lab.api_vip)
    with reads:
        for _ in range(20):  # before
            loop.write()
        assert len(loop.acknowledged) == 20, loop.failures
        stopped = time.monotonic()
        stopping = in_background(lambda: lab.ctl("stop", old))  # writes go on while it powers off
        loop.run(until=lambda: not stopping.is_alive() and leader(lab, others) not in (None, old), after=20)
        stopping.join()
    outage = loop.outage_after(stopped)
    new = leader(lab, others)
    print(f"\nPostgreSQL primary {old} powered off: {len(loop.failures)} of {loop.sent} writes failed "
          f"{loop.failure_kinds()}; longest time without an acknowledged write {outage:.1f} s; new primary {new}; "
          f"{len(reads.failures)} of {reads.sent} reads failed")
    assert "400" not in loop.failure_kinds(), "writes refused: the loop's addresses were not free"
    assert outage <= OUTAGE_BOUND, f"writes back only after {outage:.1f} s"
    missing = set(loop.acknowledged) - stored_comments(lab, new, "pgfail")
    assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"
    assert len(reads.failures) < reads.sent, "no read answered on the floating address"
    assert lab.anonymous_get(f"http://{lab.api_vip}/MAAS/api/2.0/version/")  # reads are back too

    lab.ctl("start", old)
    wait_for(lambda: healthy(lab), 120, f"{old} back in the cluster")
    back = {m["Member"]: m for m in members(lab, PG)}[old]
    assert back["Role"] in ("Replica", "Sync Standby"), back
    assert set(loop.acknowledged) <= stored_comments(lab, leader(lab), "pgfail")
    loop.remove()
    again = lab.deploy(ENV, label="pg-cluster-after-failover")
    assert again.returncode == 0, again.tail()
    assert again.changed_hosts == {}, again.changed_ops

