"""The PostgreSQL operations' decisions as plain data: settings against the live server,
pg_hba entries against the file, and the texts they write."""

import pytest
from pyinfra.api import OperationError, OperationValueError

from operations._plan_pg import (
    hba_reload_due,
    check_settings,
    plan_hba,
    plan_settings,
    render_dropin,
    settings_check_sql,
    wanted_hba_entries,
)


def live_setting(value, context="sighup", pending=False):
    return {"value": value, "context": context, "pending_restart": pending}


LIVE = {
    "listen_addresses": live_setting("localhost", context="postmaster"),
    "max_connections": live_setting("100", context="postmaster"),
    "password_encryption": live_setting("scram-sha-256", context="user"),
}


def test_settings_as_live_plan_nothing():
    wanted = {"listen_addresses": ["localhost"], "max_connections": 100}
    assert plan_settings(wanted, LIVE) == {"changed": [], "restart": False}


def test_a_list_setting_compares_as_a_set():
    live = {**LIVE, "listen_addresses": live_setting("b, a", context="postmaster")}
    assert plan_settings({"listen_addresses": "a,b"}, live)["changed"] == []


def test_a_postmaster_setting_that_differs_needs_a_restart():
    plan = plan_settings({"max_connections": 200, "password_encryption": "md5"}, LIVE)
    assert plan == {"changed": ["max_connections", "password_encryption"], "restart": True}


def test_a_reloadable_setting_alone_needs_no_restart():
    assert plan_settings({"password_encryption": "md5"}, LIVE) == {
        "changed": ["password_encryption"], "restart": False}


def test_a_setting_waiting_for_a_restart_counts_as_changed():
    live = {**LIVE, "max_connections": live_setting("200", context="postmaster", pending=True)}
    assert plan_settings({"max_connections": 300}, live) == {
        "changed": ["max_connections"], "restart": True}


def test_a_pending_value_that_is_not_wanted_any_more_needs_a_reload_not_a_restart():
    # the file asks for another value than the server runs with, and the running one is wanted
    # (the connection limit is never lowered): put the file back, reload; nothing restarts
    live = {**LIVE, "max_connections": live_setting("200", context="postmaster", pending=True)}
    assert plan_settings({"max_connections": 200}, live) == {
        "changed": ["max_connections"], "restart": False}


def test_a_setting_the_server_does_not_report_names_the_server():
    with pytest.raises(OperationError, match="postgresql on db1 port 5433 does not report"):
        plan_settings({"superuser_reserved_connections": 3}, LIVE, where="db1 port 5433")


@pytest.mark.parametrize(("settings", "dropin", "message"), [
    ({}, "50.conf", "got no settings"),
    ({"shared_buffers": "1GB"}, "50.conf", "shared_buffers on db1 is not managed"),
    ({"max_connections": "many"}, "50.conf", "must be an integer"),
    ({"max_connections": 0}, "50.conf", "must be positive"),
    ({"listen_addresses": " , "}, "50.conf", "is empty"),
    ({"max_connections": 5}, "../x.conf", "must be a plain"),
])
def test_bad_settings_are_refused_naming_the_host(settings, dropin, message):
    with pytest.raises(OperationValueError, match=message):
        check_settings(settings, dropin, "db1")


def test_dropin_text_is_sorted_and_quoted():
    assert render_dropin({"max_connections": "200", "listen_addresses": ["*", "10.0.0.5"]}) == (
        "# Managed by maas-ha: PostgreSQL settings for a highly-available MAAS.\n"
        "# Changes here are overwritten on the next deploy.\n"
        "listen_addresses = '*,10.0.0.5'\n"
        "max_connections = 200\n"
    )


def test_settings_check_names_our_settings_and_file():
    sql = settings_check_sql({"max_connections": 1, "listen_addresses": "*"}, "/etc/p/conf.d/50.conf")
    assert "WHERE name IN ('listen_addresses', 'max_connections')" in sql
    assert sql.endswith("WHERE sourcefile <> '/etc/p/conf.d/50.conf'")


def hba(line, address, method, user="maas"):
    return {"line": line, "type": "host", "database": "maasdb", "user": user,
            "address": address, "method": method}


def region(address, method="auto"):
    return {"type": "host", "database": "maasdb", "user": "maas", "address": address,
            "method": method}


def test_wanted_entries_are_normalised_and_deduplicated():
    wanted = wanted_hba_entries([region("10.0.0.11"), region("10.0.0.11/32", None),
                                 region("fd00::/64", "md5")], "db1")
    assert wanted == [
        {"type": "host", "database": "maasdb", "user": "maas", "address": "10.0.0.11/32",
         "method": "auto"},
        {"type": "host", "database": "maasdb", "user": "maas", "address": "fd00::/64",
         "method": "md5"},
    ]


@pytest.mark.parametrize(("entry", "message"), [
    (region("10.0.0.11/24"), "host bits set beyond its /24 prefix"),
    ({**region("10.0.0.11"), "type": "hostgss"}, "is not a pg_hba type"),
    (region("10.0.0.11", "magic"), "is not a pg_hba method"),
    ({**region("10.0.0.11"), "user": "maas x"}, "user 'maas x' is not usable"),
])
def test_unusable_entries_are_refused_naming_the_host(entry, message):
    with pytest.raises(OperationValueError, match=f"for db1: .*{message}"):
        wanted_hba_entries([entry], "db1")


def test_hba_plan_appends_missing_replaces_other_method_and_keeps_the_rest():
    wanted = wanted_hba_entries([region("10.0.0.11"), region("10.0.0.12"), region("10.0.0.13")], "db1")
    current = [
        hba(90, "10.0.0.11/32", "scram-sha-256"),
        hba(91, "10.0.0.12/32", "md5"),
        hba(92, "10.0.0.12/32", "trust"),  # only the first line with a key counts
        hba(93, "10.0.0.99/32", "md5"),  # not ours: kept
    ]
    assert plan_hba(wanted, current, "160004") == {
        "replace": [(91, "host maasdb maas 10.0.0.12/32 scram-sha-256")],
        "append": ["host maasdb maas 10.0.0.13/32 scram-sha-256"],
    }


def test_auto_method_follows_the_server_version():
    wanted = wanted_hba_entries([region("10.0.0.11")], "db1")
    current = [hba(5, "10.0.0.11/32", "md5")]
    assert plan_hba(wanted, current, "130011") == {"replace": [], "append": []}
    assert plan_hba(wanted, current, "140011")["replace"] == [
        (5, "host maasdb maas 10.0.0.11/32 scram-sha-256")]
    assert wanted[0]["method"] == "auto"  # the plan does not change its input


def test_pg_hba_changed_after_the_last_load_needs_a_reload():
    """A run stopped between editing pg_hba.conf and the reload: the file is newer than the
    server's last config load."""
    assert hba_reload_due({"loaded_at": 1000.5, "hba_mtime": 1000.75})
    assert not hba_reload_due({"loaded_at": 1000.5, "hba_mtime": 1000.25})
    assert not hba_reload_due({})  # the server did not answer: nothing to tell
