"""No product function over 80 lines (CONTRIBUTING.md): remediation/, emulator/ and function_app.py.

Lines are counted from the first decorator to the last line of the body, docstring and comments included;
a nested function counts inside its parent and on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 80


def long_functions(source: str, name: str, limit: int = MAX_LINES) -> list[str]:
    """`file:line function (n lines)` for each function of `source` over `limit` lines."""
    found = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = (node.end_lineno or node.lineno) - first + 1
            if lines > limit:
                found.append(f"{name}:{first} {node.name} ({lines} lines)")
    return found


def _product_files() -> list[Path]:
    files = [*sorted((ROOT / "remediation").rglob("*.py")), *sorted((ROOT / "emulator").rglob("*.py"))]
    return [*files, ROOT / "function_app.py"]


def test_the_count_sees_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(79))
    assert long_functions(f"def f():\n{body}\n", "t.py") == []  # exactly 80 lines
    assert long_functions(f"@decorated\ndef f():\n{body}\n", "t.py") == ["t.py:1 f (81 lines)"]
    nested = "\n".join(f"        y{i} = {i}" for i in range(81))
    assert long_functions(f"class C:\n    def m(self):\n{nested}\n", "t.py") == ["t.py:2 m (82 lines)"]


def test_no_product_function_over_80_lines() -> None:
    files = _product_files()
    assert len(files) > 50  # the walk found the packages
    offenders = [hit for path in files
                 for hit in long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert offenders == [], "split these into named steps:\n" + "\n".join(offenders)
