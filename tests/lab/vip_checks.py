"""Where the load balancers' floating API address is, as the lab hosts report it."""

from __future__ import annotations

import re

from labtools import wait_for


def holders(lab, lbs) -> list[str]:
    """The load balancers of `lbs` that have the floating address on an interface now (ask
    only hosts that are up: a stopped one cannot answer)."""
    pattern = re.compile(rf"\binet {re.escape(lab.api_vip)}/")
    return [lb for lb in lbs if pattern.search(lab.ssh(lb, "ip -o addr show", check=False))]


def one_holder(lab, lbs, timeout: float = 30) -> str:
    """The one load balancer holding the address (waits for an election to settle)."""
    wait_for(lambda: len(holders(lab, lbs)) == 1, timeout, "exactly one load balancer to hold the address")
    return holders(lab, lbs)[0]


def vrrp_state(lab, lb: str) -> str | None:
    """The VRRP state keepalived last entered on `lb` (MASTER, BACKUP, FAULT), from its log."""
    entered = re.findall(r"Entering (\w+) STATE", lab.ssh(lb, "journalctl -u keepalived -o cat", check=False))
    return entered[-1] if entered else None


def standing_by(lab, lb: str, timeout: float = 60) -> None:
    """Wait until `lb` runs HAProxy and keepalived again and stands by (BACKUP)."""
    wait_for(lambda: lab.ssh(lb, "systemctl is-active keepalived haproxy", check=False).split()
             == ["active", "active"] and vrrp_state(lab, lb) == "BACKUP", timeout,
             f"keepalived and HAProxy on {lb} to run again, standing by")
