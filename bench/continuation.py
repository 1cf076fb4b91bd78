"""Issue 26 goal 2: a converging sweep that needs several runs goes on where it stopped, through the queue.

The same fleet is swept twice through the product's queue worker (`remediation.triggers.queue.run`, with its
continuation logic, remediation/triggers/continuation.py):
- once with a budget it never reaches: one uninterrupted sweep, its writes per resource;
- once with a run budget of about a quarter of those writes: each run's Deadline ends its apply with writes
  left, and the sweep must finish through continuations.

The host is played here as the Functions host plays it: each message is delivered, completed when the function
returns, delivered again when it raised (up to maxDequeueCount, then it is poisoned). Without continuations
the long sweep's run raises (the host retries it); with them every message completes on its first delivery.

The budget is counted in writes (the run's Deadline reads a clock that moves one unit per write request the
emulator received), so every run ends after the same writes whatever the load of the machine. Only Azure
Storage is replaced (the queue, dedupe and chain markers, audit and status rows kept in memory with the
contract of remediation.storage), as in bench/burst_intake.py; the decisions are the product's.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bench import topology
from bench.common import BenchFailure, harness, is_graph_query
from remediation.core.config import Settings
from remediation.engine.reconciler import Reconciler
from remediation.planning import intake
from remediation.planning.intake import RemediationRequest, Trigger
from remediation.storage import AuditLog, AuditRecord, DedupeMarkers, RequestQueue, RunState, StatusStore
from remediation.triggers import queue as worker
from remediation.triggers.continuation import CHAIN_WINDOW_S
from remediation.triggers.publish import ResultPublisher
from remediation.triggers.runtime import Runtime

CLUSTERS = 30
SUBNETS_PER_VNET = 10  # three spoke VNets
BUDGET_SHARE = 0.25  # of the uninterrupted sweep's writes: about four runs
MAX_DEQUEUE_COUNT = worker.MAX_DEQUEUE_COUNT
_WRITE_METHODS = ("PUT", "PATCH", "DELETE", "POST")


class _Markers(DedupeMarkers):
    """Dedupe (or chain) markers in memory, with DedupeMarkers' contract: atomic claims, expiring windows."""

    def __init__(self, window_s: int) -> None:  # no table: nothing of the parent's state is used
        self._window = dt.timedelta(seconds=window_s)
        self._lock = threading.Lock()
        self._markers: dict[str, tuple[dt.datetime, str, str]] = {}

    def claim(self, key: str, request_id: str = "", kind: str = "") -> tuple[bool, str | None]:
        with self._lock:
            current = self._markers.get(key)
            if current is not None and current[0] > dt.datetime.now(dt.UTC):
                return False, current[1] or None
            self._markers[key] = (dt.datetime.now(dt.UTC) + self._window, request_id, kind)
            return True, None

    def claim_or_renew(self, key: str, request_id: str, kind: str = "") -> tuple[bool, str | None]:
        with self._lock:
            current = self._markers.get(key)
            if current is not None and current[0] > dt.datetime.now(dt.UTC) and current[1] != request_id:
                return False, current[1] or None
            self._markers[key] = (dt.datetime.now(dt.UTC) + self._window, request_id, kind)
            return True, None

    def touch(self, key: str, request_id: str, kind: str = "") -> bool:
        with self._lock:
            self._markers[key] = (dt.datetime.now(dt.UTC) + self._window, request_id, kind)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._markers.pop(key, None)

    def release_own(self, key: str, request_id: str) -> None:
        with self._lock:
            if key in self._markers and self._markers[key][1] == request_id:
                del self._markers[key]

    def pending_count(self, kinds: Iterable[str]) -> int:
        wanted, now = set(kinds), dt.datetime.now(dt.UTC)
        with self._lock:
            return sum(1 for expires, _, kind in self._markers.values() if kind in wanted and expires > now)

    def window_end(self, key: str) -> tuple[str, dt.datetime] | None:
        with self._lock:
            current = self._markers.get(key)
        return None if current is None else (current[1], current[0])

    def pending_request(self, key: str) -> str | None:
        marker = self.window_end(key)
        return None if marker is None or marker[1] <= dt.datetime.now(dt.UTC) else marker[0] or "(id unknown)"


class _Queue(RequestQueue):
    def __init__(self) -> None:  # no queue client
        self.messages: list[tuple[RemediationRequest, int]] = []  # (request, dequeue count so far)

    def send(self, request: RemediationRequest, *, delay_s: int = 0) -> None:
        del delay_s  # delivered in order; the bench waits for nothing
        self.messages.append((request, 0))


class _Audit(AuditLog):
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, record: AuditRecord) -> str:
        self.records.append(record)
        return record.run_id


class _Status(StatusStore):
    def __init__(self) -> None:
        self.states: dict[str, RunState] = {}

    def set(self, request_id: str, state: RunState, **_: Any) -> None:
        self.states[request_id] = state


