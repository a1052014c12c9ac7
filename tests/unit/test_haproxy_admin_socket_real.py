"""HAProxy started afresh with the rendered config (a reboot, a failover test, `systemctl
restart`) makes its admin socket root-only by itself: ``root:root 600``, also in Debian's
``/run/haproxy``, which is setgid ``haproxy`` (a new file there takes the directory's group).
Otherwise every run after a restart would "fix" the socket again, and a deploy after a load
balancer came back would not be a no-change run."""

from __future__ import annotations

import grp
import os
import signal
import stat
import subprocess
import time

from operations._render_haproxy import render_config
from real_tools import free_port, missing, require_program


def test_a_fresh_start_creates_the_admin_socket_root_only_in_a_setgid_directory(tmp_path):
    haproxy = require_program("haproxy")
    if os.geteuid() != 0:
        missing("root (HAProxy sets the socket's owner)")
    directory = tmp_path / "run-haproxy"
    directory.mkdir()
    os.chown(directory, 0, grp.getgrnam("nogroup").gr_gid)
    os.chmod(directory, 0o2775)  # as Debian's tmpfiles.d makes /run/haproxy
    admin = directory / "admin.sock"
    text = render_config([{"name": "region1", "address": "127.0.0.1", "port": free_port()}],
                         stats_socket=str(admin), frontend_port=free_port(), log_target="127.0.0.1:9")
    # the test runs HAProxy in the foreground, as root, outside Debian's chroot and user
    lines = [line for line in text.splitlines() if line.strip() not in ("chroot /var/lib/haproxy", "daemon",
                                                                        "user haproxy", "group haproxy")]
    (tmp_path / "haproxy.cfg").write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([haproxy, "-db", "-f", str(tmp_path / "haproxy.cfg")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not admin.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        made = admin.stat()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert stat.S_ISSOCK(made.st_mode)
    assert (made.st_uid, made.st_gid, stat.S_IMODE(made.st_mode)) == (0, 0, 0o600)
