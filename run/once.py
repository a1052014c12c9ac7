"""A value several hosts of one run need, computed once.

pyinfra plans every host in its own greenlet; the topology, the rolling plan and the region
secret racks register with are the same for all of them. The first host to ask computes
the value, the others wait for it; the next run (another pyinfra state) computes it again.
"""

from __future__ import annotations

from gevent.lock import Semaphore

_LOCKS: dict = {}  # one lock per value name


def once_per_run(state, name: str, build):
    """`build()` computed by the first host's greenlet that asks, kept on the pyinfra state
    (an attribute of our own), and shared with every other host of this run (they wait for
    it). A `build` that raises keeps nothing: the next host to ask tries again."""
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
