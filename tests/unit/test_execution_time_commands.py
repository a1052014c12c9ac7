"""Commands run while the deploy executes (inside a FunctionCommand) honour the host's
connection arguments as pyinfra's own operations do: production logs in as an operator with
``_sudo``, and MAAS's secret, ``maas-rack`` and ``maas apikey`` need root."""

import json
from types import SimpleNamespace

from pyinfra.api import Config, Inventory, State
from pyinfra.api.operation import add_op
from pyinfra.operations import server

from operations.maas_dhcp import apply_vlan_dhcp_ha
from operations.maas_rack import deregister_rack, register_rack

SECRET = "0123456789abcdef0123456789abcdef"
KEY = "ck:tk:ts"
OPERATOR = {"ssh_user": "ubuntu", "_sudo": True}


def make_state(host_data):
    """A pyinfra state over region1 and rack1, whose commands are answered (and recorded)
    here instead of over ssh."""
    inventory = Inventory(([(name, dict(host_data)) for name in ("region1", "rack1")], {}))
    state = State(inventory, Config())
    state.calls = []
    for host in inventory:
        host.connected = True
        host.run_shell_command = _answer(state, host)
        host.log_styled = lambda message, **kwargs: None
    return state, inventory.get_host("region1"), inventory.get_host("rack1")


def _answer(state, host):
    def run_shell_command(command, **kwargs):
        raw = command.get_raw_value()
        state.calls.append((host.name, raw, kwargs))
        if raw.startswith("cat /var/lib/maas/secret"):
            out = SECRET
        elif raw.startswith("python3 -c"):  # a MAAS API request made on the host
            out = json.dumps({"status": 200, "content_type": "application/json", "body": "[]"})
        elif raw.startswith("cat /var/lib/maas/maas_id"):
            out = "abc123"
        else:
            out = ""
        return True, SimpleNamespace(stdout_lines=[out] if out else [], stdout=out, stderr="")
    return run_shell_command


def assert_every_call_as(state, **wanted):
    assert state.calls
    for name, raw, kwargs in state.calls:
        assert kwargs.get("print_input") is False and kwargs.get("print_output") is False, raw
        for key, value in wanted.items():
            assert kwargs.get(key) == value, f"{name}: `{raw}` ran with {key}={kwargs.get(key)!r}"


def test_rack_registration_reads_the_secret_and_registers_through_sudo():
    state, _, rack = make_state(OPERATOR)
    assert register_rack(state, rack, "deb", ["http://10.0.0.5:5240/MAAS"], "region1",
                         "/var/lib/maas/secret", "3.5", wait_seconds=0) is True
    hosts_and_commands = [(name, raw.split()[:2]) for name, raw, _ in state.calls]
    assert hosts_and_commands[:2] == [("region1", ["cat", "/var/lib/maas/secret"]),
                                      ("rack1", ["maas-rack", "register"])]
    assert_every_call_as(state, _sudo=True)


def api_calls(state):
    """(host, key command, request) of each MAAS API request the functions made."""
    calls = []
    for name, raw, kwargs in state.calls:
        assert raw.startswith("python3 -c "), raw
        request = json.loads(kwargs["_stdin"])
        calls.append((name, request["key_command"], request["method"], request["url"]))
    return calls


def test_rack_deletion_calls_the_api_on_the_region_through_sudo():
    state, _, rack = make_state(OPERATOR)
    assert deregister_rack(state, rack, "http://localhost:5240/MAAS/", "region1", "admin",
                           "rack1", key_flavour="deb") is True
    assert api_calls(state) == [("region1", "maas-region apikey --username admin | head -n 1", "GET",
                                 "http://localhost:5240/MAAS/api/2.0/rackcontrollers/?hostname=rack1")]
    assert_every_call_as(state, _sudo=True)


def test_dhcp_ha_calls_the_api_on_the_region_through_sudo():
    state, region, _ = make_state(OPERATOR)
    apply_vlan_dhcp_ha(state, region, "http://localhost:5240/MAAS/", "admin", "snap",
                       "fabric-0", 0, "rack1", "rack2")
    assert api_calls(state) == [("region1", "/snap/bin/maas apikey --username admin | head -n 1", "GET",
                                 "http://localhost:5240/MAAS/api/2.0/fabrics/")]
    assert_every_call_as(state, _sudo=True)


def test_a_root_login_runs_them_without_sudo():
    state, _, rack = make_state({"ssh_user": "root"})
    register_rack(state, rack, "snap", ["http://10.0.0.5:5240/MAAS"], "region1", "/var/lib/maas/secret",
                  "3.5", wait_seconds=0)
    assert_every_call_as(state, _sudo=False)


def test_a_refused_secret_read_says_why():
    state, _, rack = make_state(OPERATOR)
    logged = []
    rack.log_styled = lambda message, **kwargs: logged.append(message)
    region = state.inventory.get_host("region1")
    region.run_shell_command = lambda command, **kwargs: (False, SimpleNamespace(
        stdout_lines=[], stdout="", stderr="cat: /var/lib/maas/secret: Permission denied\n"))
    assert register_rack(state, rack, "deb", ["http://10.0.0.5:5240/MAAS"], "region1",
                         "/var/lib/maas/secret", "3.5", wait_seconds=0) is False
    assert logged == ["rack1: rack registration failed: cannot read the MAAS shared secret from "
                      "region1:/var/lib/maas/secret (cat: /var/lib/maas/secret: Permission denied)"]


def test_the_running_operation_arguments_win_over_host_data():
    """As for the commands an operation yields: `_sudo_user` given to the operation applies."""
    from operations._remote import connection_arguments

    state, region, rack = make_state({**OPERATOR, "_sudo_password": "pw", "_env": {"LC_ALL": "C"}})
    op_hash = add_op(state, server.shell, commands=["true"], host=rack, _sudo_user="maas")[rack]._hash
    rack.executing_op_hash = op_hash
    arguments = connection_arguments(state, rack)
    assert arguments["_sudo"] is True and arguments["_sudo_user"] == "maas"
    assert arguments["_sudo_password"] == "pw" and arguments["_env"]["LC_ALL"] == "C"
    assert "_timeout" not in arguments and "_success_exit_codes" not in arguments
    # another host, not executing: its own host data
    assert connection_arguments(state, region)["_sudo_user"] is None
