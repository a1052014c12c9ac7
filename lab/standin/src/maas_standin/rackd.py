"""Lab test equipment (MAAS stand-in): the rack controller daemon `rackd`.

Reads rackd.conf `maas_url` and the shared secret, authenticates to a region with
the secret (HMAC challenge, README.md "RPC"), registers, writes maas_id, then
heartbeats to every region URL.  When the region has deleted it, it behaves like
MAAS's DisableAndShutoffRackd: removes the secret and stops trying.

As in MAAS, registering does not tell the region the rack's interfaces: they arrive with the
rack's network refresh (``NetworksMonitor``), some seconds later.
"""
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from . import conffile, logutil, netinfo, paths, rpcauth

log = logging.getLogger("maas.rackd")


class RegionUnavailable(Exception):
    pass


class AuthFailed(Exception):
    pass


class Deleted(Exception):
    pass


def rpc_base(url):
    return url.rstrip("/") + "/rpc/"


def _http(url, data=None, headers=None, method=None, timeout=10):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read()


def networks_interval():
    """Seconds between two passes of the networks monitor (MAAS: ``INTERVAL``, 30 s)."""
    return float(os.environ.get("MAAS_STANDIN_NETWORKS_INTERVAL", "30"))


def beacon_pause():
    """Seconds the monitor beacons before a refresh (MAAS: two ``pause(3.0)``)."""
    return float(os.environ.get("MAAS_STANDIN_BEACON_PAUSE", "6"))


def refresh_seconds():
    """Seconds the refresh takes before the region records the interfaces: MAAS runs the
    controller's commissioning scripts (machine-resources, lshw, support info, ...) and posts
    their output, which the region then processes."""
    return float(os.environ.get("MAAS_STANDIN_REFRESH_SECONDS", "10"))


class Rack:
    """One rackd process: registration state and the region connections."""

    def __init__(self):
        self.system_id = None
        self.registered_url = None
        self.registered_with = None
        self.connected = None
        self.waiting_logged = False
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def rpc_info(self, url):
        info_url = rpc_base(url)
        try:
            _, body = _http(info_url)
            return json.loads(body)
        except urllib.error.HTTPError as e:
            raise RegionUnavailable("%s (While requesting RPC info at %s)." % (e, info_url))
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise RegionUnavailable("%s (While requesting RPC info at %s)." % (reason, info_url))

    def authenticate(self, url, secret, info):
        """Mutual HMAC challenge; returns the region's answer or raises AuthFailed."""
        eventloop = info.get("this", "?")
        message, salt = rpcauth.new_message(), rpcauth.new_message()
        body = json.dumps({"message": message, "salt": salt, "digest": rpcauth.digest(secret, message, salt),
                           "hostname": netinfo.hostname()}).encode()
        try:
            _, raw = _http(rpc_base(url) + "authenticate", body, {"Content-Type": "application/json"}, "POST")
            answer = json.loads(raw)
        except urllib.error.HTTPError as e:
            if e.code == 403:
                raise AuthFailed(eventloop)
            raise RegionUnavailable("%s (While authenticating at %s)." % (e, rpc_base(url)))
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise RegionUnavailable("%s (While authenticating at %s)." % (getattr(e, "reason", e), rpc_base(url)))
        try:
            good = answer["digest"] == rpcauth.digest(secret, message, answer["salt"])
        except (KeyError, ValueError, TypeError):
            good = False
        if not good:
            raise AuthFailed(answer.get("eventloop", eventloop))
        return answer

    def call(self, url, secret, action, payload):
        path_url = rpc_base(url) + action
        body = json.dumps(payload).encode()
        path = urllib.parse.urlsplit(path_url).path
        headers = {"Content-Type": "application/json",
                   rpcauth.HEADER: rpcauth.sign(secret, "POST", path, body)}
        try:
            _, raw = _http(path_url, body, headers, "POST")
            return json.loads(raw)
        except urllib.error.HTTPError as e:
            if e.code == 410:
                raise Deleted()
            if e.code == 403:
                raise AuthFailed(None)
            raise RegionUnavailable("%s (While calling %s)." % (e, path_url))
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise RegionUnavailable("%s (While calling %s)." % (getattr(e, "reason", e), path_url))

    def connect(self, url, secret):
        info = self.rpc_info(url)
        try:
            answer = self.authenticate(url, secret, info)
        except AuthFailed as e:
            log.error("Event-loop '%s' FAILED authentication; dropping connection.", e.args[0])
            raise
        return answer

    def signed_call(self, url, secret, answer, action, payload):
        try:
            return self.call(url, secret, action, payload)
        except AuthFailed:
            log.error("Event-loop '%s' FAILED authentication; dropping connection.", answer.get("eventloop"))
            raise

    def register(self, urls, secret):
        for url in urls:
            try:
                answer = self.connect(url, secret)
                result = self.signed_call(url, secret, answer, "register", {
                    "system_id": paths.read_maas_id(), "hostname": netinfo.hostname(),
                    "interfaces": netinfo.interfaces(), "version": paths.version(), "url": url})
            except RegionUnavailable as e:
                log.error("Region not available: %s", e)
                continue
            except AuthFailed:
                continue
            with self.lock:
                self.system_id = result["system_id"]
                self.registered_url = url
            conffile.atomic_write(paths.maas_id_file(), self.system_id)
            log.info("Rack controller '%s' registered (via %s) with MAAS version %s.",
                     self.system_id, answer.get("eventloop"), result.get("version"))
            return True
        return False

    def heartbeat_all(self, urls, secret):
        regions, loops = {}, set()
        for url in urls:
            try:
                answer = self.connect(url, secret)
                result = self.signed_call(url, secret, answer, "heartbeat", {"system_id": self.system_id,
                                                              "hostname": netinfo.hostname()})
                regions[result.get("region_system_id")] = result.get("region")
                loops.add(answer.get("eventloop"))
            except (RegionUnavailable, AuthFailed) as e:
                if isinstance(e, RegionUnavailable):
                    log.error("Region not available: %s", e)
        state = tuple(sorted(regions.values()))
        if state != self.connected:
            self.connected = state
            if regions:
                log.info("Fully connected to all %d event-loops on all %d region controllers (%s).",
                         len(loops), len(regions), ", ".join(state))
            else:
                log.warning("Not connected to any region controller.")

    def disable(self):
        """DisableAndShutoffRackd: forget the secret and stop trying."""
        log.warning("Rack controller '%s' was deleted by the region (DisableAndShutoffRackd); removing the "
                    "shared secret %s and stopping.", self.system_id, paths.secret_file())
        try:
            os.unlink(paths.secret_file())
        except FileNotFoundError:
            pass
        with self.lock:
            self.system_id = None
        self.registered_with = None
        self.connected = None

    def registration(self):
        """(system_id, region URL, secret) once registered and connected, else None."""
        with self.lock:
            if self.system_id is None or self.registered_with is None or not self.connected:
                return None
            return self.system_id, self.registered_url, self.registered_with[0]

    def run_once(self):
        secret = paths.read_secret()
        if not secret:
            if not self.waiting_logged:
                log.warning("No shared secret in %s; rackd waits for one (use 'maas-rack register').",
                            paths.secret_file())
                self.waiting_logged = True
            self.registered_with = None
            return False
        self.waiting_logged = False
        urls = conffile.rack_urls(conffile.load(paths.rack_config()))
        key = (secret, tuple(urls))
        try:
            if self.registered_with != key:
                if not self.register(urls, secret):
                    return False
                self.registered_with = key
            self.heartbeat_all(urls, secret)
        except Deleted:
            self.disable()
            return False
        return True

    def run(self):
        interval = float(os.environ.get("MAAS_STANDIN_HEARTBEAT", "10"))
        log.info("rackd (MAAS %s) starting on %s; configuration %s.", paths.version(), netinfo.hostname(),
                 paths.rack_config())
        threading.Thread(target=NetworksMonitor(self).run, name="networks-monitor", daemon=True).start()
        while not self.stop.is_set():
            try:
                ok = self.run_once()
            except Exception as e:  # keep the service alive like a real daemon
                log.exception("rackd loop failed: %s", e)
                ok = False
            self.stop.wait(interval if ok else min(interval, 5))


