"""End-to-end tests on the rehearsal lab. The lab is brought up once for the session and
torn down at the end, also when a test fails (MAAS_HA_KEEP_LAB=1 keeps it for debugging).

A machine runs up to four labs, one per slot (MAAS_HA_LAB_SLOT, lab/lib/slot.py): a session
holds its slot's LAB_LOCK (flock) while it uses that lab, and so should anything else that
drives it (`flock /run/lock/maas-ha-lab.session CMD` for slot 0,
/run/lock/maas-ha-lab-N.session for slot N)."""

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labtools import REPO, SLOT, Lab

ARTEFACTS = Path(os.environ.get("MAAS_HA_ARTEFACTS", "/var/tmp/maas-ha-test-artefacts"))
LABCTL = [sys.executable, str(REPO / "lab" / "labctl.py")]
LAB_LOCK = SLOT.session_lock


@pytest.fixture(scope="session")
def lab():
    os.makedirs(os.path.dirname(LAB_LOCK), exist_ok=True)
    lock = open(LAB_LOCK, "w")  # noqa: SIM115 - held for the whole session
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        subprocess.run([*LABCTL, "down"], check=True, timeout=600)  # start from bare hosts
        subprocess.run([*LABCTL, "up", "--racks", "2"], check=True, timeout=1800)
        yield Lab(ARTEFACTS)
    finally:
        if os.environ.get("MAAS_HA_KEEP_LAB") != "1":
            subprocess.run([*LABCTL, "down"], check=False, timeout=600)
        lock.close()
