"""Everything this deploy reads from pyinfra's run-time state beyond its plug-in interface.

pyinfra documents how to write facts, operations and deploys; the run machinery also needs
a few things pyinfra keeps for itself: which operations have run commands on a host
(``State.ops``, each ``StateOperationHostData.operation_meta``), whether the run is
executing (``State.is_executing``), the operation a host is executing
(``Host.executing_op_hash``, ``Host.nested_executing_op_hash``) and its global arguments
(``State.get_op_data_for_host``), the arguments pyinfra would use outside an operation
(``pyinfra.api.arguments.pop_global_arguments``), the hosts that failed
(``State.failed_hosts``), the hosts ``--limit`` keeps (``State.limit_hosts``), and the
context a fact is read in for a host (``ctx_config``, ``ctx_host``). They are read here and
nowhere else, and tests/unit/test_pyinfra_internals.py pins each of them on the installed
pyinfra, so that an upgrade that changes one fails there, naming it, rather than somewhere
in a deploy.
"""

from __future__ import annotations

from contextlib import contextmanager

from pyinfra.api.arguments import auth_argument_meta, pop_global_arguments
from pyinfra.context import ctx_config, ctx_host

# The global arguments that say who runs a command (``_sudo``, ``_sudo_user``, ``_su_user``,
# ``_doas``, ``_sudo_password``, ...).
AUTH_ARGUMENTS = tuple(auth_argument_meta)


def is_executing(state) -> bool:
    """True once pyinfra executes the operations (False while planning, or outside a run)."""
    return bool(getattr(state, "is_executing", False))


def commands_run(host) -> int:
    """Operations that have run commands on `host` so far in this run (0 before execution)."""
    ops = getattr(host.state, "ops", None)
    if not isinstance(ops, dict):
        return 0
    return sum(
        1 for op_data in ops.get(host, {}).values()
        if op_data.operation_meta.is_complete() and op_data.operation_meta.executed
    )


def has_failed(host) -> bool:
    """True when pyinfra has given up on `host` in this run (it could not connect, or an
    operation failed): the host sits the rest of the run out."""
    return host in host.state.failed_hosts


def limit_hosts(state):
    """The hosts ``--limit`` keeps in this run, or None when the run has no limit."""
    return state.limit_hosts


def global_arguments(state, host) -> dict:
    """The global arguments (``_sudo``, ``_env``, ``_timeout``, ...) pyinfra itself runs a
    command on `host` with: those of the operation `host` is executing, else its host data
    and the config, as for a fact."""
    op_hash = host.nested_executing_op_hash or host.executing_op_hash
    if op_hash is not None and op_hash in state.ops.get(host, {}):
        return state.get_op_data_for_host(host, op_hash).global_arguments
    arguments, _ = pop_global_arguments(state, host, {})
    return arguments


@contextmanager
def host_context(host):
    """The context pyinfra reads a fact of `host` in (its config and host), for a greenlet
    of our own: pyinfra's contexts are per greenlet."""
    with ctx_config.use(host.state.config.copy()), ctx_host.use(host):
        yield
