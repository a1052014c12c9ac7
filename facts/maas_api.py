"""What a region's API reports, read on a region host through MAAS's own ``maas`` CLI.

The CLI profile (``maas login PROFILE URL -``, see ``operations.maas_region.cli_profile``)
holds the API key on the host, so these facts never handle it. Each command exits 0 and
prints ``##unavailable`` when the CLI, the profile or the API cannot answer; the fact is
then ``None`` (e.g. at planning time, before the region is up).
"""

from __future__ import annotations

import json
import shlex

from facts.usage import Fact

UNAVAILABLE = "##unavailable"


def _cli_command(maas_cli: str, profile: str, *words: str) -> str:
    cli = shlex.quote(maas_cli)
    args = " ".join(shlex.quote(word) for word in (profile, *words))
    return f"{cli} {args} 2>/dev/null || {{ echo; echo '{UNAVAILABLE}'; }}"


def _load_json(output):
    """The JSON document in the CLI output, or None when unavailable/unparsable."""
    lines = list(output)
    if any(UNAVAILABLE in line for line in lines):
        return None
    # On a TTY the CLI prints "Success." lines first: start at the document.
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("[", "{")):
            try:
                return json.loads("\n".join(lines[index:]))
            except ValueError:
                return None
    return None


def _rack_controller(node: dict) -> dict:
    return {
        "system_id": node.get("system_id"),
        "hostname": node.get("hostname"),
        "ip_addresses": list(node.get("ip_addresses") or []),
        "version": node.get("version"),
        "node_type": node.get("node_type"),
        "services": {service.get("name"): service.get("status") for service in node.get("service_set") or []},
    }


def _controllers(output):
    """The controllers of a ``rack-controllers read`` / ``region-controllers read`` answer."""
    data = _load_json(output)
    if not isinstance(data, list):
        return None
    return [_rack_controller(node) for node in data]


class MaasCliProfiles(Fact):
    """
    Profiles of the local ``maas`` CLI: ``{name: url}`` (the key column is cut off on
    the host). ``{}`` when the CLI is missing or has no profile.
    """

    default = dict

    def command(self, maas_cli="maas") -> str:
        cli = shlex.quote(maas_cli)
        return (
            f"if command -v {cli} >/dev/null 2>&1; then "
            f"{cli} list 2>/dev/null | awk '{{print $1, $2}}'; fi; true"
        )

    def process(self, output):
        profiles = {}
        for line in output:
            bits = line.split()
            if len(bits) == 2:
                profiles[bits[0]] = bits[1]
        return profiles


class MaasRackControllers(Fact):
    """
    Rack controllers (including region+rack) known to the region, through ``profile``:
    ``[{"system_id", "hostname", "ip_addresses", "version", "node_type",
    "services": {name: status}}]``, or ``None`` when the API is unavailable.
    """

    def command(self, profile, maas_cli="maas") -> str:
        return _cli_command(maas_cli, profile, "rack-controllers", "read")

    def process(self, output):
        return _controllers(output)


class MaasRegionControllers(Fact):
    """
    Region controllers (including region+rack) known to the region, through ``profile``:
    ``[{"system_id", "hostname", "ip_addresses", "version", "node_type",
    "services": {name: status}}]``, or ``None`` when the API is unavailable.
    """

    def command(self, profile, maas_cli="maas") -> str:
        return _cli_command(maas_cli, profile, "region-controllers", "read")

    def process(self, output):
        return _controllers(output)


class MaasVlans(Fact):
    """
    Every VLAN of every fabric (``fabrics read`` embeds them):
    ``[{"id", "fabric", "fabric_id", "vid", "primary_rack", "secondary_rack", "dhcp_on"}]``,
    or ``None`` when unavailable.
    """

    def command(self, profile, maas_cli="maas") -> str:
        return _cli_command(maas_cli, profile, "fabrics", "read")

    def process(self, output):
        data = _load_json(output)
        if not isinstance(data, list):
            return None
        vlans = []
        for fabric in data:
            for vlan in fabric.get("vlans") or []:
                vlans.append(
                    {
                        "id": vlan.get("id"),
                        "fabric": vlan.get("fabric", fabric.get("name")),
                        "fabric_id": vlan.get("fabric_id", fabric.get("id")),
                        "vid": vlan.get("vid"),
                        "primary_rack": vlan.get("primary_rack"),
                        "secondary_rack": vlan.get("secondary_rack"),
                        "dhcp_on": bool(vlan.get("dhcp_on")),
                    },
                )
        return vlans


class MaasIpRanges(Fact):
    """
    Reserved and dynamic IP ranges with where they live:
    ``[{"type", "start_ip", "end_ip", "subnet_cidr", "vid", "fabric_id"}]``, or ``None``.
    """

    def command(self, profile, maas_cli="maas") -> str:
        return _cli_command(maas_cli, profile, "ipranges", "read")

    def process(self, output):
        data = _load_json(output)
        if not isinstance(data, list):
            return None
        ranges = []
        for iprange in data:
            subnet = iprange.get("subnet") or {}
            vlan = subnet.get("vlan") or {}
            ranges.append(
                {
                    "type": iprange.get("type"),
                    "start_ip": iprange.get("start_ip"),
                    "end_ip": iprange.get("end_ip"),
                    "subnet_cidr": subnet.get("cidr"),
                    "vid": vlan.get("vid"),
                    "fabric_id": vlan.get("fabric_id"),
                },
            )
        return ranges
