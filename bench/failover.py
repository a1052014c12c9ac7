"""Database failover on the lab: how long API writes stop when the PostgreSQL primary's host is
lost, and how many fail.

    .venv/bin/python bench/failover.py [--runs 5] [--no-readme]

One lab session (its slot's lock held, ending with ``labctl down``): the lab with the three
database hosts, a converge with ``MAAS_HA_POSTGRES=pg1,pg2,pg3``, then ``--runs`` times: under
the bounded write loop of ``tests/lab/write_loop.py`` (API writes through the floating
address that both load balancers share, as an operator's users reach MAAS),
the primary's host is powered off (``labctl stop``); measured are the seconds from the power-off
to the first write acknowledged again after the first failure, the writes that failed, and
whether every acknowledged write is in the new primary's database. The host is then started
again and the run waits until it is back as a replica, so each run starts from three members.
Results: ``bench/results/failover.json`` and ``.md`` (median, min-max) and, unless
``--no-readme``, the README's section between its ``bench-failover`` markers. Goals are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "lab"))

from bench import lab, lab_lock, log  # noqa: E402  (bench/bench.py, beside this script)
from labtools import Lab, wait_for  # noqa: E402
from patroni_checks import PG, healthy, leader  # noqa: E402
from write_loop import OUTAGE_GOAL, WriteLoop, in_background, stored_comments  # noqa: E402

RESULTS = REPO / "bench" / "results"
README_START = "<!-- bench-failover:start -->"
README_END = "<!-- bench-failover:end -->"
REGIONS, LBS, RACKS = ["region1", "region2"], ["lb1", "lb2"], ["rack1"]
ENV = {"MAAS_HA_POSTGRES": ",".join(PG), "MAAS_HA_REGIONS": ",".join(REGIONS), "MAAS_HA_HAPROXY": ",".join(LBS),
       "MAAS_HA_RACKS": ",".join(RACKS)}


def one_failover(session: Lab, index: int) -> dict:
    """Power the primary's host off under the write loop; back to three members afterwards."""
    old = leader(session)
    others = [name for name in PG if name != old]
    loop = WriteLoop(session, f"http://{session.api_vip}/MAAS/", REGIONS[0], f"bench{index}")
    for _ in range(10):
        loop.write()
    stopped = time.monotonic()
    stopping = in_background(lambda: lab("stop", old))
    loop.run(until=lambda: not stopping.is_alive() and leader(session, others) not in (None, old), after=10)
    stopping.join()
    new = leader(session, others)
    lost = set(loop.acknowledged) - stored_comments(session, new, f"bench{index}")
    result = {"old_primary": old, "new_primary": new, "outage_s": round(loop.outage_after(stopped), 1),
              "failed": len(loop.failures), "failures": loop.failure_kinds(), "sent": loop.sent,
              "acknowledged_lost": len(lost)}
    loop.remove()  # the next run's loop needs the addresses free
    log(f"run {index}: {result}")
    lab("start", old)
    wait_for(lambda: healthy(session), 180, f"{old} back as a replica")
    return result


def summary(runs: list[dict]) -> dict:
    def spread(key):
        values = [run[key] for run in runs]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return {"outage_s": spread("outage_s"), "failed": spread("failed"),
            "acknowledged_lost": sum(run["acknowledged_lost"] for run in runs), "runs": len(runs)}


def markdown(result: dict) -> str:
    s = result["summary"]
    cell = lambda d, unit="": f"{d['median']}{unit} ({d['min']}-{d['max']})"  # noqa: E731
    return (f"Measured {result['date']} on {result['machine']}, source `{result['source']}`, "
            f"{s['runs']} failovers in one lab session. Median (min-max).\n\n"
            "| event | longest time without an acknowledged write | writes failed | acknowledged writes lost |\n"
            "|---|---|---|---|\n"
            f"| PostgreSQL primary's host powered off | {cell(s['outage_s'], ' s')} | {cell(s['failed'])} "
            f"| {s['acknowledged_lost']} |\n\n"
            f"Goal: writes back within {OUTAGE_GOAL} s: "
            f"{'met' if s['outage_s']['median'] <= OUTAGE_GOAL else 'not met'} (median).\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    artefacts = Path(os.environ.get("MAAS_HA_ARTEFACTS", "/var/tmp/maas-ha-bench-failover"))
    runs = []
    with lab_lock():
        try:
            lab("down")
            lab("up", "--racks", "1", "--extra", "pg2,pg3", timeout=1800)
            session = Lab(artefacts)
            deployed = session.deploy(ENV, label="bench-failover-converge")
            if deployed.returncode != 0:
                raise SystemExit(f"the cluster did not converge:\n{deployed.tail()}")
            wait_for(lambda: healthy(session), 120, "three members")
            for index in range(1, args.runs + 1):
                runs.append(one_failover(session, index))
        finally:
            lab("down")
    revision = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    result = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
              "machine": f"{platform.node() or 'control machine'} ({os.cpu_count()} cores)",
              "source": revision, "summary": summary(runs), "raw": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "failover.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    (RESULTS / "failover.md").write_text(table)
    print(table)
    readme = REPO / "README.md"
    text = readme.read_text()
    if not args.no_readme and README_START in text and README_END in text:
        head, rest = text.split(README_START, 1)
        readme.write_text(f"{head}{README_START}\n{table}{README_END}{rest.split(README_END, 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
