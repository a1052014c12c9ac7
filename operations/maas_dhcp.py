"""DHCP HA on a VLAN: primary and secondary rack, a dynamic range, ``dhcp_on``.

Runs on the primary region host. Planning reads the region's view through the host's
``maas`` CLI profile (``facts.maas_api``); when that view is missing (region not up yet)
or differs, a ``FunctionCommand`` makes the change at execution time through the API,
with the admin's key read on the region host (never printed).
"""

from __future__ import annotations

import ipaddress

from pyinfra import host
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import OperationError, OperationValueError

from facts.maas_api import MaasIpRanges, MaasRackControllers, MaasVlans
from operations.maas_api_client import MaasApiError, MaasClient
from operations._remote import fail, read_api_key
from operations.maas_region import fact_data


def normalise_range(dynamic_range):
    """``{"start_ip", "end_ip"}`` from a dict (``start_ip``/``end_ip`` or ``start``/``end``)
    or a ``[start, end]`` pair; ``None`` stays ``None``."""
    if dynamic_range is None:
        return None
    if isinstance(dynamic_range, dict):
        start = dynamic_range.get("start_ip", dynamic_range.get("start"))
        end = dynamic_range.get("end_ip", dynamic_range.get("end"))
    else:
        start, end = list(dynamic_range)
    ipaddress.ip_address(str(start))
    ipaddress.ip_address(str(end))
    return {"start_ip": str(start), "end_ip": str(end)}


def _matches_fabric(fabric, fabric_id, fabric_name) -> bool:
    return str(fabric) == str(fabric_id) or str(fabric) == str(fabric_name)


def _rack_ids(racks) -> dict:
    ids = {}
    for rack in racks or []:
        for name in (rack.get("system_id"), rack.get("hostname"), rack.get("fqdn")):
            if name:
                ids[name] = rack.get("system_id")
    return ids


def _range_present(ranges, fabric_id, vid, dynamic_range) -> bool:
    for iprange in ranges or []:
        if iprange.get("type") != "dynamic":
            continue
        if str(iprange.get("fabric_id")) != str(fabric_id) or int(iprange.get("vid")) != int(vid):
            continue
        if dynamic_range is None or (
            iprange.get("start_ip") == dynamic_range["start_ip"]
            and iprange.get("end_ip") == dynamic_range["end_ip"]
        ):
            return True
    return False


