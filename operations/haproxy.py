"""HAProxy in front of the MAAS region API: the rendered config and its validated install.

Unlike a plain file upload, a new config only goes live after ``haproxy -c`` accepted it
(the live file is never touched by a rejected one), and HAProxy is reloaded (open connections
survive) only when the content changed. Draining regions through the admin socket for rolling
restarts is in ``operations/maas_rolling.py``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from io import StringIO
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationValueError, QuoteString, StringCommand, operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations.util import files as files_util

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_SOCKET = "/run/haproxy/admin.sock"

# Every value that goes into haproxy.cfg matches one of these whole (re.fullmatch): nothing
# HAProxy's parser reads as syntax (spaces, quotes, #, $, a line break) gets into the file.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_DURATION_RE = re.compile(r"[0-9]+(us|ms|s|m|h|d)?")
_PATH_RE = re.compile(r"/[A-Za-z0-9._~%/-]*")
_SOCKET_RE = re.compile(r"(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)+")
_LOG_TARGET_RE = re.compile(r"/[A-Za-z0-9._/-]+|[0-9.]+(:[0-9]{1,5})?")
LOG_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
                  "auth2", "ftp", "ntp", "audit", "alert", "cron2",
                  *(f"local{n}" for n in range(8)))


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"haproxy setting {name} must be a positive integer, got {value!r}")
    return value


def _check_duration(name: str, value) -> str:
    value = str(value)
    if not _DURATION_RE.fullmatch(value):
        raise ValueError(f"haproxy setting {name} must be a duration like 5s or 90s, got {value!r}")
    return value


def _check_backends(backends) -> list[dict]:
    if not backends:
        raise ValueError("haproxy needs at least one region backend, got none")
    checked = []
    seen = set()
    for backend in backends:
        name = str(backend.get("name", ""))
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"haproxy backend name {name!r} is not a valid server name")
        if name in seen:
            raise ValueError(f"haproxy backend name {name!r} is used twice")
        seen.add(name)
        address = str(backend.get("address", ""))
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(
                f"haproxy backend {name}: address {address!r} is not an IP address",
            ) from None
        port = backend.get("port", 5240)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"haproxy backend {name}: port {port!r} is not a TCP port")
        host_part = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
        checked.append({"name": name, "address": host_part, "port": port})
    return checked


def _bind(address: str, port: int) -> str:
    """The frontend's ``bind`` argument: ``*:80``, ``10.0.0.5:80``, ``[fd00::5]:80``, and for
    ``::`` every address of both families (``[::]:80 v4v6``)."""
    if address == "*":
        return f"*:{port}"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"haproxy setting bind_address must be * or an IP address, got {address!r}") from None
    if ip.version == 4:
        return f"{ip}:{port}"
    return f"[{ip}]:{port}" + (" v4v6" if ip.is_unspecified else "")


def render_config(
    backends: list[dict],
    frontend_port: int = 80,
    bind_address: str = "*",
    maxconn: int = 4096,
    frontend_maxconn: int | None = None,
    server_maxconn: int | None = 256,
    timeout_connect: str = "5s",
    timeout_client: str = "90s",
    timeout_server: str = "90s",
    timeout_tunnel: str = "1h",
    timeout_http_request: str = "10s",
    timeout_check: str = "5s",
    check_inter: str = "2s",
    check_fall: int = 3,
    check_rise: int = 2,
    retries: int = 3,
    health_path: str = "/MAAS/api/2.0/version/",
    log_target: str = "/dev/log",
    log_facility: str = "local0",
    stats_socket: str = DEFAULT_SOCKET,
) -> str:
    """Render ``haproxy.cfg`` for the region API from ``templates/haproxy.cfg.j2``.

    ``backends`` is a list of ``{"name", "address", "port"}`` (port defaults to 5240),
    kept in the given order; IPv6 addresses are bracketed (``[fd00::11]:5240``).
    ``bind_address`` is ``*`` (every IPv4 address), ``::`` (every address, both families)
    or one address. Pure and deterministic: the same input gives the same
    bytes, so :func:`config` can compare checksums. Raises ``ValueError`` naming the bad
    value when the input is unusable.
    """
    checked = _check_backends(backends)
    frontend_port = _check_positive_int("frontend_port", frontend_port)
    if frontend_port > 65535:
        raise ValueError(f"haproxy setting frontend_port must be a TCP port, got {frontend_port}")
    maxconn = _check_positive_int("maxconn", maxconn)
    frontend_maxconn = _check_positive_int(
        "frontend_maxconn", maxconn if frontend_maxconn is None else frontend_maxconn,
    )
    if server_maxconn is not None:
        server_maxconn = _check_positive_int("server_maxconn", server_maxconn)
    if not _PATH_RE.fullmatch(health_path):
        raise ValueError(f"haproxy setting health_path must be a URL path, got {health_path!r}")
    if not _SOCKET_RE.fullmatch(str(stats_socket)):  # no part starts with a dot: no . or ..
        raise ValueError(f"haproxy setting stats_socket must be an absolute path, got {stats_socket!r}")
    if not _LOG_TARGET_RE.fullmatch(str(log_target)):
        raise ValueError(f"haproxy setting log_target must be a socket path or IP[:port], got {log_target!r}")
    if log_facility not in LOG_FACILITIES:
        raise ValueError(f"haproxy setting log_facility must be a syslog facility, got {log_facility!r}")

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    template = env.get_template("haproxy.cfg.j2")
    return template.render(
        backends=checked,
        bind=_bind(bind_address, frontend_port),
        maxconn=maxconn,
        frontend_maxconn=frontend_maxconn,
        server_maxconn=server_maxconn,
        timeout_connect=_check_duration("timeout_connect", timeout_connect),
        timeout_client=_check_duration("timeout_client", timeout_client),
        timeout_server=_check_duration("timeout_server", timeout_server),
        timeout_tunnel=_check_duration("timeout_tunnel", timeout_tunnel),
        timeout_http_request=_check_duration("timeout_http_request", timeout_http_request),
        timeout_check=_check_duration("timeout_check", timeout_check),
        check_inter=_check_duration("check_inter", check_inter),
        check_fall=_check_positive_int("check_fall", check_fall),
        check_rise=_check_positive_int("check_rise", check_rise),
        retries=_check_positive_int("retries", retries),
        health_path=health_path,
        log_target=log_target,
        log_facility=log_facility,
        stats_socket=stats_socket,
    )


@operation()
def config(content: str, path: str = "/etc/haproxy/haproxy.cfg"):
    """Install ``content`` as the HAProxy config, validated first, and reload HAProxy.

    Compares the sha1 of ``content`` with the live file; when they differ the new file is
    uploaded beside the live one, checked with ``haproxy -c`` (its complaints shown) (a rejected file is removed
    and the live config stays untouched), the live file is backed up to
    ``PATH.bak-<timestamp>``, swapped in with ``mv`` and HAProxy reloaded (started when it
    was not running). Noop when the content is already live.

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
    """
    if not content or not content.strip():
        raise OperationValueError(f"haproxy config for {host.name} is empty")

    wanted = hashlib.sha1(content.encode("utf-8")).hexdigest()
    current = host.get_fact(Sha1File, path=path)
    if current == wanted:
        host.noop(f"haproxy config {path} is up to date")
        return

    new_path = f"{path}.maas-ha-new"
    yield FileUploadCommand(StringIO(content), new_path)
    yield StringCommand(
        # no -q: HAProxy 2.6 would then hide the reason it rejects the file
        "haproxy -c -f",
        QuoteString(new_path),
        "|| {",
        "rm -f",
        QuoteString(new_path),
        ";",
        "echo",
        QuoteString(f"haproxy rejected the new config ({host.name}); {path} is unchanged"),
        ">&2; exit 1; }",
    )
    if current is not None:
        yield StringCommand(
            "cp -a", QuoteString(path), QuoteString(f"{path}.bak-{files_util.get_timestamp()}"),
        )
    yield StringCommand("mv", QuoteString(new_path), QuoteString(path))
    yield "systemctl reload-or-restart haproxy"
