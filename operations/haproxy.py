"""HAProxy in front of the MAAS region API: the rendered config, its validated install, and
the reload that makes HAProxy run it.

Unlike a plain file upload, a new config only goes live after ``haproxy -c`` accepted it
(the live file is never touched by a rejected one), and HAProxy is reloaded (open connections
survive) only when the file changed, in this run or in one that stopped before the reload
(the file's pending-apply marker, facts/pending_apply.py). A reload that HAProxy cannot carry
out puts the previous config back. Draining regions through the admin socket for rolling
restarts is in ``operations/maas_rolling.py``.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import OperationValueError, QuoteString, StringCommand, operation

from facts.pending_apply import PendingApply, marker_path
from operations._render_haproxy import DEFAULT_SOCKET, render_config  # noqa: F401  (the deploy's entry)
from operations._validated_swap import swap_due, validated_swap
from operations.config_apply import mark_pending

PREVIOUS_SUFFIX = ".maas-ha-previous"  # the config before the last swap, until HAProxy runs the new one
RELOAD = "systemctl reload-or-restart haproxy"


@operation()
def config(content: str, path: str = "/etc/haproxy/haproxy.cfg"):
    """Install ``content`` as the HAProxy config, validated first; ``loaded`` then reloads HAProxy.

    Compares the sha1 of ``content`` with the live file; when they differ the new file is
    uploaded beside the live one and checked with ``haproxy -c`` (its complaints shown; a
    rejected file is removed and the live config stays untouched). Then the file's
    pending-apply marker is set (operations/config_apply.py: ``loaded`` reloads HAProxy while
    it is there, also in a later run when this one stops first), the live file is kept as
    ``PATH.bak-<timestamp>`` and as ``PATH.maas-ha-previous`` (what ``loaded`` puts back when
    the reload fails), and the new file is renamed over it (one atomic step). Noop when the
    content is already in place.

    + content: the whole config file (``render_config`` builds it from the regions)
    + path: the live config file

    **Example:**

    .. code:: python

        from operations import haproxy

        haproxy.config(
            name="haproxy.cfg: region API backends",
            content=haproxy.render_config(
                backends=[
                    {"name": "region1", "address": "10.0.0.11", "port": 5240},
                    {"name": "region2", "address": "10.0.0.12", "port": 5240},
                ],
            ),
        )
        haproxy.loaded(name="HAProxy loads haproxy.cfg")
    """
    due, current = swap_due(content, path, "haproxy")
    if not due:
        return

    # the marker first (``loaded`` reloads while it is there, also in a later run when this one
    # stops before the reload), and the live file kept as PATH.maas-ha-previous for ``loaded``
    before_swap = [mark_pending(path)]
    if current is not None:
        before_swap.append(StringCommand("cp -a", QuoteString(path), QuoteString(f"{path}{PREVIOUS_SUFFIX}")))
    # no -q: HAProxy 2.6 would then hide the reason it rejects the file
    yield from validated_swap(content, path, "haproxy -c -f", "haproxy", "haproxy", host.name,
                              live_exists=current is not None, before_swap=before_swap, reload=False)

def reload_script(host_name: str, path: str, socket: str, reload: str, timeout: int) -> str:
    """The shell of ``loaded`` (a pure function of its arguments).

    HAProxy's reload is asynchronous (``systemctl reload`` signals the master process and
    returns): a new worker that cannot start (a bind that fails at runtime, which ``haproxy
    -c`` does not try) leaves the old worker running the old config, and the reload command
    still succeeds. So the worker's pid (``show info`` on the admin socket, which the new
    worker takes over) must change within ``timeout`` seconds; otherwise the previous config
    is put back and loaded the same way (asked twice: a reload signal that reaches the master
    while it still winds up the failed one is lost), and the script fails naming the cause."""
    connect = shlex.quote(f"UNIX-CONNECT:{socket}")
    previous = shlex.quote(f"{path}{PREVIOUS_SUFFIX}")
    live = shlex.quote(path)
    marker = shlex.quote(marker_path(path))
    not_loaded = shlex.quote(f"HAProxy on {host_name} did not load {path}")
    journal = "$(journalctl -u haproxy -n 3 --no-pager -o cat 2>/dev/null | tr '\\n' ' ')"
    return (
        f"pid() {{ echo 'show info' | socat stdio {connect} 2>/dev/null | sed -n 's/^Pid: //p'; }}; "
        # load: reload, then wait for a new worker; "$why" says what went wrong
        "load() { before=$(pid); "
        f"if ! {reload}; then why='the reload command failed'; return 1; fi; "
        f"end=$(( $(date +%s) + {int(timeout)} )); "
        'while now=$(pid); [ -z "$now" ] || [ "$now" = "$before" ]; do '
        f'if [ "$(date +%s)" -ge "$end" ]; then why="no new worker after {int(timeout)}s"; return 1; fi; '
        "sleep 0.2; done; }; "
        f"if load; then rm -f {marker} {previous}; exit 0; fi; "
        f"failed=$why; back='there is no previous config to put back'; "
        f"if [ -f {previous} ]; then mv {previous} {live}; rm -f {marker}; "
        "if load || load; then back='the previous config is back in place and running'; "
        "else back=\"the previous config is back in place but HAProxy did not load it either ($why)\"; fi; fi; "
        f'echo {not_loaded} "($failed; it logged: {journal}); $back" >&2; exit 1'
    )


@operation()
def loaded(path: str = "/etc/haproxy/haproxy.cfg", socket: str = DEFAULT_SOCKET, reload: str = RELOAD,
           timeout: int = 10):
    """Have HAProxy run the config ``config`` installed: reload it, and put the previous
    config back when the reload fails.

    Due when the file's pending-apply marker is there (``config`` swapped the file, in this
    run or in one that stopped before the reload). Then HAProxy is reloaded (started when it
    is not running) and must show a new worker on its admin socket within ``timeout``
    seconds (see ``reload_script``); when it does not, ``PATH.maas-ha-previous`` is put
    back, HAProxy reloaded on it, and the operation fails naming the host and what HAProxy
    logged. Noop without a marker: HAProxy runs the file.

    + path: the live config file
    + socket: HAProxy's admin socket (``stats socket`` in the config)
    + reload: the command that reloads (or starts) HAProxy
    + timeout: seconds the new worker may take to appear

    **Example:**

    .. code:: python

        from operations import haproxy

        haproxy.loaded(name="HAProxy loads haproxy.cfg")
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise OperationValueError(f"{host.name}: HAProxy reload timeout must be a positive number of "
                                  f"seconds, got {timeout!r}")
    if not host.get_fact(PendingApply, path=path):
        host.noop(f"HAProxy runs {path}")
        return
    yield StringCommand(reload_script(host.name, path, socket, reload, timeout))
