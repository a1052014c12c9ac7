"""The rack lifecycle settings (remove_rack.py, move_rack.py): in config.py's table, checked
before anything runs, each refusal naming the host and the setting; and a --limit that
leaves out a host the work needs is refused."""

import pytest
from pyinfra.api.exceptions import PyinfraError

import config
from config import SettingError, validate_inventory
from deploys.rack_lifecycle import check_limit


def refusal(inventory) -> str:
    with pytest.raises(SettingError) as error:
        validate_inventory(inventory)
    return str(error.value)


def run_data(inventory_factory, **data):
    """An inventory with `data` on every host, as `--data NAME=VALUE` sets it."""
    hosts = ("pg1", "r1", "r2", "k1", "k2", "lb1")
    return inventory_factory(host_data={name: dict(data) for name in hosts})


@pytest.mark.parametrize("name", ["maas_remove_rack", "maas_move_rack", "maas_dhcp_move_to"])
def test_the_settings_are_in_the_table_with_no_default(name):
    default, doc = config.SETTINGS[name]
    assert default is None and "rack" in doc


def test_removing_a_rack_of_the_inventory_is_accepted(inventory_factory):
    validate_inventory(run_data(inventory_factory, maas_remove_rack="k1", maas_dhcp_move_to="k2"))
    validate_inventory(run_data(inventory_factory, maas_move_rack="k2"))


@pytest.mark.parametrize("name", ["maas_remove_rack", "maas_move_rack", "maas_dhcp_move_to"])
def test_a_host_that_is_not_a_rack_is_refused(inventory_factory, name):
    message = refusal(run_data(inventory_factory, **{name: "r2"}))
    assert message == f"host r1: setting `{name}`: 'r2' is not a host of group maas_rack (racks: k1, k2)"


def test_an_unknown_rack_is_refused(inventory_factory):
    message = refusal(run_data(inventory_factory, maas_remove_rack="maas-rack3"))
    assert message.startswith("host r1: setting `maas_remove_rack`: 'maas-rack3' is not a host")


@pytest.mark.parametrize("name", ["maas_remove_rack", "maas_move_rack"])
def test_dhcp_cannot_move_to_the_leaving_rack(inventory_factory, name):
    message = refusal(run_data(inventory_factory, **{name: "k1", "maas_dhcp_move_to": "k1"}))
    assert message == f"host r1: setting `maas_dhcp_move_to`: must be another rack than {name} (k1)"


def test_without_a_limit_every_host_takes_part(inventory_factory):
    inventory = run_data(inventory_factory, maas_remove_rack="k1")
    check_limit(None, inventory, "maas_remove_rack", "remove_rack.py")


def test_a_limit_holding_the_primary_and_the_rack_is_accepted(inventory_factory):
    inventory = run_data(inventory_factory, maas_remove_rack="k1")
    limit = [inventory.get_host("r1"), inventory.get_host("k1")]
    check_limit(limit, inventory, "maas_remove_rack", "remove_rack.py")


def test_a_limit_to_the_rack_alone_is_refused(inventory_factory):
    inventory = run_data(inventory_factory, maas_remove_rack="k1")
    with pytest.raises(PyinfraError) as error:
        check_limit([inventory.get_host("k1")], inventory, "maas_remove_rack", "remove_rack.py")
    assert str(error.value) == (
        "--limit leaves out r1: remove_rack.py works on the primary region and on the rack; "
        "run it without --limit and name the rack with --data maas_remove_rack=<rack>")


def test_a_limit_naming_the_rack_but_no_setting_is_refused(inventory_factory):
    inventory = inventory_factory()
    with pytest.raises(PyinfraError, match="--limit leaves out r1: move_rack.py"):
        check_limit([inventory.get_host("k2")], inventory, "maas_move_rack", "move_rack.py")
