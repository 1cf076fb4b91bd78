"""What the Functions host reads when it indexes the app: names, triggers and binding properties."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from remediation.config import DEFAULTS
from remediation.triggers.queue import MAX_DEQUEUE_COUNT
from tests.functions.helpers import ROOT, functions


def _bindings(name: str) -> list[dict[str, object]]:
    fn = functions()[name]
    # get_raw_bindings is the JSON the worker sends to the host; read it back as the host does.
    return [json.loads(raw) for raw in fn.get_raw_bindings()]


def test_the_app_has_exactly_the_interface_functions() -> None:
    assert set(functions()) == {"on_resource_event", "reconcile_worker", "drift_sweep", "remediate",
                                "remediation_status", "compliance"}


def test_event_grid_trigger() -> None:
    (binding,) = _bindings("on_resource_event")
    assert binding == {"direction": "IN", "type": "eventGridTrigger", "name": "event"}


def test_queue_trigger_reads_the_request_queue_through_the_host_storage_setting() -> None:
    (binding,) = _bindings("reconcile_worker")
    assert binding["type"] == "queueTrigger"
    assert binding["queueName"] == "remediation-requests"
    assert binding["connection"] == "AzureWebJobsStorage"


def test_timer_schedule_comes_from_an_app_setting() -> None:
    (binding,) = _bindings("drift_sweep")
    assert binding["type"] == "timerTrigger"
    assert binding["schedule"] == "%DRIFT_SCHEDULE%"
    assert binding["runOnStartup"] is False


def test_http_routes_methods_and_auth_level() -> None:
    post, post_out = _bindings("remediate")
    assert (post["type"], post["route"], post["methods"], post["authLevel"]) == (
        "httpTrigger", "remediations", ["POST"], "FUNCTION")
    assert post_out == {"direction": "OUT", "type": "http", "name": "$return"}
    get, _ = _bindings("remediation_status")
    assert (get["type"], get["route"], get["methods"], get["authLevel"]) == (
        "httpTrigger", "remediations/{id}", ["GET"], "FUNCTION")


def test_importing_the_app_needs_no_settings_and_no_network() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in DEFAULTS and k not in {"REMEDIATION_SCOPE", "FIREWALL_ID", "AzureWebJobsStorage"}}
    code = "import function_app; print(len(function_app.app.get_functions()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "6"


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
