"""Concurrent workers on one firewall policy, and idempotent / out-of-order event delivery.

Everything goes through the Function entry points (`reconcile_worker`, `on_resource_event`) with real
azure.functions objects, the ARM emulator over HTTPS and Azurite. The assertions are on the resulting ARM state
and on the emulator's request and operation records, never on which internal functions were called.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient
from azure.functions.queue import QueueMessage as HostQueueMessage

from remediation.core.model import Target, TargetKind
from remediation.planning.intake import RemediationRequest, Trigger
from remediation.storage import AUDIT_TABLE, DEDUPE_TABLE
from remediation.storage.audit import get_json
from remediation.triggers import runtime as runtime_module
from remediation.triggers.runtime import get_runtime
from tests.functions.helpers import (
    AKS,
    SPOKE,
    Azurite,
    as_queue_message,
    event_from_json,
    queued_count,
    receive_all,
    request_queue,
    resource_event,
    user_function,
)
from tests.functions.topology import (
    POLICY_ID,
    many_cni_clusters,
    node_subnet_id,
    route_table_id,
    single_cni_cluster,
    state_by_id,
)

CLUSTERS = 6
# Policy and rule collection group writes last 160 s * 0.0025 = 0.4 s of real time: six unsynchronised
# writers would overlap. Route writes (2 s default) last ~5 ms.
TIME_FACTOR = 0.0025
LRO_SECONDS = {"Microsoft.Network/firewallPolicies": 160.0,
               "Microsoft.Network/FirewallPolicies/RuleCollectionGroups": 160.0}
WRITE_METHODS = ("PUT", "PATCH", "DELETE")


# ------------------------------------------------------------------------------------ plumbing


def start_emulator(seed: dict[str, Any], app_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch,
                   **options: Any) -> Any:
    """The `arm` fixture's wiring with a chosen seed and timing; the caller stops the emulator."""
    from emulator import Emulator

    emu = Emulator(seed=seed, **options).start()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
        monkeypatch.delenv(key, raising=False)
    app_env(ARM_ENDPOINT=emu.base_url)  # also forgets the cached runtime
    return emu


@contextlib.contextmanager
def emulator(seed: dict[str, Any], app_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch,
             **options: Any) -> Iterator[Any]:
    emu = start_emulator(seed, app_env, monkeypatch, **options)
    try:
        yield emu
    finally:
        emu.stop()


def message(target: Target, *, dry_run: bool = False) -> HostQueueMessage:
    request = RemediationRequest(target, Trigger.EVENT, uuid.uuid4().hex, dry_run=dry_run,
                                 event_id=f"ev-{uuid.uuid4().hex[:8]}", correlation_id="corr-concurrency")
    return HostQueueMessage(id=request.request_id, body=request.to_json().encode(), dequeue_count=1)


def audit_by_request(azurite: Azurite) -> dict[str, dict[str, Any]]:
    table = TableClient.from_connection_string(azurite.connection_string(), AUDIT_TABLE)
    return {str(e["requestId"]): dict(e) for e in table.list_entities()}


def plan_of(row: dict[str, Any]) -> dict[str, Any]:
    return dict(get_json(row, "planJson") or {})


def outcomes_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    return list(get_json(row, "outcomesJson") or [])


def path_of(record: Any) -> str:
    return str(record.path).split("?", 1)[0].lower()


def writes(records: Sequence[Any]) -> list[Any]:
    """Write requests ARM accepted (fault-free 2xx), e.g. to count PUTs per resource."""
    return [r for r in records if r.method in WRITE_METHODS and 200 <= r.status < 300]


def write_attempts(records: Sequence[Any]) -> int:
    """Every write request, whatever ARM answered: after convergence even a refused write is one too many."""
    return sum(r.method in WRITE_METHODS for r in records)


def in_domain(records: Sequence[Any], resource_id: str) -> list[Any]:
    prefix = resource_id.lower()
    return [r for r in records if path_of(r) == prefix or path_of(r).startswith(prefix + "/")]


class NoLocks:
    """A LockProvider that excludes nothing: the control run of what the blob lease prevents."""

    def hold(self, name: str, deadline: Any = None) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


