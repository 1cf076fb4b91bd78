"""Property 2: concurrent foreign edits and concurrent reconciles (docs/architecture.md section 3 "Nothing lost").

A foreign writer acts between our read and our write through the emulator's `faults.before` hook, which
runs just before the matching request is handled. Checked on the emulator's resulting state.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import Emulator
from remediation.core.model import ReconcileResult, Target, TargetKind
from remediation.engine.locks import InProcessLocks
from tests.evidence import support
from tests.evidence.support import Harness

CLUSTER = Target(TargetKind.CLUSTER, support.CLUSTER_CNI)
SCOPE = Target(TargetKind.SCOPE, f"/subscriptions/{support.SUB}")
SNET_PODS = f"{support.VNET_SPOKE}/subnets/snet-aks-pods"
FOREIGN_NSG = f"{support.SPOKE}/networkSecurityGroups/nsg-added-by-someone-else"
FOREIGN_ROUTE = f"{support.RT_NODES}/routes/foreign-added-mid-run"


def _add_foreign_route(table_id: str, name: str, prefix: str) -> Any:
    def write(emu: Emulator) -> None:
        emu.put_foreign(f"{table_id}/routes/{name}",
                        {"properties": {"addressPrefix": prefix, "nextHopType": "VnetLocal"}})
    return write


def _set_foreign_nsg(emu: Emulator) -> None:
    body = copy.deepcopy(emu.get(SNET_PODS))
    assert body is not None
    body["properties"]["networkSecurityGroup"] = {"id": FOREIGN_NSG}
    emu.put_foreign(SNET_PODS, body)


def _nsg(emu: Emulator) -> str | None:
    body = emu.get(SNET_PODS)
    assert body is not None
    nsg = body["properties"].get("networkSecurityGroup")
    return nsg["id"] if nsg else None


def _body(emu: Emulator, resource_id: str) -> dict[str, Any]:
    body = emu.get(resource_id)
    assert body is not None, resource_id
    return body


def _route_table(emu: Emulator) -> str | None:
    body = emu.get(SNET_PODS)
    assert body is not None
    table = body["properties"].get("routeTable")
    return table["id"] if table else None


# ------------------------------------------------------------------------------------ routes (default mode)


def test_foreign_route_added_between_our_read_and_our_route_put_survives(harness: Harness) -> None:
    emu = harness.emu
    support.reset(emu)
    hook = emu.faults.before("PUT", r"/routeTables/rt-spoke-nodes/routes/rmd-", _add_foreign_route(
        support.RT_NODES, "foreign-added-mid-run", "10.50.0.0/16"))
    result = harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
    assert hook.fired == 1
    assert result.converged, support.describe(result)
    routes = {r["name"]: r["properties"] for r in _body(emu, support.RT_NODES)["properties"]["routes"]}
    assert routes["foreign-added-mid-run"]["addressPrefix"] == "10.50.0.0/16"
    assert routes["to-onprem"]["nextHopType"] == "VirtualNetworkGateway"
    assert {"rmd-appgw-10-1-4-0-24", "rmd-p2s-172-16-201-0-24"} <= set(routes)
    assert support.safety_violations(support.state(emu.dump())) == []
    harness.close_gateways()


def test_foreign_route_added_to_our_new_table_after_its_create_survives(harness: Harness) -> None:
    """The new table is created with its routes in one PUT, so there is no create-then-fill window left; a
    foreign route added once the table exists (here: just before the association) is never replaced."""
    emu = harness.emu
    support.reset(emu)
    table = f"{support.SPOKE}/routeTables/rmd-vnet-spoke-snet-appgw"
    hook = emu.faults.before("PUT", r"/subnets/snet-appgw$", _add_foreign_route(
        table, "foreign-in-owned-table", "10.60.0.0/16"))
    result = harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
    assert hook.fired == 1
    assert result.converged, support.describe(result)
    names = {r["name"] for r in _body(emu, table)["properties"]["routes"]}
    assert "foreign-in-owned-table" in names
    # A second run (with pruning: the scope sweep) still leaves the foreign route alone.
    assert harness.reconciler().reconcile_combined(SCOPE, dry_run=False).converged
    assert "foreign-in-owned-table" in {r["name"] for r in _body(emu, table)["properties"]["routes"]}
    harness.close_gateways()


def test_foreign_change_to_the_platform_group_between_our_read_and_our_group_put_survives(
        harness: Harness) -> None:
    emu = harness.emu
    support.reset(emu)

    def edit_baseline(e: Emulator) -> None:
        body = copy.deepcopy(e.get(support.BASELINE_RCG))
        assert body is not None
        body["properties"]["ruleCollections"][0]["rules"][0]["name"] = "renamed-by-platform-team"
        e.put_foreign(support.BASELINE_RCG, body)

    hook = emu.faults.before("PUT", r"/ruleCollectionGroups/rmd-aks-runbook$", edit_baseline)
    result = harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
    assert hook.fired == 1
    assert result.converged, support.describe(result)
    rules = _body(emu, support.BASELINE_RCG)["properties"]["ruleCollections"][0]["rules"]
    assert rules[0]["name"] == "renamed-by-platform-team"
    assert emu.get(f"{support.POLICY_ID}/ruleCollectionGroups/{support.OWNED_RCG_NAME}") is not None
    harness.close_gateways()


def test_racing_creators_of_one_owned_route_table_create_it_once_and_keep_its_routes(harness: Harness) -> None:
    """Two instances plan CREATE for the same owned table. A table PUT replaces its routes (docs/arm-notes.md
    2.1): the create is create-only (`If-None-Match: *`) and held by one instance at a time, so the later one
    gets 412 and adds to the table instead of replacing it. The create is slowed down so that both planned
    before either PUT landed."""
    emu = harness.emu
    support.reset(emu)
    table = f"{support.SPOKE}/routeTables/rmd-vnet-spoke-snet-appgw"
    emu.faults.add("PUT", r"/routeTables/rmd-vnet-spoke-snet-appgw$", kind="delay", seconds=0.5, count=2)
    results = _run_concurrently(harness, [CLUSTER, CLUSTER], shared_locks=True)
    harness.close_gateways()
    for result in results:
        assert isinstance(result, ReconcileResult), repr(result)
        assert not support.failed(result), support.describe(result)
    creates = [r.status for r in emu.request_log if r.method == "PUT" and r.path.lower() == table.lower()]
    assert creates.count(201) == 1 and set(creates) <= {201, 412}, creates
    routes = {r["name"] for r in _body(emu, table)["properties"]["routes"]}
    assert routes == {"rmd-aks-10-1-0-0-22", "rmd-aks-10-1-8-0-22"}


# ------------------------------------------------------------------------------------ subnets


@pytest.mark.xfail(strict=True, reason=(
    "ARM-faithful default mode: the Network RP ignores If-Match, so a subnet PUT built from the model read "
    "just before it overwrites a foreign NSG change made in between (lost update, docs/architecture.md "
    "section 3, invariant 14). Inherent to the subnet API (no PATCH): the read is made immediately before "
    "the PUT under the VNet's lock, and a change that lands after our PUT is kept, but one "
    "inside the GET->PUT window leaves no trace ARM would show."))
def test_foreign_nsg_change_between_subnet_read_and_put_survives_default_mode(harness: Harness) -> None:
    emu = harness.emu
    support.reset(emu)
    hook = emu.faults.before("PUT", r"/subnets/snet-aks-pods$", _set_foreign_nsg)
    try:
        result = harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
        assert hook.fired == 1
        assert _route_table(emu) is not None, support.describe(result)
        assert _nsg(emu) == FOREIGN_NSG
    finally:
        harness.close_gateways()


def test_default_mode_subnet_race_outcome_is_documented(harness: Harness) -> None:
    """What happens today in default mode (the evidence behind the xfail above): our association lands,
    the reconcile reports converged, and the NSG set in between is gone (no error, no conflict reported)."""
    emu = harness.emu
    support.reset(emu)
    emu.faults.before("PUT", r"/subnets/snet-aks-pods$", _set_foreign_nsg)
    result = harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
    assert result.converged
    assert _route_table(emu) is not None
    assert _nsg(emu) is None
    harness.close_gateways()


@pytest.fixture
def strict_harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A second emulator that enforces If-Match (412 PreconditionFailed), as some RPs do. Per test: the
    process environment (CA bundle, identity endpoint) can point at one emulator at a time."""
    strict = Emulator(seed=support.seed(), time_factor=0.0, strict_if_match=True).start()
    for key, value in strict.env().items():
        monkeypatch.setenv(key, value)
    h = Harness(strict)
    try:
        yield h
    finally:
        h.close()
        strict.stop()


