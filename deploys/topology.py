"""Cross-host knowledge for one run, and the guards that need it.

pyinfra plans every host in parallel, but some decisions need all of them: which region is
the primary, whether every host runs one MAAS version, the region secret the racks must
share, how many database connections the regions may open. The first host to ask gathers
the facts this needs from every host at once, with those later steps would otherwise ask
again (the opening round); the others wait and reuse the answer.
Every refusal raises ``config.SettingError`` naming the host and the setting, before pyinfra
executes a single operation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyinfra.api.exceptions import DeployError
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.hardware import Cpus

import config
from config import GROUP_HAPROXY, GROUP_POSTGRES, GROUP_RACK, GROUP_REGION, SettingError
from deploys.packages import series_problem
from deploys.vip import without_keepalived
from facts.haproxy_runtime import HaproxyServers
from facts.keepalived import KeepalivedFiles
from facts.maas import MaasAdminUser, MaasHostname, MaasInstall, MaasRegistration, api_cli
from facts.maas_api import MaasCliProfiles, MaasRackControllers, MaasRegionControllers
from facts.maas_config import RackdConf, RegiondConf, config_path
from facts.maas_health import MaasRegionApiVersion, MaasTls
from facts.maas_units import rack_unit, region_service_units
from facts.os_release import OsRelease
from facts.pg_activity import PostgresDatabaseClients
from facts.pending_apply import PendingApply
from facts.pg_cluster import PostgresSettings
from facts.systemd_units import SystemdUnitLog, SystemdUnits
from facts.vmhost import EVIDENCE as VM_EVIDENCE, VmHostSoftware
from operations._plan_connections import ConnectionBudget, ConnectionPlan, connection_budget, plan_max_connections
from operations.maas_pg import AS_POSTGRES
from operations.maas_rack import registered_with
from run.batch import BATCHABLE, FactBatch
from run.gather import gather_many
from run.memo import remember
from run.once import once_per_run


@dataclass
class Topology:
    """The MAAS cluster as the inventory describes it and the hosts report it.

    The fields after the four host lists hold the opening round's answers, one per entry of
    ``OPENING_ROUND`` and named by its key: {host name: fact value}, for the guards here and
    for the later steps (deploys/rolling_restart.py, region.py, rack.py, ...), so that they
    do not each wait for a round of their own."""

    postgres: list
    regions: list
    racks: list
    haproxies: list
    # the opening round (OPENING_ROUND; tests/unit/test_opening_round.py keeps the two alike)
    installs: dict = field(default_factory=dict)
    os_releases: dict = field(default_factory=dict)  # deb MAAS hosts: their OsRelease
    vm_software: dict = field(default_factory=dict)
    registrations: dict = field(default_factory=dict)
    region_confs: dict = field(default_factory=dict)
    region_pending: dict = field(default_factory=dict)  # regiond.conf written, region not restarted
    region_answers: dict = field(default_factory=dict)
    cli_profiles: dict = field(default_factory=dict)
    admin_users: dict = field(default_factory=dict)
    haproxy_servers: dict = field(default_factory=dict)
    rack_confs: dict = field(default_factory=dict)
    rack_pending: dict = field(default_factory=dict)  # rackd.conf written, rackd not restarted
    rack_units: dict = field(default_factory=dict)  # {rack: {unit: state}} (facts/systemd_units.py)
    region_units: dict = field(default_factory=dict)  # {region: {unit: state}}
    rack_services: dict = field(default_factory=dict)
    cpus: dict = field(default_factory=dict)
    rack_hostnames: dict = field(default_factory=dict)
    deb_packages: dict = field(default_factory=dict)  # PostgreSQL and HAProxy hosts
    pg_settings: dict = field(default_factory=dict)
    pg_clients: dict = field(default_factory=dict)  # {pg: sessions on the MAAS database}
    region_controllers: dict = field(default_factory=dict)  # {primary: regions MAAS knows}
    region_tls: dict = field(default_factory=dict)  # {region: MaasTls} (see `tls`)
    keepalived_files: dict = field(default_factory=dict)  # hosts to be without keepalived (deploys/vip.py)
    # derived from the inventory and the round
    workers: dict = field(default_factory=dict)
    budget: ConnectionBudget | None = None
    connection_plan: ConnectionPlan | None = None
    max_connections: int = 100
    secret_sha256: str | None = None

    @property
    def primary(self):
        return self.regions[0]

    @property
    def tls(self) -> dict | None:
        """MAAS TLS (facts.maas_health.MaasTls) as the first region that shows it on showed it
        in the opening round (the primary first), or None. One certificate and port for the
        whole cluster (in the database): HAProxy's checks, the regions' CLI profile and the
        deploy's API calls follow it; a region that is down does not turn it off."""
        return next((tls for tls in self.region_tls.values() if tls), None)

    @property
    def maas_hosts(self) -> list:
        """Regions and racks, each once (a region+rack host is both)."""
        return list(dict.fromkeys(self.regions + self.racks))

    @property
    def region_urls(self) -> list[str]:
        return [config.region_url(region) for region in self.regions]

    def is_primary(self, host) -> bool:
        return host == self.primary

    def workers_of(self, host) -> int:
        return self.workers[host.name]