# ------------------------------------------------------------------------------------ concurrency


@pytest.fixture
def fleet(app_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[str]]]:
    """Six Azure CNI clusters in vnet-spoke, one node subnet and route table each, one hub policy."""
    seed, clusters = many_cni_clusters(CLUSTERS)
    with emulator(seed, app_env, monkeypatch, time_factor=TIME_FACTOR, lro_seconds=LRO_SECONDS,
                  conflict_mode="409") as emu:
        yield emu, clusters


def run_workers_at_once(messages: Sequence[HostQueueMessage]) -> list[BaseException]:
    """One thread per message, released together, as the host runs a batch of queue messages."""
    worker = user_function("reconcile_worker")
    get_runtime()  # settings and clients built once, before the threads race
    barrier = threading.Barrier(len(messages))
    errors: list[BaseException] = []

    def run(msg: HostQueueMessage) -> None:
        barrier.wait()
        try:
            worker(msg)
        except BaseException as exc:  # the host would retry the message: the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,), name=f"worker-{i}") for i, m in enumerate(messages)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not any(t.is_alive() for t in threads), "a worker did not finish within 90 s"
    return errors


def test_concurrent_workers_write_the_shared_policy_one_at_a_time_and_converge(
        fleet: tuple[Any, list[str]], storage: Azurite) -> None:
    emu, clusters = fleet
    cluster_messages = [message(Target(TargetKind.CLUSTER, c)) for c in clusters]

    assert run_workers_at_once(cluster_messages) == []
    # Each cluster run wrote its routing and enqueued the firewall follow-up, before its writes (beside them,
    # visible at once, #26) and after them (through the dedupe window of the Event Grid intake): the burst
    # coalesced into ONE pending firewall message of each kind.
    assert queued_count(storage) == 2
    # The firewall target, delivered to six workers at once (as redeliveries or a missed dedupe would).
    firewall = get_runtime().reconciler.firewall_target()
    firewall_messages = [message(firewall) for _ in clusters]
    errors = run_workers_at_once(firewall_messages)
    messages = [*cluster_messages, *firewall_messages]

    assert errors == []
    group_name = get_runtime().settings.rule_collection_group
    group_id = f"{POLICY_ID}/ruleCollectionGroups/{group_name}"

    # 1. ARM never ran two writes on the policy's lock domain at once ...
    policy_ops = sorted((o for o in emu.operations if o.lock_domain.lower() == POLICY_ID.lower()),
                        key=lambda o: o.started_at)
    assert policy_ops, "no write reached the firewall policy"
    assert all(o.ended_at is not None and o.status == "Succeeded" for o in policy_ops), policy_ops
    for earlier, later in itertools.pairwise(policy_ops):
        assert earlier.ended_at is not None
        assert later.started_at >= earlier.ended_at, f"overlapping policy writes: {earlier} / {later}"
    # ... and no write was even attempted while one was running (the emulator would have answered 409).
    policy_requests = in_domain(emu.request_log, POLICY_ID)
    assert [r for r in policy_requests if r.status in (409, 429)] == []

    # 2. No run failed, least of all on AnotherOperationInProgress.
    audit = audit_by_request(storage)
    runs = [audit[str(m.id)] for m in messages]
    for row in runs:
        assert row["state"] == "succeeded", (row.get("error"), outcomes_of(row))
        assert [o for o in outcomes_of(row) if o["outcome"] == "failed"] == []
        assert "AnotherOperationInProgress" not in (row.get("error") or "")
        assert plan_of(row)["converged"] is True

    # 3. The group was PUT at most twice: the first holder writes the rules of every cluster, later holders
    #    re-read it inside the lock and find nothing to do.
    group_puts = [r for r in writes(policy_requests) if r.method == "PUT" and path_of(r) == group_id.lower()]
    assert 1 <= len(group_puts) <= 2, [(r.method, r.path, r.status) for r in group_puts]
    assert len(writes(policy_requests)) == len(group_puts)  # nothing else in the policy was written

    # 4. ARM holds every cluster's configuration.
    group = emu.get(group_id)
    assert group is not None and group["properties"]["provisioningState"] == "Succeeded"
    # These loadBalancer clusters get no egress rule (docs/egress.md); the P2S rule covers every one of them.
    p2s = next(c for c in group["properties"]["ruleCollections"] if c["name"].endswith("p2s"))
    (rule,) = p2s["rules"]
    assert rule["destinationAddresses"] == [f"10.1.{16 + i}.0/24" for i in range(1, CLUSTERS + 1)]
    for index in range(1, CLUSTERS + 1):
        table = emu.get(route_table_id(index))
        assert table is not None
        owned = [r for r in table["properties"]["routes"] if r["name"].startswith("rmd-")]
        assert owned, f"no owned route on rt-aks-{index}"
        assert all(r["properties"]["nextHopType"] == "VirtualAppliance" for r in owned)
        assert [s["id"].lower() for s in table["properties"]["subnets"]] == [node_subnet_id(index).lower()]

    # 5. Converged: a dry run of the whole scope plans nothing, and writes nothing.
    before = len(emu.request_log)
    dry = message(get_runtime().reconciler.scope_target(), dry_run=True)
    user_function("reconcile_worker")(dry)
    plan = plan_of(audit_by_request(storage)[str(dry.id)])
    assert plan["dryRun"] is True
    assert {k: v for k, v in plan["summary"].items() if k != "noop"} == {"create": 0, "update": 0, "delete": 0,
                                                                            "conflict": 0}
    assert plan["conflicts"] == [] and plan["skipped"] == []
    assert write_attempts(emu.request_log[before:]) == 0


