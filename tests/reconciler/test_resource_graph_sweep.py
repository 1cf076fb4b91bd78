"""A sweep with INVENTORY=resource-graph converges the same fleet to the same state as INVENTORY=arm, and a
Resource Graph answer that misses a subscription in scope ends the run with zero writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench import minimum, topology
from emulator import Emulator
from remediation.azure.arm import IncompleteListError
from remediation.core import config
from remediation.core.model import ReconcileResult
from remediation.engine.locks import InProcessLocks
from remediation.engine.reconciler import Reconciler
from tests.azure.conftest import make_emulator

ARG_PATH = "/providers/microsoft.resourcegraph/resources"
RULES = minimum.Rules(firewall_id=topology.FIREWALL_ID, spoke_prefixes=(topology.SPOKE_PREFIX,))
SUBS = 2


@pytest.fixture
def fleet() -> topology.Fleet:
    return topology.generate(12, subnets_per_vnet=5, subscriptions=SUBS)


@pytest.fixture
def start(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[Emulator] = []

    def make(seed: dict[str, Any]) -> Emulator:
        emu = make_emulator(monkeypatch)
        emu.load_seed(seed, replace=True)
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


def _sweep(emu: Emulator, **extra: str) -> ReconcileResult:
    settings = config.load_settings({**topology.settings_for(SUBS), "ARM_ENDPOINT": emu.base_url, **extra})
    reconciler = Reconciler(settings, locks=InProcessLocks())
    return reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)


def _routing(dump: dict[str, Any]) -> dict[str, Any]:
    """What the sweep wrote, without etags and operation ids: tables' routes, subnets' associations."""
    out: dict[str, Any] = {}
    for body in dump["resources"]:
        kind = str(body.get("type", "")).lower()
        props = body.get("properties") or {}
        if kind == "microsoft.network/routetables":
            out[body["id"].lower()] = sorted(
                (r["name"], r["properties"]["addressPrefix"], r["properties"]["nextHopType"],
                 r["properties"].get("nextHopIpAddress")) for r in props.get("routes") or [])
        elif kind == "microsoft.network/virtualnetworks":
            for subnet in props.get("subnets") or []:
                table = (subnet.get("properties") or {}).get("routeTable") or {}
                out[subnet["id"].lower()] = str(table.get("id", "")).lower()
    return out


def test_resource_graph_sweep_converges_like_the_arm_sweep(start: Any, fleet: topology.Fleet) -> None:
    by_arm = start(fleet.seed)  # one emulator at a time: each has its own CA in the environment
    arm = _sweep(by_arm, INVENTORY="arm")
    arm_routing, arm_log = _routing(by_arm.dump()), by_arm.request_log
    by_arm.stop()
    by_graph = start(fleet.seed)
    graph = _sweep(by_graph)  # auto: two subscriptions in scope -> Resource Graph
    assert arm.converged is True and graph.converged is True, (arm.error, graph.error)
    assert _routing(by_graph.dump()) == arm_routing
    assert minimum.total(minimum.writes_needed(minimum.Topology.from_dump(by_graph.dump()), RULES)) == 0
    graph_log = by_graph.request_log
    assert any(r.method == "POST" and r.path.lower() == ARG_PATH for r in graph_log)
    assert not any(r.method == "POST" and r.path.lower() == ARG_PATH for r in arm_log)
    # No ARM list of clusters, VNets, tables or gateways: those lists came from Resource Graph.
    lists = [r.path for r in graph_log if r.method == "GET" and r.path.lower().endswith(
        ("/managedclusters", "/virtualnetworks", "/routetables", "/applicationgateways"))]
    assert lists == []
    writes = [r for r in graph_log if r.method in ("PUT", "PATCH", "DELETE")]
    assert len(writes) == len([r for r in arm_log if r.method in ("PUT", "PATCH", "DELETE")])
    again = _sweep(by_graph)
    assert again.converged is True and not again.plan.has_changes


def test_a_subscription_missing_from_resource_graph_means_zero_writes(start: Any, fleet: topology.Fleet) -> None:
    emu = start(fleet.seed)
    missing = "22222222-2222-2222-2222-222222222222"
    scope = f"{topology.settings_for(SUBS)['REMEDIATION_SCOPE']},/subscriptions/{missing}"
    # As a 404 ARM list does (tests/reconciler/test_invariants.py): the run raises, nothing is planned.
    with pytest.raises(IncompleteListError, match=f"SubscriptionNotFound.*{missing}"):
        _sweep(emu, REMEDIATION_SCOPE=scope)
    assert any(r.method == "POST" and r.path.lower() == ARG_PATH for r in emu.request_log)
    assert [r for r in emu.request_log if r.method in ("PUT", "PATCH", "DELETE")] == []


def test_a_cluster_the_index_has_not_caught_up_with_keeps_its_routes_and_rules(
        start: Any, fleet: topology.Fleet) -> None:
    """Resource Graph may lag behind ARM (docs/arm-notes.md section 7.2): a sweep whose index misses a live
    cluster would prune its routes and drop its rules. The deletes are planned again from ARM's lists, which
    have the cluster, so nothing is written."""
    from emulator import resource_graph

    emu = start(fleet.seed)
    assert _sweep(emu).converged is True
    lagging = fleet.cluster_ids[0]
    resource_graph.configure(emu, not_indexed=[lagging])
    emu.clear_log()
    again = _sweep(emu)
    assert again.converged is True
    assert [r for r in emu.request_log if r.method in ("PUT", "PATCH", "DELETE")] == []
    # The confirmation read the clusters from ARM itself.
    assert any(r.method == "GET" and r.path.lower().endswith("/managedclusters") for r in emu.request_log)
