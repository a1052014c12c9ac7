"""Hostile inventory data is refused before any host is asked anything.

Every setting of config.SETTINGS (the list is read from the table, so a new setting without a
check fails here) gets values that would break out of a shell word, a config line or a URL:
each must be refused by ``deploys.topology``'s first step, with an error naming the host and
the setting, before a single fact is gathered. Inventory names get the same treatment. The
secrets are the exception: unusual characters are valid passwords there, only control
characters and empty values are refused.
"""

import pytest

import config
from config import SettingError
from deploys import topology as topo_module
from run import gather as gather_module

HOSTS = ("pg1", "r1", "k1", "lb1")  # one host of each group

# A valid value for every setting whose default does not show one (None or a list).
EXAMPLES = {
    "maas_snap_channel": "3.5/stable",
    "maas_deb_version": "1:3.5.13-0ubuntu1",
    "maas_address": "10.99.0.99",
    "maas_url": "http://10.99.0.15/MAAS",
    "maas_num_workers": 4,
    "maas_pg_max_connections": 500,
    "maas_dhcp_vlans": [],
}


def example(name):
    return EXAMPLES.get(name, config.SETTINGS[name][0])


def hostile_values(valid) -> dict:
    """Each one a valid value plus one thing that must never reach a host."""
    text = str(valid)
    return {
        "newline": f"{text}\n    stats socket ipv4@0.0.0.0:9999 level admin",
        "trailing newline": f"{text}\n",
        "semicolon": f"{text};touch /tmp/owned",
        "command substitution": f"{text}$(touch /tmp/owned)",
        "backtick": f"{text}`touch /tmp/owned`",
        "single quote": f"{text}'",
        "double quote": f'{text}"',
        "hash": f"{text}#",
        "leading dash": f"-{text}",
        "space": f"{text} x",
        "empty": "",
    }


KINDS = list(hostile_values("x"))
PLAIN_SETTINGS = [name for name in config.SETTINGS if name not in config.SECRET_SETTINGS]


@pytest.fixture
def no_connection(monkeypatch):
    """Fails the test when the topology would ask any host for a fact."""

    def gather(*_args, **_kwargs):
        raise AssertionError("a host was asked for a fact before the inventory was refused")

    monkeypatch.setattr(gather_module, "gather", gather)


def refused(inventory) -> str:
    with pytest.raises(SettingError) as error:
        topo_module._build(inventory)
    return str(error.value)


def with_data(inventory_factory, host_name, data):
    return inventory_factory(host_data={host_name: data})


def test_every_example_is_accepted(inventory_factory):
    for name in config.SETTINGS:
        if name in config.SECRET_SETTINGS:
            continue
        config.validate_inventory(with_data(inventory_factory, "r1", {name: example(name)}))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", PLAIN_SETTINGS)
def test_hostile_value_is_refused_naming_host_and_setting(inventory_factory, no_connection, name, kind):
    value = hostile_values(example(name))[kind]
    host_name = HOSTS[KINDS.index(kind) % len(HOSTS)]  # every setting meets every kind of host
    message = refused(with_data(inventory_factory, host_name, {name: value}))
    assert message.startswith(f"host {host_name}: setting `{name}`"), message
    assert "\n" not in message  # the value is shown escaped, never raw


@pytest.mark.parametrize("name", PLAIN_SETTINGS)
def test_a_value_of_the_wrong_type_is_refused(inventory_factory, no_connection, name):
    wrong = 7 if isinstance(example(name), str) else {"x": 1}
    message = refused(with_data(inventory_factory, "r2", {name: wrong}))
    assert message.startswith(f"host r2: setting `{name}`"), message


UNUSUAL_PASSWORDS = ["it's", 'say "hi"', "$HOME$(id)`id`", "with spaces", "100%", "a:b@c/d",
                     "#hash", "back\\slash", "-leading-dash", "--database-pass", "ünïcode"]


