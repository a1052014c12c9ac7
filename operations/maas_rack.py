"""Rack controller operations: registration, region URLs in rackd.conf, removal.

Registration needs the region's shared secret, which only exists on a region host. It is
read at execution time inside a ``FunctionCommand`` (never during planning, never printed)
and given to the rack's registration command on its stdin, never on a command line. ``maas-rack register`` exits 0 even with a
wrong secret, so the function waits for ``maas_id`` to appear and fails clearly otherwise.
"""

from __future__ import annotations

import json
import time

import gevent
from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.exceptions import OperationError, OperationValueError

from facts.maas import (
    REGION_MODES,
    SNAP_MAAS,
    MaasInstall,
    MaasRegistration,
    maas_id_path,
    secret_path as maas_secret_path,
)
from facts.maas_config import RackdConf, config_path as maas_config_path
from facts.maas_units import log_tail_command, service_log
from facts.pending_apply import PendingApply
from operations._remote import (
    api_key_command, fail as _fail, inventory_host, quote as _q, run, stderr_tail,
)
from operations.config_apply import clear_pending, mark_pending
from operations.maas_api_client import MaasApiError
from operations.maas_region import REGIOND_WRITER, check_flavour, fact_data
from operations.region_api import RegionApi
from run.memo import recall
from run.once import once_per_run

POLL_SECONDS = 3
# regiond.conf's writer, for rackd.conf: keys from JSON on stdin, the rest kept, atomic
RACKD_WRITER = REGIOND_WRITER.replace('prefix=".regiond.conf."', 'prefix=".rackd.conf."')



def _url_list(region_urls) -> list:
    if isinstance(region_urls, str):
        return [region_urls]
    return [str(url) for url in region_urls or []]


def lists_urls(settings: dict, region_urls) -> bool:
    """True when rackd.conf's settings hold exactly these region URLs as a list, the state
    ``region_urls`` leaves alone (a plain string is upgraded to the list form)."""
    current = (settings or {}).get("maas_url")
    return isinstance(current, list) and [str(url) for url in current] == _url_list(region_urls)


def registered_with(registration, secret_sha256) -> bool:
    """True when a rack's ``MaasRegistration`` shows a node id and the secret whose digest is
    ``secret_sha256``: it is registered with that MAAS, and registering again changes nothing."""
    registration = registration or {}
    return bool(registration.get("maas_id") and secret_sha256
                and registration.get("secret_sha256") == secret_sha256)


def read_remote_secret(state, secret_host: str, secret_path: str) -> str:
    """The shared secret from ``secret_host``, read once per run; raises OperationError.
    Every rack registers at once: the first reads, the others wait for its answer instead of
    each opening a channel to the region (sshd refuses sessions past MaxSessions, 10)."""
    return once_per_run(state, f"secret {secret_host}:{secret_path}",
                        lambda: _read_secret(state, secret_host, secret_path))


def _read_secret(state, secret_host: str, secret_path: str) -> str:
    """One read of the shared secret from the region host (raises OperationError)."""
    source = inventory_host(state, secret_host, "secret host")
    ok, output = run(state, source, StringCommand("cat", _q(secret_path)))
    value = "".join(output.stdout_lines).strip() if ok else ""
    if not value:
        raise OperationError(
            f"cannot read the MAAS shared secret from {secret_host}:{secret_path}"
            + stderr_tail(output),
        )
    return value


def registration_command(flavour, urls: list, id_path: str) -> StringCommand:
    """The command that registers this rack, reading the region's secret from stdin.

    Deb: ``maas-rack register --url URL...`` reads one hex line when ``--secret`` is not
    given (src/provisioningserver/register_command.py). Snap: ``maas init rack`` prompts for
    the secret when ``--secret`` is not given and reads the answer from stdin
    (src/maascli/snap.py); it keeps ``maas_id``, which is removed first so the wait below
    sees the new registration.
    """
    if flavour == "deb":
        bits: list = ["maas-rack", "register"]
        for url in urls:
            bits += ["--url", _q(url)]
        return StringCommand(*bits)
    return StringCommand("rm", "-f", _q(id_path), "&&",
                         SNAP_MAAS, "init", "rack", "--maas-url", _q(urls[0]), "--force")


