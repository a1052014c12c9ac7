"""Configuring a region as plain data (operations/_plan_region.plan_regiond), and the one
truth it gives: the rolling restart restarts a region exactly when configure changes it."""

import pytest
from pyinfra.context import ctx_host

from deploys.rolling_restart import restart_reason
from keyed_fixtures import keyed
from operations import maas_region
from operations._plan_region import plan_regiond, wanted_regiond
from stub_host import StubHost

SETTINGS = {
    "maas_url": "http://10.77.0.13/MAAS", "num_workers": 4, "database_host": "10.77.0.10",
    "database_port": 5432, "database_name": "maasdb", "database_user": "maas",
    "database_password": "s3cret",
}
WANTED = wanted_regiond(**SETTINGS)
CURRENT = {"maas_url": "http://10.77.0.13/MAAS", "num_workers": 4, "database_host": "10.77.0.10",
           "database_port": 5432, "database_name": "maasdb", "database_user": "maas",
           "database_pass": keyed("s3cret"), "debug_http": True}


def test_deb_writes_exactly_the_keys_that_differ():
    plan = plan_regiond("deb", {**CURRENT, "num_workers": "2"}, WANTED, None)
    assert plan == {"changes": ["num_workers"], "write": {"num_workers": 4}, "init": None,
                    "config": {}, "vault": False}
    assert plan_regiond("deb", CURRENT, WANTED, None)["changes"] == []


def test_snap_reinitialises_for_database_settings_keeping_a_rack():
    plan = plan_regiond("snap", {**CURRENT, "database_host": "10.77.0.9", "maas_url": "x"},
                        WANTED, "region+rack")
    assert plan["init"] == "region+rack" and plan["config"] == {}  # init sets the URL too
    assert plan["changes"] == ["database_host", "maas_url"]


def test_snap_sets_url_and_workers_through_maas_config():
    plan = plan_regiond("snap", {**CURRENT, "maas_url": "x", "num_workers": 1}, WANTED, "region")
    assert plan["init"] is None
    assert plan["config"] == {"maas_url": "http://10.77.0.13/MAAS", "num_workers": 4}


def test_snap_in_no_region_mode_is_a_change_and_an_init():
    plan = plan_regiond("snap", CURRENT, WANTED, "rack")
    assert plan["changes"] == ["snap run mode"] and plan["init"] == "region+rack"
    assert plan_regiond("snap", CURRENT, WANTED, "none")["init"] == "region"


def test_snap_region_that_is_a_rack_too_runs_in_region_plus_rack_mode():
    plan = plan_regiond("snap", CURRENT, WANTED, "region", with_rack=True)
    assert plan["changes"] == ["snap run mode"] and plan["init"] == "region+rack"
    assert plan_regiond("snap", {}, WANTED, "none", with_rack=True)["init"] == "region+rack"
    assert plan_regiond("snap", CURRENT, WANTED, "region+rack", with_rack=True)["changes"] == []
    # a deb region+rack is two packages: regiond.conf does not change for it
    assert plan_regiond("deb", CURRENT, WANTED, "region", with_rack=True)["changes"] == []


# regiond.conf after MAAS moved the credentials into Vault (start_up.py blanks them)
VAULT = {**CURRENT, "database_name": "", "database_user": "", "database_pass": "",
         "vault_url": "http://vault:8200", "vault_approle_id": keyed("role"), "vault_secret_id": keyed("id")}


@pytest.mark.parametrize("flavour,mode", [("deb", None), ("snap", "region")])
def test_credentials_vault_keeps_are_neither_compared_nor_written(flavour, mode):
    plan = plan_regiond(flavour, VAULT, WANTED, mode)
    assert plan["vault"] is True and plan["changes"] == [] and plan["init"] is None
    plan = plan_regiond(flavour, {**VAULT, "num_workers": 2}, WANTED, mode)
    assert plan["changes"] == ["num_workers"]
    assert plan["write"] == ({"num_workers": 4} if flavour == "deb" else {})


@pytest.mark.parametrize("settings", [
    {**VAULT, "vault_url": ""},                                # Vault not configured here
    {**VAULT, "database_name": "maasdb"},                      # still on disk: MAAS moves them at start
    {key: value for key, value in VAULT.items() if key != "database_name"},  # absent: MAAS reads maasdb
])
def test_credentials_are_managed_unless_vault_really_keeps_them(settings):
    plan = plan_regiond("deb", settings, WANTED, None)
    assert plan["vault"] is False
    assert {"database_user", "database_pass"} <= set(plan["changes"])


def configure_changes(flavour, conf, install, with_rack=False) -> bool:
    host = StubHost({"RegiondConf": conf, "MaasInstall": install}, name="region1")
    with ctx_host.use(host):
        commands = list(maas_region.configure._inner(flavour=flavour, with_rack=with_rack, **SETTINGS))
    assert bool(commands) != bool(host.noops)
    return bool(commands)


CASES = [
    ({"exists": True, "settings": CURRENT}, {"mode": "region"}),
    ({"exists": True, "settings": {**CURRENT, "num_workers": 2}}, {"mode": "region"}),
    ({"exists": True, "settings": {**CURRENT, "database_pass": keyed("old")}}, {"mode": "region"}),
    ({"exists": True, "settings": {**CURRENT, "maas_url": "http://10.77.0.99/MAAS"}}, {"mode": "region+rack"}),
    ({"exists": True, "settings": CURRENT}, {"mode": "rack"}),
    ({"exists": True, "settings": CURRENT}, {"mode": None}),
    ({"exists": False}, None),
    ({"exists": True, "settings": VAULT}, {"mode": "region"}),
    ({"exists": True, "settings": {**VAULT, "num_workers": 2}}, {"mode": "region"}),
]


@pytest.mark.parametrize("flavour", ["deb", "snap"])
@pytest.mark.parametrize(("conf", "install"), CASES)
@pytest.mark.parametrize("with_rack", [False, True])
def test_restart_reason_agrees_with_configure(flavour, conf, install, with_rack):
    reason = restart_reason({"flavour": flavour, "with_rack": with_rack, **SETTINGS}, conf, install, answers=True)
    assert (reason is not None) == configure_changes(flavour, conf, install, with_rack)
