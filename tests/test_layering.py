"""The two import rules: ``patch`` never imports pytest or hypothesis, and
``pytest_patch`` uses only ``patch``'s public names."""

import ast
import pathlib
import subprocess
import sys

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
    bad = [
        (p.name, name)
        for p, name in imports(package)
        if name.split(".")[0] in {"pytest", "_pytest", "hypothesis", "pytest_patch"}
    ]
    assert bad == []


def test_plugin_uses_only_public_patch_names():
    bad = [
        (p.name, name)
        for p, name in imports("pytest_patch")
        if name.startswith("patch.") and any(part.startswith("_") for part in name.split(".")[1:])
    ]
    assert bad == []


def test_strategies_do_not_need_pytest():
    bad = [
        (p.name, name)
        for p, name in imports("pytest_patch")
        if p.name in {"strategies.py", "lifetime.py"}
        and name.split(".")[0] in {"pytest", "_pytest"}
    ]
    assert bad == []


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path):
    """Modules that ``path`` imports, at its top or inside functions (a cycle hidden in a
    function is a cycle still), except under ``if TYPE_CHECKING:``."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    tree = ast.parse(path.read_text(), str(path))
    statements = list(tree.body)
    while statements:
        node = statements.pop(0)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            statements.extend(ast.iter_child_nodes(node))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def test_no_import_cycles():
    modules = {
        module_name(path): path
        for package in ("patch", "pytest_patch")
        for path in (ROOT / package).rglob("*.py")
    }

    def edges(name, path):
        targets = set(project_imports(path))
        for target in targets:
            # `from . import x` names module x; the package itself is already importing
            # (Python imports a module's packages first), so it is no edge.
            if target not in modules or target == name or name.startswith(target + "."):
                continue
            if any(other.startswith(target + ".") for other in targets if other in modules):
                continue
            yield target

    graph = {name: sorted(set(edges(name, path))) for name, path in modules.items()}
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for target in graph[node]:
            if state.get(target) == "open":
                cycle = trail[trail.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize(
    "statement",
    [
        "import patch",
        "import patch.exceptions",
        "from patch import PatchError, launched_by_mpi",
        "import pytest_patch",
        "import pytest_patch.plugin",
    ],
)
def test_importing_starts_neither_neuron_nor_mpi(statement):
    code = (
        f"{statement}\nimport sys\n"
        "print(sorted(m for m in ('neuron', 'mpi4py', 'mpi4py.MPI') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_plugin_imports_patch_at_module_top():
    """No function-local imports of patch, neuron or mpi4py in pytest_patch."""
    local = []
    for path in sorted((ROOT / "pytest_patch").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import):
                        names = [alias.name for alias in inner.names]
                    elif isinstance(inner, ast.ImportFrom) and inner.level == 0:
                        names = [inner.module or ""]
                    else:
                        continue
                    local += [
                        (path.name, n)
                        for n in names
                        if n.split(".")[0] in {"patch", "neuron", "mpi4py"}
                    ]
    assert local == []
