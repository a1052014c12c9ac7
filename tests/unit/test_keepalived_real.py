"""The rendered keepalived config and HAProxy check, run by the real programs.

``keepalived --config-test`` checks interfaces too, so it runs in a network namespace of its
own (``unshare -n``, root) with a veth carrying the load balancer's address. The check
script runs against a real HAProxy on loopback: it passes while HAProxy serves and fails
once HAProxy is stopped, which is what makes keepalived give the address up.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time

import pytest

from operations._render_keepalived import render_check_script, render_config
from real_tools import free_port, missing, require_program


def in_own_netns(script: str) -> subprocess.CompletedProcess:
    """``script`` (sh) in a fresh network namespace holding veth d0 (up)."""
    if os.geteuid() != 0:
        missing("root (for `unshare -n`)")
    require_program("unshare")
    setup = "ip link add d0 type veth peer name d1 && ip link set d0 up && ip link set d1 up && "
    return subprocess.run(["unshare", "-n", "sh", "-c", setup + script], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("own, vip, peer, prefix", [("10.99.0.14", "10.99.0.20", "10.99.0.15", 24),
                                                    ("fd00::14", "fd00::20", "fd00::15", 64)])
def test_real_keepalived_accepts_the_rendered_config(tmp_path, own, vip, peer, prefix):
    keepalived = require_program("keepalived")
    check = tmp_path / "check"
    check.write_text("#!/bin/sh\nexit 0\n")
    check.chmod(0o755)
    os.chmod(tmp_path, 0o755)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(render_config(host_name="lb1", interface="d0", vip=vip, prefixlen=prefix, router_id=21,
                                  priority=250, own_address=own, peers=[peer], check_script=str(check)))
    result = in_own_netns(f"ip addr add {own}/{prefix} dev d0 nodad 2>/dev/null || ip addr add {own}/{prefix} dev d0; "
                          f"{keepalived} --config-test --use-file {shlex.quote(str(conf))}")
    assert result.returncode == 0, result.stderr


def test_real_keepalived_rejects_a_broken_config(tmp_path):
    keepalived = require_program("keepalived")
    conf = tmp_path / "keepalived.conf"
    text = render_config(host_name="lb1", interface="d0", vip="10.99.0.20", prefixlen=24, router_id=21,
                         priority=250, own_address="10.99.0.14", peers=["10.99.0.15"], check_script="/bin/true")
    conf.write_text(text.replace("interval 1", "intervall 1"))
    result = in_own_netns(f"ip addr add 10.99.0.14/24 dev d0; {keepalived} --config-test --use-file {conf}")
    assert result.returncode != 0
    assert "intervall" in result.stderr


def test_the_check_passes_while_haproxy_serves_and_fails_once_it_stops(tmp_path):
    haproxy = require_program("haproxy")
    require_program("socat")
    port, admin = free_port(), tmp_path / "admin.sock"
    (tmp_path / "haproxy.cfg").write_text(
        f"global\n    stats socket {admin} mode 600 level admin\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
        f"frontend maas\n    bind 127.0.0.1:{port}\n    http-request return status 200\n")
    script = tmp_path / "check"
    script.write_text(render_check_script(str(admin), port))
    script.chmod(0o755)

    def check() -> int:
        return subprocess.run([str(script)], capture_output=True, timeout=10, check=False).returncode

    assert check() != 0  # nothing serves yet
    process = subprocess.Popen([haproxy, "-db", "-f", str(tmp_path / "haproxy.cfg")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while check() != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert check() == 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert check() != 0
