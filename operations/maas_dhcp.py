"""DHCP HA on a VLAN: primary and secondary rack, a dynamic range, ``dhcp_on``.

Runs on the primary region host. Planning reads the region's view through the host's
``maas`` CLI profile (``facts.maas_api``); when that view is missing (region not up yet)
or differs, a ``FunctionCommand`` makes the change at execution time through the API, each
call made on the region host to its own loopback (``region_api.py``): the admin's key is
read there and never crosses the network.
"""

from __future__ import annotations

import time

import gevent
from pyinfra import host
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import OperationError

from facts.maas_api import MaasIpRanges, MaasRackControllers, MaasVlans
from operations._plan_dhcp import (
    VlanError,
    checked_arguments,
    dhcp_in_place,
    find_vlan,
    known_interfaces,
    racks_off_vlan,
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


RACK_POLL_SECONDS = 3
TIMEOUT_SETTING = "maas_dhcp_rack_interface_timeout"


def wait_for_racks_on_vlan(host, client, label, vlan, racks, wanted, timeout):
    """Poll ``rackcontrollers/`` until MAAS knows an interface on the VLAN of each wanted rack
    (it learns them at the rack's network refresh, tens of seconds after the rack registers;
    until then the VLAN update refuses the rack). Raises VlanError after `timeout` seconds,
    naming the racks, what MAAS knows of their interfaces, the VLAN and the setting."""
    system_ids = [wanted["primary_rack"], wanted["secondary_rack"]]
    started = time.monotonic()
    deadline = started + max(0, int(timeout))
    names = {rack.get("system_id"): rack.get("hostname") for rack in racks or []}
    missing = racks_off_vlan(racks, vlan.get("id"), system_ids)
    if missing:
        shown = ", ".join(f"{names.get(system_id, system_id)} ({system_id})" for system_id in missing)
        host.log_styled(f"{label}: waiting up to {timeout}s for MAAS to learn the interfaces of rack "
                        f"{shown} on this VLAN (the rack's network refresh)")
    while missing:
        if time.monotonic() >= deadline:
            detail = "; ".join(f"{names.get(system_id, system_id)} ({system_id}; interfaces MAAS knows: "
                               f"{known_interfaces(racks, system_id)})" for system_id in missing)
            raise VlanError(
                f"{label}: after {timeout}s ({TIMEOUT_SETTING}) MAAS still knows no interface on this "
                f"VLAN of rack {detail}. MAAS learns a rack's interfaces at its network refresh after it "
                "registers, and offers only racks on the VLAN for DHCP: check that the rack is "
                f"connected to this VLAN, or raise {TIMEOUT_SETTING}")
        gevent.sleep(RACK_POLL_SECONDS)
        racks = _api_call(label, client.get, "rackcontrollers/")
        missing = racks_off_vlan(racks, vlan.get("id"), system_ids)
        if not missing:
            host.log_styled(f"{label}: MAAS knows the racks on this VLAN after "
                            f"{time.monotonic() - started:.0f}s")
    return racks


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
    rack_interface_timeout=120,
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
        racks = _api_call(label, client.get, "rackcontrollers/")
        wanted = wanted_racks(label, racks, primary_rack, secondary_rack)
        wait_for_racks_on_vlan(host, client, label, vlan, racks, wanted, rack_interface_timeout)
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
    rack_interface_timeout=120,
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
    + rack_interface_timeout: seconds to wait for MAAS to know an interface of each rack on
      the VLAN (it learns them at the rack's network refresh, after it registers)

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
            "rack_interface_timeout": int(rack_interface_timeout),
        },
    )
