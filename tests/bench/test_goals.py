"""The benchmark checker fails when a figure misses its goal (bench/goals.py), table-driven."""

from __future__ import annotations

import pytest

from bench.goals import Bound, Figure, Goal, Status, check, exit_status, judge, render, render_markdown

FLAT = Goal("event@1000", Bound.TIMES_FIGURE, 1.2, "event@10")
NEAR_MIN = Goal("sweep_gets", Bound.TIMES_MINIMUM, 1.2)
FEW_WRITES = Goal("group_writes", Bound.AT_MOST, 2)
LAZY = Goal("lazy", Bound.IS_TRUE)


def figs(*items: Figure) -> dict[str, Figure]:
    return {f.key: f for f in items}


@pytest.mark.parametrize(("goal", "figures", "status", "ceiling"), [
    # per-event GETs flat in fleet size: 1.2x the small fleet is the bound, inclusive
    (FLAT, figs(Figure("event@10", "", 10.0), Figure("event@1000", "", 12.0)), Status.MET, 12.0),
    (FLAT, figs(Figure("event@10", "", 10.6), Figure("event@1000", "", 29.5)), Status.MISSED, 10.6 * 1.2),
    (FLAT, figs(Figure("event@1000", "", 5.0)), Status.MISSED, None),  # reference not measured
    # against the independent minimum
    (NEAR_MIN, figs(Figure("sweep_gets", "", 3600, 3089)), Status.MET, 3089 * 1.2),
    (NEAR_MIN, figs(Figure("sweep_gets", "", 11424, 3089)), Status.MISSED, 3089 * 1.2),
    (NEAR_MIN, figs(Figure("sweep_gets", "", 100)), Status.MISSED, None),  # no minimum: cannot pass
    # a constant
    (FEW_WRITES, figs(Figure("group_writes", "", 2)), Status.MET, 2),
    (FEW_WRITES, figs(Figure("group_writes", "", 3)), Status.MISSED, 2),
    # yes/no
    (LAZY, figs(Figure("lazy", "", 1.0)), Status.MET, 1.0),
    (LAZY, figs(Figure("lazy", "", 0.0)), Status.MISSED, 1.0),
    # not measured: missed, unless the figure says why it was skipped
    (FEW_WRITES, {}, Status.MISSED, None),
    (FEW_WRITES, figs(Figure("group_writes", "", None)), Status.MISSED, None),
    (LAZY, figs(Figure("lazy", "", None, skipped="no venv")), Status.SKIPPED, None),
])
def test_judge(goal: Goal, figures: dict[str, Figure], status: Status, ceiling: float | None) -> None:
    verdict = judge(goal, figures)
    assert verdict.status is status
    assert verdict.ceiling == (pytest.approx(ceiling) if ceiling is not None else None)


def test_a_regressed_figure_fails_the_run_and_the_table_says_which() -> None:
    good = [Figure("event@10", "per event, N=10", 10.0), Figure("event@1000", "per event, N=1000", 11.0),
            Figure("group_writes", "group writes", 1)]
    assert exit_status(check(good, [FLAT, FEW_WRITES])) == 0
    regressed = [*good[:2], Figure("group_writes", "group writes", 5)]
    verdicts = check(regressed, [FLAT, FEW_WRITES])
    assert exit_status(verdicts) == 1
    table = render(verdicts)
    row = next(line for line in table.splitlines() if line.startswith("group writes"))
    assert "MISSED" in row and " 5 " in f" {row} "
    assert "1 goals met, 1 missed" in table


def test_skipped_goals_do_not_fail_but_are_shown_with_the_reason() -> None:
    verdicts = check([Figure("lazy", "lazy import", None, skipped="could not build a venv")], [LAZY])
    assert exit_status(verdicts) == 0
    assert "skipped (could not build a venv)" in render(verdicts)


def test_figures_without_a_goal_are_listed_as_information() -> None:
    verdicts = check([Figure("cpu", "CPU per event", 0.04), Figure("group_writes", "w", 1)], [FEW_WRITES])
    assert [(v.figure.key, v.status) for v in verdicts] == [("group_writes", Status.MET), ("cpu", Status.INFO)]
    assert exit_status(verdicts) == 0


def test_the_markdown_table_has_one_row_per_verdict() -> None:
    verdicts = check([Figure("group_writes", "group writes", 3, 1)], [FEW_WRITES])
    table = render_markdown(verdicts).splitlines()
    assert len(table) == 3
    assert table[2] == "| group writes | 3 | 1 | <= 2 | 2 | MISSED |"
