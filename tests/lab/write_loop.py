"""A bounded loop of MAAS API writes, to measure what a failure costs the API's users.

Each write makes a reserved one-address IP range (a database row, no traffic) whose comment
names it; the loop remembers which writes the API acknowledged and when requests failed, so
a test can count failures, measure the outage, and check afterwards that every acknowledged
write is in the database. Lab addresses only; bounded in count and in time.
"""

from __future__ import annotations

import ipaddress
import threading
import time

from operations.maas_api_client import MaasClient

# At most this many writes, in at most this many seconds, one every PAUSE seconds.
MAX_WRITES, MAX_SECONDS, PAUSE = 100, 120, 0.2
# after a failed write the loop waits longer: an outage as long as Patroni's leader TTL (a
# primary lost without a goodbye) must not use up the loop's addresses
FAILED_PAUSE = 1.0
FIRST_ADDRESS = 150  # the loop's addresses: the lab network's hosts 151..250 (database rows only)
UNTIL_EVERY = 3  # seconds between two looks at the condition that ends the loop (it costs an ssh)
OUTAGE_GOAL = 30  # seconds from losing the primary to the first write acknowledged again
# The tests' bound on that outage: writes must come back, on a lab that may share its two
# cores with other labs. The goal is the benchmark's to measure and report (bench/failover.py),
# never a timed test's to assert.
OUTAGE_BOUND = 90


class WriteLoop:
    """Reserved single-address IP ranges written through the load balancer, one at a time:
    each acknowledged write is remembered by its comment and id, each failure by its time and
    cause. `remove()` deletes the loop's ranges afterwards, so the next loop finds its
    addresses free (a range on a taken address is refused, which would count as a failure)."""

    def __init__(self, lab, url: str, region: str, tag: str, pause: float = PAUSE):
        self.pause = pause  # between two writes (a slower loop covers a longer change)
        self.client = MaasClient(url, lab.api_key(region), timeout=5, retries=0)
        network = ipaddress.ip_network(lab.spec["network"])
        # addresses high in the lab's network, away from hosts (only database rows are made)
        self.addresses = list(network.hosts())[FIRST_ADDRESS:FIRST_ADDRESS + MAX_WRITES]
        self.tag = tag
        self.acknowledged: list[str] = []
        self.ids: list[int] = []
        self.failures: list[tuple[float, str]] = []
        self.successes: list[float] = []
        self.last_failed = False
        self.sent = 0

    def write(self) -> None:
        address = str(self.addresses[self.sent])
        comment = f"{self.tag}-{self.sent}"
        self.sent += 1
        try:
            created = self.client.post("ipranges/", {"type": "reserved", "start_ip": address,
                                                     "end_ip": address, "comment": comment})
        except Exception as error:  # noqa: BLE001 - every failure counts (HTTP 500, reset, timeout)
            self.failures.append((time.monotonic(), str(getattr(error, "status", None) or type(error).__name__)))
            self.last_failed = True
            return
        self.last_failed = False
        self.acknowledged.append(comment)
        self.ids.append(created["id"])
        self.successes.append(time.monotonic())

    def run(self, until, after: int = 10) -> None:
        """Write until `until()` is true and `after` more writes succeeded, bounded in count
        and time."""
        started, done_at, asked = time.monotonic(), None, 0.0
        while self.sent < len(self.addresses) and time.monotonic() - started < MAX_SECONDS:
            self.write()
            if done_at is None and time.monotonic() - asked >= UNTIL_EVERY:
                asked = time.monotonic()
                if until():
                    done_at = len(self.successes)
            if done_at is not None and len(self.successes) >= done_at + after:
                return
            time.sleep(FAILED_PAUSE if self.last_failed else self.pause)
        raise AssertionError(f"write loop ran out ({self.sent} writes, {time.monotonic() - started:.0f} s); "
                             f"failures: {self.failures[-5:]}")

    def failure_kinds(self) -> dict[str, int]:
        """How many writes failed with each HTTP status or error."""
        kinds: dict[str, int] = {}
        for _, kind in self.failures:
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds

    def remove(self) -> None:
        """Delete the ranges this loop made (after the test has counted them)."""
        for range_id in self.ids:
            self.client.delete(f"ipranges/{range_id}/")

    def outage_after(self, moment: float) -> float:
        """The longest time without an acknowledged write from `moment` on (from `moment`
        itself to the first acknowledgement, then between two): slow and failed writes both
        count as the outage they are."""
        times = [moment] + [t for t in self.successes if t > moment]
        return max((later - earlier for earlier, later in zip(times, times[1:])), default=float("inf"))


def stored_comments(lab, primary: str, tag: str) -> set[str]:
    """Comments of the loop's rows, read with psql on the primary itself."""
    out = lab.ssh(primary, "runuser -u postgres -- psql -AtX -d maasdb -c "
                           f"\"SELECT comment FROM maasserver_iprange WHERE comment LIKE '{tag}-%'\"")
    return set(out.split())


def in_background(action) -> threading.Thread:
    """Run `action()` (e.g. powering a host off, which takes seconds) while the loop writes."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread
