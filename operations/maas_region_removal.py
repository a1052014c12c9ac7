"""Taking a region controller out of MAAS: stop its services for good, then delete it.

MAAS refuses to delete a region whose regiond runs (``400 Unable to delete <host> as it's
currently running.``, ``src/maasserver/models/node.py``), and a region that starts again
registers itself again. So the leaving region's services are stopped and disabled first, and
the delete, from another region, waits (bounded) until MAAS no longer sees it running.
"""

from __future__ import annotations

import time

import gevent
from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.exceptions import OperationError

from facts.systemd_units import SystemdUnits
from operations._remote import api_key_command, fail, inventory_host
from operations.maas_api_client import MaasApiError
from operations.region_api import RegionApi
from operations.maas_region import check_flavour

POLL_SECONDS = 2
STILL_RUNNING = "currently running"


@operation()
def region_stopped(flavour: str, units: list):
    """Stop this region's services and keep them from starting again (a reboot, a package
    upgrade's restart): deb units ``disable --now``; the snap ``snap stop --disable maas``.
    Nothing is done when they are already stopped and disabled (a second run changes nothing).

    + flavour: ``deb`` or ``snap``
    + units: the deb region's units (``facts.maas_units.region_units``), or the snap's service
      manager's unit (``facts.maas_units.snap_unit``), which ``snap stop --disable`` stops and
      disables

    **Example:**

    .. code:: python

        from operations import maas_region_removal

        maas_region_removal.region_stopped(
            name="Stop region3's services",
            flavour="deb",
            units=["maas-temporal", "maas-temporal-worker", "maas-apiserver", "maas-regiond"],
        )
    """
    check_flavour(flavour)
    states = host.get_fact(SystemdUnits, units=list(units)) or {}
    running = [unit for unit, state in states.items()
               if isinstance(state, dict) and state.get("load") == "loaded"
               and (state.get("active") not in ("inactive", "failed") or state.get("enabled") == "enabled")]
    if not running:
        host.noop("the region's services are stopped and disabled")
        return
    if flavour == "snap":
        yield StringCommand("snap stop --disable maas")
        return
    yield StringCommand("systemctl", "disable", "--now", *running)


def matching(regions: list, hostname: str, address: str) -> list:
    """The regions of a ``regioncontrollers/`` answer that are the one named or addressed."""
    return [region for region in regions or []
            if region.get("hostname") == hostname or address in (region.get("ip_addresses") or [])]


def delete_region(state, host, api_url, key_host, admin_username, hostname, address,
                  key_flavour=None, timeout=60):  # fmt: skip
    """Execution-time half of ``deregister``: find the region by hostname or address and
    delete it, retrying while MAAS still sees its regiond running."""
    try:
        source = inventory_host(state, key_host, "key host")
        client = RegionApi(state, source, api_url, api_key_command(admin_username, key_flavour))
        regions = matching(client.get("regioncontrollers/"), hostname, address)
        if not regions:
            host.log_styled(f"region {hostname} is not known to the MAAS of {key_host}; nothing to delete")
            return True
        for region in regions:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    client.delete(f"regioncontrollers/{region['system_id']}/")
                    break
                except MaasApiError as error:
                    if STILL_RUNNING not in str(error) or time.monotonic() > deadline:
                        raise
                    gevent.sleep(POLL_SECONDS)
            host.log_styled(f"deleted region controller {region.get('hostname')} ({region['system_id']})",
                            fg="green")
    except (OperationError, MaasApiError) as error:
        return fail(host, f"{host.name}: cannot delete region {hostname} from the MAAS of {key_host}: {error}")
    return True


@operation()
def deregister(api_url, key_host, admin_username, hostname, address, key_flavour=None, timeout=60,
               registered=None):
    """
    Delete a region controller from MAAS (API ``DELETE regioncontrollers/<id>/``), from
    another region. Stop the region first: MAAS refuses while its regiond runs, and the
    delete waits up to ``timeout`` seconds for MAAS to see it stopped.

    + api_url: the region API as ``key_host`` reaches it on its loopback
      (``http://localhost:5240/MAAS/``)
    + key_host: inventory name of the region host where the admin's API key is read and the
      call is made (the key never crosses the network)
    + admin_username: MAAS admin whose key is used (read at execution, never printed)
    + hostname, address: the leaving region's MAAS hostname and address (either matches)
    + key_flavour: ``deb``/``snap`` of ``key_host`` (default: detected on the host)
    + timeout: seconds to wait for MAAS to see the region stopped
    + registered: the regions MAAS knew when the run was planned
      (``facts.maas_api.MaasRegionControllers``); when the leaving one is not among them there
      is nothing to do. ``None`` (the API did not answer then): MAAS is asked when it runs

    **Example:**

    .. code:: python

        from operations import maas_region_removal

        # on the (new) primary region
        maas_region_removal.deregister(
            name="Delete region3 from MAAS",
            api_url="http://localhost:5240/MAAS/",
            key_host="region1",
            admin_username="admin",
            hostname="region3",
            address="10.0.0.13",
        )
    """
    if registered is not None and not matching(registered, hostname, address):
        host.noop(f"region {hostname} is not known to MAAS")
        return
    yield FunctionCommand(delete_region, [], {
        "api_url": api_url, "key_host": str(key_host), "admin_username": admin_username,
        "hostname": hostname, "address": address, "key_flavour": key_flavour, "timeout": int(timeout),
    })