def register_rack(
    state,
    host,
    flavour,
    region_urls,
    secret_host,
    secret_path,
    maas_version,
    wait_seconds=90,
):
    """Execution-time half of ``register``: read the secret, register, wait for ``maas_id``.
    On a timeout it shows rackd's last lines from where this flavour and version log them."""
    urls = _url_list(region_urls)
    source = f"{secret_host}:{secret_path}"
    try:
        secret = read_remote_secret(state, secret_host, secret_path)
    except OperationError as error:
        return _fail(host, f"{host.name}: rack registration failed: {error}")

    id_path = maas_id_path(flavour)
    command = registration_command(flavour, urls, id_path)
    ok, output = run(state, host, command, _stdin=f"{secret}\n")
    if not ok:
        return _fail(
            host,
            f"{host.name}: rack registration command failed (region {', '.join(urls)}, "
            f"secret from {source}): {output.stderr.strip()[-500:]}",
        )

    deadline = time.monotonic() + max(0, int(wait_seconds))
    check = StringCommand("cat", _q(id_path), "2>/dev/null", "||", "true")
    while True:
        ok, output = run(state, host, check)
        if ok and output.stdout.strip():
            host.log_styled(f"registered as rack controller {output.stdout.strip()}", fg="green")
            return True
        if time.monotonic() >= deadline:
            break
        gevent.sleep(POLL_SECONDS)

    _, logs = run(state, host, StringCommand(log_tail_command(service_log(flavour, maas_version, "rackd"))))
    return _fail(
        host,
        f"{host.name}: rack did not register within {wait_seconds}s with the region at "
        f"{', '.join(urls)} using the secret from {source} ({id_path} never appeared). "
        "Check the URL and that the secret matches that region. Last rackd log lines:\n"
        + logs.stdout,
    )


@operation()
def register(
    flavour,
    maas_version,
    region_urls,
    secret_host,
    secret_path,
    expected_secret_sha256=None,
    wait_seconds=90,
    replace_registration=False,
):
    """
    Register this rack with the regions, unless it already belongs to this MAAS.

    + flavour: ``deb`` (``maas-rack register``) or ``snap`` (``maas init rack``)
    + maas_version: the MAAS series (``3.4``, ``3.5``...): where rackd logs, read when the
      registration does not show
    + region_urls: every region URL (snap takes the first; ``region_urls`` sets the list)
    + secret_host: inventory name of a region host holding the shared secret
    + secret_path: path of the secret file on ``secret_host``
    + expected_secret_sha256: the region secret's digest (``MaasRegistration`` on a region)
    + wait_seconds: how long to wait for the registration to show (``maas_id`` written)
    + replace_registration: register even when the rack belongs to another MAAS (the move
      deploy, after it deleted the rack there)

    A rack with a ``maas_id`` and the expected secret is left alone; one with a
    ``maas_id`` and another secret belongs to another MAAS and is refused (use the
    move deploy).

    **Example:**

    .. code:: python

        from operations import maas_rack

        # on a rack host; region1 holds the shared secret
        maas_rack.register(
            name="Register with the regions",
            flavour="deb",
            maas_version="3.5",
            region_urls=["http://10.0.0.11:5240/MAAS", "http://10.0.0.12:5240/MAAS"],
            secret_host="region1",
            secret_path="/var/lib/maas/secret",
        )
    """
    check_flavour(flavour)
    try:
        service_log(flavour, maas_version, "rackd")
    except ValueError as error:
        raise OperationValueError(f"{host.name}: {error}") from None
    urls = _url_list(region_urls)
    if not urls:
        raise OperationValueError(f"{host.name}: region_urls is empty")

    registration = fact_data(host.get_fact(MaasRegistration)) or {}
    maas_id = registration.get("maas_id")
    if maas_id:
        if registered_with(registration, expected_secret_sha256):
            host.noop(f"rack {maas_id} is already registered with this MAAS")
            return
        if not replace_registration:
            raise OperationValueError(
                f"{host.name}: rack is registered to another MAAS (maas_id {maas_id}, its secret "
                f"differs from {secret_host}:{secret_path}); use the move deploy to move it",
            )

    yield FunctionCommand(
        register_rack,
        [],
        {
            "flavour": flavour,
            "region_urls": urls,
            "secret_host": str(secret_host),
            "secret_path": secret_path,
            "maas_version": str(maas_version),
            "wait_seconds": int(wait_seconds),
        },
    )


@operation()
def region_urls(flavour, region_urls):
    """
    Make rackd.conf's ``maas_url`` exactly this list of region URLs.

    + flavour: ``deb`` (``maas-rack config --region-url ...`` + restart ``maas-rackd``) or
      ``snap`` (rackd.conf rewritten on the host, every other key kept, then ``snap restart
      maas``)
    + region_urls: every region URL, in order

    A plain-string ``maas_url`` (what ``maas init`` writes) is upgraded to the list form. The
    file's pending-apply marker (operations/config_apply.py) is set before the change and
    removed after the restart: a run stopped in between has the next one restart rackd.

    **Example:**

    .. code:: python

        from operations import maas_rack

        maas_rack.region_urls(
            name="rackd.conf lists every region",
            flavour="snap",
            region_urls=["http://10.0.0.11:5240/MAAS", "http://10.0.0.12:5240/MAAS"],
        )
    """
    check_flavour(flavour)
    urls = _url_list(region_urls)
    if not urls:
        raise OperationValueError(f"{host.name}: region_urls is empty")

    path = maas_config_path("rackd", flavour)
    conf = fact_data(recall(host, RackdConf, path=path)) or {}
    settings = conf.get("settings") if conf.get("exists") else {}
    if settings is None:
        raise OperationError(f"{host.name}: {path} is not a readable YAML mapping; fix it first")

    if lists_urls(settings, urls):
        if not host.get_fact(PendingApply, path=path):
            host.noop(f"rackd.conf {path} already lists {', '.join(urls)}")
            return
        # written by a run that stopped before rackd restarted: restarted now
    else:
        yield mark_pending(path)
        yield rackd_write_command(flavour, path, urls)
    yield StringCommand("systemctl", "restart", "maas-rackd") if flavour == "deb" else \
        StringCommand("snap", "restart", "maas")
    yield clear_pending(path)


