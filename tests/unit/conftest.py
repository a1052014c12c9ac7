"""Shared helpers for unit tests that need an inventory but no hosts."""

import pytest
from pyinfra.api import Inventory

from keyed_fixtures import pin_control_exponent

pin_control_exponent()

BASE = {
    "maas_db_password": "db-secret-value",
    "maas_admin_password": "admin-secret-value",
}


def make_inventory(regions=("r1", "r2"), racks=("k1", "k2"), lbs=("lb1",), pg=("pg1",),
                   group_data=None, host_data=None):
    """An inventory of lab-like hosts: every host gets an address in 10.99.0.0/24."""
    group_data = group_data or {}
    host_data = host_data or {}
    names = list(dict.fromkeys([*pg, *regions, *racks, *lbs]))
    hosts = [(name, {"ssh_hostname": f"10.99.0.{i + 10}", **BASE, **host_data.get(name, {})})
             for i, name in enumerate(names)]
    groups = {}
    for group, members in (("maas_postgres", pg), ("maas_region", regions),
                           ("maas_rack", racks), ("maas_haproxy", lbs)):
        if members:
            groups[group] = (list(members), dict(group_data.get(group, {})))
    return Inventory((hosts, {}), **groups)


@pytest.fixture
def inventory_factory():
    return make_inventory
