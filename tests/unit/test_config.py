"""Inventory validation: every refusal names the host and the setting."""

import pytest

import config
from config import SettingError, validate_inventory


def refusal(inventory) -> str:
    with pytest.raises(SettingError) as error:
        validate_inventory(inventory)
    return str(error.value)


def test_a_complete_inventory_is_accepted(inventory_factory):
    validate_inventory(inventory_factory())


def test_unknown_flavour_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"k1": {"maas_flavour": "rpm"}})
    assert refusal(inv) == "host k1: setting `maas_flavour`: must be `deb` or `snap`, got 'rpm'"


def test_missing_region_group_is_refused(inventory_factory):
    assert "group maas_region" in refusal(inventory_factory(regions=()))


CLUSTER_SECRETS = {"maas_pg_superuser_password": "su-secret", "maas_pg_replication_password": "repl-secret",
                   "maas_patroni_rest_password": "rest-secret", "maas_etcd_root_password": "etcd-root-secret",
                   "maas_etcd_patroni_password": "etcd-patroni-secret"}


def test_two_postgres_hosts_are_refused(inventory_factory):
    message = refusal(inventory_factory(pg=("pg1", "pg2")))
    assert message.startswith("inventory: setting `group maas_postgres`: must hold one host")
    assert "odd number of at least three" in message and "['pg1', 'pg2']" in message


def test_four_postgres_hosts_are_refused(inventory_factory):
    assert "got 4" in refusal(inventory_factory(pg=("pg1", "pg2", "pg3", "pg4")))


def test_three_postgres_hosts_make_a_cluster(inventory_factory):
    inv = inventory_factory(pg=("pg1", "pg2", "pg3"),
                            group_data={"maas_postgres": CLUSTER_SECRETS})
    validate_inventory(inv)
    assert config.is_cluster(inv)
    assert not config.is_cluster(inventory_factory())


def test_a_cluster_needs_its_secrets(inventory_factory):
    partial = {k: v for k, v in CLUSTER_SECRETS.items() if k != "maas_pg_replication_password"}
    inv = inventory_factory(pg=("pg1", "pg2", "pg3"), group_data={"maas_postgres": partial})
    assert refusal(inv) == ("host pg1: setting `maas_pg_replication_password`: is required with "
                            "a PostgreSQL cluster (a non-empty string)")


def test_cluster_members_share_their_settings(inventory_factory):
    inv = inventory_factory(pg=("pg1", "pg2", "pg3"), group_data={"maas_postgres": CLUSTER_SECRETS},
                            host_data={"pg3": {"maas_pg_cluster_name": "other"}})
    assert refusal(inv).startswith("host pg3: setting `maas_pg_cluster_name`: differs from pg1's")


def test_cluster_name_is_an_allow_list(inventory_factory):
    inv = inventory_factory(pg=("pg1", "pg2", "pg3"),
                            group_data={"maas_postgres": {**CLUSTER_SECRETS, "maas_pg_cluster_name": "a b"}})
    assert "setting `maas_pg_cluster_name`: must be a cluster name" in refusal(inv)


def test_bad_address_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"r2": {"ssh_hostname": "region-two.example"}})
    message = refusal(inv)
    assert message.startswith("host r2: setting `maas_address (or ssh_hostname)`")
    assert "'region-two.example' is not an IP address" in message


def test_num_workers_out_of_range_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"r1": {"maas_num_workers": 9}})
    assert refusal(inv) == "host r1: setting `maas_num_workers`: must be between 1 and 8, got 9"


def test_num_workers_must_be_an_integer(inventory_factory):
    inv = inventory_factory(host_data={"r1": {"maas_num_workers": "4"}})
    assert "must be an integer" in refusal(inv)


def test_missing_db_password_is_refused_on_a_region(inventory_factory):
    inv = inventory_factory(host_data={"r2": {"maas_db_password": ""}})
    assert refusal(inv) == "host r2: setting `maas_db_password`: is required (a non-empty string)"


def test_racks_need_no_db_password(inventory_factory):
    validate_inventory(inventory_factory(host_data={"k1": {"maas_db_password": None,
                                                           "maas_admin_password": None}}))


def test_mixed_versions_in_the_inventory_are_refused(inventory_factory):
    inv = inventory_factory(host_data={"k2": {"maas_version": "3.4"}})
    message = refusal(inv)
    assert message.startswith("host k2: setting `maas_version`: 3.4 differs from 3.5")


