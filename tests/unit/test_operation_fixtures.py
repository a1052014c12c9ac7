"""Operation fixtures: every folder under tests/unit/operations/ is named
`<module>.<operation>` (a module of operations/, or of run/ for the run's own operations)
and holds YAML cases (args/kwargs, facts, commands, noop_description or exception), run by
pyinfra-testing."""
from pathlib import Path

from pyinfra_testing.operations import make_operation_tests

from fixture_loading import load_fixture_classes, names_of_classes_bound_twice

FIXTURES = Path(__file__).parent / "operations"

load_fixture_classes(globals(), make_operation_tests, ("operations", "run"), FIXTURES, "TestOperation_")


def test_each_fixture_class_is_bound_once():
    assert names_of_classes_bound_twice(globals(), "TestOperation_") == []
