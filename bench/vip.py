"""The floating API address under failure, on the lab: how long the API is away, how many
requests fail.

    .venv/bin/python bench/vip.py [--runs 5] [--no-readme]

One lab session (the machine-wide lab lock, a fresh lab, ``labctl down`` at the end):
regions and two load balancers (lb1, lb2) sharing the address are deployed, then each run
stops the load balancer holding the address in two ways, while a bounded loop of API
requests goes to the address (tests/lab/outage.py, one request at a time):

- ``host``: its host dies (``labctl stop``: its link goes down, then its container);
- ``haproxy``: HAProxy stops on it (``systemctl stop haproxy``).

The gap is from the last answer before the first failed request to the first answer after
the last one. After each run the host or HAProxy comes back and stands by. Results go to
``bench/results/vip-latest.json`` and ``.md`` (median, min-max) and, unless ``--no-readme``,
to the README's failover table. The target (API back within 5 s) is reported, not asserted.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "bench"))

import outage  # noqa: E402
from bench import lab, lab_lock, log, update_readme  # noqa: E402
from labtools import Lab  # noqa: E402
from vip_checks import one_holder, standing_by  # noqa: E402

RESULTS = REPO / "bench" / "results"
README_START, README_END = "<!-- bench-vip:start -->", "<!-- bench-vip:end -->"
LBS = ["lb1", "lb2"]
ENV = {"MAAS_HA_RACKS": "", "MAAS_HA_HAPROXY": ",".join(LBS)}
GOAL_GAP_SECONDS = 5.0


def one_run(session: Lab, kind: str) -> dict:
    """Stop the holder (its host, or its HAProxy), measure, bring it back standing by."""
    url = f"http://{session.api_vip}/MAAS/api/2.0/version/"
    holder = one_holder(session, LBS)
    if kind == "host":
        try:
            measured = outage.measure(url, lambda: session.stop_hosts(holder))
        finally:
            session.start_hosts(holder)
    else:
        try:
            measured = outage.measure(url, lambda: session.ssh(holder, "systemctl stop haproxy"))
        finally:
            session.ssh(holder, "systemctl start haproxy")
    standing_by(session, holder)
    return {"holder": holder, **measured.summary()}


def spread(values: list[float]) -> dict:
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "n": len(values)}


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} on {result['machine']}, source `{result['source']}`, "
             f"{result['runs']} runs each, requests one at a time to the address. Median (min-max).", "",
             "| the holder... | API away (gap) | failed requests | recovered | API back within 5 s |",
             "|---|---|---|---|---|"]
    names = {"host": "host dies (link down, container stopped)", "haproxy": "HAProxy stops"}
    for kind, summary in result["summary"].items():
        gap, failed = summary["gap_seconds"], summary["failed"]
        cell = (lambda s, unit: "n/a" if s["median"] is None else
                f"{s['median']:g}{unit} ({s['min']:g}-{s['max']:g})")
        met = "n/a" if gap["median"] is None else ("yes" if gap["median"] <= GOAL_GAP_SECONDS else "no")
        lines.append(f"| {names[kind]} | {cell(gap, ' s')} | {cell(failed, '')} "
                     f"| {summary['recovered']}/{result['runs']} | {met} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (default 5)")
    parser.add_argument("--out", default=str(RESULTS / "vip-latest"), help="output path without suffix")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    raw: dict = {"host": [], "haproxy": []}
    with lab_lock():
        try:
            lab("down")
            lab("up", "--racks", "0")
            session = Lab(out.parent / "logs" / "vip")
            converge = session.deploy(ENV, label="converge")
            if converge.returncode != 0:
                raise RuntimeError(f"the deploy failed:\n{converge.tail()}")
            for index in range(1, args.runs + 1):
                for kind in raw:
                    raw[kind].append(one_run(session, kind))
                    log(f"run {index}, {kind}: {raw[kind][-1]}")
        finally:
            lab("down")
    summary = {kind: {"gap_seconds": spread([run["gap_seconds"] for run in runs]),
                      "failed": spread([run["failed"] for run in runs]),
                      "recovered": sum(run["recovered"] for run in runs)}
               for kind, runs in raw.items()}
    revision = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    result = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
              "machine": f"{platform.node() or 'control machine'} ({os.cpu_count()} cores)",
              "source": revision, "runs": args.runs, "summary": summary, "raw": raw}
    Path(f"{out}.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    Path(f"{out}.md").write_text("# Floating address failover benchmark\n\n" + table)
    if not args.no_readme:
        update_readme(table, README_START, README_END)
    print(table)
    return 0 if all(s["recovered"] == args.runs for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
