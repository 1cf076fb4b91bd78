"""The queue worker, the timer, audit and status records, and the blob-lease lock, against Azurite."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables import TableClient
from azure.functions.queue import QueueMessage as HostQueueMessage
from azure.functions.timer import TimerRequest as HostTimerRequest
from azure.storage.blob import BlobLeaseClient, BlobServiceClient

from remediation.core.errors import TerminalError, TransientError
from remediation.core.model import ReconcileResult, Target
from remediation.engine.reconciler import Reconciler
from remediation.storage import AUDIT_TABLE, LOCK_CONTAINER, BlobLeaseLocks
from remediation.storage.audit import get_json
from remediation.storage.lease_lock import LeaseLostError
from remediation.triggers.queue import MAX_DEQUEUE_COUNT
from remediation.triggers.runtime import get_runtime
from tests.functions.helpers import (
    AKS,
    Azurite,
    as_queue_message,
    http_request,
    queued_count,
    receive_all,
    user_function,
)


def audit_rows(azurite: Azurite) -> list[dict[str, Any]]:
    table = TableClient.from_connection_string(azurite.connection_string(), AUDIT_TABLE)
    return [dict(e) for e in table.list_entities()]


def enqueue_apply(target: str) -> str:
    response = user_function("remediate")(http_request(
        "POST", "https://fn.example/api/remediations", body=json.dumps({"target": target})))
    assert response.status_code == 202
    return str(json.loads(response.get_body())["requestId"])


def status_of(request_id: str) -> dict[str, Any]:
    response = user_function("remediation_status")(http_request(
        "GET", f"https://fn.example/api/remediations/{request_id}", route_params={"id": request_id}))
    assert response.status_code == 200
    return dict(json.loads(response.get_body()))


def test_queued_http_request_is_reconciled_audited_and_reported(arm: Any, storage: Azurite) -> None:
    request_id = enqueue_apply(f"{AKS}/aks-cni")
    (message,) = receive_all(storage)
    user_function("reconcile_worker")(as_queue_message(message))
    status = status_of(request_id)
    assert status["status"] in {"succeeded", "failed"}, status
    assert status["result"]["dryRun"] is False
    (row,) = audit_rows(storage)
    assert row["requestId"] == request_id
    assert row["trigger"] == "http"
    assert row["armReads"] > 0
    assert json.loads(row["planJson"])["target"].startswith("cluster:")


def test_malformed_message_is_audited_and_not_retried(app_env: Callable[..., None], storage: Azurite) -> None:
    user_function("reconcile_worker")(HostQueueMessage(id="m-1", body=b"{oops", dequeue_count=1))
    (row,) = audit_rows(storage)
    assert row["PartitionKey"] == "malformed"
    assert row["state"] == "failed"
    assert row["error"].startswith("MalformedMessage")


def test_a_deeply_nested_message_is_dropped_as_malformed(app_env: Callable[..., None], storage: Azurite,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """JSON nested past the parser's recursion limit is acknowledged and dropped with a log line, never a
    RecursionError that the host would redeliver five times (#24 item 10)."""
    with caplog.at_level(logging.ERROR):
        user_function("reconcile_worker")(HostQueueMessage(id="m-deep", body=b"[" * 200_000, dequeue_count=1))
    (row,) = audit_rows(storage)
    assert row["PartitionKey"] == "malformed" and row["error"].startswith("MalformedMessage")
    assert any("dropped malformed queue message m-deep" in r.getMessage() for r in caplog.records)


class _Failing:
    """Stands in for the reconciler to reproduce a failure class on demand; storage stays real."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def reconcile(self, target: Target, *, dry_run: bool, require_exists: bool = False,
                  early_follow_ups: object = None) -> ReconcileResult:
        raise self.error


def _message(request_id: str, dequeue_count: int) -> HostQueueMessage:
    body = {"target": {"kind": "cluster", "id": f"{AKS}/aks-cni"}, "trigger": "event", "eventId": "ev",
            "correlationId": "corr", "dryRun": False, "requestId": request_id}
    return HostQueueMessage(id="m", body=json.dumps(body).encode(), dequeue_count=dequeue_count)


def test_transient_failure_reraises_and_the_last_attempt_records_the_poison_queue(
        app_env: Callable[..., None], storage: Azurite) -> None:
    get_runtime()._reconciler = _Failing(  # type: ignore[assignment]
        TransientError("busy", arm_code="AnotherOperationInProgress", status=409, target="x"))
    worker = user_function("reconcile_worker")
    with pytest.raises(TransientError):
        worker(_message("req-t", 1))
    with pytest.raises(TransientError):
        worker(_message("req-t", MAX_DEQUEUE_COUNT))
    rows = sorted(audit_rows(storage), key=lambda r: r["attempt"])
    assert [(r["attempt"], r["state"]) for r in rows] == [(1, "queued"), (MAX_DEQUEUE_COUNT, "failed")]
    assert "remediation-requests-poison" not in rows[0]["error"]
    assert "moved to remediation-requests-poison" in rows[1]["error"]
    assert rows[1]["error"].startswith("AnotherOperationInProgress")
    assert status_of("req-t")["status"] == "failed"


def test_a_change_still_busy_after_the_retry_deadline_sends_the_message_back(arm: Any, storage: Azurite) -> None:
    runtime = get_runtime()
    # The real reconciler with a short retry budget (one deadline for the whole run; the backoff is counted,
    # not slept); the route writes keep meeting a busy route table.
    runtime._reconciler = Reconciler(runtime.settings, locks=runtime.locks, retry_deadline_s=30,
                                     sleep=lambda _seconds: None)
    arm.faults.add("PUT", r"/routeTables/rt-spoke-nodes/routes/", kind="conflict", count=1000)
    with pytest.raises(TransientError, match="still failing transiently"):
        user_function("reconcile_worker")(_message("req-busy", 1))
    (row,) = audit_rows(storage)
    assert row["state"] == "failed"
    outcomes = get_json(row, "outcomesJson")
    busy = [o for o in outcomes if o["outcome"] == "failed"]
    assert busy and all(o["error"].startswith("AnotherOperationInProgress") for o in busy)
    # Everything that was not blocked was written: the next delivery only has the busy routes left.
    assert any(o["outcome"] == "created" for o in outcomes)


def test_terminal_failure_is_recorded_and_not_reraised(app_env: Callable[..., None], storage: Azurite) -> None:
    get_runtime()._reconciler = _Failing(  # type: ignore[assignment]
        TerminalError("denied", arm_code="AuthorizationFailed", status=403, target="x"))
    user_function("reconcile_worker")(_message("req-x", 1))
    (row,) = audit_rows(storage)
    assert (row["state"], row["finalAttempt"]) == ("failed", False)
    assert row["error"].startswith("AuthorizationFailed")
    assert status_of("req-x")["status"] == "failed"


def test_timer_enqueues_every_sweep_target(arm: Any, storage: Azurite, caplog: pytest.LogCaptureFixture) -> None:
    targets = get_runtime().reconciler.sweep_targets()
    user_function("drift_sweep")(HostTimerRequest(past_due=True))
    messages = receive_all(storage)
    assert len(messages) == len(targets) == queued_count(storage)
    assert {json.loads(m.content)["trigger"] for m in messages} == {"timer"}
    assert any("past due" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------ lease lock


def test_two_holders_never_overlap(storage: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(storage.connection_string())
    inside = 0
    overlaps: list[int] = []
    entries: list[str] = []
    guard = threading.Lock()

    def worker(name: str) -> None:
        nonlocal inside
        locks = BlobLeaseLocks(service, acquire_timeout_s=30, max_backoff_s=0.5)
        for _ in range(3):
            with locks.hold("firewall:/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/"
                            "firewallPolicies/P"):
                with guard:
                    inside += 1
                    overlaps.append(inside)
                    entries.append(name)
                time.sleep(0.2)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(entries) == ["a", "a", "a", "b", "b", "b"]
    assert max(overlaps) == 1


def test_lock_names_compare_case_insensitively_and_waiters_time_out(storage: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(storage.connection_string())
    holder = BlobLeaseLocks(service)
    waiter = BlobLeaseLocks(service, acquire_timeout_s=1.5, max_backoff_s=0.3)
    with holder.hold("firewall:/SUBSCRIPTIONS/X/policy"), pytest.raises(TransientError), \
            waiter.hold("firewall:/subscriptions/x/POLICY"):
        pass
    with waiter.hold("firewall:/subscriptions/x/policy"):  # released on exit
        pass


class RenewalSchedule:
    """The lease renewer's wait (BlobLeaseLocks `renew_wait`), driven by the test: a renewal happens when the test
    says so, instead of the test sleeping through a real 15 s lease. Storage and the renewals stay real."""

    def __init__(self) -> None:
        self._due = threading.Semaphore(0)
        self._renewed = threading.Semaphore(0)
        self._waits = 0

    def wait(self, stop: threading.Event, interval_s: float) -> bool:
        if self._waits:
            self._renewed.release()  # back here after a renewal that succeeded
        self._waits += 1
        while True:
            if self._due.acquire(timeout=0.05):
                return False  # renew now
            if stop.is_set():
                # A renewal asked for before the stop still happens.
                return not self._due.acquire(blocking=False)

    def renew(self) -> None:
        """Ask for one renewal and wait until it succeeded (the renewer waits again)."""
        self._due.release()
        assert self._renewed.acquire(timeout=15), "the renewer stopped: a renewal failed"

    def renew_later(self) -> None:
        """Ask for one renewal without waiting for it (it runs before the renewer stops)."""
        self._due.release()


def test_the_lease_is_renewed_while_held(storage: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(storage.connection_string())
    schedule = RenewalSchedule()
    holder = BlobLeaseLocks(service, lease_s=15, renew_every_s=3, renew_wait=schedule.wait)
    waiter = BlobLeaseLocks(service, acquire_timeout_s=0.5, max_backoff_s=0.2)
    with holder.hold("firewall:renewed"):
        for _ in range(3):
            schedule.renew()  # each one a real renewal, accepted by storage
        with pytest.raises(TransientError), waiter.hold("firewall:renewed"):
            pass
    with waiter.hold("firewall:renewed"):  # released on exit
        pass


def test_a_lease_lost_while_held_fails_the_holder_when_it_is_done(storage: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(storage.connection_string())
    schedule = RenewalSchedule()
    holder = BlobLeaseLocks(service, lease_s=15, renew_every_s=3, renew_wait=schedule.wait)
    with pytest.raises(LeaseLostError), holder.hold("firewall:taken"):
        schedule.renew()
        # Another writer breaks the lease and takes it (as after a pause longer than the lease).
        (blob,) = service.get_container_client(LOCK_CONTAINER).list_blobs()
        blob_client = service.get_blob_client(LOCK_CONTAINER, blob.name)
        BlobLeaseClient(blob_client).break_lease(lease_break_period=0)
        BlobLeaseClient(blob_client).acquire(lease_duration=15)
        schedule.renew_later()  # this renewal is refused: the holder learns it lost the lock
