"""One dependency direction: tui -> core -> models -> common, checked on every import.

Module-level and function-level imports alike (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"common", "core", "models", "tui", "bench", "tests"}
ALLOWED = {
    "common": {"common"},
    "models": {"models", "common"},
    "core": {"core", "models", "common"},
    "tui": {"tui", "core", "models", "common"},
}


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a file, relative ones resolved."""
    package = list(path.relative_to(ROOT).parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.append((node.lineno, ".".join([*base, *([node.module] if node.module else [])])))
    return sorted(found)


def violations(layer: str) -> list[str]:
    out = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, module in imported(path):
            top = module.split(".")[0]
            if top in OURS and top not in ALLOWED[layer]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_follow_the_one_direction(layer):
    assert violations(layer) == [], f"{layer} may import only {sorted(ALLOWED[layer])}"


def test_the_check_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text(
        "from __future__ import annotations\n\n"
        "def f():\n    from core.data.evaluate import evaluate\n    return evaluate\n\n"
        "from . import good\nimport tui.app as app\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert violations("models") == ["models/bad.py:4 imports core.data.evaluate",
                                    "models/bad.py:8 imports tui.app"]


# -- no import circles; project imports at module top ----------------------------------------

PROJECT = ("common", "core", "models", "tui")
# Libraries that cost seconds to import or may be missing (Textual: the CLI starts without it):
# only these, and our modules that
# import them at their top, may be imported inside a function.
HEAVY = {"torch", "transformers", "onnxruntime", "onnx", "llama_cpp", "spacy", "datasets", "optimum",
         "matplotlib", "yaml", "sklearn", "scipy", "textual"}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every project module (a package by its `__init__.py`)."""
    found = {}
    for top in PROJECT:
        for path in (root / top).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def run_time_imports(path: Path, root: Path = ROOT) -> list[tuple[int, str, bool]]:
    """(line, dotted target, at module top) of every import made at run time: those under
    `if TYPE_CHECKING:` are left out; `from a import b` names a.b too, for when b is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            typing_only |= {id(n) for statement in node.body for n in ast.walk(statement)}
    top = {id(node) for node in tree.body}
    package = list(path.relative_to(root).parts[:-1])
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out.append((node.lineno, module, id(node) in top))
            out += [(node.lineno, f"{module}.{alias.name}", id(node) in top) for alias in node.names]
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports at run time (a package's own `__init__` aside)."""
    mods = modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for _, target, _ in run_time_imports(path, root):
            found = resolve(target) if target.split(".")[0] in PROJECT else None
            if found and found != module and not module.startswith(found + "."):
                edges[module].add(found)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_among_our_modules():
    assert circles(graph()) == []


def heavy_modules(root: Path = ROOT) -> set[str]:
    """Our modules that import a heavy library at their top, directly or through another of ours."""
    mods = modules(root)
    direct = {m for m, p in mods.items()
              if any(top and t.split(".")[0] in HEAVY for _, t, top in run_time_imports(p, root))}
    heavy, grew = set(direct), True
    while grew:
        grew = False
        for m, path in mods.items():
            if m not in heavy and any(top and t in heavy for _, t, top in run_time_imports(path, root)):
                heavy.add(m)
                grew = True
    return heavy


def test_project_imports_sit_at_module_top_unless_heavy():
    mods, heavy = modules(), heavy_modules()
    late = [f"{path.relative_to(ROOT)}:{line} imports {target} inside a function"
            for path in mods.values() for line, target, top in run_time_imports(path)
            if not top and target in mods and target not in heavy
            and target.split(".")[0] in PROJECT]
    assert late == [], "import our own modules at the top; only heavy ones (torch, ...) may wait"


def test_the_circle_check_sees_imports_inside_functions(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("from core.b import thing\n")
    (tmp_path / "core" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.c import x\n"
        "def f():\n    from core import a\n")
    (tmp_path / "core" / "c.py").write_text("import core.b\n")
    assert circles(graph(tmp_path)) == [["core.a", "core.b"]]


def test_no_presentation_in_core_or_models():
    shown = [f"{path.relative_to(ROOT)}:{line} imports {target}"
             for name, path in modules().items() if name.split(".")[0] in ("core", "models")
             for line, target, _ in run_time_imports(path) if target.split(".")[0] in ("rich", "textual")]
    assert shown == [], "core and models return data; tui renders it"


def test_no_test_module_imports_another():
    """Shared fixtures and helpers live in tests/conftest.py (or a helper such as
    tests/fault_server.py), so each test module can be run, moved or deleted alone."""
    crossed = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if any(n.split(".")[1].startswith("test_") for n in names if n.count(".") >= 1):
                    crossed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert crossed == []
