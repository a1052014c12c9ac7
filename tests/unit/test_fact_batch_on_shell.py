"""FactBatch's command run by a real shell: each part's output and status reach its own
fact, a failing part does not disturb the others, and nothing is left on the host."""

import subprocess

import pytest
from pyinfra.api import FactBase

from run import batch
from run.batch import FactBatch


class _Lines(FactBase):
    def command(self, text, status=0):
        return f"printf '%s\\n' {text}; sleep 0.2; exit {status}"

    def process(self, output):
        return list(output)


class _Failing(_Lines):
    default = list


class _Shell(_Lines):
    def command(self, script):
        return script


@pytest.fixture
def batchable(monkeypatch):
    monkeypatch.setitem(batch.BATCHABLE, "_Lines", _Lines)
    monkeypatch.setitem(batch.BATCHABLE, "_Failing", _Failing)
    monkeypatch.setitem(batch.BATCHABLE, "_Shell", _Shell)


def _run(facts, tmp_path, side_by_side=False):
    command = FactBatch().command(facts, side_by_side=side_by_side)
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env={"TMPDIR": str(tmp_path),
                          "PATH": "/usr/bin:/bin"}, timeout=30)
    return done, FactBatch().process(done.stdout.splitlines())


@pytest.mark.parametrize("side_by_side", [False, True])
def test_parts_reach_their_facts(batchable, tmp_path, side_by_side):
    done, facts = _run([["_Lines", {"text": "one two"}], ["_Failing", {"text": "junk", "status": 3}],
                        ["VmHostSoftware", {}]], tmp_path, side_by_side)
    assert done.returncode == 0
    assert facts == {"_Lines": ["one", "two"], "_Failing": [], "VmHostSoftware": []}
    assert list(tmp_path.iterdir()) == []  # no files left behind


def test_parts_run_side_by_side(batchable, tmp_path):
    # The first part waits (at most ~10 s) for a file only the second part creates: run one
    # after the other, it would give up and say so.
    flag = tmp_path.parent / f"{tmp_path.name}-flag"
    wait = (f"i=0; while [ ! -e {flag} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
            f"[ -e {flag} ] && echo saw-flag || echo gave-up")
    _, facts = _run([["_Shell", {"script": wait}], ["VmHostSoftware", {}],
                     ["_Lines", {"text": f"$(touch {flag}; echo made)"}]], tmp_path, side_by_side=True)
    assert facts["_Shell"] == ["saw-flag"]
    assert facts["_Lines"] == ["made"]


def test_unknown_fact_is_refused():
    # a usage error: the host answers it with one line and fails the fact (facts/usage.py)
    result = subprocess.run(["sh", "-c", FactBatch().command([["Hostname", {}]])],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert result.stderr.startswith("run.batch.FactBatch: fact 'Hostname' cannot be batched")
