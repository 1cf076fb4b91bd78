"""A sweep that cannot finish in one run goes on where it stopped: continuations through the queue (#26 goal 2).

Everything goes through the Function entry points as Microsoft's worker indexed them (`reconcile_worker`,
`drift_sweep`), with the real SDK against the ARM emulator and the queue, tables and leases in Azurite. The
host is played by `Host`: it delivers every visible message and deletes it when the function returned, as the
Functions host does; a function that raised leaves its message for a redelivery (counted).

The run budget is the product's one Deadline per reconcile (remediation/core/deadline.py); the tests give the
reconciler a clock that counts the write requests the emulator received, so a budget of 1.5 lets every run
send exactly two writes, whatever the load of the machine (the order is fixed with WRITE_LANES=1). The verify
read's test runs on the real clock, where ARM's Retry-After of 30 minutes ends the run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.data.tables import TableClient
from azure.functions.queue import QueueMessage as HostQueueMessage
from azure.functions.timer import TimerRequest as HostTimerRequest

from remediation.core.errors import TransientError
from remediation.core.model import Target, TargetKind
from remediation.engine.reconciler import Reconciler
from remediation.planning import intake
from remediation.planning.intake import MAX_CONTINUATIONS, RemediationRequest, Trigger
from remediation.storage import AUDIT_TABLE
from remediation.triggers import runtime as runtime_module
from remediation.triggers.continuation import chain_key
from remediation.triggers.runtime import Runtime, get_runtime
from tests.functions.helpers import (
    Azurite,
    as_queue_message,
    http_request,
    queued_count,
    receive_all,
    request_queue,
    user_function,
)
from tests.functions.test_concurrency import audit_by_request, emulator, outcomes_of, path_of, plan_of
from tests.functions.topology import many_cni_clusters

CLUSTERS = 6  # one P2S route to write per cluster's route table: six writes, in a fixed order with one lane
WRITE_METHODS = ("PUT", "PATCH", "DELETE")


@dataclass
class Host:
    """The Functions host for the request queue: delivers each visible message, deletes it when the function
    returned, leaves it for a redelivery when it raised."""

    storage: Azurite
    delivered: list[dict[str, Any]] = field(default_factory=list)  # message bodies, in delivery order
    raised: list[BaseException] = field(default_factory=list)

    def drain(self, *, limit: int = 20) -> None:
        worker, queue = user_function("reconcile_worker"), request_queue(self.storage)
        for _ in range(limit):
            messages = sorted(receive_all(self.storage, wait_s=1.0), key=lambda m: m.inserted_on)
            if not messages:
                assert queued_count(self.storage) == 0, "a message never became visible"
                return
            for received in messages:
                self.deliver_one(worker, queue, received)
        pytest.fail(f"the queue was not empty after {limit} rounds")

    def deliver_one(self, worker: Callable[..., Any], queue: Any, received: Any) -> None:
        self.delivered.append(json.loads(received.content))
        try:
            worker(as_queue_message(received))
        except Exception as exc:  # the host makes the message visible again: counted, left in the queue
            self.raised.append(exc)
            return
        queue.delete_message(received)


def audit_rows(storage: Azurite) -> list[dict[str, Any]]:
    table = TableClient.from_connection_string(storage.connection_string(), AUDIT_TABLE)
    return [dict(e) for e in table.list_entities()]


def writes_clock(emu: Any) -> Callable[[], float]:
    """A clock for the run's Deadline that moves one unit per write request ARM received."""
    return lambda: float(sum(1 for r in emu.request_log if r.method in WRITE_METHODS))


def use_budget(emu: Any, budget: float, *, clock: Callable[[], float] | None = None) -> Runtime:
    runtime = get_runtime()
    runtime._reconciler = Reconciler(runtime.settings, locks=runtime.locks, retry_deadline_s=budget,
                                     clock=clock or writes_clock(emu), sleep=lambda _s: None)
    runtime.continuation_delay_s = 0  # visible at once: the host below does not wait
    return runtime


def puts_per_resource(emu: Any) -> Counter[str]:
    """Writes ARM accepted, per resource (a PUT a fault refused is not a write of the resource)."""
    return Counter(path_of(r) for r in emu.request_log if r.method in WRITE_METHODS and 200 <= r.status < 300)


def timer_message(runtime: Runtime, request_id: str) -> HostQueueMessage:
    request = RemediationRequest(runtime.reconciler.scope_target(), Trigger.TIMER, request_id)
    return HostQueueMessage(id=request_id, body=request.to_json().encode(), dequeue_count=1)


