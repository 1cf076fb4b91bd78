"""The Function app as Microsoft's Python worker (azure-functions-runtime) indexes, reports and invokes it.

Everything here goes through `tests/functions/worker_harness.py`: FunctionRpc messages in, FunctionRpc messages
out, with `function_app.py` loaded by the worker exactly as in Azure. Storage is Azurite, ARM the local emulator.
The list of functions is what the worker reports, not a list kept here: a function added to function_app.py is
checked for a trigger the harness can deliver and invoked by `test_every_function_answers_an_invocation`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from remediation.core.config import DEFAULTS
from remediation.core.errors import RemediationError
from remediation.triggers.queue import MAX_DEQUEUE_COUNT
from remediation.triggers.runtime import get_runtime
from tests.functions.helpers import (
    AKS,
    OTHER_SUB,
    ROOT,
    SPOKE,
    Azurite,
    queued_count,
    receive_all,
    resource_event,
)
from tests.functions.worker_harness import HttpResult, IndexedFunction, Invocation, Worker, worker

BASE = "https://fn-remediation.azurewebsites.net"
# The functions the README documents; others may be added (each is then invoked by the generic test below).
INTERFACE = {"on_resource_event", "reconcile_worker", "drift_sweep", "remediate", "remediation_status"}


@pytest.fixture(scope="module")
def w() -> Worker:
    return worker()


def _pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep and name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def _trigger_functions(w: Worker, trigger_type: str) -> list[IndexedFunction]:
    return [fn for fn in w.functions.values() if fn.trigger_type == trigger_type]


# ------------------------------------------------------------------------------------ start-up and indexing


def test_the_worker_is_the_pinned_runtime_on_python_313(w: Worker) -> None:
    meta = w.init_response.worker_metadata
    assert (meta.runtime_name, meta.runtime_version) == ("python", "3.13")
    assert meta.worker_version == _pinned("azure-functions-runtime")


def test_the_worker_indexes_every_function_the_app_registers(w: Worker) -> None:
    import function_app

    # What the decorators registered (read without a second indexing, which FunctionApp refuses).
    registered = {str(b._function.get_function_name()) for b in function_app.app._function_builders}
    assert set(w.functions) == registered
    assert set(w.functions) >= INTERFACE
    for fn in w.functions.values():
        assert fn.metadata.properties["worker_indexed"] == "True"
        assert fn.trigger_type in SMOKE, f"{fn.name}: no way to deliver a {fn.trigger_type} in the harness"


def test_event_grid_trigger(w: Worker) -> None:
    (binding,) = w.functions["on_resource_event"].raw_bindings()
    assert binding == {"direction": "IN", "type": "eventGridTrigger", "name": "event"}


def test_queue_trigger_reads_the_request_queue_through_the_host_storage_setting(w: Worker) -> None:
    (binding,) = w.functions["reconcile_worker"].raw_bindings()
    assert (binding["type"], binding["queueName"], binding["connection"]) == (
        "queueTrigger", "remediation-requests", "AzureWebJobsStorage")


def test_timer_schedule_comes_from_an_app_setting(w: Worker) -> None:
    (binding,) = w.functions["drift_sweep"].raw_bindings()
    assert (binding["type"], binding["schedule"], binding["runOnStartup"]) == (
        "timerTrigger", "%DRIFT_SCHEDULE%", False)


def test_http_routes_methods_and_auth_level(w: Worker) -> None:
    post, post_out = w.functions["remediate"].raw_bindings()
    assert (post["type"], post["route"], post["methods"], post["authLevel"]) == (
        "httpTrigger", "remediations", ["POST"], "FUNCTION")
    assert post_out == {"direction": "OUT", "type": "http", "name": "$return"}
    get, _ = w.functions["remediation_status"].raw_bindings()
    assert (get["type"], get["route"], get["methods"], get["authLevel"]) == (
        "httpTrigger", "remediations/{id}", ["GET"], "FUNCTION")
    # The typed view the host also receives: the trigger is an input, the response the return value.
    bindings = w.functions["remediate"].metadata.bindings
    assert (bindings["req"].type, bindings["req"].direction) == ("httpTrigger", 0)  # 0 = in
    assert (bindings["$return"].type, bindings["$return"].direction) == ("http", 1)  # 1 = out


def test_starting_the_worker_needs_no_settings_and_no_network(w: Worker) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in DEFAULTS and k not in {"REMEDIATION_SCOPE", "FIREWALL_ID", "AzureWebJobsStorage"}}
    code = ("import json; from tests.functions.worker_harness import Worker; "
            "print(json.dumps(sorted(Worker().start().functions)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == sorted(w.functions)


def test_host_json_matches_the_worker() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle",
                                       "version": "[4.*, 5.0.0)"}
    assert host["functionTimeout"] == "00:10:00"
    queues = host["extensions"]["queues"]
    assert queues["maxDequeueCount"] == MAX_DEQUEUE_COUNT
    assert (queues["batchSize"], queues["visibilityTimeout"], queues["maxPollingInterval"]) == (
        4, "00:00:30", "00:00:02")
    # The enqueue side writes base64 (TextBase64EncodePolicy); the trigger must decode the same.
    assert queues["messageEncoding"] == "base64"


def test_local_settings_example_documents_every_setting() -> None:
    document = json.loads((ROOT / "local.settings.json.example").read_text())
    names = {"REMEDIATION_SCOPE", "FIREWALL_ID", "AZURE_CLOUD", "ARM_ENDPOINT", "OWNERSHIP_PREFIX",
             "OWNERSHIP_TAG", "RULE_COLLECTION_GROUP", "RULE_COLLECTION_GROUP_PRIORITY", "EGRESS_DESTINATIONS",
             "EGRESS_PORTS", "EGRESS_PROTOCOLS", "INGRESS_PORTS", "SPOKE_PREFIXES", "FORCE_DEFAULT_ROUTE",
             "ALLOW_TAKEOVER", "REMEDIATION_MODE", "REMEDIATION_PRINCIPAL_ID", "RESULT_TOPIC_ENDPOINT",
             "DRIFT_SCHEDULE", "AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME"}
    assert names <= set(document["Values"])
    assert names <= set(document["Documentation"])
    # The host requires every value to be a string.
    assert all(isinstance(v, str) for v in document["Values"].values())


# ------------------------------------------------------------------------------------ every function, generically


def _smoke_http(w: Worker, fn: IndexedFunction) -> Invocation:
    trigger = fn.trigger()
    route = str(trigger.get("route") or fn.name)
    params = {name: "0123456789abcdef0123456789abcdef" for name in re.findall(r"{(\w+)", route)}
    url = f"{BASE}/api/" + re.sub(r"{(\w+)[^}]*}", lambda m: params[m.group(1)], route)
    method = str(trigger.get("methods", ["GET"])[0])
    return w.invoke(fn.name, _http_payload(method, url, b"", params))


def _http_payload(method: str, url: str, body: bytes, params: dict[str, str]) -> Any:
    from tests.functions import protos

    return protos.TypedData(http=protos.RpcHttp(
        method=method, url=url, headers={"content-type": "application/json"}, body=protos.TypedData(bytes=body),
        params=params))


# One harmless delivery per trigger type: something each function must answer without failing (it may
# reject the input, which is an answer).
SMOKE: dict[str, Callable[[Worker, IndexedFunction], Invocation]] = {
    "httpTrigger": _smoke_http,
    "queueTrigger": lambda w, fn: w.queue(fn.name, "{not a request"),
    "eventGridTrigger": lambda w, fn: w.event_grid(fn.name, resource_event(
        f"/subscriptions/{OTHER_SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt",
        "Microsoft.Network/routeTables/write")),
    "timerTrigger": lambda w, fn: w.timer(fn.name),
}


def _project_errors(cls: type[BaseException] = RemediationError) -> set[str]:
    return {cls.__name__}.union(*(_project_errors(sub) for sub in cls.__subclasses__()))


def test_every_function_answers_an_invocation(w: Worker, arm: Any, storage: Azurite) -> None:
    # A function may refuse the delivery with one of the project's errors (its way of asking the host to retry or
    # park a message); anything else (a conversion error in the worker, a bug) is a failure.
    refusals = _project_errors()
    failures = {}
    for fn in w.functions.values():
        invocation = SMOKE[fn.trigger_type](w, fn)
        if not invocation.succeeded and invocation.exception_type not in refusals:
            failures[fn.name] = invocation.exception_message
        elif fn.trigger_type == "httpTrigger":
            response = invocation.http()
            assert response.status_code < 500, (fn.name, response)
            assert "error" in response.json() or response.status_code < 400, (fn.name, response)
    assert failures == {}
    assert [r for r in arm.request_log if r.method in ("PUT", "PATCH", "DELETE")] == []


# ------------------------------------------------------------------------------------ HTTP


def post(w: Worker, body: Any) -> HttpResult:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return w.http("remediate", "POST", f"{BASE}/api/remediations?code=k", body=raw, query={"code": "k"})


def get_status(w: Worker, request_id: str) -> HttpResult:
    return w.http("remediation_status", "GET", f"{BASE}/api/remediations/{request_id}",
                  route_params={"id": request_id})


@pytest.mark.parametrize(("body", "code"), [
    ("{not json", "InvalidJson"),
    ({"target": "aks-cni", "dryRun": True}, "InvalidResourceId"),
], ids=["bad-json", "bad-id"])
def test_http_bad_requests_are_400(w: Worker, app_env: Callable[..., None], storage: Azurite, body: Any,
                                   code: str) -> None:
    response = post(w, body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert queued_count(storage) == 0


def test_http_dry_run_returns_the_plan_and_writes_nothing(w: Worker, arm: Any, storage: Azurite) -> None:
    response = post(w, {"target": f"{AKS}/aks-overlay", "dryRun": True})
    assert response.status_code == 200, response
    plan = response.json()
    assert plan["dryRun"] is True
    assert plan["summary"]["create"] > 0
    assert plan["armCalls"]["writes"] == 0
    assert [r for r in arm.request_log if r.method in ("PUT", "PATCH", "DELETE")] == []
    assert queued_count(storage) == 0


def test_http_apply_is_202_then_the_queue_message_reconciles_against_arm(w: Worker, arm: Any,
                                                                         storage: Azurite) -> None:
    target = f"{AKS}/aks-overlay"
    response = post(w, {"target": target, "dryRun": False})
    assert response.status_code == 202, response
    request_id = response.json()["requestId"]
    assert response.headers["Location"] == f"{BASE}/api/remediations/{request_id}"
    assert get_status(w, request_id).json()["status"] == "queued"

    # The host's queue listener delivers the message: its text and metadata, as received from Azurite.
    (message,) = receive_all(storage)
    invocation = w.queue("reconcile_worker", message.content, message_id=message.id,
                         dequeue_count=message.dequeue_count, pop_receipt=message.pop_receipt)
    invocation.raise_for_status()

    status = get_status(w, request_id).json()
    assert status["status"] == "succeeded", status
    assert status["result"]["converged"] is True
    assert any(r.method == "PUT" for r in arm.request_log)
    # The cluster's routing is done; its firewall follow-up is queued (visible after the dedupe window). The
    # dry run shows the whole plan, as the CLI does: the group that follow-up will write, and nothing else.
    again = post(w, {"target": target, "dryRun": True}).json()
    assert [c["kind"] for c in again["changes"] if c["action"] != "noop"] == ["ruleCollectionGroup"]
    (follow_up,) = status["result"]["followUps"]
    body = {"target": {"kind": "firewall", "id": follow_up["target"].split(":", 1)[1]}, "trigger": "http",
            "dryRun": False, "requestId": follow_up["requestId"]}
    w.queue("reconcile_worker", json.dumps(body), message_id=follow_up["requestId"]).raise_for_status()
    # Nothing is left to do: a dry run of the same target plans no change.
    after = post(w, {"target": target, "dryRun": True}).json()
    assert (after["summary"]["create"], after["summary"]["update"], after["summary"]["delete"]) == (0, 0, 0)


# ------------------------------------------------------------------------------------ timer, queue, Event Grid


def test_timer_enqueues_every_sweep_target_to_storage(w: Worker, arm: Any, storage: Azurite,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    targets = get_runtime().reconciler.sweep_targets()
    w.timer("drift_sweep", past_due=True).raise_for_status()
    messages = receive_all(storage)
    assert len(messages) == len(targets) == queued_count(storage) > 0
    assert {json.loads(m.content)["trigger"] for m in messages} == {"timer"}
    assert any("past due" in r.getMessage() for r in caplog.records)


def test_a_queue_message_for_a_cluster_runs_a_reconcile(w: Worker, arm: Any, storage: Azurite) -> None:
    body = json.dumps({"target": {"kind": "cluster", "id": f"{AKS}/aks-cni"}, "trigger": "event",
                       "eventId": "ev-1", "correlationId": "corr-1", "dryRun": False, "requestId": "req-q1"})
    w.queue("reconcile_worker", body, dequeue_count=1).raise_for_status()
    status = get_status(w, "req-q1").json()
    assert status["status"] == "succeeded", status
    writes = [r for r in arm.request_log if r.method in ("PUT", "PATCH")]
    assert any("/routes/" in r.path for r in writes)


def test_a_failed_enqueue_is_a_failed_invocation_so_event_grid_redelivers(w: Worker,
                                                                          app_env: Callable[..., None],
                                                                          storage: Azurite) -> None:
    from tests.functions.conftest import _free_ports

    (dead_port,) = _free_ports(1)
    app_env(AzureWebJobsStorage=storage.connection_string(queue_port=dead_port))
    invocation = w.event_grid("on_resource_event", resource_event(
        f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write"))
    assert not invocation.succeeded
    assert invocation.exception_type == "TransientError"


def test_event_grid_schema_event_is_enqueued(w: Worker, app_env: Callable[..., None], storage: Azurite) -> None:
    event = json.loads((ROOT / "examples" / "events" / "managed-cluster-write.json").read_text(encoding="utf-8"))
    w.event_grid("on_resource_event", event).raise_for_status()
    assert queued_count(storage) == 1


def test_cloudevents_schema_event_is_enqueued(w: Worker, app_env: Callable[..., None], storage: Azurite) -> None:
    w.event_grid("on_resource_event", resource_event(
        f"{SPOKE}/applicationGateways/agw-spoke", "Microsoft.Network/applicationGateways/write",
        cloud=True)).raise_for_status()
    assert queued_count(storage) == 1


def test_an_event_outside_the_scope_is_acknowledged_and_not_enqueued(w: Worker, app_env: Callable[..., None],
                                                                     storage: Azurite) -> None:
    w.event_grid("on_resource_event", resource_event(
        f"/subscriptions/{OTHER_SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c",
        "Microsoft.ContainerService/managedClusters/write", cloud=True)).raise_for_status()
    assert queued_count(storage) == 0
