"""Commands run while the deploy executes, inside a ``FunctionCommand``, as pyinfra runs its own.

pyinfra applies a host's connection arguments (``_sudo``, ``_sudo_user``, ``_sudo_password``,
``_su_user``, ``_doas``, ``_env``, ...) to the commands an operation yields and to facts,
but not to ``host.run_shell_command`` called from a ``FunctionCommand``: there a command runs
as the login user. Production logs in as an operator with ``_sudo``, and MAAS refuses
non-root (its secret is 0640, ``maas-rack``/``maas-region``/``maas apikey`` need root), so
every execution-time command goes through ``run`` here, which adds those arguments.

Also the small helpers the operations share: shell quoting, failing a ``FunctionCommand``
with a clear message, reaching another inventory host, the command that reads the admin's
API key.
"""

from __future__ import annotations

import logging
import shlex

from pyinfra.api.exceptions import OperationError

from facts.maas import SNAP_MAAS
from run.pyinfra_internals import AUTH_ARGUMENTS, global_arguments

logger = logging.getLogger(__name__)

# What decides how a command is run (who runs it, in which shell, directory and
# environment); not the per-command controls (timeout, exit codes, stdin, retries).
HOW_TO_RUN = (*AUTH_ARGUMENTS, "_shell_executable", "_chdir", "_env", "_temp_dir")


def quote(value) -> str:
    """``value`` as one shell word."""
    return shlex.quote(str(value))


def fail(target, message: str) -> bool:
    """Log ``message`` in red for ``target`` and return False (a failed ``FunctionCommand``)."""
    target.log_styled(message, fg="red", log_func=logger.error)
    return False


def say(state, host, message: str) -> bool:
    """A ``FunctionCommand`` that tells the operator what an operation did (in green). Its
    first parameters must be named ``state`` and ``host``: pyinfra passes them only then."""
    host.log_styled(message, fg="green")
    return True


def connection_arguments(state, target) -> dict:
    """The connection arguments pyinfra itself runs a command on ``target`` with: those of
    the operation ``target`` is executing, else its host data and the config (as a fact)."""
    arguments = global_arguments(state, target)
    return {key: arguments[key] for key in HOW_TO_RUN if key in arguments}


def run(state, target, command, **arguments):
    """Run ``command`` on ``target`` quietly (neither the command nor its output printed) with
    the host's connection arguments; ``arguments`` (``_stdin``, ``_timeout``, ...) add to or
    override them. Returns ``(ok, output)`` like ``host.run_shell_command``."""
    return target.run_shell_command(
        command, print_output=False, print_input=False,
        **{**connection_arguments(state, target), **arguments},
    )


def stderr_tail(output) -> str:
    """The last line a failed command wrote to stderr, as `` (why)`` for an error message."""
    lines = [line.strip() for line in (getattr(output, "stderr", "") or "").splitlines() if line.strip()]
    return f" ({lines[-1][-300:]})" if lines else ""


def inventory_host(state, name: str, role: str):
    """The inventory host ``name``, connected (raises OperationError naming its ``role``)."""
    target = state.inventory.get_host(name, default=None)
    if target is None:
        raise OperationError(f"{role} {name} is not in the inventory")
    if not target.connected:
        target.connect(raise_exceptions=True)
    return target


def api_key_command(admin_username, flavour=None) -> str:
    """The shell command that prints ``admin_username``'s API key on a region host (as root);
    ``flavour`` says which program reads it, ``None`` detects it on the host. Run where the
    key is used (``region_api.py``): the key itself never leaves the host."""
    user = quote(admin_username)
    if flavour == "deb":
        return f"maas-region apikey --username {user} | head -n 1"
    if flavour == "snap":
        return f"{SNAP_MAAS} apikey --username {user} | head -n 1"
    return (
        f"if [ -x {SNAP_MAAS} ] && [ -f /var/snap/maas/common/snap_mode ]; "
        f"then {SNAP_MAAS} apikey --username {user}; "
        f"else maas-region apikey --username {user}; fi | head -n 1"
    )
