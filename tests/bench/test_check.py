"""From measured results to verdicts (bench/check.py): the goals of issue 13 fail on the figures of main."""

from __future__ import annotations

from typing import Any

from bench import check
from bench.goals import Status, exit_status


def _size(event: float, event_min: float, gets: int, gets_min: int, writes: int, writes_min: int,
          largest: int) -> dict[str, Any]:
    return {"time_factor": 0.1,
            "event": {"gets_per_event": event, "gets_minimum_per_event": event_min, "writes": 0, "events": 6,
                      "cpu_s_per_event": 0.1},
            "sweep": {"gets": gets, "gets_minimum": gets_min, "writes": writes, "writes_minimum": writes_min,
                      "azure_s": 100.0},
            "group": {"largest_bytes": largest, "total_bytes": largest}}


def _results(event_large: float, burst_gets: int, group_writes: int, lazy: bool = True) -> dict[str, Any]:
    sizes = {"10": _size(10.0, 6.7, 45, 40, 25, 23, 4_100), "100": _size(event_large, 6.7, 330, 314, 210, 205, 37_000)}
    return {"sizes": sizes, "group": check.project_group(sizes),
            "burst": {"events": 100, "gets": burst_gets, "group_writes": group_writes, "sweep": {"gets": 330}},
            "cold_import": {"function_app_s": 0.4, "azure_mgmt_network_s": 0.3,
                            "function_app_loads_reconciler": not lazy, "function_app_loads_network_sdk": False}}


def _statuses(results: dict[str, Any]) -> dict[str, Status]:
    verdicts = check.check(check.figures(results), check.goals((10, 100)))
    return {v.figure.key: v.status for v in verdicts}


def test_group_projection_is_linear_in_clusters() -> None:
    projected = check.project_group({"10": {"group": {"largest_bytes": 4_000, "total_bytes": 4_000}},
                                     "100": {"group": {"largest_bytes": 40_000, "total_bytes": 40_000}}})
    assert projected is not None
    assert projected["bytes_per_cluster"] == 400
    assert projected["projected_largest_bytes"] == 4_000_000


def test_a_group_that_stops_growing_is_projected_flat() -> None:
    projected = check.project_group({"100": {"group": {"largest_bytes": 1_000_000, "total_bytes": 1_000_000}},
                                     "300": {"group": {"largest_bytes": 1_000_000, "total_bytes": 2_000_000}}})
    assert projected is not None
    assert projected["projected_largest_bytes"] == 1_000_000


def test_figures_that_meet_every_goal_pass() -> None:
    statuses = _statuses(_results(event_large=11.0, burst_gets=340, group_writes=1))
    assert statuses["event_gets@100"] is Status.MET
    assert statuses["burst_gets"] is Status.MET
    # 37,000 bytes at 100 clusters grows ~366 per cluster: 3.6 MB at 10,000, over the limit
    assert statuses["group_bytes@10000"] is Status.MISSED


def test_each_regression_fails_its_goal() -> None:
    for results, key in [(_results(event_large=29.5, burst_gets=340, group_writes=1), "event_gets@100"),
                         (_results(event_large=11.0, burst_gets=2222, group_writes=1), "burst_gets"),
                         (_results(event_large=11.0, burst_gets=340, group_writes=3), "burst_group_writes"),
                         (_results(event_large=11.0, burst_gets=340, group_writes=1, lazy=False), "cold_import_lazy")]:
        assert _statuses(results)[key] is Status.MISSED, key
        assert exit_status(check.check(check.figures(results), check.goals((10, 100)))) == 1


def test_a_crashed_benchmark_leaves_its_goals_missed() -> None:
    results = _results(event_large=11.0, burst_gets=340, group_writes=1)
    del results["burst"]
    assert _statuses(results)["burst_gets"] is Status.MISSED


def test_a_benchmark_left_out_on_the_command_line_is_skipped_not_missed() -> None:
    results = _results(event_large=11.0, burst_gets=340, group_writes=1)
    results["burst"] = {"skipped": "not measured: --no-burst"}
    results["cold_import"] = {"skipped": "not measured: --no-cold-import"}
    for part in ("physical", "planning", "one_per_vnet", "hubs", "firewalls", "chain", "continuation"):
        results[part] = {"skipped": f"not measured: --no-{part}"}
    statuses = _statuses(results)
    assert statuses["burst_gets"] is Status.SKIPPED and statuses["burst_group_writes"] is Status.SKIPPED
    assert statuses["cold_import_lazy"] is Status.SKIPPED
    # Only the fixture's own oversized group misses: nothing left out counts as a miss.
    assert {key for key, status in statuses.items() if status is Status.MISSED} == {"group_bytes@10000"}


def _continued(*, continuations: int, redeliveries: int, extra: int = 0) -> dict[str, Any]:
    """bench/continuation.py's result: 69 writes; a chain of four runs, or (without continuations) one sweep
    whose run the host delivered again until it was done."""
    runs = continuations + 1
    return {"clusters": 30, "budget_writes": 16.5, "extra_writes": extra, "missing_writes": 0,
            "uninterrupted": {"writes": 69, "sweep_runs": 1, "continuations": 0, "redeliveries": 0, "poisoned": 0,
                              "converged": True},
            "continued": {"writes": 69 + extra, "sweep_runs": runs, "continuations": continuations,
                          "redeliveries": redeliveries, "poisoned": 0, "converged": True}}


def test_a_sweep_that_continues_meets_the_continuation_goals() -> None:
    results = _results(event_large=11.0, burst_gets=340, group_writes=1)
    results["continuation"] = _continued(continuations=3, redeliveries=0)
    statuses = _statuses(results)
    for key in ("chain", "redeliveries", "converged", "writes", "extra_writes"):
        assert statuses[f"continue_{key}@30"] is Status.MET, key


def test_a_sweep_the_host_restarts_or_that_writes_twice_misses_them() -> None:
    results = _results(event_large=11.0, burst_gets=340, group_writes=1)
    results["continuation"] = _continued(continuations=0, redeliveries=3)  # no continuation: host retries
    statuses = _statuses(results)
    assert statuses["continue_chain@30"] is Status.MISSED and statuses["continue_redeliveries@30"] is Status.MISSED
    results["continuation"] = _continued(continuations=3, redeliveries=0, extra=2)
    statuses = _statuses(results)
    assert statuses["continue_writes@30"] is Status.MISSED and statuses["continue_extra_writes@30"] is Status.MISSED
    assert statuses["continue_chain@30"] is Status.MISSED
