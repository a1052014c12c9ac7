"""Fact fixtures: every folder under tests/unit/facts/ is named `<module>.<FactClass>`
and holds YAML cases (command, output, fact), run by pyinfra-testing."""
from pathlib import Path

from pyinfra_testing.facts import make_fact_tests

FIXTURES = Path(__file__).parent / "facts"

for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
    test_class = make_fact_tests("facts", folder.name, folder)
    test_class.__name__ = f"TestFact_{folder.name.replace('.', '_')}"
    globals()[test_class.__name__] = test_class