def test_duplicate_addresses_are_refused(inventory_factory):
    inv = inventory_factory(host_data={"k2": {"ssh_hostname": "10.99.0.12"}})
    assert "is also used by" in refusal(inv)


def test_dhcp_peers_must_differ(inventory_factory):
    vlans = [{"fabric": "fabric-0", "vid": 0, "primary_rack": "k1", "secondary_rack": "k1"}]
    inv = inventory_factory(group_data={"maas_region": {"maas_dhcp_vlans": vlans}})
    assert refusal(inv) == ("host r1: setting `maas_dhcp_vlans[0].secondary_rack`: "
                            "must be a different rack from primary_rack")


def test_dhcp_rack_must_be_in_the_rack_group(inventory_factory):
    vlans = [{"fabric": "fabric-0", "vid": 0, "primary_rack": "k1", "secondary_rack": "r2"}]
    inv = inventory_factory(group_data={"maas_region": {"maas_dhcp_vlans": vlans}})
    assert "'r2' is not a host of group maas_rack" in refusal(inv)


def test_dhcp_vid_range(inventory_factory):
    vlans = [{"fabric": 0, "vid": 5000, "primary_rack": "k1", "secondary_rack": "k2"}]
    inv = inventory_factory(group_data={"maas_region": {"maas_dhcp_vlans": vlans}})
    assert "`maas_dhcp_vlans[0].vid`: must be 0..4094, got 5000" in refusal(inv)


def test_dhcp_dynamic_range_must_be_ordered(inventory_factory):
    vlans = [{"fabric": 0, "vid": 0, "primary_rack": "k1", "secondary_rack": "k2",
              "dynamic_range": {"start": "10.99.0.220", "end": "10.99.0.200"}}]
    inv = inventory_factory(group_data={"maas_region": {"maas_dhcp_vlans": vlans}})
    assert "start is after end" in refusal(inv)


def test_malformed_dhcp_data_is_refused(inventory_factory):
    inv = inventory_factory(group_data={"maas_region": {"maas_dhcp_vlans": {"fabric": 0}}})
    assert "must be a list" in refusal(inv)


@pytest.mark.parametrize("flavour", ["deb", "snap"])
def test_a_region_that_is_a_rack_too_is_accepted(inventory_factory, flavour):
    """MAAS's region+rack mode, the primary region included, also as a DHCP HA peer."""
    dhcp = [{"fabric": "fabric-0", "vid": 0, "primary_rack": "r1", "secondary_rack": "k1"}]
    inv = inventory_factory(racks=("r1", "k1"), host_data={"r1": {"maas_flavour": flavour}},
                            group_data={"maas_region": {"maas_dhcp_vlans": dhcp}})
    validate_inventory(inv)


def test_maas_url_prefers_the_load_balancer(inventory_factory):
    inv = inventory_factory()
    region = inv.get_host("r1")
    assert config.maas_url(inv, region) == "http://10.99.0.15/MAAS"
    assert config.region_url(region) == "http://10.99.0.11:5240/MAAS"


def test_maas_url_without_load_balancer_is_the_primary(inventory_factory):
    inv = inventory_factory(lbs=())
    assert config.maas_url(inv, inv.get_host("k1")) == "http://10.99.0.11:5240/MAAS"


def test_default_workers_are_capped_at_eight():
    assert config.default_num_workers(2) == 2
    assert config.default_num_workers(64) == 8
    assert config.default_num_workers(None) == 1


def test_bad_haproxy_duration_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"lb1": {"maas_haproxy_check_inter": "soon"}})
    assert refusal(inv) == ("host lb1: setting `maas_haproxy_check_inter`: must be an HAProxy "
                            "duration like 2s or 500ms, got 'soon'")


def test_bad_haproxy_maxconn_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"lb1": {"maas_haproxy_maxconn": 0}})
    assert refusal(inv) == "host lb1: setting `maas_haproxy_maxconn`: must be between 1 and 1000000, got 0"


def test_restart_timeout_must_be_positive(inventory_factory):
    inv = inventory_factory(host_data={"r2": {"maas_region_restart_timeout": 0}})
    assert refusal(inv) == ("host r2: setting `maas_region_restart_timeout`: must be between 1 and 86400, "
                            "got 0")


# --- values that reached hosts before the allow-lists --------------------------------------

def test_snap_channel_that_runs_a_command_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"k1": {"maas_snap_channel": "3.5/stable; touch /owned"}})
    assert refusal(inv).startswith("host k1: setting `maas_snap_channel`: must be a snap channel")