def test_control_without_the_lease_the_same_burst_collides_on_the_policy(
        fleet: tuple[Any, list[str]], storage: Azurite) -> None:
    """The rig is sensitive: with the firewall lock replaced by a no-op, the same six workers try to write
    the policy while another write runs (409 AnotherOperationInProgress from ARM) and PUT the group more
    than twice. So the first test passes because of the lock, not because of the timing."""
    emu, clusters = fleet
    get_runtime().locks = NoLocks()  # type: ignore[assignment]  # read when the reconciler is first built

    run_workers_at_once([message(Target(TargetKind.CLUSTER, c)) for c in clusters])
    run_workers_at_once([message(get_runtime().reconciler.firewall_target()) for _ in clusters])

    policy_requests = in_domain(emu.request_log, POLICY_ID)
    collisions = [r for r in policy_requests if r.status == 409]
    group_puts = [r for r in writes(policy_requests) if r.method == "PUT"]
    assert collisions or len(group_puts) > 2, [(r.method, r.status) for r in policy_requests]


# ------------------------------------------------------------------------------------ idempotency

CLUSTER = f"{AKS}/aks-cni"
NODE_TABLE = f"{SPOKE}/routeTables/rt-spoke-nodes"
DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"


def cluster_write(event_id: str = "ev-cluster") -> dict[str, Any]:
    return resource_event(CLUSTER, "Microsoft.ContainerService/managedClusters/write", event_id=event_id,
                          correlation_id="corr-cluster")


def pool_write() -> dict[str, Any]:
    return resource_event(f"{CLUSTER}/agentPools/nodepool1",
                          "Microsoft.ContainerService/managedClusters/agentPools/write", event_id="ev-pool",
                          correlation_id="corr-pool")


def route_delete(route_name: str) -> dict[str, Any]:
    return resource_event(f"{NODE_TABLE}/routes/{route_name}", "Microsoft.Network/routeTables/routes/delete",
                          event_type=DELETE_SUCCESS, event_id="ev-route", correlation_id="corr-route")


@dataclass(frozen=True)
class Run:
    """One processed queue message: its target, whether it converged, and its write requests to ARM."""

    target: str
    converged: bool | None
    writes: int


def deliver(events: Sequence[dict[str, Any]]) -> None:
    on_event = user_function("on_resource_event")
    for body in events:
        on_event(event_from_json(body))


