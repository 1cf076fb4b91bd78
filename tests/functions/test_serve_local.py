"""`scripts/serve_local.py` (`make serve`): the HTTP API and the Event Grid webhook on 127.0.0.1 through
Microsoft's worker, without Core Tools, in its own process against Azurite and the ARM emulator: a dry run over
HTTP returns the plan, an apply is queued and the served queue trigger carries it out, the Event Grid
validation handshake is answered, and an event is accepted."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import Emulator
from tests.functions.helpers import ROOT, Azurite, base_settings

AKS = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-spoke/providers/"
       "Microsoft.ContainerService/managedClusters")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.fixture
def served(storage: Azurite) -> Iterator[tuple[str, Emulator]]:
    seed = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    emu = Emulator(seed=seed, time_factor=0.0).start()
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ARM_", "REMEDIATION_"))}
    env.update(base_settings(AzureWebJobsStorage=storage.connection_string(),
                             EventsStorage=storage.connection_string(), ARM_ENDPOINT=emu.base_url))
    env.update(emu.env())
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve_local.py"), "--port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"serve_local: http://127.0.0.1:{port}/api/"), process.stderr.read() if \
            process.stderr else first
        yield f"http://127.0.0.1:{port}", emu
    finally:
        process.terminate()
        process.wait(timeout=20)
        emu.stop()


def test_the_api_and_the_webhook_are_served(served: tuple[str, Emulator]) -> None:
    base, emu = served
    code, plan = _call(f"{base}/api/remediations", {"target": f"{AKS}/aks-overlay", "dryRun": True})
    assert code == 200, plan
    assert plan["dryRun"] is True and plan["summary"]["create"] > 0 and plan["armCalls"]["writes"] == 0

    code, accepted = _call(f"{base}/api/remediations", {"target": f"{AKS}/aks-overlay", "dryRun": False})
    assert code == 202, accepted
    status: Any = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # the served queue trigger picks the request up
        _, status = _call(f"{base}/api/remediations/{accepted['requestId']}")
        if status["status"] in {"succeeded", "failed"}:
            break
        time.sleep(0.5)
    assert status["status"] == "succeeded", status
    assert any(r.method == "PUT" for r in emu.request_log)

    code, answer = _call(f"{base}/runtime/webhooks/eventgrid?functionName=on_resource_event", [{
        "id": "1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "subject": "", "eventTime":
        "2026-01-10T10:00:00Z", "dataVersion": "1", "data": {"validationCode": "abc-123"}}])
    assert (code, answer) == (200, {"validationResponse": "abc-123"})
    event = json.loads((ROOT / "examples" / "events" / "managed-cluster-write.json").read_text(encoding="utf-8"))
    code, answer = _call(f"{base}/runtime/webhooks/eventgrid?functionName=on_resource_event",
                         event if isinstance(event, list) else [event])
    assert code == 200, answer
    assert _call(f"{base}/api/nowhere")[0] == 404
