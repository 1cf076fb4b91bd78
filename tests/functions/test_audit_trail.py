"""The append-only audit trail (remediation/storage/audit.py AuditTrail) against Azurite: each audit row is
one JSON line appended to the hour's append blob, and a second writer appends instead of recreating it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient
from azure.storage.blob import BlobServiceClient

from remediation.storage import AUDIT_CONTAINER, AUDIT_TABLE, AuditLog, AuditRecord, AuditTrail, RunState
from tests.functions.helpers import Azurite


def _record(run_id: str, attempt: int) -> AuditRecord:
    return AuditRecord(run_id=run_id, attempt=attempt, partition="cluster|x", state=RunState.SUCCEEDED,
                       started=dt.datetime(2026, 12, 6, 5, 0, tzinfo=dt.UTC), duration_s=1.5,
                       target="/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/"
                              "managedClusters/aks", arm_writes=2, plan={"changes": 1})


def test_every_audit_row_is_appended_to_the_hours_blob(storage: Azurite) -> None:
    conn = storage.connection_string()
    blobs = BlobServiceClient.from_connection_string(conn)
    with contextlib.suppress(ResourceNotFoundError):
        blobs.delete_container(AUDIT_CONTAINER)
    container = blobs.get_container_client(AUDIT_CONTAINER)
    table = TableClient.from_connection_string(conn, AUDIT_TABLE)

    first = AuditLog(table, AuditTrail(container))
    first.write(_record("req-1", 1))
    # A second instance (another worker) must append to the same blob, not start it again.
    second = AuditLog(TableClient.from_connection_string(conn, AUDIT_TABLE), AuditTrail(container))
    second.write(_record("req-2", 1))

    (name,) = [b.name for b in container.list_blobs()]
    assert name == f"{dt.datetime.now(dt.UTC):%Y/%m/%d/%H}.jsonl"
    properties = container.get_blob_client(name).get_blob_properties()
    assert properties.blob_type == "AppendBlob"
    lines = container.download_blob(name).readall().decode("ascii").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["requestId"] for r in rows] == ["req-1", "req-2"]
    assert rows[0]["state"] == "succeeded" and rows[0]["armWrites"] == 2
    assert rows[0]["startedAt"] == "2026-12-06T05:00:00+00:00"
    assert json.loads(rows[0]["planJson"]) == {"changes": 1}
    # The table keeps the same rows (the queryable copy).
    assert sorted(e["requestId"] for e in table.list_entities()) == ["req-1", "req-2"]


def test_without_a_trail_only_the_table_is_written(storage: Azurite) -> None:
    conn = storage.connection_string()
    blobs = BlobServiceClient.from_connection_string(conn)
    with contextlib.suppress(ResourceNotFoundError):
        blobs.delete_container(AUDIT_CONTAINER)
    AuditLog(TableClient.from_connection_string(conn, AUDIT_TABLE)).write(_record("req-3", 1))
    assert AUDIT_CONTAINER not in [c.name for c in blobs.list_containers()]
