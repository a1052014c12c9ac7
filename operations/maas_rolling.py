"""Rolling region restarts: take one region out of HAProxy, wait for it, put it back.

A region is restarted only while HAProxy sends it nothing: ``drain_region`` sets the server to
``drain`` on the admin socket and waits until its open sessions are gone; ``wait_for_region_api``
waits (on the region) until the restarted region answers its API, and fails early, saying why,
when its service fails to start; ``ready_region`` sets the server back to ``ready`` and waits
until HAProxy's health check sees it UP, so the next region is only drained once this one
carries traffic again. The admin socket is root-only (``mode 600``), so these run as root.
"""

from __future__ import annotations

import re
import shlex

from pyinfra import host
from pyinfra.api import OperationValueError, QuoteString, StringCommand, operation
from pyinfra.facts.files import Socket

from facts.haproxy_runtime import HaproxyServers
from facts.maas_health import LOCAL_API, LOCAL_OPEN
from facts.maas_units import service_log

DEFAULT_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_BACKEND = "maas_regions"

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def _check(backend, server, timeout) -> int:
    for label, value in (("backend", backend), ("server", server)):
        if not _NAME_RE.fullmatch(str(value)):
            raise OperationValueError(f"haproxy {label} name {value!r} on {host.name} is not a valid name")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise OperationValueError(f"{host.name}: timeout for {backend}/{server} must be a positive "
                                  f"number of seconds, got {timeout!r}")
    return timeout


def _runtime_prelude(socket: str) -> str:
    """Shell helpers: ``hap CMD`` talks to the admin socket; ``stat_of B S FIELD`` reads ``show stat``."""
    target = shlex.quote(f"UNIX-CONNECT:{socket}")
    return (
        f'hap() {{ echo "$1" | socat stdio {target}; }}; '
        "stat_of() { hap 'show stat' | awk -F, -v b=\"$1\" -v s=\"$2\" -v f=\"$3\" "
        "'$1==b && $2==s {print $f}'; }; "
    )


def _set_state(backend, server, state) -> str:
    request = f"set server {backend}/{server} state {state}"
    refused = shlex.quote(f'haproxy on {host.name} refused "{request}":')
    return (
        f"resp=$(hap {shlex.quote(request)}) || exit 1; "
        f'if [ -n "$resp" ]; then echo {refused} "$resp" >&2; exit 1; fi; '
    )


@operation()
def drain_region(server: str, backend: str = DEFAULT_BACKEND, socket: str = DEFAULT_SOCKET,
                 timeout: int = 30):
    """Stop HAProxy sending new requests to a region and wait until its sessions are done.

    + server: the region's server name in the backend (its inventory name)
    + backend, socket: HAProxy backend and admin socket
    + timeout: seconds to wait for open sessions (``show stat`` scur) to finish; after that the
      restart goes ahead (long-lived connections such as websockets reconnect elsewhere)

    Refuses (fails) when the backend has other regions but none of them is UP and ready:
    draining would take the API down. Noop when the region is not in HAProxy (first deploy)
    or already drained or in maintenance.

    **Example:**

    .. code:: python

        from operations import maas_rolling

        # on each HAProxy host, before region1 restarts
        maas_rolling.drain_region(
            name="region1: drain in HAProxy",
            server="region1",
            timeout=30,
        )
    """
    timeout = _check(backend, server, timeout)
    servers = (host.get_fact(HaproxyServers, socket=socket) or {}).get(backend) or {}
    current = servers.get(server)
    if current is None:
        host.noop(f"haproxy has no server {backend}/{server}: nothing to drain")
        return
    if current.get("admin_state") in ("drain", "maint"):
        host.noop(f"haproxy server {backend}/{server} is already out of rotation ({current['admin_state']})")
        return

    others = [name for name in servers if name != server]
    script = _runtime_prelude(socket)
    if others:
        # Checked on the host at the moment of draining: the other regions may have been
        # restarted a moment ago.
        no_other = shlex.quote(
            f"refusing to drain {backend}/{server} on {host.name}: no other region is UP and ready "
            "in HAProxy, draining would take the MAAS API down")
        script += (
            f"up=$(hap 'show stat' | awk -F, -v b={shlex.quote(backend)} -v s={shlex.quote(server)} "
            "'$1==b && $2!=s && $2!=\"BACKEND\" && $2!=\"FRONTEND\" && $18 ~ /^UP/' | wc -l); "
            f'if [ "$up" -eq 0 ]; then echo {no_other} >&2; exit 1; fi; '
        )
    script += _set_state(backend, server, "drain")
    script += (
        f"end=$(( $(date +%s) + {timeout} )); "
        f"while n=$(stat_of {shlex.quote(backend)} {shlex.quote(server)} 5); "
        '[ -n "$n" ] && [ "$n" != 0 ]; do '
        f'if [ "$(date +%s)" -ge "$end" ]; then echo {shlex.quote(f"{server}:")} "$n sessions still open '
        f'after {timeout}s, restarting anyway"; break; fi; sleep 0.5; done'
    )
    yield StringCommand(script)


@operation()
def ready_region(server: str, backend: str = DEFAULT_BACKEND, socket: str = DEFAULT_SOCKET,
                 timeout: int = 60):
    """Put a region back into HAProxy and wait until HAProxy's health check sees it UP.

    + server, backend, socket: as for ``drain_region``
    + timeout: seconds to wait for the region to be UP in HAProxy; failing that, the
      operation fails (and the rolling restart stops before the next region is drained)

    Noop when the region is not in HAProxy, or already ready and UP.

    **Example:**

    .. code:: python

        from operations import maas_rolling

        # on each HAProxy host, once region1 answers its API again
        maas_rolling.ready_region(
            name="region1: back into HAProxy",
            server="region1",
            timeout=120,
        )
    """
    timeout = _check(backend, server, timeout)
    servers = (host.get_fact(HaproxyServers, socket=socket) or {}).get(backend) or {}
    current = servers.get(server)
    if current is None:
        host.noop(f"haproxy has no server {backend}/{server}: nothing to put back")
        return
    if current.get("admin_state") == "ready" and current.get("op_state") == "up":
        host.noop(f"haproxy server {backend}/{server} is ready and up")
        return

    script = _runtime_prelude(socket)
    if current.get("admin_state") != "ready":
        script += _set_state(backend, server, "ready")
    # names go in single quotes (shlex.quote): only $st is the shell's to expand
    not_up = shlex.quote(f"haproxy on {host.name} does not see {server} UP after {timeout}s")
    script += (
        f"end=$(( $(date +%s) + {timeout} )); "
        f"until st=$(stat_of {shlex.quote(backend)} {shlex.quote(server)} 18); "
        '[ "${st#UP}" != "$st" ]; do '
        f'if [ "$(date +%s)" -ge "$end" ]; then echo {not_up} "(status: $st): its health check fails" >&2; '
        "exit 1; fi; sleep 0.5; done"
    )
    yield StringCommand(script)


START_UP_ERROR = "Database error during start-up"  # MAAS's start_up() logs it, then retries


def _new_region_log_lines(log: dict) -> str:
    """Shell: ``newlog`` prints what regiond logged since the wait began (``$since``, and the
    log file's size then, ``$off``), from where it logs (``facts.maas_units.service_log``)."""
    if log["file"]:
        path = shlex.quote(log["file"])
        return (f"off=$(stat -c %s {path} 2>/dev/null || echo 0); "
                f"newlog() {{ tail -c +$((off + 1)) {path} 2>/dev/null; }}; ")
    match = " ".join(shlex.quote(arg) for arg in log["journal"])
    return (f"since=$(date +%s); "
            f"newlog() {{ journalctl {match} --since \"@$since\" --no-pager -o cat 2>/dev/null; }}; ")


