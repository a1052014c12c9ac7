"""Facts this run has already read, reused while the host has run nothing since.

pyinfra 3 keeps no fact cache: every operation asks its host again when it executes. Some
facts are read in the run's opening round (deploys/topology.py) and again by an operation
later, or by several operations in a row; while no operation has run a command on that
host in between, the host cannot have changed under our deploy, and the answer is the same.
``recall`` gives that answer without a round trip; anything else asks the host.
Outside execution (planning, unit tests) it always asks.
"""

from __future__ import annotations

import weakref

from run.pyinfra_internals import commands_run, is_executing

# Per run (pyinfra state): {(host name, fact name, arguments): (commands_run mark, value)}
_MEMO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
    if not is_executing(state):
        return host.get_fact(fact_cls, **kwargs)
    memo = _MEMO.setdefault(state, {})
    key = _key(host, fact_cls, kwargs)
    mark = commands_run(host)
    if key in memo and memo[key][0] == mark:
        return memo[key][1]
    value = host.get_fact(fact_cls, **kwargs)
    memo[key] = (mark, value)
    return value
