"""The queue worker's follow-ups: a cluster run enqueues the firewall target once per dedupe window, and
its audit and status name the request the firewall target runs under."""

from __future__ import annotations

import json
from typing import Any

from azure.data.tables import TableClient
from azure.functions.queue import QueueMessage as HostQueueMessage

from remediation.storage import AUDIT_TABLE
from remediation.storage.audit import get_json
from remediation.triggers.runtime import get_runtime
from tests.functions.helpers import AKS, Azurite, queued_count, user_function


def _message(request_id: str, kind: str, target_id: str) -> HostQueueMessage:
    body = {"target": {"kind": kind, "id": target_id}, "trigger": "event", "eventId": f"ev-{request_id}",
            "correlationId": "corr", "dryRun": False, "requestId": request_id}
    return HostQueueMessage(id=request_id, body=json.dumps(body).encode(), dequeue_count=1)


def _plan(storage: Azurite, request_id: str) -> dict[str, Any]:
    table = TableClient.from_connection_string(storage.connection_string(), AUDIT_TABLE)
    (row,) = [dict(e) for e in table.list_entities() if e["requestId"] == request_id]
    return dict(get_json(row, "planJson") or {})


def test_cluster_runs_enqueue_one_firewall_run_and_name_its_request(arm: Any, storage: Azurite) -> None:
    worker = user_function("reconcile_worker")
    firewall = get_runtime().reconciler.firewall_target()

    worker(_message("req-1", "cluster", f"{AKS}/aks-cni"))
    (first,) = _plan(storage, "req-1")["followUps"]
    assert first["target"] == str(firewall) and first["status"] == "pending"
    assert first["requestId"] and first["requestId"] != "req-1"
    # Two firewall requests: one enqueued before the routing writes, visible at once (the group write beside
    # the routing, #26), and this one after them, through the dedupe window (it reads after the writes).
    assert queued_count(storage) == 2

    # A second cluster run inside the window coalesces into both pending firewall requests.
    worker(_message("req-2", "cluster", f"{AKS}/aks-overlay"))
    (second,) = _plan(storage, "req-2")["followUps"]
    assert second["requestId"] == first["requestId"]
    assert queued_count(storage) == 2

    # That request, when it runs, writes the group for both clusters; it has no follow-up of its own.
    worker(_message(first["requestId"], "firewall", firewall.id))
    document = _plan(storage, first["requestId"])
    assert document["converged"] is True and document["followUps"] == []
    group = arm.get(document["changes"][0]["address"])
    # aks-cni's ingress rule and aks-overlay's FQDN-tag egress rule (its egress goes through the firewall).
    rules = {(c["name"], r["name"]) for c in group["properties"]["ruleCollections"] for r in c["rules"]}
    assert {("rmd-ingress", "aks-cni"), ("rmd-egress-fqdn", "aks-overlay")} <= rules
