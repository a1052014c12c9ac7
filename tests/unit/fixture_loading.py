"""Turn the YAML fixture folders into test classes in a test module's namespace.

A loop at module level would leave its variable bound to the last class, and pytest collects
every module-level name bound to a test class: that class would run twice. So the classes
are bound under their own names only.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


def load_fixture_classes(namespace: dict, make_tests, packages: tuple, fixtures: Path, prefix: str) -> None:
    """One class per folder ``<module>.<name>`` under ``fixtures``, named ``<prefix><module>_<name>``;
    ``<module>`` is looked for in each of ``packages`` in turn."""
    for folder in sorted(path for path in fixtures.iterdir() if path.is_dir()):
        test_class = make_tests(package_of(folder.name.split(".")[0], packages), folder.name, folder)
        test_class.__name__ = f"{prefix}{folder.name.replace('.', '_')}"
        namespace[test_class.__name__] = test_class


def package_of(module: str, packages: tuple) -> str:
    """The first of ``packages`` that has ``module``."""
    for package in packages:
        if find_spec(f"{package}.{module}") is not None:
            return package
    raise LookupError(f"no module {module!r} in {', '.join(packages)}")


def names_of_classes_bound_twice(namespace: dict, prefix: str) -> list[str]:
    """Module-level names bound to a fixture class under another name than its own."""
    return [name for name, value in namespace.items()
            if isinstance(value, type) and value.__name__.startswith(prefix) and name != value.__name__]
