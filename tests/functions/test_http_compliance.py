"""GET /api/compliance serves the CLI's `status --output json` document; HTTP results are honest like the CLI's
exit codes (a skipped named target, report mode); the drift sweep's audit row records compliance (Azurite)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import TableClient

from remediation.cli.main import main
from remediation.storage import AUDIT_TABLE
from tests.functions.helpers import (
    AKS,
    Azurite,
    as_queue_message,
    http_request,
    receive_all,
    user_function,
)

BASE = "https://fn-remediation.azurewebsites.net"
KUBENET = f"{AKS}/aks-kubenet"


def get_compliance() -> func.HttpResponse:
    response: func.HttpResponse = user_function("compliance")(http_request("GET", f"{BASE}/api/compliance?code=k"))
    return response


def post(body: dict[str, Any]) -> func.HttpResponse:
    response: func.HttpResponse = user_function("remediate")(
        http_request("POST", f"{BASE}/api/remediations?code=k", body=json.dumps(body)))
    return response


def body_of(response: func.HttpResponse) -> Any:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


def audit_rows(azurite: Azurite) -> list[dict[str, Any]]:
    table = TableClient.from_connection_string(azurite.connection_string(), AUDIT_TABLE)
    return [dict(e) for e in table.list_entities()]


def test_compliance_is_the_same_document_as_the_cli_status(arm: Any, storage: Azurite,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    response = get_compliance()
    assert response.status_code == 200, response.get_body()
    document = body_of(response)
    assert document["summary"] == {"compliant": 0, "non-compliant": 2, "skipped": 1, "conflicted": 0}
    assert {c["name"]: c["state"] for c in document["clusters"]} == {
        "aks-cni": "non-compliant", "aks-kubenet": "skipped", "aks-overlay": "non-compliant"}
    assert document["armCalls"]["writes"] == 0

    capsys.readouterr()
    assert main(["status", "--output", "json"]) == 0  # the app settings are in the environment
    assert json.loads(capsys.readouterr().out) == document


def test_compliance_with_a_failing_arm_read_is_a_json_error(arm: Any, storage: Azurite) -> None:
    arm.faults.add("GET", r"/managedClusters$", kind="status", status=403, code="AuthorizationFailed",
                   message="no list permission")
    response = get_compliance()
    assert response.status_code == 502
    assert body_of(response)["error"]["code"] == "AuthorizationFailed"


def test_a_dry_run_of_a_skipped_target_is_422_with_the_reason_and_the_plan(arm: Any, storage: Azurite) -> None:
    response = post({"target": KUBENET, "dryRun": True})
    assert response.status_code == 422, response.get_body()
    document = body_of(response)
    assert document["error"]["code"] == "TargetSkipped"
    assert document["error"]["message"].endswith("network plugin kubenet: the runbook needs Azure CNI (flat or "
                                                 "overlay)")
    assert document["plan"]["dryRun"] is True and document["plan"]["armCalls"]["writes"] == 0


def test_the_status_of_a_queued_skipped_target_says_so(arm: Any, storage: Azurite) -> None:
    response = post({"target": KUBENET, "dryRun": False})
    assert response.status_code == 202
    request_id = body_of(response)["requestId"]
    (message,) = receive_all(storage)
    user_function("reconcile_worker")(as_queue_message(message))
    status = body_of(user_function("remediation_status")(http_request(
        "GET", f"{BASE}/api/remediations/{request_id}", route_params={"id": request_id})))
    assert status["targetSkipped"] == "network plugin kubenet: the runbook needs Azure CNI (flat or overlay)"

    other = post({"target": f"{AKS}/aks-cni", "dryRun": False})
    other_id = body_of(other)["requestId"]
    (message,) = receive_all(storage)
    user_function("reconcile_worker")(as_queue_message(message))
    status = body_of(user_function("remediation_status")(http_request(
        "GET", f"{BASE}/api/remediations/{other_id}", route_params={"id": other_id})))
    assert status["status"] == "succeeded" and status["targetSkipped"] is None


def test_the_drift_sweep_audit_row_records_compliance_after_the_run(arm: Any, storage: Azurite) -> None:
    """A sweep that writes routing runs its firewall follow-up itself, inside the lease (docs/BENCHMARKS.md,
    round 4): its one audit row is the whole sweep and records the compliance after it; nothing is queued."""
    from azure.functions.timer import TimerRequest as HostTimerRequest

    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    (message,) = receive_all(storage)
    user_function("reconcile_worker")(as_queue_message(message))
    assert receive_all(storage) == []  # no firewall follow-up was enqueued
    (row,) = audit_rows(storage)
    plan = json.loads(row["planJson"])
    (follow_up,) = plan["followUps"]
    assert follow_up["target"].startswith("firewall:") and follow_up["status"] == "succeeded"
    assert "requestId" not in follow_up  # it ran in this request, under no request id of its own
    assert any(c["kind"] == "ruleCollectionGroup" for c in plan["changes"])  # the group write is in this row
    assert row["targetKind"] == "scope" and row["trigger"] == "timer" and row["state"] == "succeeded"
    assert plan["converged"] is True
    compliance = json.loads(row["complianceJson"])
    assert compliance["summary"] == {"compliant": 2, "non-compliant": 0, "skipped": 1, "conflicted": 0}
    assert (row["compliant"], row["compliantClusters"], row["nonCompliantClusters"], row["skippedClusters"],
            row["conflictedClusters"]) == (True, 2, 0, 1, 0)
    assert compliance == body_of(get_compliance())  # nothing changed since: the same document


def test_a_drift_sweep_that_finds_the_firewall_lease_held_queues_its_firewall_follow_up(
        arm: Any, storage: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer holds the firewall lease (a real blob lease in Azurite) past the sweep's wait: the sweep
    verifies its routing without it and queues the firewall follow-up, whose own row records the compliance."""
    from azure.functions.queue import QueueMessage as HostQueueMessage
    from azure.functions.timer import TimerRequest as HostTimerRequest
    from azure.storage.blob import BlobServiceClient

    from remediation.core import ids
    from remediation.engine import reconciler
    from remediation.storage import BlobLeaseLocks
    from remediation.triggers.runtime import get_runtime

    monkeypatch.setattr(reconciler, "SWEEP_FIREWALL_LEASE_WAIT_S", 1.0)
    holder = BlobLeaseLocks(BlobServiceClient.from_connection_string(storage.connection_string()))
    firewall_id = get_runtime().settings.firewall_id
    user_function("drift_sweep")(HostTimerRequest(past_due=False))
    (message,) = receive_all(storage)
    with holder.hold("firewall:" + ids.id_key(firewall_id)):
        user_function("reconcile_worker")(as_queue_message(message))
    (sweep,) = audit_rows(storage)
    plan = json.loads(sweep["planJson"])
    (follow_up,) = plan["followUps"]
    assert follow_up["status"] == "pending" and follow_up["requestId"]
    assert not any(c["kind"] == "ruleCollectionGroup" for c in plan["changes"])  # no group write without it
    assert plan["converged"] is True and "complianceJson" not in sweep
    # The follow-up is enqueued with the dedupe window's delay, so delivered here by hand, as the host would
    # once the message becomes visible.
    body = {"target": {"kind": "firewall", "id": follow_up["target"].split(":", 1)[1]}, "trigger": "timer",
            "dryRun": False, "requestId": follow_up["requestId"]}
    user_function("reconcile_worker")(HostQueueMessage(id=follow_up["requestId"], body=json.dumps(body).encode(),
                                                       dequeue_count=1))
    row = next(r for r in audit_rows(storage) if r["targetKind"] == "firewall")
    assert row["trigger"] == "timer" and row["state"] == "succeeded"
    compliance = json.loads(row["complianceJson"])
    assert compliance["summary"] == {"compliant": 2, "non-compliant": 0, "skipped": 1, "conflicted": 0}