class NetworksMonitor:
    """MAAS's ``RackNetworksMonitoringService`` (src/provisioningserver/utils/services.py,
    rackdservices/networks_monitoring_service.py): from rackd's start and then every
    ``INTERVAL`` (30 s), when the interfaces differ from those last recorded, it beacons
    (3 s, solicit again, 3 s), waits for a connection to a region, runs the refresh and posts
    its output; the region records the interfaces only then. A failed refresh is retried at
    the next pass."""

    def __init__(self, rack):
        self.rack = rack
        self.recorded = None  # (system_id, interfaces) last recorded by the region

    def run(self):
        interval = networks_interval()
        start = time.monotonic()
        while not self.rack.stop.is_set():
            try:
                self.pass_once()
            except Exception as e:  # MAAS logs and retries at the next pass
                log.error("Failed to update and/or record network interface configuration: %s", e)
            # the next multiple of the interval after now (a long pass skips the ticks it missed)
            elapsed = time.monotonic() - start
            self.rack.stop.wait(interval - (elapsed % interval))

    def pass_once(self):
        interfaces = netinfo.interfaces()
        registration = self.rack.registration()
        if registration is not None and self.recorded == (registration[0], interfaces):
            return
        if self.rack.stop.wait(beacon_pause()):
            return
        while registration is None:  # MAAS waits for an RPC connection (pause 1 s)
            if self.rack.stop.wait(1):
                return
            registration = self.rack.registration()
        system_id, url, secret = registration
        log.info("Refreshing the network configuration of rack controller '%s'.", system_id)
        if self.rack.stop.wait(refresh_seconds()):
            return
        self.rack.call(url, secret, "refresh", {"system_id": system_id, "interfaces": interfaces})
        self.recorded = (system_id, interfaces)
        log.info("Rack controller '%s' network configuration recorded by the region.", system_id)


def main():
    logutil.setup("rackd", "rackd.log")
    rack = Rack()

    def stop(signum, frame):
        rack.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if "--once" in sys.argv:
        sys.exit(0 if rack.run_once() else 1)
    rack.run()
    log.info("rackd stopped.")


if __name__ == "__main__":
    main()