@pytest.mark.parametrize("password", UNUSUAL_PASSWORDS)
@pytest.mark.parametrize("name", config.SECRET_SETTINGS)
def test_unusual_passwords_are_valid(inventory_factory, name, password):
    everyone = {host: {name: password} for host in ("pg1", "r1", "r2", "k1", "k2", "lb1")}
    config.validate_inventory(inventory_factory(host_data=everyone))


@pytest.mark.parametrize("password", ["two\nlines", "trailing newline\n", "nul\x00byte", "bell\x07",
                                      "carriage\rreturn", "del\x7f", "line\u2028separator", "", "   "])
@pytest.mark.parametrize("name", config.SECRET_SETTINGS)
def test_secrets_with_control_characters_or_empty_are_refused(inventory_factory, no_connection, name,
                                                                password):
    message = refused(with_data(inventory_factory, "r1", {name: password}))
    assert message.startswith(f"host r1: setting `{name}`"), message
    if password.strip():
        assert password not in message  # a secret is never echoed back


@pytest.mark.parametrize("name", config.SECRET_SETTINGS)
def test_a_secret_is_checked_on_hosts_that_do_not_need_it(inventory_factory, no_connection, name):
    message = refused(with_data(inventory_factory, "lb1", {name: "x\ny"}))
    assert message.startswith(f"host lb1: setting `{name}`"), message


HOSTILE_NAMES = ["r9\n", "r9\nr10", "r9;reboot", "$(touch /tmp/owned)", "`touch /tmp/owned`", "r'9",
                 'r"9', "r9#", "-r9", "r 9", "r9/x"]


@pytest.mark.parametrize("bad", HOSTILE_NAMES)
@pytest.mark.parametrize("group", ["pg", "regions", "racks", "lbs"])
def test_hostile_inventory_names_are_refused(inventory_factory, no_connection, group, bad):
    names = {"pg": ("pg1",), "regions": ("r1", "r2"), "racks": ("k1", "k2"), "lbs": ("lb1",)}
    names[group] = (*names[group][:-1], bad) if group != "pg" else (bad,)
    message = refused(inventory_factory(**names))
    assert message.startswith(f"host {bad!r}: setting `inventory name`"), message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["region-1", "r1.maas.example", "fd00--11", "RACK_2", "10.77.0.11",
                                  "fd00::11"])
def test_ordinary_inventory_names_are_accepted(inventory_factory, name):
    config.validate_inventory(inventory_factory(regions=("r1", name)))


DHCP_FIELDS = {
    "fabric": ["fabric-0;x", "fabric 0", "fabric-0\n", "$(x)", "", -1, True],
    "vid": ["0", 4095, -1, True, 1.5],
    "primary_rack": ["k1\n", "k1;x"],
    "dynamic_range.start": ["10.99.0.200\n", "10.99.0.200;x", "10.99.0.0/24", 200],
    "dynamic_range.end": ["10.99.0.220 ", "$(x)", None],
    "subnet": ["10.99.0.0/24\n", "10.99.0.0/24;x", "10.99.0.1/24", "10.99.0.0", "", 24],
}


@pytest.mark.parametrize("field,bad", [(field, bad) for field, values in DHCP_FIELDS.items()
                                       for bad in values])
def test_hostile_dhcp_fields_are_refused(inventory_factory, no_connection, field, bad):
    vlan = {"fabric": "fabric-0", "vid": 0, "primary_rack": "k1", "secondary_rack": "k2",
            "dynamic_range": {"start": "10.99.0.200", "end": "10.99.0.220"}}
    config.validate_inventory(inventory_factory(host_data={"r1": {"maas_dhcp_vlans": [vlan]}}))
    if field.startswith("dynamic_range."):
        vlan["dynamic_range"] = {**vlan["dynamic_range"], field.split(".")[1]: bad}
    else:
        vlan[field] = bad
    message = refused(inventory_factory(host_data={"r1": {"maas_dhcp_vlans": [vlan]}}))
    assert message.startswith("host r1: setting `maas_dhcp_vlans[0]"), message
    assert "\n" not in message


def test_every_setting_has_a_check():
    assert [name for name in config.SETTINGS if name not in config.CHECKS] == []
