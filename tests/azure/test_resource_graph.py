"""Resource Graph inventory (remediation/azure/resource_graph.py) against the emulator's ARG endpoint.

Real SDK clients over HTTPS; time is one fake clock shared by the emulator's quota window and the product's
waits (every wait of the product goes through the DeadlineBox, whose sleep advances the clock), so quota waits
are exercised without sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from bench import topology
from emulator import Emulator
from emulator import resource_graph as emulated_graph
from remediation.azure.arm import ArmClient
from remediation.azure.clients import CallCounter, DeadlineBox, shared_credential
from remediation.azure.resource_graph import (
    Batch,
    IncompleteListError,
    QuotaWindow,
    ResourceGraphInventory,
    batches,
    parse_resets_after,
    resources_query,
)
from remediation.core import config
from remediation.core.deadline import Deadline, DeadlineExceeded
from remediation.core.errors import TerminalError
from tests.azure.conftest import make_emulator

ARG_PATH = "/providers/Microsoft.ResourceGraph/resources"
SUBS = 3
CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ----------------------------------------------------------------------------------------- pure parts

@pytest.mark.parametrize(("subs", "size", "sizes"), [
    (1, 250, [1]), (250, 250, [250]), (251, 250, [250, 1]), (650, 250, [250, 250, 150]), (7, 3, [3, 3, 1]),
])
def test_subscriptions_are_batched_below_the_limit(subs: int, size: int, sizes: list[int]) -> None:
    scopes: list[tuple[str, str | None]] = [(f"sub-{i}", None) for i in range(subs)]
    assert [len(b.subscriptions) for b in batches(scopes, size)] == sizes


def test_resource_group_scopes_are_queried_per_subscription() -> None:
    scopes = [("a", None), ("b", "rg-1"), ("B", "rg-2"), ("a", "rg-3"), ("b", "rg-1")]
    assert batches(scopes) == [Batch(("a",)), Batch(("b",), ("rg-1", "rg-2"))]


def test_the_default_batch_is_below_300_subscriptions() -> None:
    assert max(len(b.subscriptions) for b in batches([(f"s{i}", None) for i in range(1000)])) < 300


@pytest.mark.parametrize(("text", "seconds"), [
    ("00:00:05", 5.0), ("00:01:02", 62.0), ("01:00:00", 3600.0), ("00:00:00.5", 0.5),
    (None, None), ("", None), ("5", None), ("aa:bb:cc", None),
])
def test_resets_after_header(text: str | None, seconds: float | None) -> None:
    assert parse_resets_after(text) == seconds


def test_quota_window_waits_only_when_used_up_and_until_the_reset() -> None:
    t = FakeTime()
    window = QuotaWindow(clock=t.clock)
    assert window.reserve() == 0.0  # nothing known yet
    window.observe(1, 4.0)
    assert window.reserve() == 0.0  # the last query of the window
    assert window.reserve() == pytest.approx(4.0)
    t.now += 1.0
    assert window.reserve() == pytest.approx(3.0)  # a concurrent caller waits for the same reset
    t.now += 3.0
    assert window.reserve() == 0.0  # a new window


def test_query_names_one_type_and_proves_its_scope() -> None:
    query = resources_query("Microsoft.Network/routeTables", ["rg-a"])
    assert "type =~ 'microsoft.network/routetables'" in query
    assert "ResourceContainers" in query and "resourceGroup in~ ('rg-a')" in query
    assert query.endswith("| order by id asc")
    with pytest.raises(ValueError):
        resources_query("Microsoft.Network/routeTables", ["rg'x"])


# ----------------------------------------------------------------------------------------- against the emulator

@pytest.fixture
def fleet() -> topology.Fleet:
    # 60 clusters in 6 spoke VNets of 10 node subnets, dealt over SUBS subscriptions.
    return topology.generate(60, subnets_per_vnet=11, subscriptions=SUBS)


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, fleet: topology.Fleet) -> Iterator[Emulator]:
    emulator = make_emulator(monkeypatch)
    emulator.load_seed(fleet.seed, replace=True)
    try:
        yield emulator
    finally:
        emulator.stop()


def _settings(emu: Emulator, scope: str | None = None, **extra: str) -> config.Settings:
    return config.load_settings({**topology.settings_for(SUBS), "ARM_ENDPOINT": emu.base_url,
                                 **({"REMEDIATION_SCOPE": scope} if scope else {}), **extra})


def _inventory(emu: Emulator, t: FakeTime, *, scope: str | None = None, deadline_s: float = 300.0,
               window: QuotaWindow | None = None, **kwargs: Any) -> ResourceGraphInventory:
    settings = _settings(emu, scope)
    box = DeadlineBox(sleep=t.sleep)
    box.deadline = Deadline.after(deadline_s, clock=t.clock)
    scopes = [(s.subscription, s.resource_group) for s in settings.scope]
    return ResourceGraphInventory(settings, shared_credential(), CallCounter(), box, scopes,
                                  window=window or QuotaWindow(clock=t.clock), **kwargs)


def _posts(emu: Emulator, status: int | None = None) -> int:
    return sum(1 for r in emu.request_log if r.method == "POST" and r.path == ARG_PATH
               and (status is None or r.status == status))


def _ids(items: Any) -> set[str]:
    return {str(i["id"] if isinstance(i, dict) else i.id).lower() for i in items}


def test_pages_follow_skip_tokens_and_batches_split_the_subscriptions(emu: Emulator, fleet: topology.Fleet) -> None:
    t = FakeTime()
    emulated_graph.configure(emu, budget=1000, clock=t.clock)
    inventory = _inventory(emu, t, batch_size=2, page_rows=7)
    try:
        rows = inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()
    assert _ids(rows) == {c.lower() for c in fleet.cluster_ids}
    # Expected pages from the seed alone: per batch, its clusters plus one subscription row, 7 rows a page.
    per_sub = {topology.subscription(k, SUBS).lower(): 0 for k in range(SUBS)}
    for cluster_id in fleet.cluster_ids:
        per_sub[cluster_id.split("/")[2].lower()] += 1
    subs = list(per_sub)
    expected = sum(math.ceil(sum(per_sub[s] + 1 for s in subs[i:i + 2]) / 7) for i in range(0, len(subs), 2))
    assert _posts(emu) == expected and _posts(emu, 200) == expected


def test_resource_graph_lists_equal_the_arm_lists(emu: Emulator) -> None:
    arm = ArmClient(_settings(emu, INVENTORY="arm"))
    graph = ArmClient(_settings(emu, INVENTORY="resource-graph"))
    try:
        for name in ("list_clusters", "list_vnets", "list_route_tables", "list_app_gateways"):
            assert sorted(map(repr, getattr(graph, name)())) == sorted(map(repr, getattr(arm, name)())), name
        vpn = graph.list_vpn_gateways_in_scope()
        assert vpn is not None and [g.id for g in vpn] == [topology.VPN_GATEWAY_ID]
        assert arm.list_vpn_gateways_in_scope() is None
        # A query page is a read in the product's own counters, never a write.
        assert graph.arm_calls.reads == _posts(emu) and graph.arm_calls.writes == 0
    finally:
        arm.close()
        graph.close()
    assert _posts(emu) >= 5


def test_quota_is_waited_for_instead_of_collecting_429s(emu: Emulator) -> None:
    t = FakeTime()
    emulated_graph.configure(emu, budget=3, window_s=5.0, clock=t.clock)
    inventory = _inventory(emu, t, page_rows=7)
    try:
        rows = inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()
    assert len(rows) == 60
    assert _posts(emu) == math.ceil((60 + SUBS) / 7) and _posts(emu, 429) == 0
    assert t.sleeps and all(0 < s <= 5.0 for s in t.sleeps)


def test_a_quota_wait_longer_than_the_deadline_ends_the_run_as_retryable(emu: Emulator) -> None:
    t = FakeTime()
    emulated_graph.configure(emu, budget=1, window_s=5.0, clock=t.clock)
    inventory = _inventory(emu, t, deadline_s=2.0, page_rows=7)
    try:
        with pytest.raises(DeadlineExceeded):
            inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()
    assert _posts(emu) == 1 and _posts(emu, 429) == 0 and not t.sleeps


def test_a_429_from_another_client_is_retried_after_retry_after(emu: Emulator) -> None:
    t = FakeTime()
    emulated_graph.configure(emu, budget=1, window_s=3.0, clock=t.clock)
    other = _inventory(emu, t)  # another client of the same user spends the window
    mine = _inventory(emu, t, window=QuotaWindow(clock=t.clock))
    try:
        other.list_type(CLUSTER_TYPE, "clusters")
        rows = mine.list_type(CLUSTER_TYPE, "clusters")
    finally:
        other.close()
        mine.close()
    assert len(rows) == 60
    assert _posts(emu, 429) == 1 and _posts(emu, 200) == 2
    assert t.sleeps == [3.0]


def test_a_subscription_missing_from_the_answer_is_an_incomplete_list(emu: Emulator) -> None:
    t = FakeTime()
    missing = "11111111-1111-1111-1111-111111111111"
    scope = f"/subscriptions/{topology.SUB},/subscriptions/{missing}"
    inventory = _inventory(emu, t, scope=scope)
    try:
        with pytest.raises(IncompleteListError, match=missing):
            inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()


def test_a_missing_resource_group_is_an_incomplete_list(emu: Emulator) -> None:
    t = FakeTime()
    groups = f"/subscriptions/{topology.SUB}/resourceGroups"
    scope = f"{groups}/rg-spoke-000,{groups}/rg-gone"
    inventory = _inventory(emu, t, scope=scope)
    try:
        with pytest.raises(IncompleteListError, match="rg-gone"):
            inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()


def test_resource_group_scopes_list_only_their_groups(emu: Emulator, fleet: topology.Fleet) -> None:
    t = FakeTime()
    inventory = _inventory(emu, t, scope=f"/subscriptions/{topology.SUB}/resourceGroups/rg-spoke-000")
    try:
        rows = inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()
    assert _ids(rows) == {c.lower() for c in fleet.cluster_ids if "/rg-spoke-000/" in c}


def test_a_truncated_answer_without_a_token_is_an_incomplete_list(emu: Emulator) -> None:
    t = FakeTime()
    emulated_graph.configure(emu, budget=1000, clock=t.clock, truncate=True)
    inventory = _inventory(emu, t, page_rows=7)
    try:
        with pytest.raises(IncompleteListError, match="truncated"):
            inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()


def test_a_failed_second_page_fails_the_list(emu: Emulator) -> None:
    t = FakeTime()
    emulated_graph.configure(emu, budget=1000, clock=t.clock)

    def fail_next(e: Emulator) -> None:  # armed by the first page, fires on the second
        e.faults.add("POST", ARG_PATH, "status", status=400, code="BadRequest")

    emu.faults.before("POST", ARG_PATH, lambda e: e.faults.before("POST", ARG_PATH, fail_next))
    inventory = _inventory(emu, t, page_rows=7)
    try:
        with pytest.raises(TerminalError, match="BadRequest"):
            inventory.list_type(CLUSTER_TYPE, "clusters")
    finally:
        inventory.close()
    assert _posts(emu) == 2 and _posts(emu, 400) == 1
