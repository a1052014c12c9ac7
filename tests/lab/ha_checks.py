"""Assertions on the real state of a converged lab: API, files, services, database."""

from __future__ import annotations

import re

from labtools import wait_for


def region_urls(lab, regions) -> list[str]:
    return [f"http://{lab.address(name)}:5240/MAAS" for name in regions]


def assert_api_answers(lab, regions, lbs) -> None:
    """Every region answers directly, and through every HAProxy."""
    for name in regions:
        version = lab.anonymous_get(f"http://{lab.address(name)}:5240/MAAS/api/2.0/version/")
        assert re.match(r"^3\.5\.\d+", version["version"]), version
    for name in lbs:
        version = lab.anonymous_get(f"http://{lab.address(name)}/MAAS/api/2.0/version/")
        assert version["version"].startswith("3.5"), version


def assert_racks_known_everywhere(lab, regions, racks, refresh_timeout: float = 90) -> dict:
    """Every rack is listed in rackcontrollers on every region, with its address once MAAS
    has its interfaces (they come with the rack's network refresh, some seconds after it
    registers: waited for, bounded); returns hostname -> system_id."""
    key = lab.api_key(regions[0])
    listings = {}

    def read(name):
        listed = lab.client(f"http://{lab.address(name)}:5240/MAAS/", key).get("rackcontrollers/")
        listings[name] = {rack["hostname"]: rack for rack in listed}
        return listings[name]

    for name in regions:
        missing = set(racks) - set(read(name))
        assert not missing, f"region {name} does not list racks {sorted(missing)}"
        wait_for(lambda name=name: all(lab.address(rack) in read(name)[rack]["ip_addresses"] for rack in racks),
                 refresh_timeout, f"region {name} to know the addresses of {', '.join(racks)}")
    return {hostname: rack["system_id"] for hostname, rack in listings[regions[0]].items()}


def rackd_conf_path(flavour: str) -> str:
    return "/var/snap/maas/current/rackd.conf" if flavour == "snap" else "/etc/maas/rackd.conf"


def regiond_conf_path(flavour: str) -> str:
    return "/var/snap/maas/current/regiond.conf" if flavour == "snap" else "/etc/maas/regiond.conf"


def assert_rackd_lists_every_region(lab, racks, regions, flavour) -> None:
    for rack in racks:
        conf = lab.read_yaml(rack, rackd_conf_path(flavour))
        assert conf["maas_url"] == region_urls(lab, regions), (rack, conf)


def assert_pg_hba(lab, pg, regions) -> None:
    """One /32 line per region for maasdb/maas, and no `trust` anywhere (pg_hba_file_rules)."""
    rows = lab.ssh(pg, "runuser -u postgres -- psql -AtX -F'|' -c \"SELECT type, database, "
                       "user_name, address, netmask, auth_method FROM pg_hba_file_rules\"")
    rules = [row.split("|") for row in rows.splitlines() if row]
    assert all(rule[5] != "trust" for rule in rules), rules
    for name in regions:
        matching = [r for r in rules if r[0] == "host" and r[1] == "{maasdb}" and r[2] == "{maas}"
                    and r[3] == lab.address(name) and r[4] == "255.255.255.255"]
        assert len(matching) == 1, (name, rules)
        assert matching[0][5] in ("scram-sha-256", "md5")


def assert_regiond_conf(lab, regions, flavour, pg) -> None:
    for name in regions:
        path = regiond_conf_path(flavour)
        conf = lab.read_yaml(name, path)
        assert conf["database_host"] == lab.address(pg)
        assert conf["database_name"] == "maasdb"
        if flavour == "deb":
            assert lab.stat(name, path) == "maas:maas 640"


def max_connections(lab, pg) -> int:
    return int(lab.ssh(pg, "runuser -u postgres -- psql -AtX -c 'SHOW max_connections'").strip())


def sized_max_connections(regions: int, version: str = "3.5") -> int:
    """max_connections a first deploy of `regions` regions sets with the default settings: room
    for two more regions, each at 8 workers, plus 20 of headroom."""
    from operations._plan_connections import connection_budget
    budget = connection_budget(version, {f"r{n}": 1 for n in range(regions)}, headroom=20,
                               spare_regions=2, max_workers=8)
    return budget.sized


def refused(result, message: str) -> None:
    """The run was refused with `message` before any operation changed a host."""
    assert result.returncode != 0, result.tail()
    assert message in result.output, result.tail(30)
    assert result.changed_ops == {}, result.changed_ops


def assert_untouched(lab, names) -> None:
    """Nothing was installed on these hosts, and no MAAS package source added: they are
    still as the image made them."""
    for name in names:
        found = lab.ssh(name, "dpkg-query -W -f='${Package} ' postgresql haproxy maas-region-api "
                              "maas-rack-controller 2>/dev/null; test -e /snap/maas && echo snap-maas; "
                              "test -e /etc/apt/sources.list.d/maas.list && echo maas-source", check=False)
        assert found.strip() == "", (name, found)
