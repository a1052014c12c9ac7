"""One fact from many hosts, or many facts from many hosts, in one parallel round.

pyinfra reads a fact for the host whose turn it is; the guards and plans that need every
host (deploys/topology.py) read them all at once, each host in its own greenlet.
"""

from __future__ import annotations

import gevent

from run.pyinfra_internals import has_failed, host_context


def gather(fact_cls, hosts, kwargs_of=None, **kwargs) -> dict:
    """One fact from many hosts, in parallel (each greenlet with its own host context).
    `kwargs_of(host)`, when given, is the fact's arguments for that host.

    Hosts pyinfra could not connect to answer None: they sit this run out, and the guards
    treat what they would have said as unknown."""

    def one(host):
        if has_failed(host):
            return None
        with host_context(host):
            return host.get_fact(fact_cls, **(kwargs_of(host) if kwargs_of else kwargs))

    jobs = {host.name: gevent.spawn(one, host) for host in hosts}
    gevent.joinall(list(jobs.values()), raise_error=True)
    return {name: job.value for name, job in jobs.items()}


def gather_many(requests: dict) -> dict:
    """Several ``gather`` calls at once: {key: (fact class, hosts[, kwargs_of])} ->
    {key: {host name: value}}.

    All facts of all hosts are asked at the same time: the run's planning waits for the
    slowest answer once, not once per fact."""
    jobs = {key: gevent.spawn(gather, *request) for key, request in requests.items()}
    gevent.joinall(list(jobs.values()), raise_error=True)
    return {key: job.value for key, job in jobs.items()}
