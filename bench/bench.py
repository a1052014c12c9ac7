"""Deploy speed and scale on the lab: how long a deploy holds a change window.

    .venv/bin/python bench/bench.py [--racks 2,30] [--runs 3] [--ref REV] [--no-readme]

For each rack count and each run, on a fresh lab (``labctl down`` + ``up --racks N``):

- ``converge``: wall time of the first deploy on bare hosts;
- ``no-change``: wall time of a second deploy, and the remote commands (facts included)
  each host ran in it, counted by ``bench/counting.py`` around pyinfra's SSH connector;
- ``floor``: pyinfra connecting to every host and running one command
  (``pyinfra -y inventories/lab.py exec -- true``), measured in the same lab session.

Every lab session holds its lab slot's lock (``MAAS_HA_LAB_SLOT``) and ends with ``labctl
down``. Results go to ``bench/results/latest.json`` and ``latest.md`` (median and spread)
and, unless ``--no-readme``, to the README's "Benchmark" section. ``--ref`` measures a git
revision (exported with ``git archive`` to a temporary directory) instead of the working
tree, so a before/after comparison does not depend on what else is being edited in the
checkout.
The goals are reported, never asserted: the benchmark measures, the tests check behaviour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab.lib import slot  # noqa: E402

RESULTS = REPO / "bench" / "results"
COUNTING = REPO / "bench" / "counting.py"
LOCK = slot.current().session_lock  # MAAS_HA_LAB_SLOT: which of the machine's labs
LAB = [sys.executable, str(REPO / "lab" / "labctl.py")]
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"

# Goals from the issue: reported beside the numbers.
GOAL_FLOOR_RATIO = 3.0
GOAL_MAX_COMMANDS = 25
GOAL_SCALE_RATIO = 1.5


def log(message: str) -> None:
    """Progress on stderr, so a long benchmark shows where it is."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def lab_lock():
    """The lab slot's session lock (the same one tests/lab and operators take)."""
    with open(LOCK, "a") as handle:
        log("waiting for the lab lock")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lab(*args: str, timeout: int = 900) -> None:
    """Run labctl; raise with its output when it fails."""
    result = subprocess.run(LAB + list(args), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"labctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


@contextmanager
def source_tree(ref: str | None):
    """The tree to deploy from: the working tree, or REV exported to a temporary dir."""
    if ref is None:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="maas-ha-bench-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp)


def pyinfra(tree: Path, args: list[str], counts: Path, output: Path) -> dict:
    """One pyinfra run with counting: wall time, exit status, per-host command counts."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAAS_HA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    command = [sys.executable, str(COUNTING), str(counts), "--", "-y", "inventories/lab.py", *args]
    start = time.monotonic()
    with open(output, "w") as handle:
        returncode = subprocess.run(command, cwd=tree, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                    timeout=3600).returncode
    seconds = time.monotonic() - start
    hosts = json.loads(counts.read_text())["hosts"] if counts.exists() else {}
    return {
        "seconds": round(seconds, 3),
        "returncode": returncode,
        "commands": {name: entry["commands"] for name, entry in sorted(hosts.items())},
        "transfers": {name: entry["transfers"] for name, entry in sorted(hosts.items())},
    }


def fresh_lab(racks: int, attempts: int = 3) -> None:
    """``down`` then ``up --racks N``; ``up`` again when a host failed to boot (it is
    idempotent: it only boots what is missing)."""
    lab("down")
    for attempt in range(1, attempts + 1):
        try:
            lab("up", "--racks", str(racks))
            return
        except RuntimeError as error:
            if attempt == attempts:
                raise
            log(f"lab up failed (attempt {attempt}), retrying: {str(error).splitlines()[0]}")
            time.sleep(2)


def failed_run(error: Exception) -> dict:
    """A run that could not be measured (lab failure): kept in the raw results, not in medians."""
    empty = {"seconds": None, "returncode": None, "commands": {}, "transfers": {}, "error": str(error)[-2000:]}
    return {"converge": empty, "nochange": empty, "floor": empty}


def one_run(tree: Path, racks: int, index: int, logs: Path) -> dict:
    """A fresh lab, the first converge, the no-change run and the floor; the lab goes down."""
    with lab_lock():
        try:
            log(f"{racks} racks, run {index}: fresh lab")
            fresh_lab(racks)
            prefix = logs / f"racks{racks}-run{index}"
            log(f"{racks} racks, run {index}: first converge")
            converge = pyinfra(tree, ["deploy.py"], Path(f"{prefix}-converge.json"), Path(f"{prefix}-converge.log"))
            log(f"{racks} racks, run {index}: converge {converge['seconds']}s rc={converge['returncode']}; no-change run")
            nochange = pyinfra(tree, ["deploy.py"], Path(f"{prefix}-nochange.json"), Path(f"{prefix}-nochange.log"))
            floor = pyinfra(tree, ["exec", "--", "true"], Path(f"{prefix}-floor.json"), Path(f"{prefix}-floor.log"))
            log(f"{racks} racks, run {index}: no-change {nochange['seconds']}s, floor {floor['seconds']}s")
        finally:
            lab("down")
    return {"converge": converge, "nochange": nochange, "floor": floor}


def spread(values: list[float]) -> dict:
    """Median, min, max and the number of samples."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def summarise(runs: list[dict]) -> dict:
    """Per rack count: timing spreads over successful runs, command counts of the no-change runs."""
    ok = [run for run in runs if run["converge"]["returncode"] == 0 and run["nochange"]["returncode"] == 0]
    per_host_max = [max(run["nochange"]["commands"].values(), default=0) for run in ok]
    per_host_total = [sum(run["nochange"]["commands"].values()) for run in ok]
    busiest = {}
    if ok:
        last = ok[-1]["nochange"]["commands"]
        busiest = dict(sorted(last.items(), key=lambda item: -item[1])[:3])
    return {
        "runs": len(runs),
        "failed_runs": len(runs) - len(ok),
        "converge_s": spread([run["converge"]["seconds"] for run in ok]),
        "nochange_s": spread([run["nochange"]["seconds"] for run in ok]),
        "floor_s": spread([run["floor"]["seconds"] for run in runs if run["floor"]["returncode"] == 0]),
        "nochange_max_commands_per_host": spread(per_host_max),
        "nochange_total_commands": spread(per_host_total),
        "nochange_busiest_hosts": busiest,
        "hosts": max((len(run["nochange"]["commands"]) for run in runs), default=0),
    }


def goals(summary: dict, small: int, large: int | None) -> dict:
    """The issue's goals, evaluated on medians (reported, not asserted)."""
    result = {}
    base = summary.get(str(small))
    if base and base["nochange_s"]["median"] and base["floor_s"]["median"]:
        ratio = base["nochange_s"]["median"] / base["floor_s"]["median"]
        result["nochange_vs_floor"] = {"value": round(ratio, 2), "goal": GOAL_FLOOR_RATIO,
                                       "met": ratio <= GOAL_FLOOR_RATIO}
    worst = max((s["nochange_max_commands_per_host"]["max"] or 0 for s in summary.values()), default=0)
    result["max_commands_per_host"] = {"value": worst, "goal": GOAL_MAX_COMMANDS,
                                       "met": worst <= GOAL_MAX_COMMANDS}
    big = summary.get(str(large)) if large is not None else None
    if base and big and base["nochange_s"]["median"] and big["nochange_s"]["median"]:
        ratio = big["nochange_s"]["median"] / base["nochange_s"]["median"]
        result["scale_nochange"] = {"value": round(ratio, 2), "goal": GOAL_SCALE_RATIO,
                                    "met": ratio <= GOAL_SCALE_RATIO}
    return result


def _cell(stats: dict, unit: str = " s") -> str:
    if not stats or stats["median"] is None:
        return "n/a"
    if stats["min"] == stats["max"]:
        return f"{stats['median']:g}{unit}"
    return f"{stats['median']:g}{unit} ({stats['min']:g}-{stats['max']:g})"


def markdown(result: dict) -> str:
    """The results table (median, min-max in brackets) and the goals."""
    lines = [
        f"Measured {result['date']} on {result['machine']}, source `{result['source']}`, "
        f"{result['runs_per_size']} runs per size, fresh lab per run. Median (min-max).",
        "",
        "| racks | hosts | first converge | no-change run | floor (`exec -- true`) | no-change / floor "
        "| max commands per host (no-change) | commands, all hosts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for racks, s in result["summary"].items():
        ratio = "n/a"
        if s["nochange_s"]["median"] and s["floor_s"]["median"]:
            ratio = f"{s['nochange_s']['median'] / s['floor_s']['median']:.2f}x"
        failed = f" ({s['failed_runs']} failed)" if s["failed_runs"] else ""
        lines.append(
            f"| {racks}{failed} | {s['hosts']} | {_cell(s['converge_s'])} | {_cell(s['nochange_s'])} "
            f"| {_cell(s['floor_s'])} | {ratio} | {_cell(s['nochange_max_commands_per_host'], '')} "
            f"| {_cell(s['nochange_total_commands'], '')} |"
        )
    names = {
        "nochange_vs_floor": "no-change run within 3x the floor (default lab)",
        "max_commands_per_host": "no host above 25 remote commands in the no-change run",
        "scale_nochange": "no-change run with 30 racks within 1.5x the 2-rack one",
    }
    lines += ["", "| goal | value | met |", "|---|---|---|"]
    for key, goal in result["goals"].items():
        lines.append(f"| {names.get(key, key)} | {goal['value']} | {'yes' if goal['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def update_readme(table: str) -> None:
    """Replace the README's Benchmark section body between its markers."""
    readme = REPO / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        log("README has no benchmark markers; not updated")
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}{README_END}{tail}")


def _terminate(signum, frame):
    """SIGTERM/SIGHUP: unwind like Ctrl-C, so the lab session still ends with ``down``."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    """Measure, write bench/results/latest.{json,md}, update the README."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--racks", default="2,30", help="comma list of rack counts (default 2,30)")
    parser.add_argument("--runs", type=int, default=3, help="runs per rack count (default 3)")
    parser.add_argument("--ref", help="git revision to measure instead of the working tree")
    parser.add_argument("--out", default=str(RESULTS / "latest"), help="output path without suffix")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    sizes = [int(n) for n in args.racks.split(",") if n]

    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.parent / "logs"
    logs.mkdir(exist_ok=True)
    raw: dict = {}
    with source_tree(args.ref) as tree:
        for racks in sizes:
            raw[str(racks)] = []
            for index in range(1, args.runs + 1):
                try:
                    raw[str(racks)].append(one_run(tree, racks, index, logs))
                except (RuntimeError, subprocess.SubprocessError, OSError) as error:
                    log(f"{racks} racks, run {index} not measured: {error}")
                    raw[str(racks)].append(failed_run(error))

    revision = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.ref or "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    dirty = "" if args.ref else (" + working tree" if subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True).stdout.strip() else "")
    summary = {racks: summarise(runs) for racks, runs in raw.items()}
    result = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.node() or 'control machine'} ({os.cpu_count()} cores)",
        "source": f"{revision}{dirty}",
        "runs_per_size": args.runs,
        "summary": summary,
        "goals": goals(summary, sizes[0], sizes[-1] if len(sizes) > 1 else None),
        "raw": raw,
    }
    Path(f"{out}.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    Path(f"{out}.md").write_text("# Deploy benchmark\n\n" + table)
    if not args.no_readme:
        update_readme(table)
    print(table)
    return 0 if all(s["failed_runs"] == 0 for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
