"""The load balancers' floating address: inventory checks, the keepalived config and the
interface it is taken from, all as plain data."""

import pytest

import config
from config import SettingError, validate_inventory
from deploys.vip import vrrp_interface
from operations._render_keepalived import priority, render_check_script, render_config, vrrp_link

PAIR = {"lbs": ("lb1", "lb2")}
VIP = {"maas_haproxy": {"maas_api_vip": "10.99.0.20"}}


def refusal(inventory) -> str:
    with pytest.raises(SettingError) as error:
        validate_inventory(inventory)
    return str(error.value)


def test_two_load_balancers_share_the_address_and_maas_url_uses_it(inventory_factory):
    inv = inventory_factory(**PAIR, group_data=VIP)
    validate_inventory(inv)
    assert config.api_vip(inv) == "10.99.0.20"
    assert config.maas_url(inv, inv.get_host("r1")) == "http://10.99.0.20/MAAS"


def test_maas_url_with_the_address_keeps_the_frontend_port(inventory_factory):
    inv = inventory_factory(**PAIR, group_data={"maas_haproxy": {**VIP["maas_haproxy"],
                                                                 "maas_haproxy_frontend_port": 8080}})
    assert config.maas_url(inv, inv.get_host("r1")) == "http://10.99.0.20:8080/MAAS"


def test_an_explicit_maas_url_wins_over_the_address(inventory_factory):
    inv = inventory_factory(**PAIR, group_data=VIP, host_data={"r1": {"maas_url": "http://maas.example/MAAS"}})
    assert config.maas_url(inv, inv.get_host("r1")) == "http://maas.example/MAAS"


def test_without_the_address_maas_url_is_the_first_load_balancer(inventory_factory):
    inv = inventory_factory(**PAIR)
    validate_inventory(inv)
    assert config.api_vip(inv) is None
    assert config.maas_url(inv, inv.get_host("r1")) == "http://10.99.0.15/MAAS"


def test_router_id_defaults_from_the_address_and_can_be_set(inventory_factory):
    inv = inventory_factory(**PAIR, group_data=VIP)
    assert config.vrrp_router_id(inv) == (10 * 2**24 + 99 * 2**16 + 20) % 255 + 1
    assert 1 <= config.vrrp_router_id(inv) <= 255
    inv = inventory_factory(**PAIR, group_data={"maas_haproxy": {**VIP["maas_haproxy"], "maas_vrrp_router_id": 7}})
    validate_inventory(inv)
    assert config.vrrp_router_id(inv) == 7


def test_one_load_balancer_with_an_address_is_refused(inventory_factory):
    message = refusal(inventory_factory(group_data=VIP))
    assert message.startswith("host lb1: setting `maas_api_vip`: needs two or more hosts in maas_haproxy")


def test_the_address_of_a_host_is_refused(inventory_factory):
    inv = inventory_factory(**PAIR, group_data={"maas_haproxy": {"maas_api_vip": "10.99.0.11"}})
    assert refusal(inv) == ("host lb1: setting `maas_api_vip`: 10.99.0.11 is the address of r1: "
                            "the floating address must be one no host has")


def test_different_addresses_on_the_load_balancers_are_refused(inventory_factory):
    inv = inventory_factory(**PAIR, host_data={"lb1": {"maas_api_vip": "10.99.0.20"},
                                               "lb2": {"maas_api_vip": "10.99.0.21"}})
    assert refusal(inv).startswith("host lb2: setting `maas_api_vip`: '10.99.0.21' differs from lb1's '10.99.0.20'")


def test_an_address_only_a_region_knows_is_refused(inventory_factory):
    inv = inventory_factory(**PAIR, host_data={"r1": {"maas_api_vip": "10.99.0.20"}})
    assert refusal(inv).startswith("host r1: setting `maas_api_vip`: '10.99.0.20' differs from lb1's None")


def test_an_address_of_another_family_is_refused(inventory_factory):
    inv = inventory_factory(**PAIR, group_data={"maas_haproxy": {"maas_api_vip": "fd00::20"}})
    assert refusal(inv).startswith("host lb1: setting `maas_api_vip`: fd00::20 is IPv6 but lb1's address "
                                   "10.99.0.15 is IPv4")


@pytest.mark.parametrize("value", ["10.99.0.20/24", "127.0.0.1", "0.0.0.0", "224.0.0.18", "lb.example", 20])
def test_unusable_addresses_are_refused(inventory_factory, value):
    inv = inventory_factory(**PAIR, group_data={"maas_haproxy": {"maas_api_vip": value}})
    assert refusal(inv).startswith("host lb1: setting `maas_api_vip`:")


@pytest.mark.parametrize("value", [0, 256, "51", True])
def test_router_ids_outside_1_to_255_are_refused(inventory_factory, value):
    inv = inventory_factory(**PAIR, group_data={"maas_haproxy": {**VIP["maas_haproxy"], "maas_vrrp_router_id": value}})
    assert refusal(inv).startswith("host lb1: setting `maas_vrrp_router_id`:")