@pytest.mark.parametrize("channel", ["3.5/stable", "3.5/edge", "latest/beta", "stable", "3.5/stable/hotfix-1"])
def test_snap_channels_are_accepted(inventory_factory, channel):
    validate_inventory(inventory_factory(host_data={"k1": {"maas_snap_channel": channel}}))


def test_admin_socket_with_a_second_line_is_refused(inventory_factory):
    sneaky = "/run/haproxy/admin.sock\n    stats socket ipv4@0.0.0.0:9999 level admin"
    inv = inventory_factory(host_data={"lb1": {"maas_haproxy_admin_socket": sneaky}})
    assert refusal(inv).startswith("host lb1: setting `maas_haproxy_admin_socket`: must be an absolute path")


@pytest.mark.parametrize("setting,value", [
    ("maas_version", "3.5\n"), ("maas_flavour", "deb\n"), ("maas_db_name", "maasdb\n"),
    ("maas_haproxy_check_inter", "2s\n"), ("maas_url", "http://10.99.0.15/MAAS\n"),
])
def test_a_trailing_newline_is_refused(inventory_factory, setting, value):
    assert f"setting `{setting}`" in refusal(inventory_factory(host_data={"r1": {setting: value}}))


@pytest.mark.parametrize("url", ["http://10.99.0.15/MAAS;$(id)'\"#", "http://10.99.0.15/MAAS#x",
                                 "http://10.99.0.15;id/MAAS", "http://$(id)/MAAS", "ftp://10.99.0.15/MAAS",
                                 "http://10.99.0.15:99999/MAAS", "http://fd00::15/MAAS",
                                 "http://[fd00::zz]/MAAS", "http://user@10.99.0.15/MAAS"])
def test_unsafe_maas_urls_are_refused(inventory_factory, url):
    assert "setting `maas_url`" in refusal(inventory_factory(host_data={"r1": {"maas_url": url}}))


@pytest.mark.parametrize("url", ["http://10.99.0.15/MAAS", "https://maas.example.com:8443/MAAS/",
                                 "http://[fd00::15]/MAAS", "http://[fd00::15]:5240/MAAS"])
def test_maas_urls_are_accepted(inventory_factory, url):
    validate_inventory(inventory_factory(host_data={"r1": {"maas_url": url}}))


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.1", "255.255.255.255",
                                     "169.254.0.5", "fe80::1"])
@pytest.mark.parametrize("setting", ["maas_address", "ssh_hostname"])
def test_addresses_no_other_host_can_use_are_refused(inventory_factory, setting, address):
    message = refusal(inventory_factory(host_data={"r2": {setting: address}}))
    assert message.startswith("host r2: setting `maas_address"), message
    assert "other hosts cannot reach" in message


def test_max_connections_beyond_what_postgres_takes_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"pg1": {"maas_pg_max_connections": 200000}})
    assert refusal(inv) == ("host pg1: setting `maas_pg_max_connections`: must be between 1 and "
                            f"{config.MAX_PG_CONNECTIONS}, got 200000")


@pytest.mark.parametrize("value", ["*", "localhost", "10.99.0.10", "10.99.0.10,localhost",
                                   "10.99.0.10, ::1", "fd00::10", "db1.example.com", ["10.99.0.10", "localhost"]])
def test_listen_addresses_accepted(inventory_factory, value):
    validate_inventory(inventory_factory(host_data={"pg1": {"maas_pg_listen_addresses": value}}))


@pytest.mark.parametrize("value", ["*;x", "10.99.0.10,,localhost", "10.99.0.10 localhost", "'*'",
                                   "10.99.0.10\n", [], ["*", 5], "-h"])
def test_listen_addresses_refused(inventory_factory, value):
    inv = inventory_factory(host_data={"pg1": {"maas_pg_listen_addresses": value}})
    assert refusal(inv).startswith("host pg1: setting `maas_pg_listen_addresses`")


@pytest.mark.parametrize("value", ["relative/dir", "/", "/var/backups/../etc", "/var/backups/./x",
                                   "/var//backups", "/var/back ups", "/var/backups\n"])
def test_backup_dir_refused(inventory_factory, value):
    inv = inventory_factory(host_data={"pg1": {"maas_pg_backup_dir": value}})
    assert refusal(inv).startswith("host pg1: setting `maas_pg_backup_dir`")


