"""Long-running operations: what the Azure-AsyncOperation URL reports, and the per-lock-domain write log.

docs/arm-notes.md §3.1: the fake applies the mutation at PUT time, keeps the resource `Updating` until the
operation's duration has elapsed, then flips it to `Succeeded`.  An operation may instead end `Failed` or
`Canceled` (fault injection, or superseded by a newer write, §3.4) and then the change is rolled back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TERMINAL = ("Succeeded", "Failed", "Canceled")


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class OperationRecord:
    """One write, for tests asserting that two writes to one lock domain never overlapped."""

    resource_id: str
    lock_domain: str
    method: str
    started_at: float  # time.time()
    ended_at: float | None = None
    status: str = "InProgress"
    operation_id: str = ""
    foreign: bool = False


@dataclass
class Operation:
    """An in-flight or finished asynchronous operation."""

    op_id: str
    resource_id: str
    resource_key: str
    lock_domain: str
    method: str
    namespace: str
    subscription: str
    location: str
    api_version: str
    starts: float  # clock() (time.monotonic unless the emulator was given another clock)
    ends: float  # clock() when the operation reaches its terminal state
    outcome: str = "Succeeded"
    error: dict[str, Any] | None = None
    status: str = "InProgress"
    snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)
    record: OperationRecord | None = None
    start_iso: str = field(default_factory=iso_now)
    end_iso: str | None = None
    # "resource", "group-delete" (a resource group and everything in it) or "action" (a POST action: changes
    # nothing, holds no lock domain, and its Location answers `result` once it has succeeded)
    kind: str = "resource"
    result: dict[str, Any] | None = None
    operations_segment: str = "operations"  # "nfvOperations" for firewall policies and RCGs
    results_segment: str = "operationResults"
    clock: Callable[[], float] = time.monotonic

    def remaining(self) -> float:
        return max(0.0, self.ends - self.clock())

    def status_body(self) -> dict[str, Any]:
        """The body of GET {Azure-AsyncOperation}.

        Network answers a bare {"status": ...} [REC test_network_route_table_operation.yaml]; AKS adds
        name/startTime/endTime [REC 2020, docs/arm-notes.md §2.7].
        """
        if self.operations_segment == "nfvOperations" and self.status in ("Failed", "Canceled"):
            # The firewall policy service answers a failed operation with capitalised keys (docs/arm-notes.md
            # §6). azure-core reads only "status", so the SDK raises HttpResponseError("No status found in
            # body") without the error code: a client must re-read the group to learn the outcome.
            error = self.error or {}
            return {
                "Status": self.status,
                "Error": {"Code": error.get("code", self.status), "Message": error.get("message", "")},
            }
        body: dict[str, Any] = {"status": self.status}
        if self.namespace.lower() != "microsoft.network":
            body = {"name": self.op_id, "status": self.status, "startTime": self.start_iso}
            if self.end_iso:
                body["endTime"] = self.end_iso
        if self.status in ("Failed", "Canceled") and self.error is not None:
            body["error"] = self.error
        return body


def new_op_id() -> str:
    return str(uuid.uuid4())


def canceled_error(old: Operation | None, new_method: str, resource_type: str) -> dict[str, Any]:
    """docs/arm-notes.md §3.4 outcome 3: the older operation ends Canceled / CanceledAndSuperseded."""
    short = resource_type.split("/")[-1]
    short = short[:1].upper() + short[1:].rstrip("s")
    old_id = old.op_id if old else new_op_id()
    return {
        "code": "Canceled",
        "message": "Operation was canceled.",
        "details": [
            {
                "code": "CanceledAndSupersededDueToAnotherOperation",
                "message": (
                    f"Operation Put{short}Operation ({old_id}) was canceled and superseded by operation "
                    f"{new_method.title()}{short}Operation ({new_op_id()})."
                ),
            }
        ],
    }


class LroEngine:
    """The operations in flight, one per lock domain, on the emulator's clock.

    It knows when an operation ends, not what its end does: the store settles (or rolls back) the lock domain
    of each operation `due()` hands back, after `release()`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.records: list[OperationRecord] = []
        self._ops: dict[str, Operation] = {}
        self._inflight: dict[str, Operation] = {}  # lock domain -> running operation

    def begin(self, op: Operation) -> Operation:
        op.record = OperationRecord(
            resource_id=op.resource_id,
            lock_domain=op.lock_domain,
            method=op.method,
            started_at=time.time(),
            operation_id=op.op_id,
        )
        self.records.append(op.record)
        self._ops[op.op_id.lower()] = op
        self._inflight[op.lock_domain] = op
        return op

    def get(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id.lower())

    def running(self, domain: str) -> Operation | None:
        return self._inflight.get(domain)

    def due(self) -> list[tuple[str, Operation]]:
        now = self.clock()
        return [(domain, op) for domain, op in self._inflight.items() if op.ends <= now]

    def release(self, domain: str, op: Operation) -> bool:
        """Take a finished (or superseded) operation out of its domain; False when it is no longer there."""
        if self._inflight.get(domain) is not op:
            return False
        del self._inflight[domain]
        return True

    def drop_under(self, prefix: str) -> None:
        """Forget the operations of every lock domain under `prefix` (their resource group is gone)."""
        for domain in [d for d in self._inflight if d.startswith(prefix)]:
            del self._inflight[domain]

    def next_completion(self) -> float | None:
        return min((op.ends for op in self._inflight.values()), default=None)

    def clear_inflight(self) -> None:
        self._inflight.clear()

    @staticmethod
    def end(op: Operation, status: str) -> None:
        op.status = status
        op.end_iso = iso_now()
        if op.record is not None:
            op.record.status = status
            op.record.ended_at = time.time()
