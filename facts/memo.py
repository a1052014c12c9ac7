"""Facts this run has already read, reused while the host has run nothing since.

pyinfra 3 keeps no fact cache: every operation asks its host again when it executes. Some
facts are read in the run's opening round (deploys/topology.py) and again by an operation
later, or by several operations in a row; while no operation has run a command on that
host in between, the host cannot have changed under our deploy, and the answer is the same.
``recall`` gives that answer without a round trip; anything else asks the host.
Outside execution (planning, unit tests) it always asks.

``once_per_run`` is the same idea for a value several hosts need (the topology, the rolling
plan, the region secret racks register with): the first to ask computes it, the others
wait for it.
"""

from __future__ import annotations

import weakref

from gevent.lock import Semaphore

# Per run (pyinfra state): {(host name, fact name, arguments): (commands_run mark, value)}
_MEMO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCKS: dict = {}  # one lock per once_per_run value name


def commands_run(host) -> int:
    """Operations that have run commands on `host` so far in this run (0 before execution)."""
    ops = getattr(host.state, "ops", None)
    if not isinstance(ops, dict):
        return 0
    return sum(
        1 for op_data in ops.get(host, {}).values()
        if op_data.operation_meta.is_complete() and op_data.operation_meta.executed
    )


def _key(host, fact_cls, kwargs) -> tuple:
    return host.name, fact_cls.__name__, tuple(sorted((name, repr(value)) for name, value in kwargs.items()))


def remember(host, fact_cls, value, **kwargs) -> None:
    """Keep a value read for `host` (e.g. in the opening round) for later ``recall``."""
    if getattr(host, "state", None) is None:  # a host outside any run: nothing to keep
        return
    _MEMO.setdefault(host.state, {})[_key(host, fact_cls, kwargs)] = (commands_run(host), value)


def recall(host, fact_cls, **kwargs):
    """``host.get_fact(fact_cls, **kwargs)``, or the value this run already read while
    nothing has run on the host since."""
    state = host.state
    if not getattr(state, "is_executing", False):
        return host.get_fact(fact_cls, **kwargs)
    memo = _MEMO.setdefault(state, {})
    key = _key(host, fact_cls, kwargs)
    mark = commands_run(host)
    if key in memo and memo[key][0] == mark:
        return memo[key][1]
    value = host.get_fact(fact_cls, **kwargs)
    memo[key] = (mark, value)
    return value


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
