"""The `remediation-requests` queue (one message = "reconcile this target") and best-effort dedupe markers.

Dedupe choice: the reconciler is idempotent and level-triggered, so a duplicate message costs reads, never
a wrong write. Dedupe is therefore best-effort and can only err towards sending a message:
  * the first event for a target writes a marker (table `remediationdedupe`, expiry `window` seconds) and
    sends its message with a visibility delay of the same `window`;
  * a later event for the target while the marker is fresh is dropped: it happened before the pending
    message becomes visible, so the worker's fresh read of ARM already sees its change;
  * the marker is written only AFTER the message was accepted, so a failed enqueue never suppresses the
    redelivered event; a marker that cannot be read or written just means one more message.
Two instances racing on the same target may both send: harmless, by the same idempotency.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.queue import QueueClient

from remediation.core.errors import TransientError
from remediation.planning.intake import RemediationRequest

log = logging.getLogger(__name__)

QUEUE_NAME = "remediation-requests"
# The host moves a message here after host.json `maxDequeueCount` failed attempts.
POISON_QUEUE_NAME = QUEUE_NAME + "-poison"
DEDUPE_TABLE = "remediationdedupe"
_PARTITION = "marker"


class RequestQueue:
    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @property
    def client(self) -> QueueClient:
        return self._client

    def send(self, request: RemediationRequest, *, delay_s: int = 0) -> None:
        """Enqueue; raise TransientError when storage refuses, so the caller's trigger is retried."""
        body = request.to_json()
        try:
            try:
                self._client.send_message(body, visibility_timeout=delay_s or None)
            except ResourceNotFoundError:
                # First message in a fresh storage account: the host creates the queue only when its
                # listener starts, which may be on another instance or not yet.
                self._create()
                self._client.send_message(body, visibility_timeout=delay_s or None)
        except AzureError as exc:
            raise TransientError(f"cannot enqueue {request.target}: {exc}", arm_code=None,
                                 status=getattr(exc, "status_code", None), target=request.target.id) from exc

    def _create(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._client.create_queue()


class DedupeMarkers:
    """Short-lived "a message for this target is pending" markers; every failure means "not deduped"."""

    def __init__(self, table: TableClient, window_s: int) -> None:
        self._table = table
        self._window = dt.timedelta(seconds=window_s)
        self._ready = False

    @property
    def window_s(self) -> int:
        return int(self._window.total_seconds())

    def pending_count(self, kinds: Iterable[str]) -> int:
        """How many markers of these target kinds are still within their window (one table query). An
        unreadable table counts 0: the intake then enqueues per target, as without bursts."""
        wanted = sorted(set(kinds))
        if not wanted:
            return 0
        kind_filter = " or ".join(f"kind eq '{k}'" for k in wanted)
        query = f"PartitionKey eq '{_PARTITION}' and ({kind_filter})"
        now = _now()
        try:
            return sum(1 for e in self._table.query_entities(query, select=["expiresAt"])
                       if isinstance(e.get("expiresAt"), dt.datetime) and e["expiresAt"] > now)
        except ResourceNotFoundError:
            return 0
        except AzureError as exc:
            log.warning("dedupe markers not counted, no burst sweep: %s", exc)
            return 0

    def pending_request(self, key: str) -> str | None:
        """The request id of a marker still within its window (else None; errors count as none)."""
        marker = self.window_end(key)
        if marker is None or marker[1] <= _now():
            return None
        return marker[0] or "(id unknown)"

    def window_end(self, key: str) -> tuple[str, dt.datetime] | None:
        """(request id, end of its window) of the marker for `key`, expired or not; None when there is none
        or it cannot be read (the caller then runs its request: nothing is skipped on a failed read)."""
        try:
            entity = self._table.get_entity(_PARTITION, key)
        except AzureError:
            return None
        expires = entity.get("expiresAt")
        if not isinstance(expires, dt.datetime):
            return None
        return str(entity.get("requestId") or ""), expires

    def claim(self, key: str, request_id: str = "", kind: str = "") -> tuple[bool, str | None]:
        """Atomically become the one sender for `key` within the window: (True, None) for exactly one of
        several concurrent callers (insert, or replace an expired marker conditionally on its etag); else
        (False, the pending request's id when known). Errors other than "someone else holds it" mean True:
        dedupe may only err towards sending a message."""
        entity = {"PartitionKey": _PARTITION, "RowKey": key, "expiresAt": _now() + self._window,
                  "requestId": request_id, "kind": kind}
        try:
            self._ensure_table()
            self._table.create_entity(entity)
            return True, None
        except ResourceExistsError:
            pass
        except AzureError as exc:
            log.warning("dedupe marker %s not claimed, enqueueing anyway: %s", key, exc)
            return True, None
        try:
            current = self._table.get_entity(_PARTITION, key)
            expires = current.get("expiresAt")
            if isinstance(expires, dt.datetime) and expires > _now():
                return False, str(current.get("requestId") or "") or None
            self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
            return True, None
        except ResourceNotFoundError:
            return self.claim(key, request_id, kind)
        except HttpResponseError as exc:
            if exc.status_code == 412:  # another caller replaced the expired marker first
                return False, None
            log.warning("dedupe marker %s not claimed, enqueueing anyway: %s", key, exc)
            return True, None

    def claim_or_renew(self, key: str, request_id: str, kind: str = "") -> tuple[bool, str | None]:
        """`claim`, and when `request_id` itself holds the fresh marker, push its end to now + the window
        (conditional on its etag). (True, None) when the marker is now ours; (False, the holder's id) when
        another request holds it. As with `claim`, a failure of the table itself counts as ours."""
        claimed, holder = self.claim(key, request_id, kind)
        if claimed or holder != request_id:
            return claimed, holder
        try:
            current = self._table.get_entity(_PARTITION, key)
            if str(current.get("requestId") or "") != request_id:
                return False, str(current.get("requestId") or "") or None
            renewed = {"PartitionKey": _PARTITION, "RowKey": key, "expiresAt": _now() + self._window,
                       "requestId": request_id, "kind": kind}
            self._table.update_entity(renewed, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
            return True, None
        except ResourceNotFoundError:
            return self.claim(key, request_id, kind)
        except HttpResponseError as exc:
            if exc.status_code == 412:  # changed since our read: whoever changed it holds it now
                return False, None
            log.warning("dedupe marker %s not renewed, going on: %s", key, exc)
            return True, None
        except AzureError as exc:
            log.warning("dedupe marker %s not renewed, going on: %s", key, exc)
            return True, None

    def release(self, key: str) -> None:
        """Undo a claim whose message could not be sent, so the next attempt is not suppressed."""
        with contextlib.suppress(AzureError):
            self._table.delete_entity(_PARTITION, key)

    def touch(self, key: str, request_id: str, kind: str = "") -> bool:
        """Write the marker for `request_id`, whoever held it: its window starts now. False when the table
        refused (the caller then does the work itself: dedupe may only err towards running)."""
        entity = {"PartitionKey": _PARTITION, "RowKey": key, "expiresAt": _now() + self._window,
                  "requestId": request_id, "kind": kind}
        try:
            self._ensure_table()
            self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
            return True
        except AzureError as exc:
            log.warning("dedupe marker %s not written: %s", key, exc)
            return False

    def release_own(self, key: str, request_id: str) -> None:
        """`release`, only while `request_id` holds the marker (conditional on its etag): a run that lost its
        marker (it expired and another request claimed it) never removes the other's."""
        with contextlib.suppress(AzureError):
            current = self._table.get_entity(_PARTITION, key)
            if str(current.get("requestId") or "") == request_id:
                self._table.delete_entity(_PARTITION, key, etag=current.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)

    def _ensure_table(self) -> None:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                self._table.create_table()
            self._ready = True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
