"""Rolling region restarts behind HAProxy: one region at a time, never the API dark.

For each region in inventory order (the primary first), every region host and every HAProxy
host walks the same loop, so that pyinfra orders the steps across hosts:

1. HAProxy hosts drain the region (new requests go to the others; open sessions finish), in
   every backend that has it: the HTTP one and, with MAAS TLS on, the HTTPS one (TCP mode),
2. the region writes its regiond.conf, restarts, and waits until it answers its API,
3. HAProxy hosts set it ready again in those backends and wait until their health checks see
   it UP,

then the next region. Only regions that need it take part: regiond.conf is about to change,
an earlier run wrote it and stopped before the region restarted (its pending-apply marker),
or the region does not answer (left down by an earlier run). A region that is not in HAProxy
yet (first deploy) is simply configured and started. When no region needs a restart, there is
no loop: every region checks its config side by side.

pyinfra orders operations by the position each has in every host's own list, and gives
operations called from one line in a ``host.loop`` one node per iteration. The two barriers
per region (called by every participant from the same lines) make "drained" come before
"restart" and "restarted" before "ready" across hosts; "ready" comes before the next region's
drain on the HAProxy hosts' own list.

If any participant fails (a region that does not come back, a drain HAProxy refuses), the
rollout stops there: the regions after it are not touched and keep their old config, and
HAProxy keeps serving them. The failing host's error says what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import deploy

import config
from deploys.region import configure_and_restart, region_settings
from operations import maas_rolling
from operations._plan_region import install_mode, plan_regiond, regiond_settings, wanted_regiond
from run.once import once_per_run
from run.phases import barrier
from run.pyinfra_internals import has_failed

# the backends in operations/templates/haproxy.cfg.j2: HTTP, and HTTPS with MAAS TLS on
BACKENDS = ("maas_regions", "maas_regions_tls")


@dataclass
class RollingPlan:
    """What this run restarts, decided once from every participant's facts before anything runs."""

    regions: list
    haproxies: list
    reasons: dict = field(default_factory=dict)  # region name -> why it restarts (absent: it doesn't)
    in_haproxy: dict = field(default_factory=dict)  # haproxy -> {backend: {server: admin state}}
    announced: set = field(default_factory=set)  # (host, region) pairs told the rollout stopped
    sitting_out: set = field(default_factory=set)  # hosts pyinfra could not reach before the run

    @property
    def participants(self) -> list:
        return list(dict.fromkeys(self.regions + self.haproxies))

    def restarts(self, region) -> bool:
        return region.name in self.reasons

    def go(self, region, announce: bool = False):
        """An ``_if`` callable: True while no participant has failed during this run."""

        def check() -> bool:
            failed = [h.name for h in self.participants
                      if has_failed(h) and h.name not in self.sitting_out]
            if not failed:
                return True
            if announce and (host.name, region.name) not in self.announced:
                self.announced.add((host.name, region.name))
                host.log_styled(
                    f"rolling restart stopped after {', '.join(failed)} failed: {region.name} is "
                    "not restarted and keeps its old config", fg="yellow")
            return False

        return check


PENDING_REASON = "regiond.conf written by a run that stopped before the region restarted"


def restart_reason(settings: dict, conf: dict | None, install: dict | None, answers: bool,
                   pending: bool = False) -> str | None:
    """Why a region must restart in this run, or None. The same plan as
    ``maas_region.configure``'s (``plan_regiond``): a change there means configure changes
    the file (and, on snap, restarts). ``pending``: regiond.conf's pending-apply marker is
    there (facts/pending_apply.py), so the region may still run an older file even though
    the file is right; ``answers``: the region answers its API."""
    wanted = wanted_regiond(**{key: value for key, value in settings.items()
                               if key not in ("flavour", "with_rack")})
    changes = plan_regiond(settings["flavour"], regiond_settings(conf) or {}, wanted,
                           install_mode(install), with_rack=settings.get("with_rack", False))["changes"]
    if changes:
        return "regiond.conf: " + ", ".join(changes)
    if pending:
        return PENDING_REASON
    if not answers:
        return "the region API does not answer"
    return None


def servers_in_haproxy(servers: dict | None) -> dict:
    """``{backend: {server: admin state}}`` of the region backends in a ``HaproxyServers``
    answer: the HTTP backend, and the HTTPS one once HAProxy follows MAAS TLS."""
    return {backend: {name: state.get("admin_state") for name, state in servers[backend].items()}
            for backend in BACKENDS if (servers or {}).get(backend)}


def _build(topology) -> RollingPlan:
    plan = RollingPlan(regions=list(topology.regions), haproxies=list(topology.haproxies))
    # Hosts that were already out before anything ran (unreachable) sit the run out; only a
    # failure during the run stops the rollout. The drain refuses when no other region is UP.
    plan.sitting_out = {h.name for h in plan.participants if has_failed(h)}
    settings = {region.name: region_settings(topology, region) for region in plan.regions}
    # regiond.conf, its marker, the API and HAProxy's servers, as read in the topology's round
    confs, answers, servers = topology.region_confs, topology.region_answers, topology.haproxy_servers
    for region in plan.regions:
        reason = restart_reason(settings[region.name], confs.get(region.name),
                                topology.installs.get(region.name), answers.get(region.name) is not None,
                                pending=topology.region_pending.get(region.name) is True)
        if reason:
            plan.reasons[region.name] = reason
    for lb in plan.haproxies:
        plan.in_haproxy[lb.name] = servers_in_haproxy(servers.get(lb.name))
    return plan


def get_plan(state, topology) -> RollingPlan:
    """The run's RollingPlan, computed by the first host that asks and shared by all."""
    return once_per_run(state, "rolling_plan", lambda: _build(topology))


@deploy("MAAS rolling region restart")
def rolling_region_restart(topology):
    """Every region and HAProxy host calls this (from one line): see the module docstring."""
    plan = get_plan(host.state, topology)
    if not plan.reasons:
        # Nothing restarts: nothing to drain or to order across hosts. Every region checks
        # its config at the same time instead of waiting for the one before it.
        if host in plan.regions:
            configure_and_restart(topology, restart=False, go=plan.go(host, announce=True), label="")
        return
    is_lb = host in plan.haproxies
    socket = config.get(host, "maas_haproxy_admin_socket")
    backends = plan.in_haproxy.get(host.name, {}) if is_lb else {}
    for region in host.loop(plan.regions):
        restart = plan.restarts(region)
        # the backends that have this region, with its admin state in each
        states = {backend: servers[region.name] for backend, servers in backends.items() if region.name in servers}
        for backend in host.loop(list(states) if restart else []):
            maas_rolling.drain_region(
                name=f"{region.name}: drain in HAProxy {backend} ({plan.reasons[region.name]})",
                server=region.name, backend=backend, socket=socket,
                timeout=config.get(host, "maas_haproxy_drain_timeout"),
                _if=plan.go(region, announce=True),
            )
        barrier(name=f"Rolling restart: {region.name} out of rotation",
                phase=f"{region.name} out of rotation")
        if host == region:
            configure_and_restart(topology, restart=restart, go=plan.go(region, announce=True))
        barrier(name=f"Rolling restart: {region.name} done", phase=f"{region.name} done")
        for backend in host.loop([b for b, state in states.items() if restart or state == "drain"]):
            maas_rolling.ready_region(
                name=f"{region.name}: back into HAProxy {backend}",
                server=region.name, backend=backend, socket=socket,
                timeout=config.get(host, "maas_region_restart_timeout"),
                _if=plan.go(region),
            )