def wait_script(host_name: str, flavour: str, version, units: list, timeout: int, url: str) -> str:
    """The shell of ``wait_for_region_api`` (a pure function of its arguments).

    Each second until the API answers: a region unit that systemd reports failing fails the
    wait at once, with its last log lines; so does a start-up database error in the region's
    log. A real region never exits on a database error (it pauses 3 s and retries for ever,
    and its unit stays active), so only its log tells, within seconds of the restart."""
    target = shlex.quote(url.rstrip("/") + "/api/2.0/version/")
    probe = shlex.quote(LOCAL_OPEN + "import sys\nopen_local(sys.argv[1])\n")
    database = shlex.quote(f"regiond on {host_name} cannot use its database after its restart "
                           f"({START_UP_ERROR}, retried for ever):")
    log = service_log(flavour, version, "regiond")
    script = _new_region_log_lines(log)
    script += (
        f"end=$(( $(date +%s) + {timeout} )); "
        f"until python3 -c {probe} {target} 2>/dev/null; do "
        f"if newlog | grep -q {shlex.quote(START_UP_ERROR)}; then "
        # the cause, logged after the error line
        f"why=$(newlog | grep -v {shlex.quote(START_UP_ERROR)} | grep -v '^ *$' | tail -n 1); "
        f'echo {database} "$why" >&2; exit 1; fi; '
    )
    for unit in units:
        script += (
            f"sub=$(systemctl show -p SubState --value {unit} 2>/dev/null); "
            'case "$sub" in auto-restart|failed) '
            # the unit's own output, not systemd's lines about it
            f"why=$(journalctl _SYSTEMD_UNIT={unit}.service -n 2 --no-pager -o cat 2>/dev/null); "
            f'echo {shlex.quote(f"{unit} on {host_name} failed to start after its restart")} "($sub): $why" >&2; '
            "exit 1;; "
            "esac; "
        )
    too_late = shlex.quote(f"the region API on {host_name} did not answer within {timeout}s of its restart")
    script += f'if [ "$(date +%s)" -ge "$end" ]; then echo {too_late} >&2; exit 1; fi; sleep 1; done'
    return script


@operation()
def wait_for_region_api(flavour: str, version: str, units: list | None = None, timeout: int = 120,
                        url: str = LOCAL_API):
    """Wait on the region until its API answers again after a restart (bounded).

    + flavour: ``deb`` or ``snap``
    + version: the MAAS series (``3.4``, ``3.5``...); with the flavour it says where regiond
      logs (``facts.maas_units.service_log``)
    + units: the region's systemd units to watch (deb; ``facts.maas_units.region_units``):
      one that fails to start is reported at once, with its last log lines
    + timeout: seconds to wait
    + url: the region's local API root

    A start-up database error in the region's log fails the wait at once too, naming the
    host and the cause, instead of after the timeout. Always runs when called: deploys call
    it only after a restart.

    **Example:**

    .. code:: python

        from operations import maas_rolling

        # on the region, right after its restart
        maas_rolling.wait_for_region_api(
            name="wait for the region API",
            flavour="deb",
            version="3.5",
            units=["maas-regiond", "maas-apiserver"],
            timeout=120,
        )
    """
    try:
        service_log(flavour, version, "regiond")
    except ValueError as error:
        raise OperationValueError(f"{host.name}: {error}") from None
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise OperationValueError(f"{host.name}: region API timeout must be a positive number of "
                                  f"seconds, got {timeout!r}")
    units = list(units or [])
    for unit in units:
        if not _NAME_RE.fullmatch(str(unit)):
            raise OperationValueError(f"{host.name}: {unit!r} is not a systemd unit name")
    yield StringCommand(wait_script(host.name, flavour, version, units, timeout, url))


@operation()
def admin_socket_private(socket: str = DEFAULT_SOCKET):
    """Keep HAProxy's admin socket usable by root only (``root``, mode ``600``).

    The config asks for ``mode 600``, but HAProxy applies it only when it creates the socket:
    a seamless reload inherits the socket of the process before it, so the socket made by
    the package's first start (Debian: ``root:haproxy 660``) would stay group-accessible.
    Noop when the socket is absent (HAProxy not running) or already private.

    + socket: path of HAProxy's admin socket (``stats socket`` in the config)

    **Example:**

    .. code:: python

        from operations import maas_rolling

        maas_rolling.admin_socket_private(
            name="HAProxy admin socket root-only",
            socket="/run/haproxy/admin.sock",
        )
    """
    current = host.get_fact(Socket, path=socket)
    if current is False:
        raise OperationValueError(f"{host.name}: {socket} exists but is not a socket")
    if not current:
        host.noop(f"haproxy admin socket {socket} is absent")
        return
    if current.get("user") == "root" and current.get("group") == "root" and current.get("mode") == 600:
        host.noop(f"haproxy admin socket {socket} is root-only")
        return
    yield StringCommand("chown root:root", QuoteString(socket), "&&", "chmod 600", QuoteString(socket))
