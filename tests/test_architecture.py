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
        "def f():\n    from core.evaluate import evaluate\n    return evaluate\n\n"
        "from . import good\nimport tui.app as app\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert violations("models") == ["models/bad.py:4 imports core.evaluate",
                                    "models/bad.py:8 imports tui.app"]
