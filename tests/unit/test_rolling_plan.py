"""Which regions a run restarts (deploys/rolling_restart.restart_reason)."""

from deploys.rolling_restart import PENDING_REASON, restart_reason
from keyed_fixtures import keyed

SETTINGS = {
    "flavour": "deb", "maas_url": "http://10.77.0.13/MAAS", "num_workers": 4,
    "database_host": "10.77.0.10", "database_port": 5432, "database_name": "maasdb",
    "database_user": "maas", "database_password": "s3cret",
}
CURRENT = {"exists": True, "settings": {
    "maas_url": "http://10.77.0.13/MAAS", "num_workers": 4, "database_host": "10.77.0.10",
    "database_port": 5432, "database_name": "maasdb", "database_user": "maas",
    "database_pass": keyed("s3cret"), "debug_http": True}}


def test_converged_and_answering_region_is_left_alone():
    assert restart_reason(SETTINGS, CURRENT, {}, answers=True) is None


def test_changed_setting_restarts_and_says_which():
    assert restart_reason({**SETTINGS, "num_workers": 2}, CURRENT, {}, answers=True) == \
        "regiond.conf: num_workers"


def test_bare_host_restarts():
    reason = restart_reason(SETTINGS, {"exists": False}, None, answers=False)
    assert reason.startswith("regiond.conf: database_host, database_name, database_pass")


def test_region_that_does_not_answer_restarts():
    assert restart_reason(SETTINGS, CURRENT, {}, answers=False) == "the region API does not answer"


def test_snap_not_in_region_mode_restarts():
    snap = {**SETTINGS, "flavour": "snap"}
    assert restart_reason(snap, CURRENT, {"mode": "rack"}, answers=True) == "regiond.conf: snap run mode"
    assert restart_reason(snap, CURRENT, {"mode": "region"}, answers=True) is None


def test_file_written_by_a_stopped_run_restarts_although_it_is_right():
    """A run stopped between writing regiond.conf and restarting the region: the file holds the
    wanted settings, but the region may run the old ones until it restarts."""
    assert restart_reason(SETTINGS, CURRENT, {}, answers=True, pending=True) == PENDING_REASON
    # a change still names the keys that change
    assert restart_reason({**SETTINGS, "num_workers": 2}, CURRENT, {}, answers=True, pending=True) == \
        "regiond.conf: num_workers"


def test_each_region_is_taken_out_of_every_backend_haproxy_has_it_in():
    """With MAAS TLS on, HAProxy passes HTTPS to the regions in a second backend (TCP mode):
    a region restarts only once it is out of both, so neither API port sees a failed request."""
    from deploys.rolling_restart import BACKENDS, servers_in_haproxy

    servers = {"maas_regions": {"r1": {"admin_state": "ready"}, "r2": {"admin_state": "drain"}},
               "maas_regions_tls": {"r1": {"admin_state": "ready"}, "r2": {"admin_state": "ready"}},
               "stats": {"r1": {"admin_state": "ready"}}}
    assert BACKENDS == ("maas_regions", "maas_regions_tls")
    assert servers_in_haproxy(servers) == {"maas_regions": {"r1": "ready", "r2": "drain"},
                                           "maas_regions_tls": {"r1": "ready", "r2": "ready"}}
    # TLS off (or HAProxy not yet following it): the HTTP backend only
    assert servers_in_haproxy({"maas_regions": {"r1": {"admin_state": "ready"}}}) == \
        {"maas_regions": {"r1": "ready"}}
    assert servers_in_haproxy(None) == {}
