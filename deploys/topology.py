"""Cross-host knowledge for one run, and the guards that need it.

pyinfra plans every host in parallel, but some decisions need all of them: which region is
the primary, whether every host runs one MAAS version, the region secret the racks must
share, how many database connections the regions may open. The first host to ask gathers
the few facts this needs from every host at once; the others wait and reuse the answer.
Every refusal raises ``config.SettingError`` naming the host and the setting, before pyinfra
executes a single operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
from gevent.lock import Semaphore
from pyinfra.context import ctx_config, ctx_host
from pyinfra.facts.hardware import Cpus
from pyinfra.facts.server import Hostname

import config
from config import GROUP_HAPROXY, GROUP_POSTGRES, GROUP_RACK, GROUP_REGION, SettingError
from facts.maas import MaasInstall, MaasRegistration
from facts.vmhost import VmHostSoftware

_LOCKS: dict = {}  # one lock per memoised value (see once_per_run)


@dataclass
class Topology:
    """The MAAS cluster as the inventory describes it and the hosts report it."""

    postgres: list
    regions: list
    racks: list
    haproxies: list
    installs: dict = field(default_factory=dict)
    workers: dict = field(default_factory=dict)
    budget: config.ConnectionBudget | None = None
    max_connections: int = 100
    secret_sha256: str | None = None
    registrations: dict = field(default_factory=dict)
    rack_hostnames: dict = field(default_factory=dict)

    @property
    def primary(self):
        return self.regions[0]

    @property
    def region_urls(self) -> list[str]:
        return [config.region_url(region) for region in self.regions]

    def is_primary(self, host) -> bool:
        return host == self.primary

    def workers_of(self, host) -> int:
        return self.workers[host.name]

    def registered_here(self, host) -> bool:
        """True when the host (a rack) holds a node id and this MAAS's secret, as read at the
        start of the run: registering it again would change nothing."""
        registration = self.registrations.get(host.name) or {}
        return bool(registration.get("maas_id") and self.secret_sha256
                    and registration.get("secret_sha256") == self.secret_sha256)


def gather(fact_cls, hosts, **kwargs) -> dict:
    """One fact from many hosts, in parallel (each greenlet with its own host context).

    Hosts pyinfra could not connect to answer None: they sit this run out, and the guards
    treat what they would have said as unknown."""

    def one(host):
        if host in host.state.failed_hosts:
            return None
        with ctx_config.use(host.state.config.copy()), ctx_host.use(host):
            return host.get_fact(fact_cls, **kwargs)

    jobs = {host.name: gevent.spawn(one, host) for host in hosts}
    gevent.joinall(list(jobs.values()), raise_error=True)
    return {name: job.value for name, job in jobs.items()}


def gather_many(requests: dict) -> dict:
    """Several ``gather`` calls at once: {key: (fact class, hosts)} -> {key: {host name: value}}.

    One round trip per host instead of one per fact: the run's planning waits for the
    slowest host once, not once per fact."""
    jobs = {key: gevent.spawn(gather, fact_cls, hosts) for key, (fact_cls, hosts) in requests.items()}
    gevent.joinall(list(jobs.values()), raise_error=True)
    return {key: job.value for key, job in jobs.items()}


def once_per_run(state, name: str, build):
    """`build()` computed by the first host's greenlet that asks, memoised on the pyinfra
    state, and shared with every other host of this run (they wait for it)."""
    attribute = f"_maas_ha_{name}"
    cached = getattr(state, attribute, None)
    if cached is not None:
        return cached
    with _LOCKS.setdefault(name, Semaphore()):
        cached = getattr(state, attribute, None)
        if cached is None:
            cached = build()
            setattr(state, attribute, cached)
    return cached


def get_topology(state, inventory) -> Topology:
    """The run's Topology, computed once (validation, facts, guards) and shared by all hosts."""
    return once_per_run(state, "topology", lambda: _build(inventory))


def _build(inventory) -> Topology:
    config.validate_inventory(inventory)
    topo = Topology(
        postgres=config.hosts_of(inventory, GROUP_POSTGRES),
        regions=config.hosts_of(inventory, GROUP_REGION),
        racks=config.hosts_of(inventory, GROUP_RACK),
        haproxies=config.hosts_of(inventory, GROUP_HAPROXY),
    )
    maas_hosts = list(dict.fromkeys(topo.regions + topo.racks))
    dhcp_racks = {vlan[key] for vlan in config.get(topo.primary, "maas_dhcp_vlans")
                  for key in ("primary_rack", "secondary_rack")}
    racks_by_name = {rack.name: rack for rack in topo.racks}
    # Every fact the guards and sizes need, in one parallel round instead of one round per
    # fact; a region whose worker count the inventory sets needs no CPU count.
    facts = gather_many({
        "installs": (MaasInstall, maas_hosts),
        "vm_software": (VmHostSoftware, topo.racks),
        "registrations": (MaasRegistration, list(dict.fromkeys([topo.primary] + topo.racks))
                          if topo.racks else []),
        "cpus": (Cpus, [region for region in topo.regions if not config.get(region, "maas_num_workers")]),
        "rack_hostnames": (Hostname, [racks_by_name[name] for name in sorted(dhcp_racks)]),
    })
    topo.installs = facts["installs"]
    _check_installs(topo)
    _check_racks(topo, facts["vm_software"], facts["registrations"])
    topo.registrations = facts["registrations"]
    cpus = facts["cpus"]
    # A region that cannot be reached counts at the most workers, so that the database's
    # connection limit never shrinks because a host was briefly away.
    topo.workers = {
        region.name: config.get(region, "maas_num_workers")
        or config.default_num_workers(cpus[region.name] or config.MAX_WORKERS)
        for region in topo.regions
    }
    _size_connections(topo)
    topo.rack_hostnames = facts["rack_hostnames"]
    return topo


def _check_installs(topo: Topology) -> None:
    """No mixed MAAS versions, no flavour that differs from the inventory's."""
    for host in list(dict.fromkeys(topo.regions + topo.racks)):
        install = topo.installs.get(host.name) or {}
        wanted_series = str(config.get(host, "maas_version"))
        wanted_flavour = config.get(host, "maas_flavour")
        flavours = install.get("flavours") or []
        if len(flavours) > 1:
            raise SettingError(host.name, "maas_flavour", f"MAAS is installed both as {' and '.join(flavours)}; "
                               "remove one before deploying")
        if install.get("flavour") and install["flavour"] != wanted_flavour:
            raise SettingError(host.name, "maas_flavour", f"MAAS is installed as {install['flavour']} "
                               f"but the inventory asks for {wanted_flavour}")
        if install.get("series") and install["series"] != wanted_series:
            raise SettingError(host.name, "maas_version", f"host runs MAAS {install['version']} but the "
                               f"inventory asks for {wanted_series}: MAAS versions must not be mixed "
                               "(upgrade every host together first)")


def _check_racks(topo: Topology, vm_software: dict, registrations: dict) -> None:
    """Racks: not on a VM host, and not registered to another MAAS."""
    if not topo.racks:
        return
    for rack in topo.racks:
        if vm_software[rack.name]:  # None: unreachable, sits this run out
            raise SettingError(rack.name, f"group {GROUP_RACK}", f"{', '.join(vm_software[rack.name])} "
                               "found: a rack controller must not run on a VM host (libvirt/LXD)")
    primary_registration = registrations[topo.primary.name] or {}
    topo.secret_sha256 = primary_registration.get("secret_sha256")
    for rack in topo.racks:
        if rack in topo.regions:
            continue  # region+rack: its node id is the region's own
        registration = registrations[rack.name] or {}
        if not registration.get("maas_id"):
            continue
        if topo.secret_sha256 is None or registration.get("secret_sha256") != topo.secret_sha256:
            raise SettingError(rack.name, f"group {GROUP_RACK}", f"rack is already registered (maas_id "
                               f"{registration['maas_id']}) to another MAAS: a rack belongs to one MAAS; "
                               "move it with deploys/rack_move.py or remove it from the inventory")


def _size_connections(topo: Topology) -> None:
    """Size max_connections from the inventory and refuse a budget it cannot hold."""
    pg = topo.postgres[0]
    topo.budget = config.connection_budget(
        topo.workers,
        per_worker=config.get(pg, "maas_pg_connections_per_worker"),
        min_per_region=config.get(pg, "maas_pg_min_connections_per_region"),
        headroom=config.get(pg, "maas_pg_connection_headroom"),
    )
    explicit = pg.data.get("maas_pg_max_connections")
    if explicit is not None and explicit < topo.budget.needed:
        detail = ", ".join(f"{name}: {n}" for name, n in topo.budget.per_region.items())
        raise SettingError(pg.name, "maas_pg_max_connections", f"{explicit} cannot hold the regions' "
                           f"connection budget of {topo.budget.needed} ({detail}; headroom "
                           f"{topo.budget.headroom})")
    topo.max_connections = explicit if explicit is not None else max(topo.budget.needed, 100)
