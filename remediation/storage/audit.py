"""Audit records (table `remediationaudit`) and request status (table `remediationstatus`).

Audit: one row per worker run (every attempt, including malformed messages), so a reviewer can answer
"what did the function change, when, why and for which event". PartitionKey = the target key (all runs of
one target together; `malformed` for messages without a target); RowKey = reverse-time prefix + request
id + attempt, so a partition lists newest first. A drift sweep's row also records the compliance of every
cluster in scope after the run (`complianceJson`, the document of remediation/views/render_status.py) and its
counts as columns (`compliant`, `compliantClusters`, `nonCompliantClusters`, `skippedClusters`,
`conflictedClusters`), so "which clusters were out of line, and when" is one table query.

Trail: when given a container (`AUDIT_CONTAINER`), every audit row is also appended as one JSON line to an
append blob per hour (`YYYY/MM/DD/HH.jsonl`). infra/app/storage.bicep puts that container under a
time-based retention policy with protected append writes: the app can add lines but nobody can change or
delete a blob before the retention ends (docs/deploy.md section 13.2). The table stays the queryable copy.

Status: one row per request id (PartitionKey = request id, RowKey = "status"), read by
`GET /api/remediations/{id}`. Table string properties hold at most 64 KiB (32 K UTF-16 units); large JSON
is split over numbered properties and truncated past `_MAX_CHUNKS`, with a `<name>Truncated` flag.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import ContainerClient

AUDIT_TABLE = "remediationaudit"
AUDIT_CONTAINER = "remediation-audit"
STATUS_TABLE = "remediationstatus"

# JSON is dumped with ensure_ascii, so one character is one UTF-16 unit: 32,000 stays under 64 KiB.
_CHUNK = 32_000
# 12 chunks (~750 KB as UTF-16) keep the entity under the 1 MiB entity limit with the other properties.
_MAX_CHUNKS = 12
_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_MAX_TICKS = 10**13


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    # A sweep whose run budget ran out with writes left: its continuation is queued (triggers/continuation.py).
    CONTINUED = "continued"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def valid_request_id(value: str) -> bool:
    """Request ids become table keys, which must not contain '/', '\\', '#' or '?'."""
    return bool(_REQUEST_ID.match(value))


@dataclass(frozen=True)
class AuditRecord:
    run_id: str  # the request id, or the queue message id when the message had none
    attempt: int
    partition: str  # intake.target_key(target), or "malformed"
    state: RunState
    started: dt.datetime
    duration_s: float
    target: str | None = None
    target_kind: str | None = None
    trigger: str | None = None
    event_id: str | None = None
    correlation_id: str | None = None
    dry_run: bool | None = None
    plan: Mapping[str, Any] | None = None
    outcomes: list[Mapping[str, Any]] = field(default_factory=list)
    arm_reads: int = 0
    arm_writes: int = 0
    error: str | None = None
    final_attempt: bool = False  # the host moves the message to the poison queue after this attempt
    compliance: Mapping[str, Any] | None = None  # a sweep: render_status.to_json of the scope after the run


class _Table:
    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._ready = False

    @property
    def client(self) -> TableClient:
        return self._table

    def _ensure(self) -> None:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                self._table.create_table()
            self._ready = True


class AuditTrail:
    """Append-only JSON lines in the immutable audit container, one append blob per hour."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container
        self._ready = False

    def append(self, entity: Mapping[str, Any], now: dt.datetime | None = None) -> str:
        """Append one line; returns the blob name. An existing blob is never recreated: creation is
        conditional on its absence (If-None-Match: *), which a retention policy would refuse anyway."""
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                self._container.create_container()
            self._ready = True
        name = f"{(now or dt.datetime.now(dt.UTC)):%Y/%m/%d/%H}.jsonl"
        blob = self._container.get_blob_client(name)
        with contextlib.suppress(ResourceExistsError, ResourceModifiedError):
            blob.create_append_blob(match_condition=MatchConditions.IfMissing)
        line = json.dumps(entity, ensure_ascii=True, separators=(",", ":"), default=_json_default) + "\n"
        blob.append_block(line.encode("ascii"))
        return name


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