def rack_unit_of(rack) -> str:
    """The systemd unit that runs the rack's rackd (facts/maas_units.py)."""
    return rack_unit(config.get(rack, "maas_flavour"), config.get(rack, "maas_version"))


def region_units_of(region) -> list[str]:
    """The systemd units the region needs running (facts/maas_units.py)."""
    return region_service_units(config.get(region, "maas_flavour"), config.get(region, "maas_version"))


def _is_rack(host) -> bool:
    return GROUP_RACK in host.groups


def _unit_arguments(region) -> dict:
    """``SystemdUnits`` arguments of a region in the round: its units, and a region+rack's
    rackd unit with them (a host's batch holds each fact once)."""
    units = region_units_of(region) + ([rack_unit_of(region)] if _is_rack(region) else [])
    return {"units": list(dict.fromkeys(units))}


def rack_services_args(region) -> dict:
    """``MaasRackControllers`` arguments on a region: its CLI profile and command."""
    return {"profile": config.get(region, "maas_cli_profile"),
            "maas_cli": "/snap/bin/maas" if config.get(region, "maas_flavour") == "snap" else "maas"}


def _pg_settings_args(pg) -> dict:
    """PostgresSettings' arguments as the PostgreSQL operations pass them."""
    return {"port": config.get(pg, "maas_db_port"), **AS_POSTGRES}


def _pg_clients_args(pg) -> dict:
    return {"database": config.get(pg, "maas_db_name"), **_pg_settings_args(pg)}


def _flavour(host) -> str:
    return config.get(host, "maas_flavour")


def _no_arguments(_host) -> dict:
    return {}


def _dhcp_racks(topo: Topology) -> list:
    """The racks the primary's VLANs name for DHCP (primary and secondary), by name."""
    names = {vlan[key] for vlan in config.get(topo.primary, "maas_dhcp_vlans")
             for key in ("primary_rack", "secondary_rack")}
    racks_by_name = {rack.name: rack for rack in topo.racks}
    return [racks_by_name[name] for name in sorted(names)]


@dataclass(frozen=True)
class Ask:
    """One fact of the opening round: ``fact`` asked of ``hosts(topology)`` with
    ``arguments(host)``; the answers go to the Topology field named ``key``."""

    key: str
    fact: type
    hosts: Callable[[Topology], list]
    arguments: Callable[[object], dict] = _no_arguments

    @property
    def batched(self) -> bool:
        """Asked inside the host's ``FactBatch`` (else a command of its own)."""
        return self.fact.__name__ in BATCHABLE


