"""The lab runner's sharing of test files between labs (tests/lab/run_slots.py)."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "run_slots", Path(__file__).resolve().parents[1] / "lab" / "run_slots.py")
run_slots = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(run_slots)


def test_every_file_runs_exactly_once_and_the_longest_are_spread():
    files = [f"tests/lab/{name}" for name in run_slots.MINUTES] + ["tests/lab/test_new.py"]
    groups = run_slots.share_out(files, 3)
    assert sorted(f for group in groups for f in group) == sorted(files)
    longest = sorted(run_slots.MINUTES, key=run_slots.MINUTES.get, reverse=True)[:3]
    homes = {next(i for i, group in enumerate(groups) if f"tests/lab/{name}" in group) for name in longest}
    assert homes == {0, 1, 2}


def test_the_loads_differ_by_at_most_the_longest_file():
    files = [f"tests/lab/{name}" for name in run_slots.MINUTES]
    loads = [sum(run_slots.MINUTES[Path(f).name] for f in group) for group in run_slots.share_out(files, 3)]
    assert max(loads) - min(loads) <= max(run_slots.MINUTES.values())


def test_no_empty_lab_is_started_for_fewer_files_than_slots():
    assert run_slots.share_out(["tests/lab/test_converge.py"], 3) == [["tests/lab/test_converge.py"]]


@pytest.mark.parametrize("argv", [["--use", "0,0"], ["--use", "4"], ["--slots", "0"], ["--slots", "5"]])
def test_slots_outside_the_lab_range_are_refused(argv):
    with pytest.raises(SystemExit) as refused:
        run_slots.main(argv + ["tests/lab/test_converge.py"])
    assert refused.value.code == 2
