"""HTTP re-run: validation, scope, dry run now, apply through the queue, status."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest

from tests.functions.helpers import (
    AKS,
    OTHER_SUB,
    SPOKE,
    Azurite,
    http_request,
    queued_count,
    receive_all,
    user_function,
)

BASE = "https://fn-remediation.azurewebsites.net"


def post(body: Any) -> func.HttpResponse:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    response: func.HttpResponse = user_function("remediate")(
        http_request("POST", f"{BASE}/api/remediations?code=k", body=raw))
    return response


def get_status(request_id: str) -> func.HttpResponse:
    response: func.HttpResponse = user_function("remediation_status")(
        http_request("GET", f"{BASE}/api/remediations/{request_id}", route_params={"id": request_id}))
    return response


def body_of(response: func.HttpResponse) -> Any:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


@pytest.mark.parametrize(("body", "code"), [
    ("{not json", "InvalidJson"),
    ("[1, 2]", "InvalidJson"),
    ({"dryRun": True}, "InvalidResourceId"),
    ({"target": 42}, "InvalidResourceId"),
    ({"target": "aks-cni"}, "InvalidResourceId"),
    ({"target": f"{AKS}/aks-cni", "dryRun": "yes"}, "InvalidInput"),
    ({"target": f"/subscriptions/{OTHER_SUB[:8]}0000-0000-0000-0000-000000000000/resourceGroups/rg-spoke/providers/"
                "Microsoft.Compute/virtualMachines/vm"}, "UnsupportedTarget"),
], ids=["bad-json", "not-object", "missing-target", "target-not-string", "not-an-id", "bad-dryrun",
        "unsupported-type"])
def test_bad_requests_are_400_with_a_json_error(app_env: Callable[..., None], storage: Azurite, body: Any,
                                                code: str) -> None:
    response = post(body)
    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == code
    assert "Traceback" not in response.get_body().decode()
    assert queued_count(storage) == 0


def test_out_of_scope_is_403_without_any_arm_call(app_env: Callable[..., None], storage: Azurite) -> None:
    # No ARM emulator runs in this test: any ARM call would fail to connect and turn into a 5xx.
    response = post({"target": f"/subscriptions/{OTHER_SUB}/resourceGroups/rg/providers/"
                               "Microsoft.ContainerService/managedClusters/c", "dryRun": True})
    assert response.status_code == 403
    assert body_of(response)["error"]["code"] == "OutOfScope"


def test_apply_is_202_with_location_and_a_queued_status(app_env: Callable[..., None], storage: Azurite) -> None:
    response = post({"target": f"{AKS}/aks-cni", "dryRun": False})
    assert response.status_code == 202
    document = body_of(response)
    assert document["status"] == "queued"
    request_id = document["requestId"]
    assert response.headers["Location"] == f"{BASE}/api/remediations/{request_id}"
    (message,) = receive_all(storage)
    assert json.loads(message.content) == {
        "target": {"kind": "cluster", "id": f"{AKS}/aks-cni".replace("resourcegroups", "resourceGroups")},
        "trigger": "http", "eventId": None, "correlationId": None, "dryRun": False, "requestId": request_id}
    status = get_status(request_id)
    assert status.status_code == 200
    assert body_of(status)["status"] == "queued"


def test_unknown_status_is_404_and_a_bad_id_400(app_env: Callable[..., None], storage: Azurite) -> None:
    response = get_status("0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert body_of(response)["error"]["code"] == "RequestNotFound"
    assert get_status("a#b").status_code == 400


def test_invalid_setting_fails_with_the_setting_name(app_env: Callable[..., None], storage: Azurite,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    app_env(REMEDIATION_MODE="sometimes")
    response = post({"target": f"{AKS}/aks-cni"})
    assert response.status_code == 500
    assert body_of(response)["error"]["message"].startswith("REMEDIATION_MODE")
    assert any("REMEDIATION_MODE" in r.getMessage() for r in caplog.records)


def test_dry_run_returns_the_plan_now(arm: Any, storage: Azurite) -> None:
    response = post({"target": f"{AKS}/aks-cni", "dryRun": True})
    assert response.status_code == 200, response.get_body()
    plan = body_of(response)
    assert plan["dryRun"] is True
    assert {"target", "changes", "summary", "conflicts", "skipped", "armCalls"} <= set(plan)
    assert plan["armCalls"]["writes"] == 0
    # The whole plan: the cluster's routing and the group its firewall follow-up would write.
    kinds = {c["kind"] for c in plan["changes"] if c["action"] != "noop"}
    assert {"route", "ruleCollectionGroup"} <= kinds
    (follow_up,) = plan["followUps"]
    assert follow_up["target"].startswith("firewall:") and follow_up["summary"]["create"] + \
        follow_up["summary"]["update"] == 1
    assert queued_count(storage) == 0


def test_dry_run_of_a_missing_cluster_is_404(arm: Any, storage: Azurite) -> None:
    response = post({"target": f"{AKS}/no-such-cluster", "dryRun": True})
    assert response.status_code == 404
    assert body_of(response)["error"]["code"] == "TargetNotFound"


def test_report_mode_refuses_an_apply_request(arm: Any, app_env: Callable[..., None], storage: Azurite) -> None:
    app_env(ARM_ENDPOINT=arm.base_url, REMEDIATION_MODE="report")
    response = post({"target": f"{SPOKE}/routeTables/rt-spoke-nodes", "dryRun": False})
    assert response.status_code == 409, response.get_body()
    assert body_of(response)["error"]["code"] == "ReportMode"
    assert response.headers["X-Remediation-Mode"] == "report"
    assert queued_count(storage) == 0


@pytest.mark.parametrize(("sweep_state", "sweep_error", "converged"), [
    ("succeeded", None, True),
    ("failed", "TransientError: deadline exceeded (attempt 5 of 5: moved to reconcile-poison)", None),
], ids=["sweep converged", "sweep failed for good"])
def test_a_covered_request_shows_the_state_of_the_sweep_that_covers_it(
        arm: Any, storage: Azurite, sweep_state: str, sweep_error: str | None, converged: bool | None) -> None:
    """The worker records a request a burst sweep covers as succeeded without running it
    (remediation.planning.intake.covering_sweep); its status shows the sweep's own state, read when asked."""
    from remediation.storage.audit import RunState
    from remediation.triggers.runtime import get_runtime

    status = get_runtime().status
    status.set("sweep-1", RunState(sweep_state), target="scope:/subscriptions/x", trigger="eventgrid",
               attempt=5, result={"converged": converged} if converged is not None else None, error=sweep_error)
    status.set("event-1", RunState.SUCCEEDED, target=f"{AKS}/aks-cni", trigger="eventgrid", attempt=1,
               result={"target": f"cluster:{AKS}/aks-cni", "coveredBy": "sweep-1", "converged": None,
                       "summary": "covered by the burst sweep sweep-1, which reads the fleet after this event"})
    document = body_of(get_status("event-1"))
    assert document["status"] == "succeeded"
    assert document["coveringRun"] == {"requestId": "sweep-1", "status": sweep_state, "converged": converged,
                                       "error": sweep_error}
    # A request nobody covered has no such key.
    status.set("event-2", RunState.QUEUED, target=f"{AKS}/aks-cni", trigger="eventgrid", attempt=0)
    assert "coveringRun" not in body_of(get_status("event-2"))
