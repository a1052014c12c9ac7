"""Fact fixtures: every folder under tests/unit/facts/ is named `<module>.<FactClass>`
(a module of facts/, or of run/ for the run's own facts) and holds YAML cases (command,
output, fact), run by pyinfra-testing."""
from pathlib import Path

from pyinfra_testing.facts import make_fact_tests

from fixture_loading import load_fixture_classes, names_of_classes_bound_twice

FIXTURES = Path(__file__).parent / "facts"

load_fixture_classes(globals(), make_fact_tests, ("facts", "run"), FIXTURES, "TestFact_")


def test_each_fixture_class_is_bound_once():
    assert names_of_classes_bound_twice(globals(), "TestFact_") == []
