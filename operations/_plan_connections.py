"""PostgreSQL's connection limit for the MAAS regions, as plain data: how many connections one
region opens per MAAS version, what the inventory's regions need, what ``max_connections`` is
sized to, and whether the live server's limit may stay, must rise, or cannot rise without a
restart the operator has not allowed.

``max_connections`` only changes when PostgreSQL restarts, and a restart cuts every region's
connections at once (failed API requests). So the limit is sized with room for more regions
than the inventory has (``maas_pg_spare_regions``, each at the most workers MAAS runs), it is
never lowered, and it is raised only when the regions really need more than the server has:
freely while no one uses the MAAS database (the first deploy), otherwise only when the
operator allows the restart (``maas_pg_restart_allowed``). Nothing here reads a host: the
single-server deploy (deploys/topology.py) and a replicated cluster can share the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Connections one region opens, counted from canonical/maas at tags 3.4.10, 3.5.13 and 3.6.5:
#
# - regiond: the master process and each worker (src/maasserver/plugin.py: both install the
#   database thread pool) hold up to ``max_threads_for_database_pool`` = 9 connections plus
#   one for their PostgresListener (src/maasserver/utils/threads.py, all three tags):
#   10 per process, (num_workers + 1) processes.
# - maas-apiserver (3.5+) and maas-temporal-worker (3.5+) each create one SQLAlchemy async
#   engine (src/maasapiserver/main.py; src/maasserver/temporal_script.py in 3.5,
#   src/maastemporalworker/temporal_script.py in 3.6), whose pool holds pool_size plus
#   SQLAlchemy's default max_overflow of 10: 3.5 uses SQLAlchemy's default pool_size of 5
#   (src/maasapiserver/common/db/__init__.py) = 15; 3.6 sets pool_size=3
#   (src/maasservicelayer/db/__init__.py) = 13. 3.6's apiserver listeners
#   (src/maasservicelayer/db/listeners.py) hold a connection of that same pool.
# - maas-temporal (3.5+): ``temporal-server start`` (debian/maas-region-api.maas-temporal.service)
#   runs Temporal's four services (frontend, history, matching, worker) in one process, each
#   with its own persistence pools: the default store's maxConns 5 and the visibility
#   store's maxConns 1 (src/maasserver/templates/temporal/production.yaml.template, 3.5.13
#   and 3.6.5): 4 x 6 = 24.
DB_CONNECTIONS_PER_REGIOND_PROCESS = 10
SIDE_SERVICE_CONNECTIONS = {
    (3, 4): {},
    (3, 5): {"maas-apiserver": 15, "maas-temporal-worker": 15, "maas-temporal": 24},
    (3, 6): {"maas-apiserver": 13, "maas-temporal-worker": 13, "maas-temporal": 24},
}


def _series(version) -> tuple[int, int]:
    major, minor = (int(part) for part in str(version).split(".")[:2])
    return major, minor


def side_services(version) -> dict[str, int]:
    """Connections of the region's services beside regiond, for MAAS ``version`` (``"3.5"``).

    A series older than 3.5 counts as 3.4; one newer than the newest counted as the most any
    counted series needs (MAAS has only added services so far)."""
    series = _series(version)
    if series in SIDE_SERVICE_CONNECTIONS:
        return dict(SIDE_SERVICE_CONNECTIONS[series])
    if series < min(SIDE_SERVICE_CONNECTIONS):
        return {}
    return dict(max(SIDE_SERVICE_CONNECTIONS.values(), key=lambda services: sum(services.values())))


def region_connections(version, workers: int) -> int:
    """The most PostgreSQL connections one region of MAAS ``version`` with ``workers`` regiond
    workers opens: regiond's processes, then the apiserver and Temporal on 3.5+."""
    return DB_CONNECTIONS_PER_REGIOND_PROCESS * (int(workers) + 1) + sum(side_services(version).values())


@dataclass
class ConnectionBudget:
    """What the inventory's regions need (``per_region`` at their workers, plus ``headroom``
    for admin tools and backups) and what max_connections is sized to (``sized``)."""

    per_region: dict[str, int] = field(default_factory=dict)
    headroom: int = 0
    sized: int = 0

    @property
    def needed(self) -> int:
        return sum(self.per_region.values()) + self.headroom

    def describe(self) -> str:
        regions = ", ".join(f"{name}: {count}" for name, count in self.per_region.items())
        return f"{regions}; headroom {self.headroom}"


def connection_budget(version, workers_by_region: dict[str, int], headroom: int,
                      spare_regions: int, max_workers: int) -> ConnectionBudget:
    """The regions' need, and max_connections sized for ``spare_regions`` more regions than
    the inventory has, every region counted at ``max_workers`` (the most ``maas_num_workers``
    takes): adding a region within the spare ones, or changing ``maas_num_workers``, then
    needs no restart."""
    per_region = {name: region_connections(version, workers) for name, workers in workers_by_region.items()}
    slots = len(workers_by_region) + spare_regions
    return ConnectionBudget(per_region=per_region, headroom=headroom,
                            sized=slots * region_connections(version, max_workers) + headroom)


@dataclass(frozen=True)
class ConnectionPlan:
    """What to do about max_connections: the ``value`` the server's drop-in holds, and
    ``change``: ``keep`` (the live value, no restart), ``first`` (server not running yet, or
    no one uses the MAAS database: a restart harms no one), ``raise`` (a restart the operator
    allowed) or ``refuse`` (a restart is needed and not allowed: ``problem`` says why)."""

    value: int | None
    change: str
    problem: str = ""


def plan_max_connections(live: int | None, needed: int, sized: int, in_use: bool,
                         restart_allowed: bool, explicit: bool = False) -> ConnectionPlan:
    """Decide max_connections from the ``live`` server's value (None: not running), what the
    regions ``needed`` and what it is ``sized`` to.

    The live value stays while it holds what is needed (never lowered: lowering needs a
    restart too), unless an ``explicit`` setting asks for more. A raise is free while nothing
    is connected to the MAAS database (``in_use`` False), else needs ``restart_allowed``."""
    if live is None:
        return ConnectionPlan(sized, "first")
    wanted_raise = needed > live or (explicit and sized > live)
    if not wanted_raise:
        return ConnectionPlan(live, "keep")
    if not in_use:
        return ConnectionPlan(sized, "first")
    if restart_allowed:
        return ConnectionPlan(sized, "raise")
    why = (f"the regions need {needed}" if needed > live else f"maas_pg_max_connections asks for {sized}")
    return ConnectionPlan(live, "refuse", f"max_connections is {live} and {why}: raising it restarts "
                          "PostgreSQL under every region (failed API requests); allow it for this run "
                          f"with --data maas_pg_restart_allowed=true (it is then set to {sized})")
