"""HAProxy's config for the region API, rendered from the settings: pure text, no host.

Every value is checked before it goes into the file (a bad one raises ``ValueError`` naming
the setting), and the same input gives the same bytes, so ``operations/haproxy.config`` can
compare checksums with the live file.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

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


# Every setting render_config() takes beside the backends, with its default.
DEFAULTS = {
    "frontend_port": 80,
    "bind_address": "*",
    "maxconn": 4096,
    "frontend_maxconn": None,  # None: as maxconn
    "server_maxconn": 256,  # None: no per-server limit
    "timeout_connect": "5s",
    "timeout_client": "90s",
    "timeout_server": "90s",
    "timeout_tunnel": "1h",
    "timeout_http_request": "10s",
    "timeout_check": "5s",
    "check_inter": "2s",
    "check_fall": 3,
    "check_rise": 2,
    "retries": 3,
    "health_path": "/MAAS/api/2.0/version/",
    "log_target": "/dev/log",
    "log_facility": "local0",
    "stats_socket": DEFAULT_SOCKET,
    # MAAS TLS on the regions (docs/architecture.md): their HTTPS port, passed through in TCP
    # mode, and MAAS's certificate chain for the health checks; None: TLS off
    "tls_port": None,
    "tls_ca_file": None,
}
DURATIONS = ("timeout_connect", "timeout_client", "timeout_server", "timeout_tunnel",
             "timeout_http_request", "timeout_check", "check_inter")
COUNTS = ("maxconn", "check_fall", "check_rise", "retries")


def _check_texts(settings: dict) -> None:
    """The settings written as they are: a URL path, the socket path, the log target."""
    if not _PATH_RE.fullmatch(settings["health_path"]):
        raise ValueError(f"haproxy setting health_path must be a URL path, got {settings['health_path']!r}")
    stats_socket, log_target = str(settings["stats_socket"]), str(settings["log_target"])
    if not _SOCKET_RE.fullmatch(stats_socket):  # no part starts with a dot: no . or ..
        raise ValueError(f"haproxy setting stats_socket must be an absolute path, got {stats_socket!r}")
    if not _LOG_TARGET_RE.fullmatch(log_target):
        raise ValueError(f"haproxy setting log_target must be a socket path or IP[:port], got {log_target!r}")
    if settings["log_facility"] not in LOG_FACILITIES:
        raise ValueError(
            f"haproxy setting log_facility must be a syslog facility, got {settings['log_facility']!r}")


def template_values(backends: list[dict], settings: dict) -> dict:
    """The template's variables: ``settings`` (names as in :data:`DEFAULTS`, missing ones
    defaulted) and the backends, each checked; raises ``ValueError`` naming a bad one."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"render_config() got unknown settings: {', '.join(unknown)}")
    settings = {**DEFAULTS, **settings}
    checked_backends = _check_backends(backends)
    frontend_port = _check_positive_int("frontend_port", settings["frontend_port"])
    if frontend_port > 65535:
        raise ValueError(f"haproxy setting frontend_port must be a TCP port, got {frontend_port}")
    values = {"backends": checked_backends, "bind": _bind(settings["bind_address"], frontend_port)}
    values.update({name: _check_positive_int(name, settings[name]) for name in COUNTS})
    values["frontend_maxconn"] = _check_positive_int(
        "frontend_maxconn",
        values["maxconn"] if settings["frontend_maxconn"] is None else settings["frontend_maxconn"])
    values["server_maxconn"] = (None if settings["server_maxconn"] is None
                                else _check_positive_int("server_maxconn", settings["server_maxconn"]))
    _check_texts(settings)
    values.update({name: settings[name]
                   for name in ("health_path", "log_target", "log_facility", "stats_socket")})
    values.update({name: _check_duration(name, settings[name]) for name in DURATIONS})
    values.update(_tls_values(settings))
    return values


def _tls_values(settings: dict) -> dict:
    """The template's MAAS TLS variables: all None when TLS is off."""
    if settings["tls_port"] is None:
        return {"tls_port": None, "tls_bind": None, "tls_ca_file": None}
    port = _check_positive_int("tls_port", settings["tls_port"])
    if port > 65535:
        raise ValueError(f"haproxy setting tls_port must be a TCP port, got {port}")
    ca_file = str(settings["tls_ca_file"] or "")
    if not _SOCKET_RE.fullmatch(ca_file):
        raise ValueError(f"haproxy setting tls_ca_file must be an absolute path, got {ca_file!r}")
    return {"tls_port": port, "tls_bind": _bind(settings["bind_address"], port), "tls_ca_file": ca_file}


def render_config(backends: list[dict], **settings) -> str:
    """Render ``haproxy.cfg`` for the region API from ``templates/haproxy.cfg.j2``.

    ``backends`` is a list of ``{"name", "address", "port"}`` (port defaults to 5240),
    kept in the given order; IPv6 addresses are bracketed (``[fd00::11]:5240``).
    ``settings`` are those of :data:`DEFAULTS`; ``bind_address`` is ``*`` (every IPv4
    address), ``::`` (every address, both families) or one address. Pure and
    deterministic. Raises ``ValueError`` naming the bad value when the input is unusable.
    """
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("haproxy.cfg.j2").render(**template_values(backends, settings))
