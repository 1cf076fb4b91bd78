"""How the CLI prints: -o text|json|table|tsv|markdown|none, --query, colours and short ids.

- JSON is the documented document (remediation/views/render.py), ids in full; `--query` applies a JMESPath
  expression to it (the `jmespath` library, as az does) and prints the result as JSON.
- Text shortens the subscription in every ARM id to `/subscriptions/…/` (the README's examples) and colours
  the change symbols on a terminal; never when NO_COLOR is set (https://no-color.org), with --no-color, or
  when stdout is not a terminal (a pipe or a file).
- table/tsv print rows (status, owned): a header and aligned columns, or tab-separated values without a header
  (az's tsv, for `while read` loops).
- A closed stdout (`... | head -1`) is not an error of ours: the caller stops printing (see `Gone`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from remediation.core.errors import RemediationInputError

_SUBSCRIPTION = re.compile(r"(/subscriptions/)[0-9A-Za-z-]+", re.IGNORECASE)
_COLOURS = {"+": "\033[32m", "~": "\033[33m", "-": "\033[31m", "!": "\033[31m"}
_BOLD_RED = "\033[1;31m"
_RESET = "\033[0m"


def shorten_ids(text: str) -> str:
    """`/subscriptions/<guid>/resourceGroups/...` -> `/subscriptions/…/resourceGroups/...` (text only)."""
    return _SUBSCRIPTION.sub(r"\1…", text)


def use_colour(no_color: bool, stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    if no_color or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def colour(text: str) -> str:
    """Colour each change line by its symbol (`  + create`, `  ~ update`, `  - delete`, `! conflict`)."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        symbol = stripped[:1]
        if line.startswith("! ") or line.startswith("error"):
            lines.append(f"{_BOLD_RED}{line}{_RESET}")
        elif symbol in _COLOURS and stripped[1:2] == " ":
            lines.append(f"{_COLOURS[symbol]}{line}{_RESET}")
        else:
            lines.append(line)
    return "\n".join(lines)


def query(document: Any, expression: str) -> Any:
    import jmespath  # the CLI's own dependency (requirements-cli.txt), loaded only for --query
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(expression, document)
    except JMESPathError as exc:
        raise RemediationInputError(f"--query {expression!r}: {' '.join(str(exc).split())}") from exc


def emit_json(document: Any, args: Any) -> None:
    if args.output == "none":
        return
    if args.query:
        document = query(document, args.query)
    print(json.dumps(document, indent=2))


def emit_text(text: str, args: Any) -> None:
    if args.output == "none":
        return
    text = shorten_ids(text)
    print(colour(text) if use_colour(args.no_color) else text)


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def emit_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], args: Any) -> None:
    """table: a header and aligned columns (ids shortened, as in text); tsv: values only, ids in full."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if args.output == "tsv":
        for line in cells:
            print("\t".join(line))
        return
    shown = [[c.title() for c in columns], *([shorten_ids(v) for v in line] for line in cells)]
    widths = [max(len(line[i]) for line in shown) for i in range(len(columns))]
    for index, line in enumerate(shown):
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def err(line: str) -> None:
    """One line on stderr: ARM messages (and paths in seed/settings errors) may hold newlines. stdout is
    flushed first so the line comes after the output it concludes on a terminal."""
    sys.stdout.flush()
    print(" ".join(line.split()), file=sys.stderr)
