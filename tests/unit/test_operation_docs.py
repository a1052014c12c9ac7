"""Every operation documents itself as pyinfra's own do: arguments and an **Example:** block
whose code parses and calls the operation only with arguments it takes."""

import ast
import importlib
import inspect
import pkgutil
import textwrap

import pytest
from pyinfra.api.arguments import all_global_arguments

import operations
import run

GLOBAL_ARGUMENTS = {name for name, _ in all_global_arguments()}


def all_operations():
    """Every operation defined in operations/*.py and run/*.py."""
    for package in (operations, run):
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            for name, value in vars(module).items():
                if callable(value) and hasattr(value, "_inner") and value.__module__ == module.__name__:
                    yield pytest.param(value, id=f"{module_info.name}.{name}")


def example_code(doc: str) -> str:
    """The code block after **Example:** (its indented lines after ``.. code:: python``)."""
    after = doc.split("**Example:**", 1)[1]
    lines = after.split(".. code:: python", 1)[1].splitlines()[1:]
    block = []
    for line in lines:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


@pytest.mark.parametrize("op", list(all_operations()))
def test_operation_has_a_pyinfra_style_docstring(op):
    doc = inspect.getdoc(op)
    assert doc and "**Example:**" in doc and ".. code:: python" in doc, f"{op.__name__}: no example"
    parameters = set(inspect.signature(op._inner).parameters)
    for parameter in parameters:
        prefix = parameter.split("_")[0] + "_*"  # ``+ database_*:`` covers database_host, ...
        assert any(form in doc for form in (f"+ {parameter}", f" {parameter}:", f"{parameter},", prefix)), (
            f"{op.__name__}: argument {parameter} is not described")
    calls = [node for node in ast.walk(ast.parse(example_code(doc))) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", getattr(node.func, "id", None)) == op.__name__]
    assert calls, f"{op.__name__}: the example does not call it"
    for call in calls:
        unknown = {kw.arg for kw in call.keywords} - parameters - GLOBAL_ARGUMENTS
        assert not unknown, f"{op.__name__}: the example passes {unknown}, which it does not take"