class _Runtime(Runtime):
    """The worker's Runtime with storage in memory and the given reconciler."""

    def __init__(self, settings: Settings, reconciler: Reconciler) -> None:  # no storage account
        self.settings = settings
        self.pending = _Queue()
        self.queue = self.pending
        self.dedupe = _Markers(intake.DEDUPE_WINDOW_S)
        self.chains = _Markers(CHAIN_WINDOW_S)
        self.continuation_delay_s = 0
        self.records = _Audit()
        self.audit = self.records
        self.status = _Status()
        self.publisher = ResultPublisher(None)
        self._reconciler = reconciler
        self._guard = threading.Lock()


def _host(runtime: _Runtime) -> dict[str, int]:
    """Deliver every message as the Functions host does, in order; count deliveries, redeliveries, poison."""
    counts = Counter[str]()
    while runtime.pending.messages:
        request, dequeued = runtime.pending.messages.pop(0)
        counts["deliveries"] += 1
        counts[f"{request.target.kind.value} runs"] += 1
        counts["continuations"] += request.continuation is not None
        try:
            worker.run(runtime, request, attempt=dequeued + 1, started=dt.datetime.now(dt.UTC),
                       clock=time.monotonic(), enqueued_at=None)
        except Exception:  # the host makes it visible again, up to maxDequeueCount, then poisons it
            counts["redeliveries"] += 1
            if dequeued + 1 >= MAX_DEQUEUE_COUNT:
                counts["poisoned"] += 1
            else:
                runtime.pending.messages.append((request, dequeued + 1))
    return dict(counts)


def _writes_per_resource(log: Iterable[Any]) -> Counter[str]:
    return Counter(r.path.split("?")[0].lower() for r in log
                   if r.method in _WRITE_METHODS and 200 <= r.status < 300 and not is_graph_query(r))


def _writes_clock(emu: Any) -> Callable[[], float]:
    return lambda: float(sum(1 for r in emu.request_log if r.method in _WRITE_METHODS and not is_graph_query(r)))


def _sweep(fleet: topology.Fleet, budget: float | None) -> dict[str, Any]:
    """One sweep of a fresh copy of the fleet through the queue worker; `budget` in writes (None: unbounded)."""
    with harness(fleet.seed, topology.SETTINGS, time_factor=0.0) as h:
        clock = _writes_clock(h.emu) if budget is not None else (lambda: 0.0)
        reconciler = Reconciler(h.settings, retry_deadline_s=budget or 480.0, clock=clock, sleep=lambda _s: None)
        runtime = _Runtime(h.settings, reconciler)
        runtime.queue.send(RemediationRequest(reconciler.scope_target(), Trigger.TIMER, intake.new_request_id()))
        counts = _host(runtime)
        after = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=True)
        log = list(h.emu.request_log)
    states = Counter(r.state.value for r in runtime.records.records if r.target_kind == "scope")
    return {"counts": counts, "audit_states": dict(states), "converged": not after.plan.has_changes,
            "left": len(after.plan.writes), "writes": _writes_per_resource(log)}


def run(n: int = CLUSTERS) -> dict[str, Any]:
    fleet = topology.generate(n, subnets_per_vnet=SUBNETS_PER_VNET)
    whole = _sweep(fleet, None)
    if not whole["converged"] or whole["counts"].get("redeliveries"):
        raise BenchFailure(f"the uninterrupted sweep of {n} clusters did not converge: {whole['counts']}")
    total = sum(whole["writes"].values())
    budget = max(1.0, round(total * BUDGET_SHARE)) - 0.5  # a run sends this many writes, then its deadline ends
    chain = _sweep(fleet, budget)
    twice = {path: count for path, count in chain["writes"].items() if count > whole["writes"].get(path, 0)}
    return {
        "clusters": n, "budget_writes": budget, "uninterrupted": _summary(whole), "continued": _summary(chain),
        "written_more_than_once_or_extra": dict(sorted(twice.items())[:10]), "extra_writes": len(twice),
        "missing_writes": sum(1 for path in whole["writes"] if path not in chain["writes"]),
    }


def chain_ok(result: Mapping[str, Any] | None) -> bool:
    """The long sweep finished through continuations: several runs, each ended run continued, every message
    completed on its first delivery, converged, and no resource written more often than by one sweep."""
    if not result or result.get("skipped"):
        return False
    done = result["continued"]
    return bool(done["sweep_runs"] >= 2 and done["continuations"] == done["sweep_runs"] - 1
                and done["redeliveries"] == 0 and done["poisoned"] == 0 and done["converged"]
                and result["extra_writes"] == 0 and result["missing_writes"] == 0)


def _summary(sweep: Mapping[str, Any]) -> dict[str, Any]:
    counts = sweep["counts"]
    return {"writes": sum(sweep["writes"].values()), "resources_written": len(sweep["writes"]),
            "sweep_runs": counts.get("scope runs", 0), "continuations": counts.get("continuations", 0),
            "firewall_runs": counts.get("firewall runs", 0), "redeliveries": counts.get("redeliveries", 0),
            "poisoned": counts.get("poisoned", 0), "audit_states": sweep["audit_states"],
            "converged": sweep["converged"], "writes_left": sweep["left"]}
