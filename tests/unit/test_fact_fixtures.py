"""Fact fixtures: every folder under tests/unit/facts/ is named `<module>.<FactClass>`
and holds YAML cases (command, output, fact), run by pyinfra-testing."""
from pathlib import Path

from pyinfra_testing.facts import make_fact_tests

FIXTURES = Path(__file__).parent / "facts"


def _load(folder: Path) -> type:
    # A function, not a loop at module level: a module-level name left bound to the last
    # class would make pytest collect that class a second time.
    test_class = make_fact_tests("facts", folder.name, folder)
    test_class.__name__ = f"TestFact_{folder.name.replace('.', '_')}"
    return test_class


for _folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
    _class = _load(_folder)
    globals()[_class.__name__] = _class
del _folder, _class


def test_each_fixture_class_is_bound_once():
    """pytest collects every module-level name bound to a test class: one name per class."""
    names = [name for name, value in globals().items() if isinstance(value, type)
             and value.__name__.startswith(("TestOperation_", "TestFact_"))]
    assert len(names) == len({id(globals()[name]) for name in names}), names
    assert names == [globals()[name].__name__ for name in names]
