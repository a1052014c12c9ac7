"""What DHCP HA on a VLAN decides, as plain data: whether the region's view already shows it
(planning, from the ``maas_api`` facts), and which changes the API must make (execution, from
the API's own answers).

No host and no API calls: ``operations/maas_dhcp.py`` reads the facts or calls the API and
hands the answers to these functions. Their errors are ``OperationError``s naming the VLAN.
"""

from __future__ import annotations

import ipaddress

from pyinfra.api.exceptions import OperationError, OperationValueError


class VlanError(OperationError):
    """The VLAN cannot get DHCP HA as asked (the message names it and why)."""


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


def checked_arguments(fabric, vid, primary_rack, secondary_rack, dynamic_range, host_name: str):
    """The operation's arguments checked before anything runs; returns the normalised range."""
    if str(primary_rack) == str(secondary_rack):
        raise OperationValueError(
            f"{host_name}: DHCP HA on VLAN {fabric}.{vid} needs two different racks "
            f"(primary_rack and secondary_rack are both {primary_rack})",
        )
    try:
        return normalise_range(dynamic_range)
    except (TypeError, ValueError):
        raise OperationValueError(
            f"{host_name}: dynamic_range for VLAN {fabric}.{vid} must be "
            f"{{start_ip, end_ip}} addresses (got {dynamic_range!r})",
        ) from None


def matches_fabric(fabric, fabric_id, fabric_name) -> bool:
    """``fabric`` as the inventory gives it (name or id) is this fabric."""
    return str(fabric) == str(fabric_id) or str(fabric) == str(fabric_name)


def rack_ids(racks) -> dict:
    """{system_id, hostname or fqdn: system_id} of MAAS's rack controllers."""
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


def dhcp_in_place(vlans, racks, ranges, fabric, vid, primary_rack, secondary_rack,
                  dynamic_range) -> str | None:
    """The VLAN's ``fabric.vid`` label when the region's view (``MaasVlans``,
    ``MaasRackControllers``, ``MaasIpRanges``) already shows DHCP HA as wanted: these racks,
    ``dhcp_on`` and the range. None when it does not, or when a view is missing."""
    if vlans is None or racks is None or ranges is None:
        return None
    ids = rack_ids(racks)
    if primary_rack not in ids or (secondary_rack is not None and secondary_rack not in ids):
        return None
    want_secondary = None if secondary_rack is None else ids[secondary_rack]
    for vlan in vlans:
        if not matches_fabric(fabric, vlan.get("fabric_id"), vlan.get("fabric")):
            continue
        if int(vlan.get("vid")) != int(vid):
            continue
        if (
            vlan.get("primary_rack") == ids[primary_rack]
            and (vlan.get("secondary_rack") or None) == want_secondary
            and vlan.get("dhcp_on")
            and _range_present(ranges, vlan.get("fabric_id"), vid, dynamic_range)
        ):
            return f"{vlan.get('fabric')}.{vid}"
    return None


def find_vlan(fabrics, fabric, vid):
    """``(fabric, vlan)`` from the API's ``fabrics/`` answer, or None."""
    for fab in fabrics or []:
        if not matches_fabric(fabric, fab.get("id"), fab.get("name")):
            continue
        for vlan in fab.get("vlans") or []:
            if int(vlan.get("vid")) == int(vid):
                return fab, vlan
    return None


def wanted_racks(label, racks, primary_rack, secondary_rack) -> dict:
    """{"primary_rack", "secondary_rack": system id}; no secondary (None) clears it."""
    ids = rack_ids(racks)
    wanted = {}
    for field, name in (("primary_rack", primary_rack), ("secondary_rack", secondary_rack)):
        if name is None and field == "secondary_rack":
            wanted[field] = None
            continue
        if name not in ids:
            raise VlanError(f"{label}: {field} {name} is not a rack controller of this MAAS")
        wanted[field] = ids[name]
    return wanted


def racks_off_vlan(racks, vlan_id, system_ids) -> list:
    """The racks of ``system_ids`` (in that order) that MAAS's ``rackcontrollers/`` answer
    shows with no interface on the VLAN whose API id is ``vlan_id``. MAAS offers a rack as
    primary or secondary of a VLAN only once it knows such an interface, which it learns at
    the rack's network refresh, not when the rack registers."""
    on_vlan = {
        rack.get("system_id")
        for rack in racks or []
        for interface in rack.get("interface_set") or []
        if (interface.get("vlan") or {}).get("id") == vlan_id
    }
    return [system_id for system_id in system_ids if system_id and system_id not in on_vlan]


def known_interfaces(racks, system_id) -> str:
    """What MAAS knows of a rack's interfaces, for an error: ``eth0 on fabric-1.untagged``,
    or ``none yet``."""
    for rack in racks or []:
        if rack.get("system_id") != system_id:
            continue
        seen = []
        for interface in rack.get("interface_set") or []:
            vlan = interface.get("vlan") or {}
            where = f"{vlan.get('fabric')}.{vlan.get('name')}" if vlan else "no VLAN"
            seen.append(f"{interface.get('name')} on {where}")
        return ", ".join(seen) or "none yet"
    return "not a rack controller of this MAAS"


def range_missing(label, ranges, vlan_id, dynamic_range) -> bool:
    """True when the VLAN (API id ``vlan_id``) lacks the wanted dynamic range (from the API's
    ``ipranges/``); with no wanted range, any dynamic range will do, and none is an error."""
    present = any(
        r.get("type") == "dynamic"
        and ((r.get("subnet") or {}).get("vlan") or {}).get("id") == vlan_id
        and (dynamic_range is None
             or (r.get("start_ip"), r.get("end_ip"))
             == (dynamic_range["start_ip"], dynamic_range["end_ip"]))
        for r in ranges or []
    )
    if not present and dynamic_range is None:
        raise VlanError(f"{label}: no dynamic IP range; DHCP needs one (set dynamic_range)")
    return not present


def range_subnet(label, subnets, vlan_id, dynamic_range):
    """The id of the VLAN's subnet (from the API's ``subnets/``) holding the range's start."""
    start = ipaddress.ip_address(dynamic_range["start_ip"])
    for subnet in subnets or []:
        if (subnet.get("vlan") or {}).get("id") == vlan_id and (
            start in ipaddress.ip_network(subnet.get("cidr"), strict=False)
        ):
            return subnet["id"]
    raise VlanError(f"{label}: no subnet on this VLAN contains {dynamic_range['start_ip']}")


def swaps_racks(vlan, wanted) -> bool:
    """True when the wanted secondary is the VLAN's primary now: the new primary is set first
    (MAAS then clears the old secondary)."""
    return bool(wanted["secondary_rack"]) and vlan.get("primary_rack") == wanted["secondary_rack"]


def vlan_changes(vlan, wanted) -> dict:
    """The fields to PUT on the VLAN (as the API returned it) for ``wanted`` racks and DHCP on;
    empty when it is as wanted. A cleared secondary is sent as ``""``."""
    changes = {
        field: "" if value is None else value
        for field, value in wanted.items()
        if (vlan.get(field) or None) != value
    }
    if not vlan.get("dhcp_on"):
        changes["dhcp_on"] = True
    return changes