def rackd_write_command(flavour, path: str, urls: list) -> StringCommand:
    """The command that sets rackd.conf's ``maas_url`` to ``urls``, every other key kept.

    Deb: ``maas-rack config --region-url ...``. Snap (which has no such command): the file is
    rewritten on the host (``RACKD_WRITER``: atomic, owner and mode kept), from what it holds
    there, so values the rack's facts only show masked never travel and are never replaced."""
    if flavour == "deb":
        bits: list = ["maas-rack", "config"]
        for url in urls:
            bits += ["--region-url", _q(url)]
        return StringCommand(*bits)
    return StringCommand("python3 -c", _q(RACKD_WRITER.strip()), _q(path),
                         _stdin=json.dumps({"maas_url": urls}))


def deregister_rack(
    state, host, api_url, key_host, admin_username, hostname, force=False, key_flavour=None,
):  # fmt: skip
    """Execution-time half of ``deregister``: delete the rack through the API, called on
    ``key_host`` (its loopback, its admin key)."""
    try:
        source = inventory_host(state, key_host, "key host")
        client = RegionApi(state, source, api_url, api_key_command(admin_username, key_flavour))
        racks = client.get("rackcontrollers/", hostname=hostname) or []
        racks = [rack for rack in racks if rack.get("hostname") == hostname]
        if not racks:
            host.log_styled(f"rack {hostname} is not known to the MAAS of {key_host}; nothing to delete")
            return True
        for rack in racks:
            params = {"force": "true"} if force else {}
            client.delete(f"rackcontrollers/{rack['system_id']}/", **params)
            host.log_styled(f"deleted rack controller {hostname} ({rack['system_id']})", fg="green")
    except (OperationError, MaasApiError) as error:
        return _fail(host, f"{host.name}: cannot delete rack {hostname} from the MAAS of {key_host}: {error}")
    return True


@operation()
def deregister(api_url, key_host, admin_username, hostname, force=False, key_flavour=None):
    """
    Delete this rack from the region (API ``DELETE rackcontrollers/<id>/``).

    + api_url: the region API as ``key_host`` reaches it on its loopback
      (``http://localhost:5240/MAAS/``)
    + key_host: inventory name of the region host where the admin's API key is read and the
      call is made (the key never crosses the network)
    + admin_username: MAAS admin whose key is used (read at execution, never printed)
    + hostname: the rack's MAAS hostname
    + force: also when it is the only rack able to serve DHCP on a VLAN (DHCP goes off)
    + key_flavour: ``deb``/``snap`` of ``key_host`` (default: detected on the host)

    Which racks MAAS knows is only visible through the API at execution time; the
    function does nothing when the rack is not listed.

    **Example:**

    .. code:: python

        from operations import maas_rack

        # on the primary region host
        maas_rack.deregister(
            name="Delete rack rack3 through the API",
            api_url="http://localhost:5240/MAAS/",
            key_host="region1",
            admin_username="admin",
            hostname="rack3",
        )
    """
    yield FunctionCommand(
        deregister_rack,
        [],
        {
            "api_url": api_url,
            "key_host": str(key_host),
            "admin_username": admin_username,
            "hostname": hostname,
            "force": bool(force),
            "key_flavour": key_flavour,
        },
    )


@operation()
def remove_software(flavour):
    """
    Remove the rack software so the host cannot re-register on its own.

    + flavour: ``deb`` (purge ``maas-rack-controller``, delete secret and maas_id) or
      ``snap`` (``snap remove --purge maas``)

    Refuses to remove a region with it: a deb region keeps its secret and node id, and a
    snap in a region mode is not removed.

    **Example:**

    .. code:: python

        from operations import maas_rack

        # on the rack being removed, after it was deleted from the region
        maas_rack.remove_software(name="Remove the rack software", flavour="deb")
    """
    check_flavour(flavour)
    install = fact_data(host.get_fact(MaasInstall)) or {}
    flavours = install.get("flavours") or []
    mode = install.get("mode") or "none"

    if flavour not in flavours:
        host.noop(f"no {flavour} MAAS software installed")
        return

    if flavour == "snap":
        if install.get("flavour") == "snap" and mode in REGION_MODES:
            raise OperationValueError(
                f"{host.name}: the maas snap runs in {mode} mode; removing it would remove a "
                "region controller",
            )
        yield StringCommand("snap", "remove", "--purge", "maas")
        return

    if mode == "region":
        host.noop("maas-rack-controller is not installed")
        return
    yield StringCommand(
        "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "maas-rack-controller"
    )
    if mode == "region+rack":
        return  # the region stays: it keeps its secret and node id
    yield StringCommand("rm", "-f", maas_secret_path("deb"), maas_id_path("deb"))