class _VlanError(OperationError):
    pass


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
            raise _VlanError(f"{label}: MAAS refused the change ({details})") from None
        raise _VlanError(f"{label}: {error}") from None


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
        client = MaasClient(api_url, read_api_key(state, host, admin_username, key_flavour))
        fabrics = _api_call(label, client.get, "fabrics/") or []
        found = [
            (fab, vlan)
            for fab in fabrics
            if _matches_fabric(fabric, fab.get("id"), fab.get("name"))
            for vlan in fab.get("vlans") or []
            if int(vlan.get("vid")) == int(vid)
        ]
        if not found:
            raise _VlanError(f"{label}: no such fabric/VLAN in MAAS at {api_url}")
        fab, vlan = found[0]
        fabric_id = fab["id"]
        label = f"VLAN {fab.get('name')}.{vid} (fabric id {fabric_id})"

        ids = _rack_ids(_api_call(label, client.get, "rackcontrollers/"))
        wanted = {}
        for field, name in (("primary_rack", primary_rack), ("secondary_rack", secondary_rack)):
            if name is None and field == "secondary_rack":
                wanted[field] = None  # no secondary: clear it
                continue
            if name not in ids:
                raise _VlanError(f"{label}: {field} {name} is not a rack controller of this MAAS")
            wanted[field] = ids[name]

        ranges = _api_call(label, client.get, "ipranges/") or []
        on_vlan = [
            r for r in ranges
            if r.get("type") == "dynamic"
            and ((r.get("subnet") or {}).get("vlan") or {}).get("id") == vlan.get("id")
        ]  # fmt: skip
        present = any(
            dynamic_range is None
            or (r.get("start_ip"), r.get("end_ip"))
            == (dynamic_range["start_ip"], dynamic_range["end_ip"])
            for r in on_vlan
        )
        if not present and dynamic_range is None:
            raise _VlanError(f"{label}: no dynamic IP range; DHCP needs one (set dynamic_range)")
        if not present:
            start = ipaddress.ip_address(dynamic_range["start_ip"])
            subnets = [
                subnet
                for subnet in _api_call(label, client.get, "subnets/") or []
                if (subnet.get("vlan") or {}).get("id") == vlan.get("id")
                and start in ipaddress.ip_network(subnet.get("cidr"), strict=False)
            ]
            if not subnets:
                raise _VlanError(
                    f"{label}: no subnet on this VLAN contains {dynamic_range['start_ip']}",
                )
            _api_call(
                label,
                client.post,
                "ipranges/",
                {"type": "dynamic", **dynamic_range, "subnet": subnets[0]["id"]},
            )
            host.log_styled(
                f"{label}: dynamic range {dynamic_range['start_ip']}-{dynamic_range['end_ip']} created",
            )

        path = f"fabrics/{fabric_id}/vlans/{vid}/"
        if wanted["secondary_rack"] and vlan.get("primary_rack") == wanted["secondary_rack"]:
            # A swap: set the new primary first (MAAS then clears the old secondary).
            vlan = _api_call(label, client.put, path, {"primary_rack": wanted["primary_rack"]})
        changes = {
            field: "" if value is None else value
            for field, value in wanted.items()
            if (vlan.get(field) or None) != value
        }
        if not vlan.get("dhcp_on"):
            changes["dhcp_on"] = True
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

    + api_url: region URL reachable from the control machine
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
            api_url="http://10.0.0.10/MAAS/",
            admin_username="admin",
            key_flavour="deb",
            fabric="fabric-0",
            vid=0,
            primary_rack="rack1",
            secondary_rack="rack2",
            dynamic_range={"start_ip": "10.0.0.200", "end_ip": "10.0.0.250"},
        )
    """
    if str(primary_rack) == str(secondary_rack):
        raise OperationValueError(
            f"{host.name}: DHCP HA on VLAN {fabric}.{vid} needs two different racks "
            f"(primary_rack and secondary_rack are both {primary_rack})",
        )
    try:
        dynamic_range = normalise_range(dynamic_range)
    except (TypeError, ValueError):
        raise OperationValueError(
            f"{host.name}: dynamic_range for VLAN {fabric}.{vid} must be "
            f"{{start_ip, end_ip}} addresses (got {dynamic_range!r})",
        ) from None

    vlans = fact_data(host.get_fact(MaasVlans, profile=profile, maas_cli=maas_cli))
    racks = fact_data(host.get_fact(MaasRackControllers, profile=profile, maas_cli=maas_cli))
    ranges = fact_data(host.get_fact(MaasIpRanges, profile=profile, maas_cli=maas_cli))

    if vlans is not None and racks is not None and ranges is not None:
        ids = _rack_ids(racks)
        for vlan in vlans:
            if not _matches_fabric(fabric, vlan.get("fabric_id"), vlan.get("fabric")):
                continue
            if int(vlan.get("vid")) != int(vid):
                continue
            want_secondary = None if secondary_rack is None else ids.get(secondary_rack)
            if (
                primary_rack in ids
                and (secondary_rack is None or secondary_rack in ids)
                and vlan.get("primary_rack") == ids[primary_rack]
                and (vlan.get("secondary_rack") or None) == want_secondary
                and vlan.get("dhcp_on")
                and _range_present(ranges, vlan.get("fabric_id"), vid, dynamic_range)
            ):
                host.noop(
                    f"DHCP already on VLAN {vlan.get('fabric')}.{vid} "
                    f"(primary {primary_rack}, secondary {secondary_rack or 'none'})",
                )
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
