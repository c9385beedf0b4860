"""The package's shape: no import cycles, no private name across modules, every ``__all__`` name
importable, figures without global state.

The import graph is built from the source with ``ast`` (imports inside functions included), so a
cycle hidden by a function-level import fails here too.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vpl_jax", "theory")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    is_package = MODULES[module].name == "__init__.py"
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _project_module(name: str) -> str | None:
    """The longest project module that ``name`` names (or lies in)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every project import of ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _project_module(alias.name)
                if target:
                    out.append((target, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                sub = _project_module(f"{source}.{alias.name}")
                if sub and sub == f"{source}.{alias.name}":
                    out.append((sub, None, node.lineno))
                else:
                    target = _project_module(source)
                    if target:
                        out.append((target, alias.name, node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        deps = set()
        for target, _, _ in _imports(module):
            # a package's __init__ importing its own submodules is not a dependency edge
            if target != module and not target.startswith(module + "."):
                deps.add(target)
        graph[module] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_theory_never_imports_vpl_jax():
    bad = [
        (m, d)
        for m, deps in _graph().items()
        if m.startswith("theory")
        for d in deps
        if d.startswith("vpl_jax")
    ]
    assert bad == []


def _private_uses(module: str) -> list[str]:
    """Private names of other project modules that ``module`` imports or reads as attributes."""
    tree = ast.parse(MODULES[module].read_text())
    bad = []
    aliases = {}
    for target, name, line in _imports(module):
        if name is not None and name.startswith("_") and not name.startswith("__"):
            if target != module:
                bad.append(f"{module}:{line} imports {target}.{name}")
        if target.rsplit(".", 1)[-1].startswith("_"):
            bad.append(f"{module}:{line} imports private module {target}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _project_module(alias.name)
                if target:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.asname and target
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in MODULES:
                    aliases[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and aliases[node.value.id]
            and aliases[node.value.id] != module
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            bad.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return bad


def test_private_name_finder_sees_a_planted_use(tmp_path):
    source = "from vpl_jax import train\nx = train._programs\n"
    path = ROOT / "vpl_jax" / "_planted_for_test.py"
    MODULES["vpl_jax._planted_for_test"] = path
    try:
        path.write_text(source)
        assert _private_uses("vpl_jax._planted_for_test") == [
            "vpl_jax._planted_for_test:2 uses vpl_jax.train._programs"
        ]
    finally:
        path.unlink()
        del MODULES["vpl_jax._planted_for_test"]


def test_no_private_name_crosses_a_module_boundary():
    bad = [line for module in MODULES for line in _private_uses(module)]
    assert bad == []


def test_benchmarks_use_public_names_only():
    bad = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                for alias in node.names:
                    if alias.name.startswith("_"):
                        bad.append(f"{path.name}:{node.lineno} imports {node.module}.{alias.name}")
                    names.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        names.add(alias.asname or alias.name.split(".")[0])
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in names
            ):
                bad.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert bad == []


def _top_level_project_imports_only(module: str) -> list[str]:
    """Project imports that are not at module level (lazy imports hide layering mistakes)."""
    tree = ast.parse(MODULES[module].read_text())
    top = {id(n) for n in tree.body}
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [_resolve(module, node)]
            )
            if any(_project_module(n) for n in names):
                bad.append(f"{module}:{node.lineno}")
    return bad


def test_project_imports_are_at_module_top():
    bad = [line for module in MODULES for line in _top_level_project_imports_only(module)]
    assert bad == []


PUBLIC = sorted(m for m in MODULES if not any(part.startswith("_") for part in m.split(".")))


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_module_declares_all_and_exports_exist(module):
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    if MODULES[module].name == "__init__.py" and names is None:
        # a package whose __init__ only documents its modules
        submodules = {m.name for m in pkgutil.iter_modules(mod.__path__)}
        assert submodules
        return
    assert names is not None, f"{module} has no __all__"
    missing = [n for n in names if not hasattr(mod, n)]
    assert missing == []


def test_figures_hold_no_global_state():
    bad = []
    for module, path in MODULES.items():
        text = path.read_text()
        if "matplotlib.use(" in text or "plt.style.use(" in text or "rcParams[" in text:
            bad.append(module)
    assert bad == []
