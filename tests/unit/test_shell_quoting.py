"""Names and values that land in shell commands stay words: the commands of the rolling
restart run by a real shell, on a host whose inventory name is a command substitution."""

import subprocess

import pytest
from pyinfra.context import ctx_host

from operations import maas_rolling

HOSTILE = "$(touch owned)`touch owned2`"


class StubHost:
    """Just what the operations ask of ``host``: its name, facts from a table, noop."""

    def __init__(self, name, facts=None):
        self.name = name
        self.facts = facts or {}
        self.noops = []

    def get_fact(self, fact_cls, **_kwargs):
        return self.facts.get(fact_cls.__name__)

    def noop(self, message):
        self.noops.append(message)


def commands(operation, host, **kwargs):
    with ctx_host.use(host):
        return [command.get_raw_value() for command in operation._inner(**kwargs)]


def run(script, tmp_path):
    """The script in bash, in tmp_path, with stubs for the tools it calls on a real host."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("socat", "systemctl", "journalctl"):
        (bin_dir / tool).write_text("#!/bin/sh\ncat >/dev/null 2>&1 </dev/null; exit 0\n")
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=30)


def assert_nothing_ran(done, tmp_path):
    assert not (tmp_path / "owned").exists() and not (tmp_path / "owned2").exists(), done.stderr
    assert HOSTILE in done.stderr  # shown as written, not run


def test_wait_for_region_api_keeps_the_host_name_a_word(tmp_path):
    [script] = commands(maas_rolling.wait_for_region_api, StubHost(HOSTILE), flavour="deb", version="3.5", timeout=1,
                        url="http://127.0.0.1:9/MAAS/")
    done = run(script, tmp_path)
    assert done.returncode == 1
    assert "did not answer within 1s" in done.stderr
    assert_nothing_ran(done, tmp_path)


def test_ready_region_keeps_the_host_name_a_word(tmp_path):
    servers = {"HaproxyServers": {"maas_regions": {"r1": {"admin_state": "ready", "op_state": "down"}}}}
    [script] = commands(maas_rolling.ready_region, StubHost(HOSTILE, servers), server="r1", timeout=1,
                        socket=str(tmp_path / "admin.sock"))
    done = run(script, tmp_path)
    assert done.returncode == 1
    assert "does not see r1 UP after 1s" in done.stderr
    assert_nothing_ran(done, tmp_path)


@pytest.mark.parametrize("operation", [maas_rolling.drain_region, maas_rolling.ready_region])
@pytest.mark.parametrize("server", ["r1\n", "r1;id", "$(id)", "-r1", ""])
def test_server_names_outside_the_allow_list_are_refused(operation, server):
    with pytest.raises(Exception, match="is not a valid name"):
        commands(operation, StubHost("lb1"), server=server)


@pytest.mark.parametrize("server", ["r1\n", "r1;id", "-r1"])
def test_drain_refuses_server_names_outside_the_allow_list(server):
    from operations import maas_rolling

    with pytest.raises(Exception, match="is not a valid name"):
        commands(maas_rolling.drain_region, StubHost("lb1"), server=server)


@pytest.mark.parametrize("channel", ["3.5/stable", "latest/edge", "stable", "3.5/stable/hotfix-1", "3.5+x_y/beta"])
def test_a_valid_snap_channel_quotes_to_itself(channel):
    """The install steps quote the channel; pyinfra compares it with the installed one, so
    quoting must leave every channel the allow-list takes unchanged (else: a refresh each run)."""
    import shlex

    import config

    config.CHECKS["maas_snap_channel"](channel)
    assert shlex.quote(channel) == channel
