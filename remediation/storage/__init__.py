"""The Function app's storage account: the request queue, dedupe markers, audit and status tables, and the
blob leases that keep one writer per firewall policy across instances.

Names shared with `infra/` (the queue, tables and container must exist or be creatable by the app's
identity): see `QUEUE_NAME`, `POISON_QUEUE_NAME`, `AUDIT_TABLE`, `AUDIT_CONTAINER`, `STATUS_TABLE`,
`DEDUPE_TABLE` and `LOCK_CONTAINER`.
"""

from remediation.storage.audit import (
    AUDIT_CONTAINER,
    AUDIT_TABLE,
    STATUS_TABLE,
    AuditLog,
    AuditRecord,
    AuditTrail,
    RunState,
    StatusStore,
)
from remediation.storage.clients import StorageClients
from remediation.storage.lease_lock import LOCK_CONTAINER, BlobLeaseLocks
from remediation.storage.queue import DEDUPE_TABLE, POISON_QUEUE_NAME, QUEUE_NAME, DedupeMarkers, RequestQueue

__all__ = [
    "AUDIT_CONTAINER",
    "AUDIT_TABLE",
    "DEDUPE_TABLE",
    "LOCK_CONTAINER",
    "POISON_QUEUE_NAME",
    "QUEUE_NAME",
    "STATUS_TABLE",
    "AuditLog",
    "AuditRecord",
    "AuditTrail",
    "BlobLeaseLocks",
    "DedupeMarkers",
    "RequestQueue",
    "RunState",
    "StatusStore",
    "StorageClients",
]