def test_foreign_nsg_change_survives_with_strict_if_match(strict_harness: Harness) -> None:
    emu = strict_harness.emu
    support.reset(emu)
    hook = emu.faults.before("PUT", r"/subnets/snet-aks-pods$", _set_foreign_nsg)
    result = strict_harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
    assert hook.fired == 1
    assert result.converged, support.describe(result)
    assert _nsg(emu) == FOREIGN_NSG
    assert _route_table(emu) is not None
    # The gateway saw 412 and re-read: two PUTs of that subnet, the first refused.
    puts = support.arm_writes(emu, r"/subnets/snet-aks-pods$")
    assert [r.status for r in puts][:1] == [412] and len(puts) == 2
    strict_harness.close_gateways()


def test_foreign_group_edit_with_strict_if_match_is_retried_not_lost(strict_harness: Harness) -> None:
    """RCGs share the policy's etag in the emulator: a foreign write to platform-baseline makes our
    If-Match stale; the gateway refreshes the etag and PUTs again."""
    emu = strict_harness.emu
    support.reset(emu)

    def edit_baseline(e: Emulator) -> None:
        body = copy.deepcopy(e.get(support.BASELINE_RCG))
        assert body is not None
        body["properties"]["ruleCollections"][0]["rules"][0]["name"] = "renamed-by-platform-team"
        e.put_foreign(support.BASELINE_RCG, body)

    # Make the group exist first so that the second run sends If-Match.
    assert strict_harness.reconciler().reconcile_combined(CLUSTER, dry_run=False).converged
    owned = f"{support.POLICY_ID}/ruleCollectionGroups/{support.OWNED_RCG_NAME}"
    body = copy.deepcopy(emu.get(owned))
    assert body is not None
    body["properties"]["ruleCollections"] = []  # drift: someone emptied our group
    emu.put_foreign(owned, body)
    emu.clear_log()
    emu.faults.before("PUT", r"/ruleCollectionGroups/rmd-aks-runbook$", edit_baseline)
    result = strict_harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
    assert result.converged, support.describe(result)
    assert _body(emu, support.BASELINE_RCG)["properties"]["ruleCollections"][0]["rules"][0]["name"] == \
        "renamed-by-platform-team"
    assert _body(emu, owned)["properties"]["ruleCollections"]
    strict_harness.close_gateways()


