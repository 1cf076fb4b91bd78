"""The burst of new-cluster events as the Function app handles it: every event goes through the product's own
intake (`remediation.planning.intake.admit`: dedupe claims, the burst sweep of BURST_SWEEP_AFTER), then the queued
requests run on a worker pool and their follow-ups are coalesced, as the dedupe window coalesces them.

Only Azure Storage is replaced: the dedupe markers and the queue are kept in memory (`MemoryMarkers`,
`MemoryQueue`) with the same contract as remediation.storage's table and queue clients, so the decisions are
the product's and the ARM counts come from the emulator's request log, as everywhere in bench/.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from bench import fleet_cost, topology
from bench.common import BenchFailure, harness
from remediation.planning import intake
from remediation.planning.intake import Admitted, RemediationRequest

WINDOW_S = intake.DEDUPE_WINDOW_S


class MemoryMarkers:
    """Dedupe markers in memory: claim is atomic (one lock), markers expire after the window."""

    def __init__(self, window_s: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._markers: dict[str, tuple[float, str, str]] = {}  # key -> (expires, request id, kind)

    @property
    def window_s(self) -> int:
        return self._window

    def claim(self, key: str, request_id: str = "", kind: str = "") -> tuple[bool, str | None]:
        with self._lock:
            current = self._markers.get(key)
            if current is not None and current[0] > self._clock():
                return False, current[1] or None
            self._markers[key] = (self._clock() + self._window, request_id, kind)
            return True, None

    def release(self, key: str) -> None:
        with self._lock:
            self._markers.pop(key, None)

    def pending_count(self, kinds: Iterable[str]) -> int:
        wanted = set(kinds)
        now = self._clock()
        with self._lock:
            return sum(1 for expires, _, kind in self._markers.values() if kind in wanted and expires > now)

    def window_end(self, key: str) -> tuple[str, dt.datetime] | None:
        with self._lock:
            current = self._markers.get(key)
        if current is None:
            return None
        return current[1], dt.datetime.now(dt.UTC) + dt.timedelta(seconds=current[0] - self._clock())

    def pending_request(self, key: str) -> str | None:
        marker = self.window_end(key)
        if marker is None or marker[1] <= dt.datetime.now(dt.UTC):
            return None
        return marker[0] or "(id unknown)"


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[RemediationRequest] = []
        self.sent_at: dict[str, dt.datetime] = {}  # request id -> insertion time, as Azure Storage records it

    def send(self, request: RemediationRequest, *, delay_s: int = 0) -> None:
        del delay_s  # every message of the burst becomes visible once the window has passed
        self.sent.append(request)
        self.sent_at[request.request_id] = dt.datetime.now(dt.UTC)


def cluster_write_event(cluster_id: str, index: int) -> dict[str, Any]:
    """A ResourceWriteSuccess event for a cluster, in the Event Grid schema (docs/arm-notes.md 4.1)."""
    subscription = cluster_id.split("/")[2]
    operation = "Microsoft.ContainerService/managedClusters/write"
    return {
        "id": f"bench-event-{index}", "topic": f"/subscriptions/{subscription}", "subject": cluster_id,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2026-01-10T10:00:00Z",
        "dataVersion": "2", "metadataVersion": "1",
        "data": {"resourceUri": cluster_id, "operationName": operation, "status": "Succeeded",
                 "subscriptionId": subscription, "correlationId": f"bench-{index}",
                 "authorization": {"scope": cluster_id, "action": operation}},
    }


def burst_run(n: int, *, time_factor: float, workers: int = 8) -> dict[str, Any]:
    """n new-cluster events on a fresh fleet of n clusters through the intake; then the queued requests."""
    fleet = topology.generate(n)
    with harness(fleet.seed, topology.SETTINGS, time_factor=time_factor) as h:
        h.emu.clear_log()
        markers, queue = MemoryMarkers(WINDOW_S), MemoryQueue()
        started = time.monotonic()
        outcomes: dict[str, int] = {}
        for index, cluster_id in enumerate(fleet.cluster_ids):
            admission = intake.admit(cluster_write_event(cluster_id, index), settings=h.settings,
                                     resolve=h.reconciler.resolve, pending=markers, sender=queue, dry_run=False,
                                     sweep=h.reconciler.scope_target())
            if admission.outcome not in (Admitted.ENQUEUED, Admitted.FOLDED):
                raise BenchFailure(f"burst event {index} was {admission.outcome.value}: {admission.reason}")
            kind = f"{admission.outcome.value} {admission.target.kind.value if admission.target else '?'}"
            outcomes[kind] = outcomes.get(kind, 0) + 1
        # The worker's first step (remediation/triggers/queue.py run): a request enqueued before the burst
        # sweep's window ends is covered by it and not run.
        sweep = h.reconciler.scope_target()
        to_run = [r for r in queue.sent if intake.covering_sweep(
            r, queue.sent_at[r.request_id], settings=h.settings, pending=markers, sweep=sweep) is None]
        outcomes["covered by the sweep at run time"] = len(queue.sent) - len(to_run)
        results = fleet_cost.run_coalesced(h.reconciler, [r.target for r in to_run], workers)
        wall = time.monotonic() - started
        log = h.emu.request_log
        final = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=True)
    stuck = [r.target for r in results if r.converged is not True]
    if stuck or final.plan.has_changes:
        raise BenchFailure(f"burst of {n} through the intake: {len(stuck)} runs not converged, "
                           f"{len(final.plan.writes)} changes left; e.g. {stuck[:1]}")
    return {
        "events": n, "workers": workers, "time_factor": time_factor, "intake": outcomes,
        "runs": [r.target.split(":", 1)[0] for r in results],
        "gets": fleet_cost.gets(log), "writes": fleet_cost.writes(log), "group_writes": fleet_cost.group_writes(log),
        "http_429": sum(1 for r in log if r.status == 429), "wall_s": round(wall, 2),
        "sweep": fleet_cost.sweep_gets(n, time_factor=time_factor),
    }
