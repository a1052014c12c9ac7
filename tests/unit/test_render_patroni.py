"""The cluster's files and dynamic configuration, as data."""

import subprocess

import yaml

from real_tools import require_program

from operations._render_patroni import (
    db_route_config,
    dynamic_config,
    dynamic_config_differences,
    etcd_environment,
    patroni_config,
    patroni_key_prefix,
    pg_hba_lines,
)

MEMBERS = {"pg1": "10.0.0.5", "pg2": "10.0.0.6", "pg3": "10.0.0.7"}
REGIONS = {"r1": "10.0.0.11", "r2": "fd00::12"}


def test_etcd_member_of_a_static_cluster():
    env = dict(line.split("=", 1) for line in etcd_environment("pg2", "10.0.0.6", MEMBERS, "maas-ha-maas")
               .splitlines() if "=" in line and not line.startswith("#"))
    assert env["ETCD_NAME"] == "pg2"
    assert env["ETCD_INITIAL_CLUSTER"] == ("pg1=http://10.0.0.5:2380,pg2=http://10.0.0.6:2380,"
                                           "pg3=http://10.0.0.7:2380")
    assert env["ETCD_LISTEN_CLIENT_URLS"] == "http://10.0.0.6:2379,http://127.0.0.1:2379"
    # not the directory of the single-node etcd the package starts on install
    assert env["ETCD_DATA_DIR"] == "/var/lib/etcd/maas-ha-maas"


def test_pg_hba_members_and_each_region_alone():
    lines = pg_hba_lines(MEMBERS, REGIONS, "maasdb", "maas")
    assert "host replication replicator 10.0.0.6/32 scram-sha-256" in lines
    assert "host all postgres 10.0.0.7/32 scram-sha-256" in lines
    assert "host maasdb maas 10.0.0.11/32 scram-sha-256" in lines
    assert "host maasdb maas fd00::12/128 scram-sha-256" in lines
    assert not [line for line in lines if "trust" in line or "0.0.0.0" in line]


def test_dynamic_config_is_synchronous_with_rewind():
    wanted = dynamic_config(300, ["local all all peer"])
    assert wanted["synchronous_mode"] is True
    assert wanted["postgresql"]["use_pg_rewind"] is True
    assert wanted["postgresql"]["parameters"]["max_connections"] == 300
    assert wanted["loop_wait"] + 2 * wanted["retry_timeout"] <= wanted["ttl"]


def test_differences_only_in_managed_keys():
    wanted = dynamic_config(300, ["local all all peer"])
    current = yaml.safe_load(yaml.safe_dump(wanted))
    current["postgresql"]["parameters"]["max_connections"] = "300"  # as Patroni may hand it back
    current["postgresql"]["parameters"]["work_mem"] = "64MB"  # someone else's: left alone
    current["master_start_timeout"] = 300
    assert dynamic_config_differences(wanted, current) == []
    current["postgresql"]["parameters"]["max_connections"] = 100
    current["postgresql"]["pg_hba"] = ["local all all trust"]
    current["synchronous_mode"] = False
    assert dynamic_config_differences(wanted, current) == [
        "synchronous_mode", "postgresql.parameters.max_connections", "postgresql.pg_hba"]
    assert "ttl" in dynamic_config_differences(wanted, {})


def _config(bootstrap):
    return yaml.safe_load(patroni_config(
        scope="maas", name="pg1", address="10.0.0.5", etcd_hosts=["10.0.0.5:2379"], port=5432,
        listen_addresses="*", version="15", superuser_password="su", replication_password="re",
        rest_password="rest", etcd_password="etcd-pw", bootstrap_dcs=bootstrap))


def test_patroni_config_keeps_the_distribution_layout():
    doc = _config(None)
    assert doc["postgresql"]["data_dir"] == "/var/lib/postgresql/15/main"
    assert doc["postgresql"]["config_dir"] == "/etc/postgresql/15/main"
    assert doc["postgresql"]["bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert doc["postgresql"]["authentication"]["replication"] == {"username": "replicator", "password": "re"}
    assert doc["restapi"]["authentication"]["password"] == "rest"
    # Patroni logs in to etcd as its own user (etcd's authentication is on)
    assert doc["etcd3"] == {"hosts": ["10.0.0.5:2379"], "username": "patroni", "password": "etcd-pw"}
    assert doc["tags"] == {"maas_ha_etcd_user": "patroni"}  # what etcd_credentials_read waits for
    assert "namespace" not in doc  # Patroni's default: its keys under /service/maas/
    # the facts and the deploy ask Patroni on 127.0.0.1, the regions on its address
    assert doc["restapi"]["listen"] == "0.0.0.0:8008"
    assert doc["restapi"]["connect_address"] == "10.0.0.5:8008"
    assert doc["postgresql"]["basebackup"] == {"checkpoint": "fast"}
    assert "bootstrap" not in doc  # a joining member never creates a cluster of its own


def test_patroni_key_prefix():
    assert patroni_key_prefix("maas") == "/service/maas/"


def test_only_the_bootstrap_host_may_create_the_cluster():
    wanted = dynamic_config(200, [])
    assert _config(wanted)["bootstrap"] == {"dcs": wanted}


def test_db_route_follows_the_primary():
    text = db_route_config(MEMBERS, 5432, 5433)
    assert "bind 127.0.0.1:5433" in text
    assert "option httpchk OPTIONS /primary" in text
    assert "on-marked-down shutdown-sessions" in text
    for name, address in MEMBERS.items():
        assert f"server {name} {address}:5432 check port 8008" in text


def test_real_haproxy_accepts_the_route(tmp_path):
    config = tmp_path / "db-route.cfg"
    config.write_text(db_route_config({**MEMBERS, "pg6": "fd00::16"}, 5432, 5433))
    result = subprocess.run([require_program("haproxy"), "-c", "-f", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