def test_a_cluster_run_records_no_compliance(arm: Any, storage: Azurite) -> None:
    post({"target": f"{AKS}/aks-cni", "dryRun": False})
    (message,) = receive_all(storage)
    user_function("reconcile_worker")(as_queue_message(message))
    (row,) = audit_rows(storage)
    assert row["targetKind"] == "cluster"
    assert "complianceJson" not in row and "compliant" not in row


def test_a_converged_drift_sweep_records_compliance_in_its_own_row(arm: Any, storage: Azurite) -> None:
    """A sweep that finds the owned rules in place names no firewall follow-up: its own row is the last run
    of the sweep, so the compliance is recorded there."""
    from azure.functions.timer import TimerRequest as HostTimerRequest

    seen: set[str] = set()

    def sweep_once() -> dict[str, Any]:
        before = set(seen)
        user_function("drift_sweep")(HostTimerRequest(past_due=False))
        (message,) = receive_all(storage)
        user_function("reconcile_worker")(as_queue_message(message))
        (row,) = [r for r in audit_rows(storage) if r["RowKey"] not in before]
        seen.update(r["RowKey"] for r in audit_rows(storage))
        return row

    first = sweep_once()  # writes routing and the group (its own firewall part)
    assert json.loads(first["planJson"])["converged"] is True
    second = sweep_once()
    plan = json.loads(second["planJson"])
    assert plan["followUps"] == [] and plan["followUpNote"]
    assert receive_all(storage) == []  # nothing else was enqueued
    compliance = json.loads(second["complianceJson"])
    assert compliance["summary"] == {"compliant": 2, "non-compliant": 0, "skipped": 1, "conflicted": 0}
    assert second["compliant"] is True
