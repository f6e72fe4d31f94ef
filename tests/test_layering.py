"""The two import rules: ``patch`` never imports pytest or hypothesis, and
``pytest_patch`` uses only ``patch``'s public names."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def imports(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.module
                for alias in node.names:
                    yield path, f"{node.module}.{alias.name}"


@pytest.mark.parametrize("package", ["patch"])
def test_library_never_imports_the_test_tools(package):
    bad = [(p.name, name) for p, name in imports(package)
           if name.split(".")[0] in {"pytest", "_pytest", "hypothesis", "pytest_patch"}]
    assert bad == []


def test_plugin_uses_only_public_patch_names():
    bad = [(p.name, name) for p, name in imports("pytest_patch")
           if name.startswith("patch.") and any(part.startswith("_") for part in name.split(".")[1:])]
    assert bad == []


def test_strategies_do_not_need_pytest():
    bad = [(p.name, name) for p, name in imports("pytest_patch")
           if p.name in {"strategies.py", "lifetime.py"} and name.split(".")[0] in {"pytest", "_pytest"}]
    assert bad == []