# Every fact the guards, the sizes, the rolling plan and the later steps need, asked of every
# host at once before anything runs. A batchable fact (run/batch.py) joins the host's one
# command, in this order; the others (pyinfra's facts, and PostgreSQL's, read as postgres)
# run beside it. A region whose worker count the inventory sets needs no CPU count.
OPENING_ROUND = (
    Ask("installs", MaasInstall, lambda t: t.maas_hosts),
    Ask("os_releases", OsRelease, lambda t: [one for one in t.maas_hosts if _flavour(one) == "deb"]),
    Ask("vm_software", VmHostSoftware, lambda t: t.racks),
    Ask("registrations", MaasRegistration,
        lambda t: list(dict.fromkeys([t.primary] + t.racks)) if t.racks else []),
    Ask("region_confs", RegiondConf, lambda t: t.regions,
        lambda r: {"path": config_path("regiond", _flavour(r))}),
    Ask("region_pending", PendingApply, lambda t: t.regions,
        lambda r: {"path": config_path("regiond", _flavour(r))}),
    Ask("region_answers", MaasRegionApiVersion, lambda t: t.regions),
    Ask("cli_profiles", MaasCliProfiles, lambda t: t.regions, lambda r: {"maas_cli": api_cli(_flavour(r))}),
    Ask("admin_users", MaasAdminUser, lambda t: [t.primary],
        lambda r: {"username": config.get(r, "maas_admin_username"), "flavour": _flavour(r)}),
    Ask("haproxy_servers", HaproxyServers, lambda t: t.haproxies,
        lambda h: {"socket": config.get(h, "maas_haproxy_admin_socket")}),
    Ask("rack_confs", RackdConf, lambda t: t.racks, lambda r: {"path": config_path("rackd", _flavour(r))}),
    # (a region+rack reads its rackd.conf marker at execution: a host's batch holds each fact once)
    Ask("rack_pending", PendingApply, lambda t: [r for r in t.racks if r not in t.regions],
        lambda r: {"path": config_path("rackd", _flavour(r))}),
    # a region+rack's rackd is asked with its region's units (each host asks a fact once)
    Ask("rack_units", SystemdUnits, lambda t: [r for r in t.racks if r not in t.regions],
        lambda r: {"units": [rack_unit_of(r)]}),
    Ask("region_units", SystemdUnits, lambda t: t.regions, _unit_arguments),
    # for maas_rack_health.racks_running on the primary
    Ask("rack_services", MaasRackControllers, lambda t: [t.primary] if t.racks else [], rack_services_args),
    Ask("cpus", Cpus, lambda t: [r for r in t.regions if not config.get(r, "maas_num_workers")]),
    Ask("rack_hostnames", MaasHostname, _dhcp_racks),
    Ask("deb_packages", DebPackages, lambda t: list(dict.fromkeys(t.postgres + t.haproxies))),
    Ask("pg_settings", PostgresSettings, lambda t: t.postgres, _pg_settings_args),
    Ask("pg_clients", PostgresDatabaseClients, lambda t: t.postgres, _pg_clients_args),
    # regions MAAS knows that the inventory may have left out (deploys/region_lifecycle.py)
    Ask("region_controllers", MaasRegionControllers, lambda t: [t.primary], rack_services_args),
    # every region: MAAS TLS is the cluster's, and a region that does not answer shows it off
    Ask("region_tls", MaasTls, lambda t: t.regions,
        lambda r: {"flavour": _flavour(r)}),
    # maas-ha's keepalived files where keepalived is no longer wanted: retired there
    Ask("keepalived_files", KeepalivedFiles, without_keepalived),
)


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
    for key, answers in _opening_round(topo).items():
        setattr(topo, key, answers)
    _region_racks_units(topo)
    _check_installs(topo)
    _check_series(topo)
    _check_racks(topo)
    _check_masked_units(topo, [*topo.racks, *topo.regions])
    # A region that cannot be reached counts at the most workers, so that the database's
    # connection limit never shrinks because a host was briefly away.
    topo.workers = {
        region.name: config.get(region, "maas_num_workers")
        or config.default_num_workers(topo.cpus[region.name] or config.MAX_WORKERS)
        for region in topo.regions
    }
    _size_connections(topo)
    return topo


def _region_racks_units(topo: Topology) -> None:
    """A region+rack's rackd unit came with its region's units (``_unit_arguments``): its
    state goes to ``rack_units`` too, as a rack's would (None: the host did not answer)."""
    for host in topo.racks:
        if host in topo.regions:
            units = topo.region_units.get(host.name)
            unit = rack_unit_of(host)
            topo.rack_units[host.name] = {unit: units.get(unit)} if isinstance(units, dict) else None


def _opening_round(topo: Topology) -> dict:
    """``OPENING_ROUND`` asked in one parallel round: {key: {host name: value}}.

    One command per host (``FactBatch``) for the batchable facts rather than one per fact.
    Every answer is remembered for the operations that read it again (run/memo.py). A host
    pyinfra could not reach answers None for each of its facts."""
    asked = {ask.key: {one: ask.arguments(one) for one in ask.hosts(topo)} for ask in OPENING_ROUND}
    batches: dict = {}  # host -> [[fact name, arguments]], in OPENING_ROUND's order
    for ask in OPENING_ROUND:
        for one, arguments in asked[ask.key].items() if ask.batched else ():
            batches.setdefault(one, []).append([ask.fact.__name__, arguments])
    answers = gather_many({
        # regions' checks (API, CLI, admin) are slow: side by side there; racks are many and cheap
        "batch": (FactBatch, list(batches),
                  lambda one: {"facts": batches[one], "side_by_side": one in topo.regions}),
        **{ask.key: (ask.fact, list(asked[ask.key]), asked[ask.key].get)
           for ask in OPENING_ROUND if not ask.batched},
    })
    facts: dict = {}
    for ask in OPENING_ROUND:
        facts[ask.key] = {}
        for one, arguments in asked[ask.key].items():
            if ask.batched:
                batch = answers["batch"][one.name]
                value, answered = (None, False) if batch is None else (batch.get(ask.fact.__name__), True)
            else:
                value = answers[ask.key][one.name]
                answered = value is not None
            facts[ask.key][one.name] = value
            if answered:
                remember(one, ask.fact, value, **arguments)
    return facts


def _check_installs(topo: Topology) -> None:
    """No mixed MAAS versions, no flavour that differs from the inventory's."""
    for host in topo.maas_hosts:
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


