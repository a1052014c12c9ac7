"""DHCP HA on a VLAN: primary and secondary rack, a dynamic range, ``dhcp_on``.

Runs on the primary region host. Planning reads the region's view through the host's
``maas`` CLI profile (``facts.maas_api``); when that view is missing (region not up yet)
or differs, a ``FunctionCommand`` makes the change at execution time through the API, each
call made on the region host to its own loopback (``region_api.py``): the admin's key is
read there and never crosses the network.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import OperationError

from facts.maas_api import MaasIpRanges, MaasRackControllers, MaasVlans
from operations._plan_dhcp import (
    VlanError,
    checked_arguments,
    dhcp_in_place,
    find_vlan,
    range_missing,
    range_subnet,
    swaps_racks,
    vlan_changes,
    wanted_racks,
)
from operations.maas_api_client import MaasApiError
from operations._remote import api_key_command, fail
from operations.region_api import RegionApi
from operations.maas_region import fact_data


def _api_call(label, call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except MaasApiError as error:
        fields = error.field_errors if error.status == 400 else {}
        if fields:
            details = "; ".join(
                f"{'VLAN' if field == '__all__' else field}: {' '.join(map(str, messages))}"
                for field, messages in fields.items()
            )
            raise VlanError(f"{label}: MAAS refused the change ({details})") from None
        raise VlanError(f"{label}: {error}") from None


def apply_vlan_dhcp_ha(
    state,
    host,
    api_url,
    admin_username,
    key_flavour,
    fabric,
    vid,
    primary_rack,
    secondary_rack,
    dynamic_range=None,
):
    """Execution-time half of ``vlan_dhcp_ha``: range, racks and ``dhcp_on`` via the API."""
    label = f"VLAN {fabric}.{vid}"
    try:
        client = RegionApi(state, host, api_url, api_key_command(admin_username, key_flavour))
        found = find_vlan(_api_call(label, client.get, "fabrics/"), fabric, vid)
        if found is None:
            raise VlanError(f"{label}: no such fabric/VLAN in the MAAS of {host.name}")
        fab, vlan = found
        label = f"VLAN {fab.get('name')}.{vid} (fabric id {fab['id']})"
        wanted = wanted_racks(label, _api_call(label, client.get, "rackcontrollers/"),
                              primary_rack, secondary_rack)
        if range_missing(label, _api_call(label, client.get, "ipranges/"), vlan.get("id"),
                         dynamic_range):
            subnets = _api_call(label, client.get, "subnets/")
            subnet = range_subnet(label, subnets, vlan.get("id"), dynamic_range)
            _api_call(label, client.post, "ipranges/",
                      {"type": "dynamic", **dynamic_range, "subnet": subnet})
            host.log_styled(
                f"{label}: dynamic range {dynamic_range['start_ip']}-{dynamic_range['end_ip']} created",
            )

        path = f"fabrics/{fab['id']}/vlans/{vid}/"
        if swaps_racks(vlan, wanted):
            vlan = _api_call(label, client.put, path, {"primary_rack": wanted["primary_rack"]})
        changes = vlan_changes(vlan, wanted)
        if changes:
            _api_call(label, client.put, path, changes)
            host.log_styled(f"{label}: updated {', '.join(sorted(changes))}", fg="green")
    except (OperationError, MaasApiError) as error:
        return fail(host, f"{host.name}: DHCP HA on {label} failed: {error}")
    return True


@operation()
def vlan_dhcp_ha(
    api_url,
    admin_username,
    key_flavour,
    fabric,
    vid,
    primary_rack,
    secondary_rack,
    dynamic_range=None,
    profile="maas-ha",
    maas_cli="maas",
):
    """
    Serve DHCP on a VLAN from two racks (MAAS DHCP HA).

    + api_url: the region API as this host reaches it on its loopback
      (``http://localhost:5240/MAAS/``): the calls run on this host, never across the network
    + admin_username: MAAS admin whose API key (read on this host) signs the calls
    + key_flavour: ``deb``/``snap`` of this region host (how to read the key)
    + fabric: fabric name or id; vid: the VLAN's VID (0 = untagged)
    + primary_rack, secondary_rack: MAAS hostnames of two different racks (``secondary_rack``
      ``None`` clears the secondary, e.g. while moving DHCP off a rack being removed)
    + dynamic_range: ``{"start_ip": ..., "end_ip": ...}`` created when missing
    + profile, maas_cli: the CLI profile the planning facts read through

    **Example:**

    .. code:: python

        from operations import maas_dhcp

        # on the primary region host
        maas_dhcp.vlan_dhcp_ha(
            name="DHCP HA on VLAN fabric-0.0",
            api_url="http://localhost:5240/MAAS/",
            admin_username="admin",
            key_flavour="deb",
            fabric="fabric-0",
            vid=0,
            primary_rack="rack1",
            secondary_rack="rack2",
            dynamic_range={"start_ip": "10.0.0.200", "end_ip": "10.0.0.250"},
        )
    """
    dynamic_range = checked_arguments(fabric, vid, primary_rack, secondary_rack, dynamic_range,
                                      host.name)
    in_place = dhcp_in_place(
        fact_data(host.get_fact(MaasVlans, profile=profile, maas_cli=maas_cli)),
        fact_data(host.get_fact(MaasRackControllers, profile=profile, maas_cli=maas_cli)),
        fact_data(host.get_fact(MaasIpRanges, profile=profile, maas_cli=maas_cli)),
        fabric, vid, primary_rack, secondary_rack, dynamic_range,
    )
    if in_place:
        host.noop(f"DHCP already on VLAN {in_place} "
                  f"(primary {primary_rack}, secondary {secondary_rack or 'none'})")
        return

    yield FunctionCommand(
        apply_vlan_dhcp_ha,
        [],
        {
            "api_url": api_url,
            "admin_username": admin_username,
            "key_flavour": key_flavour,
            "fabric": fabric,
            "vid": int(vid),
            "primary_rack": primary_rack,
            "secondary_rack": secondary_rack,
            "dynamic_range": dynamic_range,
        },
    )
