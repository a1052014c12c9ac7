"""run/pyinfra_internals.py against the installed pyinfra: every attribute of pyinfra's
run-time state the deploy reads, pinned by name and shape, then read in a real run on
@local (a `true` and a Python step, nothing else).

A pyinfra upgrade that renames or reshapes one of them fails here, saying which, rather
than somewhere in a deploy (a memo that never sees a command run, connection arguments
that lose ``_sudo``)."""

from __future__ import annotations

import dataclasses
import inspect

import gevent
import pytest
from pyinfra.api import Config, Host, Inventory, State
from pyinfra.api.arguments import auth_argument_meta, pop_global_arguments
from pyinfra.api.connect import connect_all
from pyinfra.api.operation import OperationMeta, add_op
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateOperationHostData
from pyinfra.context import ctx_config, ctx_host
from pyinfra.operations import python, server

from run import pyinfra_internals as internals


def pinned(condition, what: str) -> None:
    assert condition, f"pyinfra changed what run/pyinfra_internals.py relies on: {what}"


@pytest.fixture
def local_state():
    state = State(inventory=Inventory((["@local"], {})), config=Config())
    return state, state.inventory.get_host("@local")


def test_state_keeps_each_hosts_operations_and_failures(local_state):
    state, local = local_state
    pinned(isinstance(getattr(state, "ops", None), dict) and state.ops.get(local) == {},
           "State.ops is {host: {operation hash: StateOperationHostData}}, empty per host at the start")
    pinned(getattr(state, "is_executing", None) is False, "State.is_executing is False while planning")
    pinned(isinstance(getattr(state, "failed_hosts", None), set) and not state.failed_hosts,
           "State.failed_hosts is a set of Host")
    pinned(callable(getattr(state, "get_op_data_for_host", None))
           and list(inspect.signature(state.get_op_data_for_host).parameters) == ["host", "op_hash"],
           "State.get_op_data_for_host(host, op_hash)")
    pinned(getattr(state, "limit_hosts", "absent") is None, "State.limit_hosts is None without --limit")
    pinned(callable(getattr(state.config, "copy", None)), "State.config.copy()")


def test_operation_data_and_meta_shapes():
    fields = {field.name for field in dataclasses.fields(StateOperationHostData)}
    pinned({"global_arguments", "operation_meta"} <= fields,
           "StateOperationHostData has global_arguments and operation_meta")
    pinned(callable(getattr(OperationMeta, "is_complete", None)), "OperationMeta.is_complete()")
    pinned(isinstance(inspect.getattr_static(OperationMeta, "executed", None), property),
           "OperationMeta.executed is a property")


def test_host_names_the_operation_it_executes(local_state):
    _, local = local_state
    for name in ("executing_op_hash", "nested_executing_op_hash"):
        pinned(name in Host.__annotations__ and getattr(local, name, "absent") is None,
               f"Host.{name} (None while no operation executes)")


def test_global_arguments_api():
    pinned({"_sudo", "_sudo_user", "_sudo_password", "_su_user", "_doas"} <= set(auth_argument_meta),
           "pyinfra.api.arguments.auth_argument_meta names the arguments that say who runs a command")
    pinned(list(inspect.signature(pop_global_arguments).parameters) == ["state", "host", "kwargs"],
           "pyinfra.api.arguments.pop_global_arguments(state, host, kwargs)")
    pinned(internals.AUTH_ARGUMENTS == tuple(auth_argument_meta), "AUTH_ARGUMENTS follows auth_argument_meta")


def test_outside_an_operation_the_host_data_and_config_apply():
    inventory = Inventory((["@local"], {"_sudo": True, "_sudo_user": "maas"}))
    state = State(inventory=inventory, config=Config())
    arguments = internals.global_arguments(state, inventory.get_host("@local"))
    assert arguments["_sudo"] is True and arguments["_sudo_user"] == "maas"
    assert "_timeout" in arguments  # every global argument, with its default


def test_the_limit_is_the_hosts_it_keeps():
    inventory = Inventory((["@local", "other"], {}))
    kept = [inventory.get_host("@local")]
    state = State(inventory=inventory, config=Config(), initial_limit=kept)
    assert internals.limit_hosts(state) == kept
    pinned(state.is_host_in_limit(kept[0]) and not state.is_host_in_limit(inventory.get_host("other")),
           "State.limit_hosts is the list of hosts --limit keeps")


def test_a_failed_host_sits_out(local_state):
    state, local = local_state
    assert internals.has_failed(local) is False
    state.failed_hosts.add(local)
    assert internals.has_failed(local) is True


def test_a_greenlet_reads_facts_in_the_hosts_context(local_state):
    state, local = local_state

    def inside():
        with internals.host_context(local):
            return ctx_host.get(), ctx_config.get()

    job = gevent.spawn(inside)
    job.join()
    context_host, context_config = job.value
    assert context_host is local
    pinned(isinstance(context_config, Config) and context_config is not state.config
           and context_config.CONNECT_TIMEOUT == state.config.CONNECT_TIMEOUT,
           "ctx_config.use() with a copy of State.config, as pyinfra reads a fact")
    assert ctx_host.get() is None  # the context was the greenlet's own


def test_in_a_real_run_the_internals_see_what_ran(local_state):
    """Planned: not executing, nothing run. Executing a Python step after a `true` and a
    step with nothing to do: one operation has run commands, and the step's own global
    arguments apply."""
    state, local = local_state
    connect_all(state)
    seen = {}

    def probe():
        seen["executing"] = internals.is_executing(state)
        seen["commands_run"] = internals.commands_run(local)
        seen["arguments"] = internals.global_arguments(state, local)

    add_op(state, server.shell, commands=["true"])
    add_op(state, server.shell, commands=[])  # complete, but ran nothing
    add_op(state, python.call, function=probe, _env={"MAAS_HA_PROBE": "1"})
    assert internals.is_executing(state) is False and internals.commands_run(local) == 0
    run_ops(state)
    assert seen["executing"] is True
    pinned(seen["commands_run"] == 1, "State.ops[host][hash].operation_meta: is_complete() and executed "
                                      "count the `true` step, neither the step that ran nothing nor "
                                      "the step still running")
    pinned(seen["arguments"].get("_env") == {"MAAS_HA_PROBE": "1"},
           "Host.executing_op_hash and State.get_op_data_for_host(...).global_arguments give the "
           "executing operation's arguments")
    assert internals.commands_run(local) == 2  # and the Python step, once complete
