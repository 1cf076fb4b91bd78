"""The firewall follow-up beside the routing (#26 goal 5): the queue worker enqueues a cluster's firewall target
as soon as the plan has routing writes, visible at once, so the group write does not wait for the routing; the
follow-up after the writes still comes through the dedupe window. Real storage (Azurite), the emulator, the
Function app through Microsoft's worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from azure.functions.queue import QueueMessage as HostQueueMessage

from remediation.core.errors import TransientError
from remediation.planning.intake import RemediationRequest
from remediation.triggers.runtime import get_runtime
from tests.functions.helpers import AKS, Azurite, queued_count, receive_all, request_queue, user_function

WRITES = frozenset({"PUT", "PATCH", "DELETE"})


def _message(request_id: str, target_id: str) -> HostQueueMessage:
    body = {"target": {"kind": "cluster", "id": target_id}, "trigger": "event", "eventId": f"ev-{request_id}",
            "correlationId": "corr", "dryRun": False, "requestId": request_id}
    return HostQueueMessage(id=request_id, body=json.dumps(body).encode(), dequeue_count=1)


def _arm_writes(emu: Any) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.request_log if r.method in WRITES and not r.path.startswith("/_")]


def test_the_firewall_request_is_visible_before_the_first_routing_write(arm: Any, storage: Azurite) -> None:
    seen: list[list[str]] = []

    def peek(_emu: Any) -> None:
        visible = request_queue(storage).peek_messages(max_messages=32)
        seen.append([RemediationRequest.from_json(m.content).target.kind.value for m in visible])

    arm.faults.before("PUT", r"/(routeTables|virtualNetworks)/", peek)
    user_function("reconcile_worker")(_message("req-1", f"{AKS}/aks-cni"))
    assert _arm_writes(arm), "the cluster run wrote no routing"
    firewall = get_runtime().reconciler.firewall_target()
    assert seen == [["firewall"]]  # at the first routing write, the firewall request could already run
    # After the run: that one, plus the follow-up named after the writes (through the dedupe window).
    assert queued_count(storage) == 2
    (early,) = receive_all(storage)
    assert RemediationRequest.from_json(early.content).target == firewall


def test_a_converged_cluster_run_sends_nothing_beside(arm: Any, storage: Azurite) -> None:
    worker = user_function("reconcile_worker")
    worker(_message("req-1", f"{AKS}/aks-cni"))
    queue = request_queue(storage)
    for message in receive_all(storage):
        queue.delete_message(message)
    writes = len(_arm_writes(arm))
    worker(_message("req-2", f"{AKS}/aks-cni"))
    assert len(_arm_writes(arm)) == writes  # converged: no routing write
    assert receive_all(storage) == []  # so nothing was sent to run at once


def test_a_refused_early_send_fails_the_run_before_any_write(arm: Any, storage: Azurite,
                                                              app_env: Callable[..., None]) -> None:
    from tests.functions.conftest import _free_ports

    (dead_port,) = _free_ports(1)
    app_env(AzureWebJobsStorage=storage.connection_string(queue_port=dead_port), ARM_ENDPOINT=arm.base_url)
    with pytest.raises(TransientError):
        user_function("reconcile_worker")(_message("req-1", f"{AKS}/aks-cni"))
    # The run read and planned (the send comes after the plan), then stopped: the host retries the message.
    assert any(r.method == "GET" and "/routeTables/" in r.path for r in arm.request_log)
    assert _arm_writes(arm) == []