@pytest.fixture
def fleet(app_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Any]]:
    """Starts emulators of six Azure CNI clusters (each with a P2S route to write), one lane, no dedupe window."""
    seed, _ = many_cni_clusters(CLUSTERS)
    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", 0)  # follow-ups visible at once
    with contextlib.ExitStack() as stack:
        def start() -> Any:
            emu = stack.enter_context(emulator(seed, app_env, monkeypatch, time_factor=0.0))
            app_env(ARM_ENDPOINT=emu.base_url, WRITE_LANES="1")
            return emu
        yield start


def reference_sweep(start: Callable[[], Any], storage: Azurite) -> Counter[str]:
    """One uninterrupted sweep of the same fleet (a budget it never reaches): its writes per resource."""
    emu = start()
    use_budget(emu, 480.0, clock=lambda: 0.0)
    runtime = get_runtime()
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    host = Host(storage)
    host.drain()
    assert host.raised == [] and [m.get("continuation") for m in host.delivered] == [None] * len(host.delivered)
    assert runtime.reconciler.reconcile(runtime.reconciler.scope_target(), dry_run=True).plan.has_changes is False
    counts = puts_per_resource(emu)
    emu.stop()
    return counts


def test_a_sweep_longer_than_its_budget_continues_where_it_stopped_and_writes_nothing_twice(
        fleet: Callable[[], Any], storage: Azurite) -> None:
    uninterrupted = reference_sweep(fleet, storage)
    assert sum(1 for p in uninterrupted if "/routes/" in p) == CLUSTERS and max(uninterrupted.values()) == 1

    emu = fleet()
    runtime = use_budget(emu, 1.5)  # two writes per run
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    host = Host(storage)
    worker, queue = user_function("reconcile_worker"), request_queue(storage)
    (first,) = receive_all(storage)
    host.deliver_one(worker, queue, first)
    first_id = host.delivered[0]["requestId"]

    # The first run wrote two of six changes and completed its message with a continuation queued.
    rows = audit_by_request(storage)
    assert rows[first_id]["state"] == "continued" and host.raised == []
    continued = plan_of(rows[first_id])["continued"]
    (queued,) = receive_all(storage)
    follow = json.loads(queued.content)
    assert continued["summary"] == f"continued: 2 of 6 changes done, continuation {follow['requestId']} queued"
    assert follow["continuation"] == {"of": first_id, "number": 1, "done": 2, "left": 4}
    assert follow["target"] == host.delivered[0]["target"] and follow["trigger"] == "timer"
    assert sum(1 for o in outcomes_of(rows[first_id]) if o["outcome"] == "created") == 2

    # While it continues, the timer enqueues no second sweep, and a timer sweep queued before the chain
    # started is recorded as covered by it, with no ARM call.
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    assert queued_count(storage) == 1
    calls = len(emu.request_log)
    worker(timer_message(runtime, "req-late-timer"))
    assert len(emu.request_log) == calls
    late = audit_by_request(storage)["req-late-timer"]
    assert (late["state"], plan_of(late)["coveredBy"]) == ("succeeded", first_id)

    host.deliver_one(worker, queue, queued)
    host.drain()

    # Each message was delivered once and completed; the chain took three runs, then the firewall follow-up.
    assert host.raised == []
    assert [(m["target"]["kind"], (m.get("continuation") or {}).get("number")) for m in host.delivered] == [
        ("scope", None), ("scope", 1), ("scope", 2), ("firewall", None)]
    rows = audit_by_request(storage)
    assert [rows[m["requestId"]]["state"] for m in host.delivered] == ["continued", "continued", "succeeded",
                                                                      "succeeded"]
    last = plan_of(rows[host.delivered[2]["requestId"]])
    assert last["converged"] is True and last["chain"] == {"of": first_id, "runs": 3, "writes": 6}
    # The caller that asked for the sweep polls the first request id: it ends with the last run's outcome.
    status = user_function("remediation_status")
    polled = json.loads(status(http_request("GET", f"https://fn.example/api/remediations/{first_id}",
                                            route_params={"id": first_id})).get_body())
    assert polled["status"] == "succeeded" and polled["result"]["chain"]["runs"] == 3

    # Converged, and every resource was written exactly as often as by one uninterrupted sweep.
    assert runtime.reconciler.reconcile(runtime.reconciler.scope_target(), dry_run=True).plan.has_changes is False
    assert puts_per_resource(emu) == uninterrupted
    # The chain ended: its marker is gone, so the next timer sweeps again.
    assert runtime.chains.pending_request(chain_key(runtime.reconciler.scope_target())) is None
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    assert queued_count(storage) == 1