def drain(storage: Azurite, emu: Any, *, window_s: int) -> list[Run]:
    """Process every queued message through reconcile_worker, one at a time, in queue order; delete each
    one afterwards as the host does on success. Waits out the visibility delay events are sent with."""
    worker = user_function("reconcile_worker")
    queue = request_queue(storage)
    runs: list[Run] = []
    deadline = time.monotonic() + window_s + 15
    while queued_count(storage):
        assert time.monotonic() < deadline, "queued messages never became visible"
        for received in sorted(receive_all(storage, wait_s=window_s + 2), key=lambda m: m.inserted_on):
            mark = len(emu.request_log)
            worker(as_queue_message(received))
            queue.delete_message(received)
            row = audit_by_request(storage)[RemediationRequest.from_json(received.content).request_id]
            plan = plan_of(row)
            runs.append(Run(plan["target"], plan["converged"], write_attempts(emu.request_log[mark:])))
    return runs


def split_runs(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """(routing runs, firewall follow-up runs), each in processing order."""
    return ([r for r in runs if not r.target.startswith("firewall:")],
            [r for r in runs if r.target.startswith("firewall:")])


def forget_dedupe_markers(storage: Azurite) -> None:
    with contextlib.suppress(ResourceNotFoundError):
        TableServiceClient.from_connection_string(storage.connection_string()).delete_table(DEDUPE_TABLE)


# Each scenario: the events, in delivery order (built from the name of an owned route on the node subnet's
# table), the dedupe window, and how many queue messages that yields.
Scenario = tuple[Callable[[str], list[dict[str, Any]]], int, int]
SCENARIOS: dict[str, Scenario] = {
    # No dedupe window: every delivery is its own message, so the reconciler itself must be idempotent.
    "same-event-5x-each-enqueued": (lambda route: [cluster_write() for _ in range(5)], 0, 5),
    # The production path: the redeliveries fold into the one pending message.
    "same-event-5x-deduped": (lambda route: [cluster_write() for _ in range(5)], 3, 1),
    # A stale route delete arrives before the cluster write it followed: a fleet run, then a cluster run.
    "route-delete-before-cluster-write": (lambda route: [route_delete(route), cluster_write()], 0, 2),
    # A cluster create raises the pool's event before the cluster's.
    "pool-write-before-cluster-write": (lambda route: [pool_write(), cluster_write("ev-cluster-2")], 0, 2),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_redelivered_and_reordered_events_reach_the_single_delivery_state(
        scenario: str, app_env: Callable[..., None], storage: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    build, window_s, expected_messages = SCENARIOS[scenario]
    seed = single_cni_cluster()

    # Reference: the cluster's write event delivered once.
    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", 0)
    with emulator(seed, app_env, monkeypatch) as emu:
        deliver([cluster_write()])
        # The cluster's routing run, then the firewall follow-up it enqueued before its writes (beside them,
        # #26) and, with no dedupe window to fold it into that one, again after them: the first writes the group,
        # the second finds it in place.
        (single,), (single_firewall, *after_writes) = split_runs(drain(storage, emu, window_s=0))
        assert single.converged is True and single.writes > 0
        assert single_firewall.converged is True and single_firewall.writes > 0
        assert len(after_writes) == 1 and after_writes[0].writes == 0 and after_writes[0].converged is True
        expected = state_by_id(emu.dump())
    owned = [r["name"] for r in (expected[NODE_TABLE.lower()]["properties"]["routes"])
             if r["name"].startswith("rmd-")]
    assert owned, "the reference run wrote no route on the node subnet's table"
    forget_dedupe_markers(storage)

    # The scenario, on a fresh copy of the same topology.
    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", window_s)
    with emulator(seed, app_env, monkeypatch) as emu:
        deliver(build(owned[0]))
        runs, firewall_runs = split_runs(drain(storage, emu, window_s=window_s))
        actual = state_by_id(emu.dump())

    # Every routing run enqueued the firewall follow-up (one that writes also before its writes); within a
    # dedupe window they coalesce into one.
    assert 1 <= len(firewall_runs) <= len(runs) + sum(1 for r in runs if r.writes), firewall_runs
    if window_s:  # one before the writes (beside them) and one after them, each coalesced
        assert len(firewall_runs) == (2 if any(r.writes for r in runs) else 1), firewall_runs
    assert firewall_runs[0].writes == single_firewall.writes, firewall_runs
    assert [r.writes for r in firewall_runs[1:]] == [0] * (len(firewall_runs) - 1), firewall_runs
    assert all(r.converged is True for r in firewall_runs), firewall_runs

    assert len(runs) == expected_messages, runs
    if scenario.startswith("route-delete"):
        assert runs[0].target.startswith("network:") and runs[1].target.startswith("cluster:"), runs
    assert runs[0].converged is True, runs
    assert runs[0].writes == single.writes, runs
    # Nothing is written once the first run converged, however many messages follow.
    assert [r.writes for r in runs[1:]] == [0] * (len(runs) - 1), runs
    assert all(r.converged is True for r in runs), runs
    assert sorted(actual) == sorted(expected)
    for resource_id, body in expected.items():
        assert actual[resource_id] == body, resource_id


def test_the_same_event_on_several_instances_at_once_is_enqueued_once(
        app_env: Callable[..., None], storage: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Event Grid may deliver one event to two instances (a retry while the first is still handling it): the
    intake claims the dedupe marker atomically, so exactly one of them sends a message."""
    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", 60)
    forget_dedupe_markers(storage)
    with emulator(single_cni_cluster(), app_env, monkeypatch):
        get_runtime()  # built once, before the threads race on the intake itself
        on_event = user_function("on_resource_event")
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def one_delivery() -> None:
            try:
                start.wait()
                on_event(event_from_json(cluster_write()))
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=one_delivery) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert queued_count(storage) == 1


def test_a_burst_of_cluster_events_becomes_one_sweep(
        app_env: Callable[..., None], storage: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past BURST_SWEEP_AFTER pending cluster requests, the next event enqueues one sweep and every later
    event of the burst folds into it; the sweep then converges the clusters whose events it absorbed."""
    from remediation.planning.intake import Admitted
    from remediation.triggers.event_intake import admit_event

    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", 3)
    forget_dedupe_markers(storage)
    seed, clusters = many_cni_clusters(CLUSTERS)
    with emulator(seed, app_env, monkeypatch) as emu:
        app_env(ARM_ENDPOINT=emu.base_url, BURST_SWEEP_AFTER="2")
        admissions = [admit_event(resource_event(c, "Microsoft.ContainerService/managedClusters/write",
                                                 event_id=f"ev-{i}"), via="test")
                      for i, c in enumerate(clusters)]
        outcomes = [(a.outcome, a.target.kind.value if a.target else None) for a in admissions]
        assert outcomes == [(Admitted.ENQUEUED, "cluster"), (Admitted.ENQUEUED, "cluster"),
                            (Admitted.ENQUEUED, "scope")] + [(Admitted.FOLDED, "scope")] * (CLUSTERS - 3)
        assert "BURST_SWEEP_AFTER" in admissions[2].reason
        assert queued_count(storage) == 3
        sweep_id = admissions[2].request.request_id if admissions[2].request else None
        runs, firewall_runs = split_runs(drain(storage, emu, window_s=3))
        # The two cluster requests were enqueued before the sweep's window ended: the worker records them as
        # covered by it and write nothing for them; the sweep converges all six.
        covered = [r for r in runs if r.converged is None]
        assert sorted(r.target.split(":", 1)[0] for r in covered) == ["cluster", "cluster"], runs
        assert all(r.writes == 0 for r in covered), covered
        rows = [plan_of(row) for row in audit_by_request(storage).values()]
        assert sorted(p["coveredBy"] for p in rows if "coveredBy" in p) == [sweep_id, sweep_id]
        ran = [r for r in runs if r.converged is not None]
        assert [r.target.split(":", 1)[0] for r in ran] == ["scope"], runs
        assert all(r.converged is True for r in ran + firewall_runs), ran + firewall_runs
        state = state_by_id(emu.dump())
    # Every cluster's node subnet table carries its owned routes, the four whose events were folded included.
    for index in range(1, CLUSTERS + 1):
        routes = state[route_table_id(index).lower()]["properties"].get("routes") or []
        assert any(r["name"].startswith("rmd-") for r in routes), f"rt-aks-{index} has no owned route"
