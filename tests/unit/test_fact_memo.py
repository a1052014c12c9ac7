"""run/memo.py: a fact read earlier in the run is reused only while the host ran nothing;
run/once.py: a value every host needs is computed once per run."""

from types import SimpleNamespace

from facts.maas_config import RackdConf
from run.memo import recall, remember


class _Host:
    def __init__(self, state):
        self.name, self.state, self.asked = "rack1", state, []

    def get_fact(self, fact_cls, **kwargs):
        self.asked.append((fact_cls.__name__, kwargs))
        return {"asked": len(self.asked)}


def _op(executed):
    meta = SimpleNamespace(executed=executed, is_complete=lambda: True)
    return SimpleNamespace(operation_meta=meta)


class _State:  # pyinfra's State, as far as the memo looks at it
    def __init__(self, executing):
        self.is_executing, self.ops = executing, {}


def _setup(executing=True):
    state = _State(executing)
    host = _Host(state)
    state.ops[host] = {}
    return state, host


def test_remembered_answer_is_reused_while_nothing_ran():
    state, host = _setup()
    remember(host, RackdConf, {"from": "opening round"}, path="/etc/maas/rackd.conf")
    state.ops[host]["noop"] = _op(executed=False)  # an operation that changed nothing
    assert recall(host, RackdConf, path="/etc/maas/rackd.conf") == {"from": "opening round"}
    assert host.asked == []


def test_a_command_on_the_host_makes_it_ask_again():
    state, host = _setup()
    remember(host, RackdConf, {"from": "opening round"}, path="/etc/maas/rackd.conf")
    state.ops[host]["register"] = _op(executed=True)
    assert recall(host, RackdConf, path="/etc/maas/rackd.conf") == {"asked": 1}
    # ...and that new answer is reused in turn
    assert recall(host, RackdConf, path="/etc/maas/rackd.conf") == {"asked": 1}
    assert len(host.asked) == 1


def test_other_arguments_are_another_fact():
    state, host = _setup()
    remember(host, RackdConf, {"from": "opening round"}, path="/etc/maas/rackd.conf")
    assert recall(host, RackdConf, path="/var/snap/maas/current/rackd.conf") == {"asked": 1}


def test_outside_execution_it_always_asks():
    state, host = _setup(executing=False)
    remember(host, RackdConf, {"from": "opening round"}, path="/etc/maas/rackd.conf")
    assert recall(host, RackdConf, path="/etc/maas/rackd.conf") == {"asked": 1}


def test_once_per_run_builds_once_for_hosts_asking_together():
    import gevent

    from run.once import once_per_run

    state, calls = _State(True), []

    def build():
        calls.append(1)
        gevent.sleep(0.01)  # the others ask while the first is still reading
        return "secret-digest"

    jobs = [gevent.spawn(once_per_run, state, "secret r1:/var/lib/maas/secret", build) for _ in range(5)]
    gevent.joinall(jobs, raise_error=True)
    assert [job.value for job in jobs] == ["secret-digest"] * 5
    assert calls == [1]
    assert once_per_run(_State(True), "secret r1:/var/lib/maas/secret", lambda: "next run") == "next run"


def test_once_per_run_failure_is_not_kept():
    import pytest

    from run.once import once_per_run

    state = _State(True)

    def fail():
        raise RuntimeError("region unreachable")

    with pytest.raises(RuntimeError):
        once_per_run(state, "plan", fail)
    assert once_per_run(state, "plan", lambda: "built") == "built"
