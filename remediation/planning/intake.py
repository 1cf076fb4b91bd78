"""Event intake and the queue message: pure parsing and mapping, no Azure SDK, no I/O.

An Event Grid event is only a hint that a resource changed (docs/architecture.md section 2): intake decides
whether the event concerns this deployment and which target to reconcile, and nothing else. The worker
re-reads ARM. The same module defines the queue message every trigger sends, so the producer side
(event, timer, HTTP) and the consumer side (the worker) cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeGuard

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.errors import (
    InvalidResourceIdError,
    OutOfScopeError,
    RemediationInputError,
    UnsupportedTargetError,
)
from remediation.core.model import Change, ChangeKind, Target, TargetKind
from remediation.core.operations import HANDLED_EVENT_TYPES, HANDLED_OPERATIONS

# Events for the same target within this many seconds are enqueued once. The message is sent with the
# same visibility delay, so every event folded into it happened before the worker starts reading ARM.
DEDUPE_WINDOW_S = 30

# Claim names that carry the caller's object id in `data.claims` (a short name and the full URI form).
_OID_CLAIMS = ("oid", "http://schemas.microsoft.com/identity/claims/objectidentifier")

_HANDLED_TYPES = frozenset(t.lower() for t in HANDLED_EVENT_TYPES)
_HANDLED_OPERATIONS = frozenset(o.lower() for o in HANDLED_OPERATIONS)


class MalformedEventError(RemediationInputError):
    """The event lacks what intake needs (data, a resource id): logged and dropped, never redelivered."""

    code = "MalformedEvent"


class MalformedMessageError(RemediationInputError):
    """A queue message that is not a remediation request: recorded and removed, never retried."""

    code = "MalformedMessage"


class Trigger(StrEnum):
    EVENT = "event"
    TIMER = "timer"
    HTTP = "http"


# --------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ResourceEvent:
    """The fields of an ARM resource event (Event Grid schema or CloudEvents 1.0) that intake uses."""

    id: str
    event_type: str
    resource_id: str  # data.resourceUri, else the subject
    operation_name: str
    correlation_id: str | None
    caller_ids: tuple[str, ...]  # object ids of the caller: claims oid and authorization evidence


@dataclass(frozen=True)
class Ignored:
    """An event that needs no reconcile, with the reason for the log line."""

    reason: str


def parse_event(payload: Mapping[str, Any]) -> ResourceEvent:
    """Read an event in either schema: `eventType` (Event Grid) or `type` (CloudEvents 1.0).

    Raises MalformedEventError when there is no id, no type, no `data` object or no resource id.
    """
    event_id = payload.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEventError("event has no id")
    event_type = payload.get("eventType") or payload.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEventError(f"event {event_id} has no event type")
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise MalformedEventError(f"event {event_id} has no data object")
    resource_id = data.get("resourceUri") or payload.get("subject")
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise MalformedEventError(f"event {event_id} has neither data.resourceUri nor a subject")
    operation = data.get("operationName")
    correlation = data.get("correlationId")
    return ResourceEvent(
        id=event_id,
        event_type=event_type,
        resource_id=resource_id.strip(),
        operation_name=operation if isinstance(operation, str) else "",
        correlation_id=correlation if isinstance(correlation, str) and correlation else None,
        caller_ids=_caller_ids(data),
    )


def _caller_ids(data: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    claims = data.get("claims")
    if isinstance(claims, Mapping):
        found.extend(str(claims[name]) for name in _OID_CLAIMS if claims.get(name))
    authorization = data.get("authorization")
    evidence = authorization.get("evidence") if isinstance(authorization, Mapping) else None
    if isinstance(evidence, Mapping) and evidence.get("principalId"):
        found.append(str(evidence["principalId"]))
    return tuple(dict.fromkeys(found))


def decide(event: ResourceEvent, settings: Settings, resolve: Callable[[str], Target]) -> Target | Ignored:
    """The target an event asks to reconcile, or why it needs none. `resolve` must not call ARM.

    Raises MalformedEventError for a resource id that cannot be parsed.
    """
    if event.event_type.lower() not in _HANDLED_TYPES:
        return Ignored(f"event type {event.event_type} is not handled")
    if event.operation_name.lower() not in _HANDLED_OPERATIONS:
        return Ignored(f"operation {event.operation_name or '(none)'} is not handled")
    if settings.principal_id and any(c.lower() == settings.principal_id.lower() for c in event.caller_ids):
        # Our own writes raise events too; reacting to them would only re-verify what was just verified.
        return Ignored("caused by this function's own identity")
    if "/providers/microsoft.resources/deployments/" in event.resource_id.lower() + "/":
        # A deployment raises its own WriteSuccess next to the resources it wrote (docs/arm-notes.md 4.1);
        # subscription-level deployments have no resource group, so test the text before parsing.
        return Ignored("a deployment, not a resource")
    try:
        rid = ids.parse_resource_id(event.resource_id)
    except InvalidResourceIdError as exc:
        raise MalformedEventError(f"event {event.id}: {exc}") from exc
    if not settings.in_scope(str(rid)):
        return Ignored("outside REMEDIATION_SCOPE")
    try:
        return resolve(str(rid))
    except (UnsupportedTargetError, OutOfScopeError) as exc:
        return Ignored(str(exc))
    except InvalidResourceIdError as exc:
        raise MalformedEventError(f"event {event.id}: {exc}") from exc


# Firewall-side writes are bounded by FIREWALL_ID (the hub may sit outside the spokes' REMEDIATION_SCOPE).
_FIREWALL_KINDS = frozenset({ChangeKind.RULE_COLLECTION_GROUP, ChangeKind.CLASSIC_RULE_COLLECTION,
                             ChangeKind.CLASSIC_APPLICATION_RULE_COLLECTION})


def scope_refusal(settings: Settings, target: Target, writes: Iterable[Change] = ()) -> str | None:
    """Why a run may not go on under TODAY's settings, or None. A queued request may have been made under an
    older, wider REMEDIATION_SCOPE (or another FIREWALL_ID): the run re-checks its target and, before any
    write, every routing write it would make (route tables, routes, associations); one outside the scope
    stops the whole apply (when in doubt, don't write)."""
    if target.kind is TargetKind.FIREWALL:
        if settings.several_firewalls:
            # FIREWALL_IDS: a configured firewall, or a policy (the run finds the firewall that uses it).
            if not settings.configures_firewall(target.id) and not _is_policy(target.id):
                return f"{target.id} is not one of the configured FIREWALL_IDS"
        elif not ids.same_id(target.id, settings.firewall_id):
            return f"{target.id} is not the configured FIREWALL_ID {settings.firewall_id}"
    elif target.kind is not TargetKind.SCOPE and not settings.in_scope(target.id):
        return f"{target.id} is outside REMEDIATION_SCOPE"
    outside = [c.address for c in writes if c.kind not in _FIREWALL_KINDS and not settings.in_scope(c.address)]
    if outside:
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        return f"{target} would write {outside[0]}{more}, outside REMEDIATION_SCOPE: nothing is written"
    return None


def _is_policy(resource_id: str) -> bool:
    try:
        return ids.parse_resource_id(resource_id).is_type(ids.FIREWALL_POLICY)
    except InvalidResourceIdError:
        return False


def unique_targets(targets: Iterable[Target]) -> list[Target]:
    """Each target once (ids compared case-insensitively), in first-seen order."""
    seen: dict[str, Target] = {}
    for target in targets:
        seen.setdefault(target_key(target), target)
    return list(seen.values())


def target_key(target: Target) -> str:
    """A short stable key of a target, safe as a table PartitionKey/RowKey (no '/', '#', '?', '\\')."""
    text = f"{target.kind.value}:{ids.id_key(target.id)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# ------------------------------------------------------------------------------------- admitting an event


class Admitted(StrEnum):
    """What became of one event, whichever trigger delivered it."""

    DROPPED = "drop-event"  # malformed: acknowledged, never redelivered
    IGNORED = "ignore-event"  # well-formed, but needs no reconcile
    FOLDED = "dedupe-event"  # a request for the same target is already pending
    ENQUEUED = "enqueue"


@dataclass(frozen=True)
class Admission:
    outcome: Admitted
    event_id: str
    reason: str = ""
    event: ResourceEvent | None = None
    target: Target | None = None
    request: RemediationRequest | None = None


class PendingMarkers(Protocol):
    """The dedupe table (remediation.storage.DedupeMarkers)."""

    @property
    def window_s(self) -> int: ...

    def claim(self, key: str, request_id: str = "", kind: str = "") -> tuple[bool, str | None]: ...

    def release(self, key: str) -> None: ...

    def pending_count(self, kinds: Iterable[str]) -> int: ...

    def pending_request(self, key: str) -> str | None: ...

    def window_end(self, key: str) -> tuple[str, dt.datetime] | None:
        """(request id, end of its window) of the marker last claimed for `key`, expired or not."""
        ...


class RequestSender(Protocol):
    """The work queue (remediation.storage.RequestQueue); `send` raises TransientError on failure."""

    def send(self, request: RemediationRequest, *, delay_s: int = 0) -> None: ...


# A burst of events for many clusters (a fleet rollout, a policy change across a subscription) would cost one
# reconcile per cluster, each reading what its cluster references and writing on its own. Past
# BURST_SWEEP_AFTER pending requests of these kinds, one sweep does the same work reading the fleet once
# (docs/architecture.md section 2). Network targets already run the fleet pass: a pending sweep covers them.
_COUNTED_KINDS = (TargetKind.CLUSTER, TargetKind.GATEWAY)
BURST_REASON = "a burst of events (BURST_SWEEP_AFTER requests pending): one sweep enqueued"
_COVERED_BY_A_SWEEP = frozenset({TargetKind.CLUSTER, TargetKind.GATEWAY, TargetKind.NETWORK})


def _burst_target(decision: Target, sweep: Target | None, settings: Settings,
                  pending: PendingMarkers) -> tuple[Target, str | None]:
    """(the target to enqueue, or fold into; the pending sweep's request id when a sweep already covers it)."""
    if sweep is None or settings.burst_sweep_after == 0 or decision.kind not in _COVERED_BY_A_SWEEP:
        return decision, None
    # The sweep's message becomes visible after the dedupe window, so it reads the fleet after this event.
    running_as = pending.pending_request(target_key(sweep))
    if running_as is not None:
        return sweep, running_as
    if (decision.kind in _COUNTED_KINDS
            and pending.pending_count(k.value for k in _COUNTED_KINDS) >= settings.burst_sweep_after):
        return sweep, None
    return decision, None


# Clocks of the intake instance (the marker's window end) and of Azure Storage (a message's insertion
# time) may disagree by this much (at most half the window): a request inserted this close to a sweep's
# window end still runs.
CLOCK_SKEW_MARGIN = dt.timedelta(seconds=5)


def covering_sweep(request: RemediationRequest, enqueued_at: dt.datetime | None, *, settings: Settings,
                   pending: PendingMarkers, sweep: Target | None) -> str | None:
    """The request id of a burst sweep that covers this queued event request, or None: run it.

    A burst sweep is enqueued by `admit` once BURST_SWEEP_AFTER cluster/App Gateway requests are pending,
    and later events fold into it; the requests queued before it would still run one by one. They need
    not: the sweep's message is sent with the dedupe window as visibility delay, so it reads the fleet
    after its marker's window ends, and a request enqueued before that end was caused by an event that
    happened before the sweep reads. Only the intake claims the sweep's marker, so a marker is always such
    a sweep (one that has run since covered the event all the same; one that failed is retried from its
    own message, and the timer sweep is the backstop). Not for other triggers and kinds, with bursts off,
    without the message's insertion time, or when the marker is this request's own or cannot be read."""
    if (enqueued_at is None or sweep is None or settings.burst_sweep_after == 0
            or request.trigger is not Trigger.EVENT or request.target.kind not in _COVERED_BY_A_SWEEP):
        return None
    marker = pending.window_end(target_key(sweep))
    if marker is None:
        return None
    sweep_id, reads_after = marker
    margin = min(CLOCK_SKEW_MARGIN, dt.timedelta(seconds=pending.window_s / 2))
    if sweep_id == request.request_id or enqueued_at >= reads_after - margin:
        return None
    return sweep_id or "(id unknown)"


def admit(payload: Mapping[str, Any], *, settings: Settings, resolve: Callable[[str], Target],
          pending: PendingMarkers, sender: RequestSender, dry_run: bool,
          new_id: Callable[[], str] | None = None, sweep: Target | None = None) -> Admission:
    """The one intake of both event paths (EventGridTrigger and the Event Grid -> Storage queue trigger):
    parse (either schema), filter, ignore own writes, dedupe, enqueue.

    Returns what happened; raises only what a redelivery can fix (the TransientError of a failed send),
    so the calling trigger lets its transport (Event Grid retry, queue redelivery) try again. The dedupe
    marker is claimed atomically before the send and released when the send fails, so a redelivered event is
    not folded away.
    """
    raw_id = payload.get("id")
    event_id = raw_id if isinstance(raw_id, str) and raw_id else "(no id)"
    try:
        event = parse_event(payload)
        decision = decide(event, settings, resolve)
    except MalformedEventError as exc:
        return Admission(Admitted.DROPPED, event_id, reason=str(exc))
    if isinstance(decision, Ignored):
        return Admission(Admitted.IGNORED, event.id, reason=decision.reason, event=event)
    target, covering_sweep = _burst_target(decision, sweep, settings, pending)
    if covering_sweep is not None:
        return Admission(Admitted.FOLDED, event.id, event=event, target=target,
                         reason=f"sweep {covering_sweep} is pending and covers {decision}")
    key = target_key(target)
    request = RemediationRequest(target=target, trigger=Trigger.EVENT, request_id=(new_id or new_request_id)(),
                                 dry_run=dry_run, event_id=event.id, correlation_id=event.correlation_id)
    # An atomic claim, not check-then-mark: two instances handling events for one target at the same moment
    # must not both enqueue (the same claim as the firewall follow-ups, Runtime.enqueue_coalesced).
    claimed, pending_id = pending.claim(key, request.request_id, target.kind.value)
    if not claimed:
        return Admission(Admitted.FOLDED, event.id, event=event, target=target,
                         reason=f"request {pending_id or '(id unknown)'} is pending (within {pending.window_s}s)")
    try:
        # Sent with the dedupe window as visibility delay: every event folded into this message happened
        # before the worker starts reading ARM.
        sender.send(request, delay_s=pending.window_s)
    except BaseException:
        # Released, so the redelivered event is not folded into a message that was never sent.
        pending.release(key)
        raise
    reason = f"{BURST_REASON}: {decision} is covered by it" if target != decision else ""
    return Admission(Admitted.ENQUEUED, event.id, reason=reason, event=event, target=target, request=request)


def events_in_queue_message(body: bytes | str) -> list[Mapping[str, Any]]:
    """The events of one message that Event Grid put on a Storage queue (docs/deploy.md, "Event path").

    Event Grid writes ONE event per message: the event object itself, in the subscription's delivery
    schema (Event Grid schema or CloudEvents 1.0), not an array. The host has already undone the queue's
    base64 text encoding (host.json messageEncoding). Accepted as well, so a change of encoding on either
    side does not lose events: a body still base64-encoded, and a JSON array of events.

    Raises MalformedEventError when the body holds no JSON object.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = text.strip().lstrip("\ufeff")
    if text[:1] not in ("{", "["):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8").strip()
        except (binascii.Error, ValueError) as exc:
            raise MalformedEventError(f"queue message is neither JSON nor base64 JSON: {exc}") from exc
    try:
        document = _load_json(text)
    except ValueError as exc:
        raise MalformedEventError(f"queue message is not JSON: {exc}") from exc
    events = document if isinstance(document, list) else [document]
    if not events or not all(isinstance(e, Mapping) for e in events):
        raise MalformedEventError("queue message is not an event object (or an array of them)")
    return list(events)


# --------------------------------------------------------------------------------------------- messages


def new_request_id() -> str:
    return uuid.uuid4().hex


# A sweep whose run budget ran out goes on in a continuation message (remediation/triggers/continuation.py):
# at most this many after the first run. A converging sweep of 10,000 clusters needs about 15 runs of 480 s
# (docs/BENCHMARKS.md); a chain that long without converging is stopped and reported, never run forever.
MAX_CONTINUATIONS = 48
_REQUEST_ID_TEXT = re.compile(r"^[A-Za-z0-9-]{1,64}$")  # as remediation.storage.audit.valid_request_id


@dataclass(frozen=True)
class Continuation:
    """A sweep going on where its previous run stopped (its run budget ran out with writes left).

    Nothing is carried over but counts: the continuation re-reads the fleet and plans only what is still
    different (level-triggered), so what was written is not written again and nothing is dropped.
    `of`: the request id of the chain's first run (what a caller polls); `number`: 1 for the first
    continuation; `done`: the writes the chain made so far; `left`: the writes the last run planned and did
    not make (None when that run ended outside its apply and did not count them)."""

    of: str
    number: int
    done: int
    left: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"of": self.of, "number": self.number, "done": self.done, "left": self.left}

    @classmethod
    def from_dict(cls, value: object) -> Continuation:
        """Raises MalformedMessageError naming the field that is wrong."""
        if not isinstance(value, dict):
            raise MalformedMessageError("message continuation is not an object")
        of = value.get("of")
        if not isinstance(of, str) or not _REQUEST_ID_TEXT.match(of):
            raise MalformedMessageError("message continuation.of is not a request id (1-64 letters, digits, '-')")
        number, done, left = value.get("number"), value.get("done"), value.get("left")
        if not _count(number) or not 1 <= number <= MAX_CONTINUATIONS:
            raise MalformedMessageError(f"message continuation.number is not a whole number 1-{MAX_CONTINUATIONS}")
        if not _count(done):
            raise MalformedMessageError("message continuation.done is not a whole number >= 0")
        if left is not None and not _count(left):
            raise MalformedMessageError("message continuation.left is neither null nor a whole number >= 0")
        return cls(of=of, number=number, done=done, left=left)


def _count(value: object) -> TypeGuard[int]:
    # bool is an int in Python: `true` is not a count.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class RemediationRequest:
    """The body of a `remediation-requests` queue message (JSON)::

        {"target": {"kind": "cluster", "id": "/subscriptions/..."}, "trigger": "event"|"timer"|"http",
         "eventId": str|null, "correlationId": str|null, "dryRun": bool, "requestId": str,
         "continuation": {"of": str, "number": int, "done": int, "left": int|null}}   (a sweep's continuation only)
    """

    target: Target
    trigger: Trigger
    request_id: str
    dry_run: bool = False
    event_id: str | None = None
    correlation_id: str | None = None
    continuation: Continuation | None = None

    @property
    def chain_id(self) -> str:
        """The request id of the sweep this run belongs to: its own, or the first run's for a continuation."""
        return self.continuation.of if self.continuation is not None else self.request_id

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "target": {"kind": self.target.kind.value, "id": self.target.id},
            "trigger": self.trigger.value,
            "eventId": self.event_id,
            "correlationId": self.correlation_id,
            "dryRun": self.dry_run,
            "requestId": self.request_id,
        }
        if self.continuation is not None:
            document["continuation"] = self.continuation.to_dict()
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str | bytes) -> RemediationRequest:
        try:
            document = _load_json(body)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            raise MalformedMessageError(f"message is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise MalformedMessageError("message is not a JSON object")
        target = document.get("target")
        if not isinstance(target, dict):
            raise MalformedMessageError("message has no target object")
        try:
            kind = TargetKind(str(target.get("kind")))
            trigger = Trigger(str(document.get("trigger")))
        except ValueError as exc:
            raise MalformedMessageError(f"message has an unknown kind or trigger: {exc}") from exc
        target_id = target.get("id")
        if not isinstance(target_id, str) or not target_id:
            raise MalformedMessageError("message target has no id")
        request_id = document.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            raise MalformedMessageError("message has no requestId")
        dry_run = document.get("dryRun", False)
        if not isinstance(dry_run, bool):
            raise MalformedMessageError("message dryRun is not a boolean")
        continuation = None
        if document.get("continuation") is not None:
            continuation = Continuation.from_dict(document["continuation"])
            # Only a sweep that writes goes on in a continuation: a plan has nothing to continue.
            if kind is not TargetKind.SCOPE:
                raise MalformedMessageError(f"message continuation of a {kind.value} target: only a sweep continues")
            if dry_run:
                raise MalformedMessageError("message continuation of a dry run: only a sweep that writes continues")
        return cls(
            target=Target(kind, target_id),
            trigger=trigger,
            request_id=request_id,
            dry_run=dry_run,
            event_id=_optional_text(document.get("eventId")),
            correlation_id=_optional_text(document.get("correlationId")),
            continuation=continuation,
        )


def _load_json(body: str | bytes) -> Any:
    """json.loads for a body anyone may have put on the queue: JSON nested deeper than the parser's recursion
    limit raises RecursionError, not ValueError, and would escape the caller's "malformed: acknowledge and
    drop" branch (the host would redeliver it until the poison queue). Every failure to parse is a
    ValueError here."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("nested too deeply to parse") from exc


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
