"""The snap's rackd.conf is rewritten on the host: the region URLs change, every other value
stays as the file holds it, secrets included (the rack's facts only ever see them masked, and
what the operation would write from them is the mask)."""

from __future__ import annotations

import json
import os
import subprocess

import yaml
from pyinfra.context import ctx_host

from facts.maas_config import RACKD_MASKED
from operations import maas_rack
from stub_host import StubHost

URLS = ["http://10.77.0.11:5240/MAAS", "http://10.77.0.12:5240/MAAS"]


def region_urls_commands(conf: dict) -> list:
    host = StubHost({"RackdConf": conf, "PendingApply": False})
    with ctx_host.use(host):
        return list(maas_rack.region_urls._inner(flavour="snap", region_urls=URLS))


def test_the_mask_the_facts_show_is_never_written(tmp_path):
    path = tmp_path / "rackd.conf"
    path.write_text("maas_url: http://10.77.0.11:5240/MAAS\nvault_secret_id: the-real-secret\ndebug: true\n")
    os.chmod(path, 0o600)
    conf = {"exists": True, "mode": "600",
            "settings": {"maas_url": URLS[0], "vault_secret_id": RACKD_MASKED, "debug": True}}

    write = maas_rack.rackd_write_command("snap", str(path), URLS)
    result = subprocess.run(["sh", "-c", write.get_raw_value()], input=write.connector_arguments["_stdin"],
                            capture_output=True, text=True, timeout=30)

    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(path.read_text()) == {"maas_url": URLS, "vault_secret_id": "the-real-secret",
                                                "debug": True}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [name for name in os.listdir(tmp_path)] == ["rackd.conf"]  # no temporary file left
    # what the operation sends holds neither the mask nor a whole file
    sent = [getattr(command, "src", None) for command in region_urls_commands(conf)]
    assert sent == [None] * len(sent)
    for command in region_urls_commands(conf):
        assert RACKD_MASKED not in command.get_raw_value() + str(command.connector_arguments.get("_stdin"))


def test_the_writer_is_told_only_the_urls():
    write = maas_rack.rackd_write_command("snap", "/var/snap/maas/current/rackd.conf", URLS)
    assert json.loads(write.connector_arguments["_stdin"]) == {"maas_url": URLS}
    assert 'prefix=".rackd.conf."' in write.get_raw_value()
