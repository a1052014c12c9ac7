"""Run the lab tests on several labs at once (lab slots, lab/lib/slot.py), one pytest per slot.

The lab tests spend most of their time waiting: for containers to boot, for MAAS's stand-in
to start, for a rolling restart to go round. One machine runs several labs side by side
(MAAS_HA_LAB_SLOT), each on its own bridge, network and lock, so the test files are shared
out between slots, longest first, and each slot runs its share in its own pytest. The exit
status is the first failing slot's (0 when every slot passed); each slot's output is kept in
its artefacts directory and the failing ones are printed.

    python3 tests/lab/run_slots.py [--slots N | --use 0,2] [pytest arguments, e.g. test files or -k EXPR]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_ARTEFACTS = "/var/tmp/maas-ha-test-artefacts"
MAX_SLOTS = 4  # lab/lib/slot.py: slots 0..3

# Rough minutes per file, measured on a 2-core machine; only the order of sizes matters.
# A file not listed counts as DEFAULT_MINUTES.
MINUTES = {
    "test_interrupted_runs.py": 14, "test_region_scale.py": 8, "test_pg_cluster.py": 9,
    "test_pg_convert.py": 5, "test_failover.py": 5, "test_faults.py": 6, "test_lifecycle.py": 6,
    "test_rolling_restart.py": 5, "test_vip.py": 5, "test_snap_rack_logs.py": 6,
    "test_tls_regions.py": 5, "test_region_and_rack.py": 5, "test_converge.py": 3,
    "test_add_ha.py": 3, "test_secrets.py": 4, "test_readme_commands.py": 4,
    "test_dhcp_after_registration.py": 4, "test_flavours_swapped.py": 4, "test_ha_topology.py": 5,
}
DEFAULT_MINUTES = 3


def share_out(files: list[str], slots: int) -> list[list[str]]:
    """The files in ``slots`` groups of about equal total time, longest first (greedy)."""
    groups: list[list[str]] = [[] for _ in range(slots)]
    load = [0] * slots
    for name in sorted(files, key=lambda f: (-MINUTES.get(Path(f).name, DEFAULT_MINUTES), f)):
        emptiest = load.index(min(load))
        groups[emptiest].append(name)
        load[emptiest] += MINUTES.get(Path(name).name, DEFAULT_MINUTES)
    return [sorted(group) for group in groups if group]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=int(os.environ.get("LAB_SLOTS", "3")),
                        help="how many labs run at once (1..%d; default LAB_SLOTS or 3)" % MAX_SLOTS)
    parser.add_argument("--use", help="which slots, e.g. 0,2,3 (default: 0 .. --slots - 1)")
    args, pytest_args = parser.parse_known_args(argv)
    slots = [int(s) for s in args.use.split(",")] if args.use else list(range(args.slots))
    if not slots or len(set(slots)) != len(slots) or not all(0 <= s < MAX_SLOTS for s in slots):
        parser.error("slots are 0..%d, each at most once" % (MAX_SLOTS - 1))
    files = [a for a in pytest_args if a.endswith(".py")]
    options = [a for a in pytest_args if not a.endswith(".py")]
    if not files:
        files = sorted(str(p.relative_to(ROOT)) for p in HERE.glob("test_*.py"))
    groups = share_out(files, len(slots))
    base = Path(os.environ.get("MAAS_HA_ARTEFACTS", DEFAULT_ARTEFACTS))

    running = []
    for slot, group in zip(slots, groups):
        artefacts = base / f"slot-{slot}"
        artefacts.mkdir(parents=True, exist_ok=True)
        log = open(artefacts / "pytest.log", "w")
        env = dict(os.environ, MAAS_HA_LAB_SLOT=str(slot), MAAS_HA_ARTEFACTS=str(artefacts))
        print(f"slot {slot}: {' '.join(Path(f).name for f in group)}", flush=True)
        process = subprocess.Popen([sys.executable, "-m", "pytest", *group, "-q", "-p", "no:cacheprovider",
                                    *options], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        running.append((slot, process, log, artefacts / "pytest.log"))

    started = time.monotonic()
    status = 0
    try:
        for slot, process, log, path in running:
            code = process.wait()
            log.close()
            lines = path.read_text(errors="replace").splitlines()
            print(f"\n===== slot {slot}: exit {code} after {time.monotonic() - started:.0f} s ({path})")
            print("\n".join(lines if code else lines[-3:]), flush=True)
            status = status or code
    except KeyboardInterrupt:
        for _slot, process, _log, _path in running:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: pytest's session teardown takes the lab down
        for _slot, process, _log, _path in running:
            process.wait()
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
