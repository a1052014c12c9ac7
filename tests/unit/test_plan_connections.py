"""PostgreSQL's connection limit for the regions: MAAS's own counts per version, the budget,
and when max_connections may change (never lowered; raised with a restart only when nothing
uses the database or the operator allows it)."""

import pytest

from operations._plan_connections import (
    connection_budget,
    plan_max_connections,
    region_connections,
    side_services,
)


@pytest.mark.parametrize(("version", "workers", "count"), [
    # regiond: (workers + master) x (9 pool + 1 listener)
    ("3.4", 4, 50),
    ("3.4", 8, 90),
    # + apiserver 15 + temporal worker 15 (SQLAlchemy 5 + 10 overflow) + Temporal 4 x (5 + 1)
    ("3.5", 4, 50 + 15 + 15 + 24),
    ("3.5", 1, 20 + 54),
    # 3.6: pool_size=3: 13 + 13 + 24
    ("3.6", 4, 50 + 13 + 13 + 24),
    ("3.6", 8, 90 + 50),
])
def test_one_region_per_version(version, workers, count):
    assert region_connections(version, workers) == count


def test_3_5_and_later_count_their_side_services():
    assert side_services("3.4") == {}
    assert side_services("3.5") == {"maas-apiserver": 15, "maas-temporal-worker": 15, "maas-temporal": 24}
    assert side_services("3.6")["maas-apiserver"] == 13
    assert side_services("3.3") == {}  # older: regiond alone
    assert side_services("3.7") == side_services("3.5")  # newer: the most any counted series needs


def test_budget_sizes_for_spare_regions_at_the_most_workers():
    budget = connection_budget("3.5", {"r1": 4, "r2": 2}, headroom=20, spare_regions=2, max_workers=8)
    assert budget.per_region == {"r1": 104, "r2": 84}
    assert budget.needed == 104 + 84 + 20
    assert budget.sized == 4 * (90 + 54) + 20
    assert budget.describe() == "r1: 104, r2: 84; headroom 20"


def test_the_sized_limit_holds_two_more_regions_at_any_worker_count():
    two = connection_budget("3.6", {"r1": 4, "r2": 4}, headroom=20, spare_regions=2, max_workers=8)
    four_at_eight = connection_budget("3.6", {f"r{n}": 8 for n in range(4)}, headroom=20,
                                      spare_regions=0, max_workers=8)
    assert four_at_eight.needed <= two.sized


def plan(live, needed=200, sized=600, in_use=True, restart_allowed=False, explicit=False):
    return plan_max_connections(live, needed, sized, in_use, restart_allowed, explicit)


def test_a_server_not_running_yet_gets_the_sized_limit():
    assert (plan(None).value, plan(None).change) == (600, "first")


def test_a_live_limit_that_holds_the_regions_stays():
    assert (plan(300).value, plan(300).change) == (300, "keep")
    assert (plan(200).value, plan(200).change) == (200, "keep")


def test_a_limit_is_never_lowered():
    result = plan(900, sized=600)
    assert (result.value, result.change) == (900, "keep")
    assert plan(900, sized=600, explicit=True).change == "keep"


def test_a_raise_while_regions_are_connected_is_refused_unless_allowed():
    refused = plan(108)
    assert (refused.value, refused.change) == (108, "refuse")
    assert refused.problem.startswith("max_connections is 108 and the regions need 200: raising it restarts")
    assert "--data maas_pg_restart_allowed=true" in refused.problem
    allowed = plan(108, restart_allowed=True)
    assert (allowed.value, allowed.change) == (600, "raise")


def test_a_raise_while_no_one_uses_the_database_is_free():
    assert (plan(100, in_use=False).value, plan(100, in_use=False).change) == (600, "first")


def test_an_explicit_limit_above_the_live_one_is_a_raise():
    assert plan(300, sized=500, explicit=True).change == "refuse"
    assert "maas_pg_max_connections asks for 500" in plan(300, sized=500, explicit=True).problem
    assert plan(300, sized=500, explicit=True, restart_allowed=True).value == 500