def test_region_port_is_a_tcp_port(inventory_factory):
    inv = inventory_factory(host_data={"r1": {"maas_region_port": 70000}})
    assert refusal(inv) == "host r1: setting `maas_region_port`: must be between 1 and 65535, got 70000"


@pytest.mark.parametrize("email", ["admin@localhost", "ops+maas@example.com", "first.last@mail.example.org"])
def test_admin_email_accepted(inventory_factory, email):
    validate_inventory(inventory_factory(host_data={"r1": {"maas_admin_email": email}}))


@pytest.mark.parametrize("email", ["admin", "@example.com", "-x@example.com", "a b@example.com",
                                   "a@example.com\n", "a@exa;mple.com"])
def test_admin_email_refused(inventory_factory, email):
    inv = inventory_factory(host_data={"r1": {"maas_admin_email": email}})
    assert refusal(inv).startswith("host r1: setting `maas_admin_email`")


# --- DHCP ranges, checked from the inventory alone --------------------------------------------

def dhcp(dynamic_range=None, **extra):
    vlan = {"fabric": "fabric-0", "vid": 0, "primary_rack": "k1", "secondary_rack": "k2", **extra}
    if dynamic_range:
        vlan["dynamic_range"] = dict(zip(("start", "end"), dynamic_range))
    return {"maas_region": {"maas_dhcp_vlans": [vlan]}}


def test_dhcp_range_mixing_address_families_is_refused(inventory_factory):
    inv = inventory_factory(group_data=dhcp(("10.99.0.200", "fd00::200")))
    assert refusal(inv) == ("host r1: setting `maas_dhcp_vlans[0].dynamic_range`: start 10.99.0.200 "
                            "and end fd00::200 are not of one address family")


def test_dhcp_range_in_the_racks_network_is_accepted(inventory_factory):
    validate_inventory(inventory_factory(group_data=dhcp(("10.99.0.200", "10.99.0.220"))))


def test_dhcp_range_outside_the_racks_network_needs_a_declared_subnet(inventory_factory):
    inv = inventory_factory(group_data=dhcp(("10.50.0.200", "10.50.0.220")))
    message = refusal(inv)
    assert message.startswith("host r1: setting `maas_dhcp_vlans[0].dynamic_range`: 10.50.0.200-10.50.0.220 "
                              "is not in the racks' network 10.99.0.0/24")
    assert "declare the VLAN's `subnet`" in message
    validate_inventory(inventory_factory(group_data=dhcp(("10.50.0.200", "10.50.0.220"),
                                                         subnet="10.50.0.0/24")))


def test_dhcp_range_outside_its_declared_subnet_is_refused(inventory_factory):
    inv = inventory_factory(group_data=dhcp(("10.50.1.200", "10.50.1.220"), subnet="10.50.0.0/24"))
    assert refusal(inv) == ("host r1: setting `maas_dhcp_vlans[0].dynamic_range`: 10.50.1.200-10.50.1.220 "
                            "is not inside the subnet 10.50.0.0/24")


def test_dhcp_range_straddling_its_subnet_is_refused(inventory_factory):
    inv = inventory_factory(group_data=dhcp(("10.50.0.200", "10.50.1.20"), subnet="10.50.0.0/24"))
    assert "is not inside the subnet 10.50.0.0/24" in refusal(inv)


@pytest.mark.parametrize("dynamic_range", [("10.99.0.0", "10.99.0.20"), ("10.99.0.200", "10.99.0.255")])
def test_dhcp_range_holding_the_network_or_broadcast_address_is_refused(inventory_factory, dynamic_range):
    assert "network or broadcast address" in refusal(inventory_factory(group_data=dhcp(dynamic_range)))


def test_dhcp_range_holding_an_inventory_host_is_refused(inventory_factory):
    inv = inventory_factory(group_data=dhcp(("10.99.0.5", "10.99.0.12")))
    assert refusal(inv) == ("host r1: setting `maas_dhcp_vlans[0].dynamic_range`: 10.99.0.5-10.99.0.12 "
                            "holds the address of pg1 (10.99.0.10): MAAS would lease it to machines")


def test_ipv6_dhcp_range_inside_a_declared_subnet_is_accepted(inventory_factory):
    validate_inventory(inventory_factory(group_data=dhcp(("fd00:50::100", "fd00:50::1ff"),
                                                         subnet="fd00:50::/64")))