class AuditLog(_Table):
    def __init__(self, table: TableClient, trail: AuditTrail | None = None) -> None:
        super().__init__(table)
        self._trail = trail

    def write(self, record: AuditRecord) -> str:
        """Store the record; returns its RowKey."""
        self._ensure()
        ticks = _MAX_TICKS - int(record.started.timestamp() * 1000)
        row_key = f"{ticks:013d}-{record.run_id}-{record.attempt}"
        entity: dict[str, Any] = {
            "PartitionKey": record.partition,
            "RowKey": row_key,
            "requestId": record.run_id,
            "attempt": record.attempt,
            "state": record.state.value,
            "startedAt": record.started,
            "durationSeconds": round(record.duration_s, 3),
            "armReads": record.arm_reads,
            "armWrites": record.arm_writes,
            "finalAttempt": record.final_attempt,
        }
        for name, value in (("target", record.target), ("targetKind", record.target_kind),
                            ("trigger", record.trigger), ("eventId", record.event_id),
                            ("correlationId", record.correlation_id), ("error", record.error)):
            if value is not None:
                entity[name] = value[:_CHUNK]
        if record.dry_run is not None:
            entity["dryRun"] = record.dry_run
        if record.plan is not None:
            put_json(entity, "planJson", record.plan)
        put_json(entity, "outcomesJson", record.outcomes)
        if record.compliance is not None:
            put_json(entity, "complianceJson", record.compliance)
            entity.update(compliance_columns(record.compliance))
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        if self._trail is not None:
            self._trail.append(entity)
        return row_key


class StatusStore(_Table):
    def set(self, request_id: str, state: RunState, *, target: str | None = None, trigger: str | None = None,
            dry_run: bool | None = None, attempt: int | None = None, result: Mapping[str, Any] | None = None,
            error: str | None = None) -> None:
        self._ensure()
        entity: dict[str, Any] = {
            "PartitionKey": request_id,
            "RowKey": "status",
            "state": state.value,
            "updatedAt": dt.datetime.now(dt.UTC),
        }
        for name, value in (("target", target), ("trigger", trigger), ("dryRun", dry_run),
                            ("attempt", attempt), ("error", error)):
            if value is not None:
                entity[name] = value[:_CHUNK] if isinstance(value, str) else value
        if result is not None:
            put_json(entity, "resultJson", result)
        # MERGE keeps what an earlier state wrote (the target from "queued") when a later one omits it;
        # a stale result is cleared explicitly so "running" never shows the previous attempt's plan.
        if result is None:
            entity["resultJson"] = ""
            entity["resultJsonChunks"] = 0
        self._table.upsert_entity(entity, mode=UpdateMode.MERGE)

    def get(self, request_id: str) -> dict[str, Any] | None:
        if not valid_request_id(request_id):
            return None
        try:
            entity = self._table.get_entity(request_id, "status")
        except ResourceNotFoundError:
            return None
        updated = entity.get("updatedAt")
        return {
            "requestId": request_id,
            "status": entity.get("state"),
            "target": entity.get("target"),
            "trigger": entity.get("trigger"),
            "dryRun": entity.get("dryRun"),
            "attempt": entity.get("attempt"),
            "updatedAt": updated.isoformat() if isinstance(updated, dt.datetime) else None,
            "error": entity.get("error") or None,
            "result": get_json(entity, "resultJson"),
        }


_COUNT_COLUMNS = {"compliant": "compliantClusters", "non-compliant": "nonCompliantClusters",
                  "skipped": "skippedClusters", "conflicted": "conflictedClusters"}


def compliance_columns(document: Mapping[str, Any]) -> dict[str, Any]:
    """The queryable columns of a compliance document: the verdict and one count per state."""
    summary = document.get("summary") or {}
    columns: dict[str, Any] = {column: int(summary.get(state, 0)) for state, column in _COUNT_COLUMNS.items()}
    columns["compliant"] = bool(document.get("compliant"))
    return columns


def put_json(entity: dict[str, Any], name: str, value: object) -> None:
    """Store `value` as JSON in `name`, `name`_1, ... (each under the 64 KiB property limit)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)
    chunks = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    entity[f"{name}Truncated"] = len(chunks) > _MAX_CHUNKS
    chunks = chunks[:_MAX_CHUNKS]
    entity[name] = chunks[0]
    for index, chunk in enumerate(chunks[1:], start=1):
        entity[f"{name}_{index}"] = chunk
    entity[f"{name}Chunks"] = len(chunks)


def get_json(entity: Mapping[str, Any], name: str) -> Any:
    """The JSON stored by put_json; a truncated value comes back as {"truncated": true, "text": ...}."""
    count = entity.get(f"{name}Chunks") or 0
    if not count:
        return None
    text = "".join(str(entity.get(name if i == 0 else f"{name}_{i}", "")) for i in range(int(count)))
    if entity.get(f"{name}Truncated"):
        return {"truncated": True, "text": text}
    try:
        return json.loads(text)
    except ValueError:
        return {"truncated": True, "text": text}
