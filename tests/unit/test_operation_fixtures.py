"""Operation fixtures: every folder under tests/unit/operations/ is named
`<module>.<operation>` and holds YAML cases (args/kwargs, facts, commands,
noop_description or exception), run by pyinfra-testing."""
from pathlib import Path

from pyinfra_testing.operations import make_operation_tests

FIXTURES = Path(__file__).parent / "operations"

for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
    test_class = make_operation_tests("operations", folder.name, folder)
    test_class.__name__ = f"TestOperation_{folder.name.replace('.', '_')}"
    globals()[test_class.__name__] = test_class
