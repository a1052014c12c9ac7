"""Measure an API outage: a bounded loop of requests to one lab URL while a fault happens.

Used by the lab tests and the benchmark (bench/vip.py). The loop sends one request at a time
(a new connection each, as a fresh client would), bounded in count and time, and ends by
itself: once the API answered ``RECOVERED_AFTER`` times in a row after its last failure, or,
when nothing failed, ``QUIET_SECONDS`` after the fault was done.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

RECOVERED_AFTER = 20
QUIET_SECONDS = 10
TIMEOUT = (0.5, 2.0)  # connect, read: a dead address shows within half a second


@dataclass
class Outage:
    sent: int = 0
    failed: int = 0
    gap_seconds: float = 0.0  # last answer before the first failure .. first answer after the last
    recovered: bool = False
    errors: Counter = field(default_factory=Counter)

    def summary(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "gap_seconds": round(self.gap_seconds, 2),
                "recovered": self.recovered, "errors": dict(self.errors)}


def _ok(url: str) -> str | None:
    """None when the API answered 200, else what went wrong."""
    try:
        response = requests.get(url, timeout=TIMEOUT)
        return None if response.status_code == 200 else f"HTTP {response.status_code}"
    except requests.RequestException as error:
        return type(error).__name__


def measure(url: str, fault, max_requests: int = 3000, max_seconds: float = 90.0,
            pause: float = 0.02) -> Outage:
    """Requests to ``url`` (a lab address) while ``fault()`` runs; the API must answer first."""
    for _ in range(50):  # it answers before the fault, or the measurement means nothing
        if _ok(url) is None:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"{url} does not answer before the fault")
    outage, done = Outage(), threading.Event()
    state = {"last_ok": time.monotonic(), "first_fail": None, "gap_start": None, "streak": 0,
             "done_at": None}

    def loop() -> None:
        started = time.monotonic()
        while outage.sent < max_requests and time.monotonic() - started < max_seconds:
            problem = _ok(url)
            now = time.monotonic()
            outage.sent += 1
            if problem is None:
                if state["gap_start"] is not None and state["streak"] == 0:
                    outage.gap_seconds = now - state["gap_start"]  # first answer after failures
                state["streak"] += 1
                state["last_ok"] = now if state["gap_start"] is None else state["last_ok"]
                if state["gap_start"] is not None and state["streak"] >= RECOVERED_AFTER:
                    outage.recovered = True
                    return
                if state["gap_start"] is None and done.is_set() and now - state["done_at"] > QUIET_SECONDS:
                    outage.recovered = True
                    return
            else:
                outage.failed += 1
                outage.errors[problem] += 1
                if state["gap_start"] is None:
                    state["gap_start"] = state["last_ok"]
                state["streak"] = 0
            time.sleep(pause)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        fault()
    finally:
        state["done_at"] = time.monotonic()
        done.set()
        worker.join(max_seconds + 10)
    return outage