def _check_series(topo: Topology) -> None:
    """Deb hosts: the MAAS version has a build for the host's Ubuntu series (MAAS's PPA and
    its mirrors publish each version for one series)."""
    for host in topo.maas_hosts:
        release = topo.os_releases.get(host.name)
        if release is None:  # a snap host, or unreachable: sits this run out
            continue
        problem = series_problem(str(config.get(host, "maas_version")), release)
        if problem:
            raise SettingError(host.name, "maas_version", problem)


def _check_masked_units(topo: Topology, hosts) -> None:
    """A MAAS unit that is masked can never run: refuse before anything runs (a region's
    would otherwise be drained in HAProxy first), naming the host, the unit and its last log
    lines."""
    for host in dict.fromkeys(hosts):
        states = {}
        for read in (topo.rack_units.get(host.name), topo.region_units.get(host.name)):
            states.update(read if isinstance(read, dict) else {})  # None: unreachable
        for unit, state in states.items():
            if isinstance(state, dict) and state.get("load") == "masked":
                logs = gather_many({"log": (SystemdUnitLog, [host], lambda _, unit=unit: {"unit": unit})})
                lines = logs["log"][host.name] or ["(nothing)"]
                raise DeployError(f"{host.name}: {unit} is masked and cannot run (systemctl unmask {unit}); "
                                  f"it last logged: {' | '.join(lines)}")


def _check_racks(topo: Topology) -> None:
    """Racks: not on a VM host, and not registered to another MAAS."""
    if not topo.racks:
        return
    for rack in topo.racks:
        found = topo.vm_software[rack.name]  # None: unreachable, sits this run out
        if found:
            evidence = "; ".join(VM_EVIDENCE[stack] for stack in found)
            raise SettingError(rack.name, f"group {GROUP_RACK}", f"{', '.join(found)} found ({evidence}): "
                               "a rack controller must not run on a VM host (libvirt/LXD); client "
                               "tools such as virsh and an LXD that is not initialised are fine")
    primary_registration = topo.registrations[topo.primary.name] or {}
    topo.secret_sha256 = primary_registration.get("secret_sha256")
    for rack in topo.racks:
        if rack in topo.regions:
            continue  # region+rack: its node id is the region's own
        registration = topo.registrations[rack.name] or {}
        if registration.get("maas_id") and not registered_with(registration, topo.secret_sha256):
            raise SettingError(rack.name, f"group {GROUP_RACK}", f"rack is already registered (maas_id "
                               f"{registration['maas_id']}) to another MAAS: a rack belongs to one MAAS; "
                               "move it with move_rack.py (--data maas_move_rack=<rack>) or remove it from the inventory")


def _size_connections(topo: Topology) -> None:
    """Decide max_connections (operations/_plan_connections.py) and refuse, before anything
    runs, a budget PostgreSQL cannot hold or a restart the operator has not allowed."""
    pg = topo.postgres[0]
    version = config.get(topo.primary, "maas_version")
    topo.budget = connection_budget(
        version, topo.workers,
        headroom=config.get(pg, "maas_pg_connection_headroom"),
        spare_regions=config.get(pg, "maas_pg_spare_regions"),
        max_workers=config.MAX_WORKERS,
    )
    explicit = pg.data.get("maas_pg_max_connections")
    detail = f"{topo.budget.needed} (MAAS {version}: {topo.budget.describe()})"
    if topo.budget.needed > config.MAX_PG_CONNECTIONS:
        raise SettingError(pg.name, "maas_pg_max_connections", f"the regions' connection budget of "
                           f"{detail} is more than the {config.MAX_PG_CONNECTIONS} connections maas-ha lets "
                           "PostgreSQL open: lower maas_num_workers")
    if explicit is not None and explicit < topo.budget.needed:
        raise SettingError(pg.name, "maas_pg_max_connections", f"{explicit} cannot hold the regions' "
                           f"connection budget of {detail}")
    sized = explicit if explicit is not None else min(max(topo.budget.sized, 100), config.MAX_PG_CONNECTIONS)
    live = (topo.pg_settings.get(pg.name) or {}).get("max_connections")
    clients = topo.pg_clients.get(pg.name)
    topo.connection_plan = plan_max_connections(
        live=int(live["value"]) if live else None,
        needed=topo.budget.needed,
        sized=sized,
        in_use=bool(clients),
        # a Patroni cluster restarts its members one at a time itself (operations/patroni.py)
        restart_allowed=(config.is_true(config.get(pg, "maas_pg_restart_allowed"))
                         or len(topo.postgres) >= 3),
        explicit=explicit is not None,
    )
    if topo.connection_plan.change == "refuse":
        raise SettingError(pg.name, "maas_pg_restart_allowed", f"PostgreSQL {topo.connection_plan.problem} "
                           f"(the regions' budget: {detail})")
    topo.max_connections = topo.connection_plan.value