# ------------------------------------------------------------------------------------ concurrent reconciles


def _scaled_sleep(seconds: float) -> None:
    """tenacity's backoff, really slept but 100x shorter."""
    threading.Event().wait(seconds / 100)


def _run_concurrently(harness: Harness, targets: list[Target], *, shared_locks: bool) -> list[Any]:
    locks = InProcessLocks() if shared_locks else None
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)

    def work(index: int, target: Target) -> None:
        reconciler = harness.reconciler(locks=locks if shared_locks else InProcessLocks())
        barrier.wait()
        try:
            results[index] = reconciler.reconcile_combined(target, dry_run=False)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=work, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.parametrize("round_", range(5))
def test_event_timer_and_http_reconciles_of_one_cluster_at_once_converge_with_bounded_writes(
        harness: Harness, round_: int) -> None:
    """event + HTTP (cluster target) and the timer (scope sweep) at once, as three Function instances
    sharing the firewall lock (the blob lease in production)."""
    emu = harness.emu
    support.reset(emu)
    results = _run_concurrently(harness, [CLUSTER, CLUSTER, SCOPE], shared_locks=True)
    for result in results:
        assert isinstance(result, ReconcileResult), repr(result)
        assert not support.failed(result), support.describe(result)
    # Every run verified its own end state; at least one converged and a fresh run finds nothing to do.
    final = harness.reconciler().reconcile_combined(SCOPE, dry_run=False)
    assert final.converged and not final.plan.writes
    state = support.state(emu.dump())
    assert support.safety_violations(state) == []
    assert len(support.arm_writes(emu, r"/ruleCollectionGroups/")) <= 2
    route_puts = support.arm_writes(emu, r"/routes/")
    distinct = {r.path.lower() for r in route_puts}
    assert len(route_puts) <= 3 * len(distinct)
    harness.close_gateways()


def test_concurrent_reconciles_with_real_lro_durations_and_409s(emu: Emulator) -> None:
    """LROs that last (50-200 ms) so that lock domains really are busy: the racing writers get 409
    AnotherOperationInProgress and retry (tenacity's backoff scaled down 100x, really slept)."""
    slow = Emulator(seed=support.seed(), time_factor=1.0, lro_seconds={
        "Microsoft.Network/routeTables": 0.1, "Microsoft.Network/routeTables/routes": 0.05,
        "Microsoft.Network/virtualNetworks": 0.1, "Microsoft.Network/virtualNetworks/subnets": 0.1,
        "Microsoft.Network/firewallPolicies": 0.2, "Microsoft.Network/firewallPolicies/ruleCollectionGroups": 0.2,
    }).start()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in slow.env().items():
            mp.setenv(key, value)
        h = Harness(slow)
        try:
            locks = InProcessLocks()
            results: list[Any] = [None] * 3
            targets = [CLUSTER, CLUSTER, SCOPE]
            barrier = threading.Barrier(3)

            def work(index: int) -> None:
                reconciler = h.reconciler(locks=locks, sleep=_scaled_sleep)
                barrier.wait()
                try:
                    results[index] = reconciler.reconcile_combined(targets[index], dry_run=False)
                except Exception as exc:
                    results[index] = exc

            threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            for result in results:
                assert isinstance(result, ReconcileResult), repr(result)
                assert not support.failed(result), support.describe(result)
            final = h.reconciler().reconcile_combined(SCOPE, dry_run=False)
            assert final.converged and not final.plan.writes
            assert support.safety_violations(support.state(slow.dump())) == []
            assert len(support.arm_writes(slow, r"/ruleCollectionGroups/")) <= 2
        finally:
            h.close()
            slow.stop()