def test_a_router_id_without_an_address_is_refused(inventory_factory):
    inv = inventory_factory(**PAIR, group_data={"maas_haproxy": {"maas_vrrp_router_id": 7}})
    assert refusal(inv) == "host lb1: setting `maas_vrrp_router_id`: is set but maas_api_vip is not"


# --- the interface, from pyinfra's NetworkDevices ------------------------------------------

DEVICES = {
    "lo": {"state": "UNKNOWN", "ipv4": {"address": "127.0.0.1", "mask_bits": 8}},
    "eth0": {"state": "UP", "ipv4": {"address": "10.99.0.14", "mask_bits": 24,
                                     "additional_ips": [{"address": "10.99.0.20", "mask_bits": 24}]},
             "ipv6": {"address": "fd00::14", "mask_bits": 64}},
    "eth1": {"state": "UP", "ipv4": {"address": "192.168.5.14", "mask_bits": 22}},
}


@pytest.mark.parametrize("address, link", [("10.99.0.14", ("eth0", 24)), ("192.168.5.14", ("eth1", 22)),
                                           ("fd00:0::14", ("eth0", 64)), ("10.99.0.20", ("eth0", 24)),
                                           ("10.99.0.99", None)])
def test_the_interface_is_the_one_carrying_the_address(address, link):
    assert vrrp_link(DEVICES, address) == link


def test_the_address_must_be_on_the_load_balancers_network():
    assert vrrp_interface("192.168.5.14", "192.168.6.20", DEVICES, "lb1") == ("eth1", 22)
    with pytest.raises(SettingError) as error:
        vrrp_interface("10.99.0.14", "10.99.1.20", DEVICES, "lb1")
    assert str(error.value) == ("host lb1: setting `maas_api_vip`: 10.99.1.20 is not in 10.99.0.0/24, the "
                                "network of lb1's address on eth0: the floating address must be on the "
                                "load balancers' own network")


def test_a_host_without_its_address_on_an_interface_is_refused():
    with pytest.raises(SettingError) as error:
        vrrp_interface("10.99.0.77", "10.99.0.20", DEVICES, "lb1")
    assert str(error.value).startswith("host lb1: setting `maas_address`: no interface of lb1 has its address")


# --- keepalived.conf ---------------------------------------------------------------------

ARGS = {"host_name": "lb1", "interface": "eth0", "vip": "10.99.0.20", "prefixlen": 24, "router_id": 21,
        "priority": 250, "own_address": "10.99.0.14", "peers": ["10.99.0.15", "10.99.0.16"]}


def test_the_config_is_unicast_between_the_load_balancers_without_preemption():
    text = render_config(**ARGS)
    assert text == render_config(**ARGS)  # the same bytes every time: compared by checksum
    lines = [line.strip() for line in text.splitlines()]
    for expected in ("# maas_api_vip 10.99.0.20", "state BACKUP", "nopreempt", "interface eth0",
                     "virtual_router_id 21", "priority 250", "unicast_src_ip 10.99.0.14",
                     "10.99.0.15", "10.99.0.16", "10.99.0.20/24 dev eth0", "haproxy_serves",
                     "enable_script_security", 'script "/etc/keepalived/maas-ha-haproxy-serves"'):
        assert expected in lines, expected
    assert "authentication" not in text and "version 3" not in text


def test_ipv6_uses_vrrp_version_3():
    text = render_config(**{**ARGS, "vip": "fd00::20", "prefixlen": 64, "own_address": "fd00::14",
                            "peers": ["fd00::15"]})
    assert "    version 3\n" in text and "fd00::20/64 dev eth0" in text


@pytest.mark.parametrize("change, message", [
    ({"interface": "eth0 dev x"}, "is not an interface name"),
    ({"interface": "a-very-long-interface"}, "is not an interface name"),
    ({"peers": []}, "needs at least one peer"),
    ({"peers": ["fd00::15"]}, "are not of one family"),
    ({"peers": ["10.99.0.14"]}, "must all differ"),
    ({"vip": "10.99.0.15"}, "must all differ"),
    ({"router_id": 0}, "router_id must be between 1 and 255"),
    ({"priority": 255}, "priority must be between 1 and 254"),
    ({"prefixlen": 33}, "prefixlen must be between 1 and 32"),
    ({"host_name": "lb1\n}"}, "is not a plain host name"),
    ({"vip": "10.99.0.20; x"}, "vip must be an IP address"),
])
def test_bad_values_never_reach_the_file(change, message):
    with pytest.raises(ValueError, match=message):
        render_config(**{**ARGS, **change})


def test_priorities_fall_in_inventory_order_and_stay_valid():
    assert [priority(index) for index in range(3)] == [250, 249, 248]
    assert priority(1000) == 1


def test_the_check_script_asks_haproxy_itself():
    script = render_check_script("/run/haproxy/admin.sock", 80)
    assert script.startswith("#!/bin/sh\n")
    assert "UNIX-CONNECT:/run/haproxy/admin.sock" in script and "TCP:127.0.0.1:80," in script
    with pytest.raises(ValueError):
        render_check_script("/run/haproxy/admin.sock; reboot", 80)
    with pytest.raises(ValueError):
        render_check_script("/run/haproxy/admin.sock", 70000)
