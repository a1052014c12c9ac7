"""Retiring maas-ha's keepalived where it is no longer wanted (deploys/vip.py): which hosts
are asked, what each one's answer leads to, and that the marks the fact looks for are the
ones the rendered files carry."""

import subprocess

import pytest
from pyinfra.context import ctx_host

import config
from deploys import vip
from deploys.topology import Topology
from facts.keepalived import OWN_FILES, KeepalivedFiles
from operations import keepalived
from operations._render_keepalived import CHECK_SCRIPT_PATH, CONFIG_PATH, render_check_script, render_config
from stub_host import StubHost

BOTH = [CONFIG_PATH, CHECK_SCRIPT_PATH]


def topology_of(inventory, **answers) -> Topology:
    return Topology(postgres=config.hosts_of(inventory, config.GROUP_POSTGRES),
                    regions=config.hosts_of(inventory, config.GROUP_REGION),
                    racks=config.hosts_of(inventory, config.GROUP_RACK),
                    haproxies=config.hosts_of(inventory, config.GROUP_HAPROXY), keepalived_files=answers)


def names(hosts) -> list[str]:
    return [one.name for one in hosts]


def test_with_the_address_every_host_but_the_load_balancers_is_to_be_without_keepalived(inventory_factory):
    inventory = inventory_factory(lbs=("lb1", "lb2"), group_data={"maas_haproxy": {"maas_api_vip": "10.99.0.20"}})
    assert names(vip.without_keepalived(topology_of(inventory))) == ["pg1", "r1", "r2", "k1", "k2"]


def test_without_the_address_the_load_balancers_are_too(inventory_factory):
    inventory = inventory_factory(lbs=("lb1", "lb2"))
    assert names(vip.without_keepalived(topology_of(inventory))) == ["pg1", "r1", "r2", "k1", "k2", "lb1", "lb2"]


def test_a_host_in_several_groups_is_asked_once(inventory_factory):
    inventory = inventory_factory(racks=("r1", "k1"), lbs=("lb1", "lb2"),
                                  group_data={"maas_haproxy": {"maas_api_vip": "10.99.0.20"}})
    assert names(vip.without_keepalived(topology_of(inventory))) == ["pg1", "r1", "r2", "k1"]


@pytest.fixture
def planned(monkeypatch):
    """The operations ``keepalived_retired`` calls, as [(operation, kwargs)]."""
    calls = []
    monkeypatch.setattr(vip.systemd, "service", lambda **kwargs: calls.append(("systemd.service", kwargs)))
    monkeypatch.setattr(vip.keepalived, "files_moved_aside",
                        lambda **kwargs: calls.append(("keepalived.files_moved_aside", kwargs)))
    return calls


def retire(inventory, name: str, **answers) -> None:
    with ctx_host.use(inventory.get_host(name)):
        vip.keepalived_retired._inner(topology_of(inventory, **answers))


def test_maas_has_keepalived_is_stopped_and_disabled_before_its_files_go_aside(inventory_factory, planned):
    retire(inventory_factory(lbs=("lb1", "lb2")), "lb2", lb2=BOTH)
    assert [operation for operation, _ in planned] == ["systemd.service", "keepalived.files_moved_aside"]
    assert planned[0][1]["service"] == "keepalived"
    assert (planned[0][1]["running"], planned[0][1]["enabled"]) == (False, False)


def test_a_run_stopped_after_the_config_went_aside_only_moves_the_check(inventory_factory, planned):
    """Stopped in an earlier run (the config is the mark): the service is not touched again,
    whoever runs a keepalived there now."""
    retire(inventory_factory(lbs=("lb1", "lb2")), "lb2", lb2=[CHECK_SCRIPT_PATH])
    assert [operation for operation, _ in planned] == ["keepalived.files_moved_aside"]


@pytest.mark.parametrize("answer", [[], None], ids=["nothing of ours", "did not answer"])
def test_nothing_of_ours_or_no_answer_plans_nothing(inventory_factory, planned, answer):
    retire(inventory_factory(lbs=("lb1", "lb2")), "lb2", lb2=answer)
    retire(inventory_factory(lbs=("lb1", "lb2")), "r1")  # not asked at all
    assert planned == []


@pytest.mark.parametrize("found", [[], [CONFIG_PATH], [CHECK_SCRIPT_PATH], BOTH])
def test_the_skip_rule_and_the_operation_agree(found):
    """Where the deploy plans nothing, the operation reports no change; where it plans the
    move, the operation moves something."""
    host = StubHost({"KeepalivedFiles": found})
    with ctx_host.use(host):
        commands = list(keepalived.files_moved_aside._inner())
    assert bool(commands) == bool(keepalived.files_to_move_aside(found))


def found_by_the_fact_in(directory, files: dict) -> list[str]:
    """The fact's command run by a real shell, on ``files`` ({live path: text}) written under
    ``directory`` instead of /etc/keepalived; the answer in live paths again."""
    command = KeepalivedFiles().command()
    for path, text in files.items():
        (directory / path.rsplit("/", 1)[1]).write_text(text)
    for path in OWN_FILES:
        command = command.replace(path, str(directory / path.rsplit("/", 1)[1]))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True, timeout=10).stdout
    back = {str(directory / path.rsplit("/", 1)[1]): path for path in OWN_FILES}
    return KeepalivedFiles().process([back.get(line, line) for line in output.splitlines()])


def test_the_fact_finds_the_rendered_files_and_not_a_config_someone_else_wrote(tmp_path):
    ours = tmp_path / "ours"
    ours.mkdir()
    assert found_by_the_fact_in(ours, {
        CONFIG_PATH: render_config(host_name="lb1", interface="eth0", vip="10.0.0.20", prefixlen=24, router_id=21,
                                   priority=250, own_address="10.0.0.13", peers=["10.0.0.15"]),
        CHECK_SCRIPT_PATH: render_check_script("/run/haproxy/admin.sock", 80),
    }) == BOTH
    deployed = tmp_path / "deployed"  # the check as every release wrote it: found on hosts deployed before
    deployed.mkdir()
    assert found_by_the_fact_in(deployed, {CHECK_SCRIPT_PATH: "#!/bin/sh\n# Managed by maas-ha: keepalived's check "
                                           "that HAProxy serves the MAAS API on this host.\nexit 0\n"}) == [CHECK_SCRIPT_PATH]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    assert found_by_the_fact_in(theirs, {CONFIG_PATH: "vrrp_instance VI_1 {\n    # maas_api_vip 10.0.0.20\n}\n"}) == []
    assert found_by_the_fact_in(tmp_path / "none", {}) == []