def scope_message(runtime: Runtime, request_id: str, trigger: Trigger) -> HostQueueMessage:
    request = RemediationRequest(runtime.reconciler.scope_target(), trigger, request_id)
    return HostQueueMessage(id=request_id, body=request.to_json().encode(), dequeue_count=1)


@pytest.mark.parametrize(("asked_while_writing", "runs_again"), [
    ("rt-aks-3", False),  # during the first continuation: the second one reads after it
    ("rt-aks-6", True),  # during the chain's last run, after its read: enqueued when the chain ends
])
def test_an_event_sweep_during_a_chain_asks_it_to_read_again_instead_of_writing_beside_it(
        asked_while_writing: str, runs_again: bool, fleet: Callable[[], Any], storage: Azurite,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One machine, one clock: no margin for the skew between instances' clocks (which, in production, makes an
    # ask within 5 s of a run's start count as after it).
    monkeypatch.setattr(intake, "CLOCK_SKEW_MARGIN", dt.timedelta(0))
    emu = fleet()
    runtime = use_budget(emu, 1.5)  # routes of rt-aks-1 and 2, then 3 and 4, then 5 and 6
    worker, queue = user_function("reconcile_worker"), request_queue(storage)
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    host = Host(storage)
    (first,) = receive_all(storage)
    host.deliver_one(worker, queue, first)
    first_id = host.delivered[0]["requestId"]

    # An event burst's sweep while the chain continues: covered by the chain, not one ARM call.
    calls = len(emu.request_log)
    worker(scope_message(runtime, "req-burst-1", Trigger.EVENT))
    assert len(emu.request_log) == calls
    covered = audit_by_request(storage)["req-burst-1"]
    assert (covered["state"], plan_of(covered)["coveredBy"]) == ("succeeded", first_id)

    # Another one arrives while a later run of the chain writes.
    emu.faults.before("PUT", rf"/routeTables/{asked_while_writing}/routes/",
                      lambda _emu: worker(scope_message(runtime, "req-burst-2", Trigger.EVENT)))
    host.drain()

    assert host.raised == []
    ran = [m["requestId"] for m in host.delivered]
    assert "req-burst-1" not in ran
    assert ("req-burst-2" in ran) is runs_again
    asked = sorted((r for r in audit_rows(storage) if r["requestId"] == "req-burst-2"), key=lambda r: r["startedAt"])
    assert plan_of(asked[0])["coveredBy"] == first_id
    if runs_again:  # after the chain's last run, as its own sweep, which finds nothing left to write
        assert ran.index("req-burst-2") > ran.index(host.delivered[2]["requestId"])
        assert len(asked) == 2 and asked[1]["state"] == "succeeded" and "coveredBy" not in plan_of(asked[1])
        assert outcomes_of(asked[1]) == [] or all(o["outcome"] == "unchanged" for o in outcomes_of(asked[1]))
    else:
        assert len(asked) == 1
    assert runtime.reconciler.reconcile(runtime.reconciler.scope_target(), dry_run=True).plan.has_changes is False
    assert max(puts_per_resource(emu).values()) == 1
    assert runtime.chains.pending_request(chain_key(runtime.reconciler.scope_target())) is None


def test_a_run_ended_outside_its_apply_continues_with_the_writes_it_sent(
        fleet: Callable[[], Any], storage: Azurite) -> None:
    """ARM answers the verify read after the writes with 429 and Retry-After 1800: the run's deadline (real
    clock) cannot wait that long and ends the run outside the apply. Its six writes were sent, so the sweep
    continues instead of being retried; the continuation finds nothing left to write."""
    emu = fleet()
    runtime = get_runtime()
    runtime._reconciler = Reconciler(runtime.settings, locks=runtime.locks, retry_deadline_s=120.0)
    runtime.continuation_delay_s = 0
    emu.faults.before("PUT", r"/routeTables/rt-aks-6/routes/", lambda e: e.faults.add(
        "GET", r"/managedClusters$", kind="throttle", retry_after=1800, count=1))
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    host = Host(storage)
    host.drain()

    assert host.raised == []
    rows = audit_by_request(storage)
    first, second = host.delivered[0], host.delivered[1]
    row = rows[first["requestId"]]
    assert row["state"] == "continued" and row["error"].startswith("DeadlineExceeded")
    assert "1800" in row["error"]
    assert plan_of(row)["continued"]["summary"] == (f"continued: 6 writes sent, continuation "
                                                    f"{second['requestId']} queued")
    assert second["continuation"] == {"of": first["requestId"], "number": 1, "done": 6, "left": None}
    assert rows[second["requestId"]]["state"] == "succeeded"
    assert plan_of(rows[second["requestId"]])["converged"] is True
    assert [m["target"]["kind"] for m in host.delivered] == ["scope", "scope", "firewall"]
    assert max(puts_per_resource(emu).values()) == 1


def test_a_continuation_that_writes_nothing_stops_the_chain_with_its_reason(
        fleet: Callable[[], Any], storage: Azurite) -> None:
    """Every route table is busy for the whole run: a first run is retried by the host as before, a
    continuation stops the chain (its message completes with the reason, nothing more is queued)."""
    emu = fleet()
    runtime = use_budget(emu, 3.5)
    emu.faults.add("PUT", r"/routeTables/", kind="conflict", count=1000)
    worker = user_function("reconcile_worker")

    with pytest.raises(TransientError, match="still failing transiently"):  # the host delivers it again
        worker(timer_message(runtime, "req-first"))
    first = audit_by_request(storage)["req-first"]
    assert first["state"] == "failed" and "continued" not in plan_of(first)
    assert any((o["error"] or "").startswith("DeadlineExceeded") for o in outcomes_of(first))

    request = RemediationRequest(runtime.reconciler.scope_target(), Trigger.TIMER, "req-cont",
                                 continuation=_continuation("req-first", number=3, done=40))
    worker(HostQueueMessage(id="m-cont", body=request.to_json().encode(), dequeue_count=1))  # does not raise
    row = audit_by_request(storage)["req-cont"]
    assert row["state"] == "failed"
    assert row["error"].startswith("NoProgress: continuation 3 of sweep req-first wrote nothing")
    assert "0 of 6 changes done" in row["error"] and "40 writes were made before it" in row["error"]
    assert plan_of(row)["chainStopped"] == row["error"]
    assert [m for m in receive_all(storage) if json.loads(m.content).get("continuation")] == []
    assert puts_per_resource(emu) == Counter()
    # The chain's marker is gone with it: the next timer sweeps.
    assert runtime.chains.pending_request(chain_key(runtime.reconciler.scope_target())) is None


def _continuation(of: str, *, number: int, done: int) -> Any:
    from remediation.planning.intake import Continuation

    return Continuation(of=of, number=number, done=done, left=None)


def test_a_chain_past_its_bound_stops(fleet: Callable[[], Any], storage: Azurite) -> None:
    emu = fleet()
    runtime = use_budget(emu, 1.5)
    request = RemediationRequest(runtime.reconciler.scope_target(), Trigger.TIMER, "req-long",
                                 continuation=_continuation("req-origin", number=MAX_CONTINUATIONS, done=900))
    user_function("reconcile_worker")(HostQueueMessage(id="m", body=request.to_json().encode(), dequeue_count=1))
    row = audit_by_request(storage)["req-long"]
    assert row["state"] == "failed" and row["error"].startswith("ChainTooLong: sweep req-origin")
    assert sum(puts_per_resource(emu).values()) == 2  # it ran, wrote what its budget allowed, and stopped
    assert [m for m in receive_all(storage) if json.loads(m.content).get("continuation")] == []


def test_report_mode_never_continues_and_a_queued_continuation_writes_nothing(
        fleet: Callable[[], Any], storage: Azurite, app_env: Callable[..., None]) -> None:
    emu = fleet()
    app_env(ARM_ENDPOINT=emu.base_url, WRITE_LANES="1", REMEDIATION_MODE="report")
    runtime = use_budget(emu, 0.0)  # no time at all: a dry run has nothing the budget could stop
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    host = Host(storage)
    host.drain()
    assert host.raised == [] and [m.get("continuation") for m in host.delivered] == [None] * len(host.delivered)
    assert all(m["dryRun"] for m in host.delivered)

    # A continuation queued before the app was switched to report mode stops and writes nothing.
    request = RemediationRequest(runtime.reconciler.scope_target(), Trigger.TIMER, "req-after-switch",
                                 continuation=_continuation("req-before", number=1, done=2))
    user_function("reconcile_worker")(HostQueueMessage(id="m", body=request.to_json().encode(), dequeue_count=1))
    row = audit_by_request(storage)["req-after-switch"]
    assert row["state"] == "failed" and "REMEDIATION_MODE is report" in row["error"]
    assert row["error"].startswith("ContinuationStopped: continuation 1 of sweep req-before stops")
    assert puts_per_resource(emu) == Counter() and queued_count(storage) == 0


SCOPE_TARGET = {"kind": "scope", "id": "/subscriptions/00000000-0000-0000-0000-000000000000"}
GOOD = {"of": "req-1", "number": 1, "done": 3, "left": 2}


@pytest.mark.parametrize(("body", "says"), [
    ({"target": {"kind": "cluster", "id": "/subscriptions/x/resourceGroups/r/providers/"
                 "Microsoft.ContainerService/managedClusters/c"}, "continuation": GOOD}, "only a sweep continues"),
    ({"dryRun": True, "continuation": GOOD}, "continuation of a dry run"),
    ({"continuation": "req-1"}, "continuation is not an object"),
    ({"continuation": {**GOOD, "of": "../etc"}}, "continuation.of is not a request id"),
    ({"continuation": {**GOOD, "number": 0}}, "continuation.number is not a whole number"),
    ({"continuation": {**GOOD, "number": "1"}}, "continuation.number is not a whole number"),
    ({"continuation": {**GOOD, "number": MAX_CONTINUATIONS + 1}}, "continuation.number is not a whole number"),
    ({"continuation": {**GOOD, "done": -1}}, "continuation.done is not a whole number"),
    ({"continuation": {**GOOD, "done": True}}, "continuation.done is not a whole number"),
    ({"continuation": {**GOOD, "left": 2.5}}, "continuation.left is neither null nor a whole number"),
])
def test_a_malformed_continuation_is_dropped_with_a_clear_error(
        body: dict[str, Any], says: str, app_env: Callable[..., None], storage: Azurite) -> None:
    message = {"target": SCOPE_TARGET, "trigger": "timer", "requestId": f"req-{uuid.uuid4().hex[:8]}",
               "dryRun": False, **body}
    user_function("reconcile_worker")(HostQueueMessage(id="m-bad", body=json.dumps(message).encode(),
                                                       dequeue_count=1))
    (row,) = audit_by_request(storage).values()
    assert (row["PartitionKey"], row["state"]) == ("malformed", "failed")
    assert row["error"].startswith("MalformedMessage") and says in row["error"]
    assert queued_count(storage) == 0


def test_a_continuation_message_round_trips() -> None:
    request = RemediationRequest(Target(TargetKind.SCOPE, SCOPE_TARGET["id"]), Trigger.HTTP, "req-2",
                                 correlation_id="c", continuation=_continuation("req-1", number=2, done=7))
    assert RemediationRequest.from_json(request.to_json()) == request
    assert request.chain_id == "req-1"
    plain = RemediationRequest(Target(TargetKind.SCOPE, SCOPE_TARGET["id"]), Trigger.TIMER, "req-3")
    assert "continuation" not in plain.to_dict() and plain.chain_id == "req-3"


def test_a_write_still_running_when_the_budget_ends_is_not_written_again(
        app_env: Callable[..., None], storage: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real time: each route write runs 1.5 s in ARM, the run budget is 4 s. The run's deadline ends the wait
    for a write ARM accepted (its operation still running): the continuation reads it, finds it there and does
    not send it again."""
    seed, _ = many_cni_clusters(CLUSTERS)
    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", 0)
    with emulator(seed, app_env, monkeypatch, time_factor=1.0,
                  lro_seconds={"Microsoft.Network/routeTables/routes": 1.5,
                               "Microsoft.Network/FirewallPolicies/RuleCollectionGroups": 0.5}) as emu:
        # One operation at a time (a write holds no lane while ARM runs it: remediation/azure/inflight.py), so
        # six 1.5 s writes cannot all end inside the 4 s budget.
        app_env(ARM_ENDPOINT=emu.base_url, WRITE_LANES="1", OPERATIONS_IN_FLIGHT="1")
        runtime = get_runtime()
        runtime._reconciler = Reconciler(runtime.settings, locks=runtime.locks, retry_deadline_s=4.0)
        runtime.continuation_delay_s = 0
        user_function("drift_sweep")(HostTimerRequest(past_due=False))
        host = Host(storage)
        host.drain()

        rows = audit_by_request(storage)
        states = [rows[m["requestId"]]["state"] for m in host.delivered if m["target"]["kind"] == "scope"]
        assert "continued" in states and states[-1] == "succeeded", states
        cut = [o for m in host.delivered for o in outcomes_of(rows[m["requestId"]])
               if (o["error"] or "").startswith("DeadlineExceeded")]
        # The deadline refused the wait for writes ARM had accepted (their operations still running in ARM).
        assert any("asked to wait" in o["error"] for o in cut), cut
        assert runtime.reconciler.reconcile(runtime.reconciler.scope_target(), dry_run=True).plan.has_changes is False
        written = puts_per_resource(emu)
        assert sum(1 for p in written if "/routes/" in p) == CLUSTERS
        assert max(written.values()) == 1, written
