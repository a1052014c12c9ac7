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


def test_two_postgres_hosts_are_refused(inventory_factory):
    assert "exactly one host" in refusal(inventory_factory(pg=("pg1", "pg2")))


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


def test_snap_region_plus_rack_is_refused(inventory_factory):
    inv = inventory_factory(racks=("r1",), host_data={"r1": {"maas_flavour": "snap"}})
    assert "region+rack" in refusal(inv)


def test_maas_url_prefers_the_load_balancer(inventory_factory):
    inv = inventory_factory()
    region = inv.get_host("r1")
    assert config.maas_url(inv, region) == "http://10.99.0.15/MAAS"
    assert config.region_url(region) == "http://10.99.0.11:5240/MAAS"


def test_maas_url_without_load_balancer_is_the_primary(inventory_factory):
    inv = inventory_factory(lbs=())
    assert config.maas_url(inv, inv.get_host("k1")) == "http://10.99.0.11:5240/MAAS"


def test_connection_budget():
    budget = config.connection_budget({"r1": 8, "r2": 2}, per_worker=11, min_per_region=40,
                                      headroom=20)
    assert budget.per_region == {"r1": 88, "r2": 40}
    assert budget.needed == 148


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
    assert "host lb1: setting `maas_haproxy_maxconn`: must be at least 1" in refusal(inv)


def test_restart_timeout_must_be_positive(inventory_factory):
    inv = inventory_factory(host_data={"r2": {"maas_region_restart_timeout": 0}})
    assert "host r2: setting `maas_region_restart_timeout`: must be at least 1" in refusal(inv)


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
