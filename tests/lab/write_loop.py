"""A bounded loop of MAAS API writes, to measure what a failure costs the API's users.

Each write makes a reserved one-address IP range (a database row, no traffic) whose comment
names it; the loop remembers which writes the API acknowledged and when requests failed, so
a test can count failures, measure the outage, and check afterwards that every acknowledged
write is in the database. Lab addresses only; bounded in count and in time.
"""

from __future__ import annotations

import ipaddress
import time

from operations.maas_api_client import MaasClient

# At most this many writes, in at most this many seconds, one every PAUSE seconds.
MAX_WRITES, MAX_SECONDS, PAUSE = 200, 120, 0.2
OUTAGE_GOAL = 30  # seconds from losing the primary to the first write acknowledged again


class WriteLoop:
    """Reserved single-address IP ranges written through the load balancer, one at a time:
    each acknowledged write is remembered by its comment, each failure by its time."""

    def __init__(self, lab, url: str, region: str, tag: str):
        self.client = MaasClient(url, lab.api_key(region), timeout=5, retries=0)
        network = ipaddress.ip_network(lab.spec["network"])
        # addresses high in the lab's network, away from hosts (only database rows are made)
        self.addresses = list(network.hosts())[150:150 + MAX_WRITES]
        self.tag = tag
        self.acknowledged: list[str] = []
        self.failures: list[tuple[float, str]] = []
        self.successes: list[float] = []
        self.sent = 0

    def write(self) -> None:
        address = str(self.addresses[self.sent])
        comment = f"{self.tag}-{self.sent}"
        self.sent += 1
        try:
            self.client.post("ipranges/", {"type": "reserved", "start_ip": address, "end_ip": address,
                                           "comment": comment})
        except Exception as error:  # noqa: BLE001 - every failure counts (HTTP 500, reset, timeout)
            self.failures.append((time.monotonic(), type(error).__name__))
            return
        self.acknowledged.append(comment)
        self.successes.append(time.monotonic())

    def run(self, until, after: int = 10) -> None:
        """Write until `until()` is true and `after` more writes succeeded, bounded in count
        and time."""
        started, done_at = time.monotonic(), None
        while self.sent < MAX_WRITES and time.monotonic() - started < MAX_SECONDS:
            self.write()
            if done_at is None and until():
                done_at = len(self.successes)
            if done_at is not None and len(self.successes) >= done_at + after:
                return
            time.sleep(PAUSE)
        raise AssertionError(f"write loop ran out ({self.sent} writes, {time.monotonic() - started:.0f} s); "
                             f"failures: {self.failures[-5:]}")

    def outage_after(self, moment: float) -> float:
        """Seconds from `moment` to the first acknowledged write after the first failure."""
        failed = [t for t, _ in self.failures if t >= moment]
        if not failed:
            return 0.0
        back = [t for t in self.successes if t > failed[0]]
        return (back[0] if back else float("inf")) - moment


def stored_comments(lab, primary: str, tag: str) -> set[str]:
    """Comments of the loop's rows, read with psql on the primary itself."""
    out = lab.ssh(primary, "runuser -u postgres -- psql -AtX -d maasdb -c "
                           f"\"SELECT comment FROM maasserver_iprange WHERE comment LIKE '{tag}-%'\"")
    return set(out.split())
