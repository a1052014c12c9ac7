"""The lab's PostgreSQL cluster as Patroni reports it (`patronictl list` on a member)."""

from __future__ import annotations

import json
import subprocess

from labtools import wait_for

PG = ["pg1", "pg2", "pg3"]
PATRONICTL = "patronictl -c /etc/patroni/config.yml"


def members(lab, via: list[str]) -> list[dict]:
    """`patronictl list` as data, asked on the first of `via` that answers."""
    for name in via:
        try:
            out = lab.ssh(name, f"{PATRONICTL} list -f json", check=False, timeout=15)
        except subprocess.TimeoutExpired:  # a host that is powered off or booting
            continue
        if out.strip():
            return json.loads(out)
    raise AssertionError(f"no Patroni answered on {via}")


def leader(lab, via=PG) -> str | None:
    running = [m["Member"] for m in members(lab, via) if m["Role"] == "Leader" and m["State"] == "running"]
    return running[0] if running else None


def healthy(lab, via=PG, count=3) -> bool:
    """`count` members, one of them a running leader, the others running or streaming."""
    listed = members(lab, via)
    leaders = [m for m in listed if m["Role"] == "Leader" and m["State"] == "running"]
    return (len(listed) == count and len(leaders) == 1
            and all(m["State"] in ("running", "streaming") for m in listed))


def cluster_lab(lab, hosts: list[str]) -> None:
    """The lab with pg2 and pg3 beside the usual hosts, `hosts` reset to bare images."""
    lab.ctl("up", "--racks", "2", "--extra", "pg2,pg3")
    lab.ctl("reset", *hosts)


def converged_cluster(lab, hosts: list[str], env: dict, label: str):
    """`hosts` reset (cluster_lab), the deploy run with `env`, and the cluster healthy: three
    members, a leader, replicas streaming. The deploy's result."""
    cluster_lab(lab, hosts)
    result = lab.deploy(env, label=label)
    assert result.returncode == 0, result.tail()
    wait_for(lambda: healthy(lab), 60, "three members, a leader, replicas streaming")
    return result
