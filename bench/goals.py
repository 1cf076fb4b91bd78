"""The benchmark checker: figures against goals, a table, and an exit status that fails on a missed goal.

Pure (no I/O, no emulator, no product imports), so tests/bench/ can check the checker itself. A figure is
a measured value with its independent minimum (bench/minimum.py) where one exists. A goal bounds one figure:
by a constant, by a multiple of the figure's own minimum, or by a multiple of another figure. A goal whose
figure was not measured is `missed` unless the figure carries a skip reason (`skipped`: e.g. no venv could
be built for the cold import); a figure that is present but has no value is always `missed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Bound(StrEnum):
    AT_MOST = "at most"  # value <= limit
    TIMES_MINIMUM = "x minimum"  # value <= limit * the figure's independent minimum
    TIMES_FIGURE = "x figure"  # value <= limit * another figure's value
    IS_TRUE = "is true"  # value == 1 (a yes/no figure)


class Status(StrEnum):
    MET = "met"
    MISSED = "MISSED"
    SKIPPED = "skipped"
    INFO = "-"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | None
    minimum: float | None = None
    unit: str = ""
    skipped: str | None = None  # why it could not be measured (only then may a goal on it be skipped)


@dataclass(frozen=True)
class Goal:
    figure: str
    bound: Bound
    limit: float = 1.0
    other: str | None = None  # for TIMES_FIGURE: the figure the limit multiplies
    text: str = ""  # where the goal comes from, e.g. "issue 13: flat within 1.2x"


@dataclass(frozen=True)
class Verdict:
    figure: Figure
    goal: Goal | None
    ceiling: float | None  # the largest value that meets the goal, when there is one
    status: Status
    note: str = ""


def _ceiling(goal: Goal, figure: Figure, figures: Mapping[str, Figure]) -> tuple[float | None, str]:
    if goal.bound is Bound.AT_MOST:
        return goal.limit, ""
    if goal.bound is Bound.IS_TRUE:
        return 1.0, ""
    if goal.bound is Bound.TIMES_MINIMUM:
        if figure.minimum is None:
            return None, "no independent minimum"
        return goal.limit * figure.minimum, ""
    other = figures.get(goal.other or "")
    if other is None or other.value is None:
        return None, f"reference figure {goal.other!r} not measured"
    return goal.limit * other.value, ""


def judge(goal: Goal, figures: Mapping[str, Figure]) -> Verdict:
    figure = figures.get(goal.figure)
    if figure is None:
        return Verdict(Figure(goal.figure, goal.figure, None), goal, None, Status.MISSED, "not measured")
    if figure.value is None:
        if figure.skipped:
            return Verdict(figure, goal, None, Status.SKIPPED, figure.skipped)
        return Verdict(figure, goal, None, Status.MISSED, "no value")
    ceiling, note = _ceiling(goal, figure, figures)
    if ceiling is None:
        return Verdict(figure, goal, None, Status.MISSED, note)
    ok = figure.value == 1 if goal.bound is Bound.IS_TRUE else figure.value <= ceiling + 1e-9
    return Verdict(figure, goal, ceiling, Status.MET if ok else Status.MISSED, note)


def check(figures: Iterable[Figure], goals: Sequence[Goal]) -> list[Verdict]:
    """One verdict per goal, in goal order, then one INFO row per figure no goal mentions."""
    by_key = {f.key: f for f in figures}
    verdicts = [judge(g, by_key) for g in goals]
    judged = {g.figure for g in goals}
    verdicts += [Verdict(f, None, None, Status.SKIPPED if f.skipped else Status.INFO, f.skipped or "")
                 for f in by_key.values() if f.key not in judged]
    return verdicts


def exit_status(verdicts: Iterable[Verdict]) -> int:
    """1 when any goal was missed, else 0 (skipped goals do not fail; they are printed with their reason)."""
    return 1 if any(v.status is Status.MISSED for v in verdicts) else 0


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"


def _goal_text(verdict: Verdict) -> str:
    goal = verdict.goal
    if goal is None:
        return ""
    if goal.bound is Bound.AT_MOST:
        return f"<= {_num(goal.limit)}"
    if goal.bound is Bound.IS_TRUE:
        return "yes"
    if goal.bound is Bound.TIMES_MINIMUM:
        return f"<= {goal.limit:g} x min"
    return f"<= {goal.limit:g} x {goal.other}"


def render(verdicts: Sequence[Verdict]) -> str:
    """A fixed-width table: figure, value, independent minimum, goal, the bound it implies, status."""
    rows = [("figure", "value", "minimum", "goal", "bound", "status")]
    for v in verdicts:
        value = v.figure.value
        shown = ("yes" if value == 1 else "no") if v.goal and v.goal.bound is Bound.IS_TRUE and value is not None \
            else _num(value)
        status = v.status.value + (f" ({v.note})" if v.note else "")
        label = v.figure.label + (f" [{v.figure.unit}]" if v.figure.unit else "")
        rows.append((label, shown, _num(v.figure.minimum), _goal_text(v),
                     _num(v.ceiling) if v.goal and v.goal.bound is not Bound.IS_TRUE else "", status))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) if j in (0, 3, 5) else c.rjust(widths[j])
                               for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    missed = sum(1 for v in verdicts if v.status is Status.MISSED)
    met = sum(1 for v in verdicts if v.status is Status.MET)
    lines.append(f"{met} goals met, {missed} missed, "
                 f"{sum(1 for v in verdicts if v.goal and v.status is Status.SKIPPED)} skipped")
    return "\n".join(lines)


def render_markdown(verdicts: Sequence[Verdict]) -> str:
    """The same rows as a Markdown table, for docs/BENCHMARKS.md."""
    lines = ["| Figure | Value | Independent minimum | Goal | Bound | Status |", "|---|---:|---:|---|---:|---|"]
    for v in verdicts:
        value = v.figure.value
        shown = ("yes" if value == 1 else "no") if v.goal and v.goal.bound is Bound.IS_TRUE and value is not None \
            else _num(value)
        bound = _num(v.ceiling) if v.goal and v.goal.bound is not Bound.IS_TRUE else ""
        status = v.status.value + (f" ({v.note})" if v.note else "")
        label = v.figure.label + (f" [{v.figure.unit}]" if v.figure.unit else "")
        lines.append(f"| {label} | {shown} | {_num(v.figure.minimum)} | {_goal_text(v)} | {bound} | {status} |")
    return "\n".join(lines)
