"""The 10,000-cluster / 100-subscription benchmark (bench/fleet10k.py), run small, and its goals."""

from __future__ import annotations

from typing import Any

import pytest

from bench import check, fleet10k, minimum, topology
from bench.common import is_graph_query
from bench.fleet_cost import writes
from bench.goals import Status
from emulator.server import RequestRecord


def test_spokes_are_dealt_over_the_subscriptions() -> None:
    fleet = topology.generate(300, subscriptions=4)
    subs = {vnet.split("/")[2] for vnet in fleet.vnet_ids}
    assert subs == {topology.subscription(k, 4) for k in range(4)}
    assert topology.subscription(0, 4) == topology.SUB  # the hub's subscription holds spokes too


def test_the_seeded_routing_is_converged_for_the_independent_model() -> None:
    seed = fleet10k.converged_seed(topology.generate(120, subscriptions=2))
    left = minimum.writes_needed(minimum.Topology.from_dump(seed), fleet10k.RULES)
    assert minimum.total(left) == 1 and left["rule collection group"] == 1


def test_a_small_converged_fleet_sweeps_with_graph_queries_and_no_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
        monkeypatch.delenv(key, raising=False)
    run = fleet10k.run(150, 3)
    assert run["sweep"]["converged"] is True and run["sweep"]["writes"] == 0
    assert run["sweep"]["graph_queries"] >= 5 and run["http_429"] == 0
    assert run["firewall_dry_run"]["writes"] == 0 and run["firewall_dry_run"]["planned_group_changes"] == 1


def test_a_graph_query_is_not_a_write() -> None:
    log = [RequestRecord("POST", "/providers/Microsoft.ResourceGraph/resources", 200, 0.0, 0.0),
           RequestRecord("PUT", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/routeTables/t",
                         201, 0.0, 0.0)]
    assert writes(log) == 1 and is_graph_query(log[0]) and not is_graph_query(log[1])


def _run(http_429: int, converged: bool = True, sweep_writes: int = 0) -> dict[str, Any]:
    return {"clusters": 10_000, "subscriptions": 100, "http_429": http_429, "graph_queries": 50,
            "sweep": {"converged": converged, "writes": sweep_writes, "gets": 1, "wall_s": 60.0},
            "firewall_dry_run": {"gets": 2}}


@pytest.mark.parametrize(("run", "missed"), [
    (_run(0), set()), (_run(3), {"fleet10k_429"}), (_run(0, converged=False), {"fleet10k_converged"}),
    (_run(0, sweep_writes=2), {"fleet10k_sweep_writes"}),
])
def test_fleet10k_goals(run: dict[str, Any], missed: set[str]) -> None:
    goals = [g for g in check.goals((10, 100), fleet10k=True) if g.figure.startswith("fleet10k")]
    verdicts = check.check(check.fleet10k_figures(run), goals)
    assert {v.figure.key for v in verdicts if v.status is Status.MISSED} == missed


def test_fleet10k_goals_are_missed_when_not_measured() -> None:
    goals = [g for g in check.goals((10, 100), fleet10k=True) if g.figure.startswith("fleet10k")]
    assert all(v.status is Status.MISSED for v in check.check([], goals))
    assert not [g for g in check.goals((10, 100)) if g.figure.startswith("fleet10k")]
