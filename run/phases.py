"""Phase barriers: make the hosts that call one wait for each other at a point in the deploy.

pyinfra orders operations per host and interleaves hosts by position, so without a shared
operation the third step on the database host may run alongside the third step on a rack.
An operation that several hosts call from the same line is one node in pyinfra's order: all
that comes before it on any of them runs before it, all that comes after runs after it.
It never changes anything.
"""

from pyinfra import host
from pyinfra.api import operation


@operation(is_idempotent=True)
def barrier(phase: str):
    """Every host reaches `phase` before any host goes past it (no commands).

    + phase: the phase's name; every host that calls the barrier must use the same name

    **Example:**

    .. code:: python

        from run.phases import barrier

        # in deploy.py, called on every host taking part
        barrier(name="Phase: database ready", phase="database ready")
    """
    host.noop(f"phase reached: {phase}")
    return
    yield  # pragma: no cover - makes this a generator, as pyinfra requires