def test_ipv6_dhcp_range_against_ipv4_racks_needs_a_subnet(inventory_factory):
    inv = inventory_factory(group_data=dhcp(("fd00:50::100", "fd00:50::1ff")))
    assert "declare the VLAN's `subnet`" in refusal(inv)


def test_dhcp_subnet_of_another_family_than_the_range_is_refused(inventory_factory):
    inv = inventory_factory(group_data=dhcp(("10.50.0.200", "10.50.0.220"), subnet="fd00:50::/64"))
    assert "is not inside the subnet fd00:50::/64" in refusal(inv)


# --- IPv6 ------------------------------------------------------------------------------------

def ipv6_inventory(inventory_factory, **kwargs):
    """Every host on fd00::/64 (the factory gives each an IPv4 address; replaced here)."""
    names = ("pg1", "r1", "r2", "k1", "k2", "lb1")
    data = {name: {"ssh_hostname": f"fd00::{i + 10:x}"} for i, name in enumerate(names)}
    return inventory_factory(host_data=data, **kwargs)


def test_ipv6_inventory_is_accepted(inventory_factory):
    validate_inventory(ipv6_inventory(inventory_factory))


def test_ipv6_region_url_is_bracketed(inventory_factory):
    inv = ipv6_inventory(inventory_factory)
    assert config.region_url(inv.get_host("r1")) == "http://[fd00::b]:5240/MAAS"


def test_ipv6_maas_url_default_is_bracketed(inventory_factory):
    inv = ipv6_inventory(inventory_factory)
    assert config.maas_url(inv, inv.get_host("r1")) == "http://[fd00::f]/MAAS"
    no_lb = ipv6_inventory(inventory_factory, lbs=())
    assert config.maas_url(no_lb, no_lb.get_host("k1")) == "http://[fd00::b]:5240/MAAS"


def test_maas_url_default_with_a_frontend_port(inventory_factory):
    inv = inventory_factory(host_data={"lb1": {"maas_haproxy_frontend_port": 8080}})
    assert config.maas_url(inv, inv.get_host("r1")) == "http://10.99.0.15:8080/MAAS"


def test_host_network_is_the_one_address(inventory_factory):
    inv = ipv6_inventory(inventory_factory)
    assert config.host_network(inv.get_host("r1")) == "fd00::b/128"
    assert config.host_network(inventory_factory().get_host("r1")) == "10.99.0.11/32"


def test_ipv6_addresses_are_compared_in_one_form(inventory_factory):
    inv = inventory_factory(host_data={"k1": {"ssh_hostname": "fd00::12"},
                                       "k2": {"ssh_hostname": "fd00:0:0::0012"}})
    assert "is also used by k1" in refusal(inv)


@pytest.mark.parametrize("mirror", ["deb [trusted=yes] file:/srv/labrepo/maas ./",
                                    "deb [signed-by=/etc/apt/keyrings/maas.gpg] http://mirror/maas/3.5/ubuntu jammy main",
                                    "http://mirror.example/maas/3.5/ubuntu"])
def test_package_mirror_line_or_url_is_accepted(inventory_factory, mirror):
    validate_inventory(inventory_factory(host_data={"k1": {"maas_package_mirror": mirror}}))


@pytest.mark.parametrize("mirror", ["ppa:maas/3.5", "deb jammy main", "mirror.example/maas", 35,
                                    "deb http://mirror/maas jammy main\ndeb http://other jammy main"])
def test_bad_package_mirror_is_refused(inventory_factory, mirror):
    with pytest.raises(SettingError) as error:
        validate_inventory(inventory_factory(host_data={"k1": {"maas_package_mirror": mirror}}))
    assert str(error.value).startswith("host k1: setting `maas_package_mirror`: must be an apt source line")


def test_snap_channel_off_the_version_track_is_refused(inventory_factory):
    inv = inventory_factory(host_data={"k1": {"maas_flavour": "snap", "maas_snap_channel": "3.4/stable"}})
    with pytest.raises(SettingError) as error:
        validate_inventory(inv)
    assert str(error.value) == ("host k1: setting `maas_snap_channel`: '3.4/stable' is not on the track "
                                "of maas_version 3.5: use `3.5/<risk>` (e.g. `3.5/stable`)")


def test_snap_channel_on_the_version_track_is_accepted(inventory_factory):
    validate_inventory(inventory_factory(host_data={"k1": {"maas_flavour": "snap",
                                                           "maas_snap_channel": "3.5/edge"}}))
