"""Issue 15: the store layer owns every SQL statement; nothing outside core/store/ talks SQL.

Outside core/store/, no module of core/, models/, tui/ or bench/ may call `.execute(`,
`.executemany(` or `.executescript(`, index a sqlite-utils database (`store.db["table"]`), or
hold a string that reads as an SQL statement. Each repository of core/store/ is the one place
for its tables' statements and JSON columns.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("core", "models", "tui", "bench")
STORE = Path("core/store")
RAW_CALLS = {"execute", "executemany", "executescript"}
SQL = re.compile(  # a statement's opening shape, keywords in lower or upper case (not prose's "Select")
    r"select\s[\s\S]*?\bfrom\s+\w"
    r"|insert\s+(or\s+\w+\s+)?into\s+\w"
    r"|update\s+\w+\s+set\s"
    r"|delete\s+from\s+\w"
    r"|(create|drop)\s+(unique\s+)?(table|index|view|trigger)\s"
    r"|alter\s+table\s+\w"
    r"|pragma\s+\w"
)


def looks_like_sql(text: str) -> bool:
    statement = text.lstrip(" (\n\t")
    first = statement.split(None, 1)[0] if statement.strip() else ""
    return bool(SQL.match(statement.lower() if first.isupper() else statement))


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's literal parts with `x` for each placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    return None


def violations(source: str) -> list[str]:
    """`line: what` for each raw SQL call, database index or SQL-looking string in the source."""
    tree = ast.parse(source)
    found = []
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
    }
    inside_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in RAW_CALLS):
            found.append(f"{node.lineno}: .{node.func.attr}(")
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "db"):
            found.append(f"{node.lineno}: .db[...]")
        elif id(node) not in docstrings and id(node) not in inside_fstring:
            text = _text(node)
            if text is not None and looks_like_sql(text):
                found.append(f"{node.lineno}: SQL {text[:60]!r}")
    return found


def scan() -> dict[str, list[str]]:
    """Module path (relative to the repo) -> its violations, for modules that have any."""
    result = {}
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative.is_relative_to(STORE):
                continue
            if hits := violations(path.read_text(encoding="utf-8")):
                result[relative.as_posix()] = hits
    return result


def test_the_check_sees_sql():
    assert violations('store.db.execute("select 1")')
    assert violations("conn.executemany(q, rows)")
    assert violations('store.db["sentences"].count')
    assert violations('x = ("select id, name from datasets"\n     " where name = ?")')
    assert violations('x = f"select id from {table} where id = ?"')
    assert violations('x = "insert or replace into embeddings(a) values (?)"')
    assert violations('x = "update training_runs set status = ?"')
    assert violations('x = "delete from reviews"')
    assert violations('x = "create table t (a)"')
    assert not violations('help = "Select the subset to review; pick one from the list."')
    assert not violations('def f():\n    """Select sentences from a subset."""\n')
    assert not violations("self.query(Input)")
    assert violations('x = "SELECT * FROM t"') and not violations('x = "Update the set of runs"')


def test_no_sql_outside_the_store():
    offenders = scan()
    assert not offenders, "SQL outside core/store/ (move it into a repository):\n" + "\n".join(
        f"{module}:{hit}" for module, hits in offenders.items() for hit in hits)
