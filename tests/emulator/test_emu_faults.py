"""Fault injection through the Python API and the /_emulator control endpoint."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ServiceResponseError
from azure.core.rest import HttpResponse
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import Route, RoutePropertiesFormat
from emu_helpers import network_client, rid

from emulator import Emulator

RT = rid("rg-spoke", "routeTables", "rt-spoke-nodes")
ROUTE_PATH = r"/routeTables/rt-spoke-nodes/routes/"


def _route() -> Route:
    return Route(
        properties=RoutePropertiesFormat(
            address_prefix="0.0.0.0/0", next_hop_type="VirtualAppliance", next_hop_ip_address="10.0.1.4"
        )
    )


def test_throttle_is_retried_by_azure_core(emu: Emulator, net: NetworkManagementClient) -> None:
    emu.faults.add("GET", r"/ROUTETABLES/rt-spoke-nodes$", kind="throttle", count=1, retry_after=1)
    started = time.monotonic()
    assert net.route_tables.get("rg-spoke", "rt-spoke-nodes").name == "rt-spoke-nodes"
    assert time.monotonic() - started >= 0.9
    assert [r.status for r in emu.request_log] == [429, 200]
    assert emu.request_log[0].fault == "throttle"


def test_status_and_conflict_faults(emu: Emulator) -> None:
    net = network_client(emu, retry_total=0)
    emu.faults.add("PUT", ROUTE_PATH, kind="status", status=503, code="ServerBusy")
    with pytest.raises(HttpResponseError) as exc:
        net.routes.begin_create_or_update("rg-spoke", "rt-spoke-nodes", "to-fw", _route())
    assert exc.value.status_code == 503 and exc.value.error is not None
    assert exc.value.error.code == "ServerBusy"
    emu.faults.add("PUT", ROUTE_PATH, kind="conflict")
    with pytest.raises(ResourceExistsError) as conflict:
        net.routes.begin_create_or_update("rg-spoke", "rt-spoke-nodes", "to-fw", _route())
    assert conflict.value.error is not None and conflict.value.error.code == "AnotherOperationInProgress"
    assert conflict.value.response is not None
    # HttpResponseError.response is typed as a minimal protocol; the SDK raises with an azure.core.rest.HttpResponse.
    assert "Retry-After" not in cast(HttpResponse, conflict.value.response).headers
    # Faults are used up: the next write goes through.
    net.routes.begin_create_or_update("rg-spoke", "rt-spoke-nodes", "to-fw", _route()).result()
    assert emu.faults.pending() == []


def test_drop_closes_connection(emu: Emulator) -> None:
    net = network_client(emu, retry_total=0)
    emu.faults.add("GET", r"rt-spoke-nodes$", kind="drop")
    with pytest.raises(ServiceResponseError):
        net.route_tables.get("rg-spoke", "rt-spoke-nodes")
    assert emu.request_log[-1].status == 0 and emu.request_log[-1].fault == "drop"
    assert net.route_tables.get("rg-spoke", "rt-spoke-nodes").name == "rt-spoke-nodes"


@pytest.mark.parametrize(
    ("kind", "params", "code"),
    [
        ("lro_failed", {"code": "RetryableError", "message": "try again"}, "RetryableError"),
        ("lro_canceled", {}, "Canceled"),
    ],
)
def test_lro_outcome_faults_roll_back(
    emu: Emulator, net: NetworkManagementClient, kind: str, params: dict[str, Any], code: str
) -> None:
    before = emu.get(RT)
    emu.faults.add("PUT", ROUTE_PATH, kind=kind, **params)
    poller = net.routes.begin_create_or_update("rg-spoke", "rt-spoke-nodes", "to-fw", _route())
    with pytest.raises(HttpResponseError) as exc:
        poller.result()
    assert exc.value.status_code == 200 and exc.value.error is not None and exc.value.error.code == code
    if kind == "lro_canceled":
        assert exc.value.error.details[0].code == "CanceledAndSupersededDueToAnotherOperation"
    assert emu.get(RT) == before
    assert emu.operations[-1].status in ("Failed", "Canceled")


def test_delay_and_before_hook(emu: Emulator, net: NetworkManagementClient) -> None:
    emu.faults.add("GET", r"rt-spoke-nodes$", kind="delay", seconds=0.3)
    started = time.monotonic()
    table = net.route_tables.get("rg-spoke", "rt-spoke-nodes")
    assert time.monotonic() - started >= 0.3

    def foreign_write(e: Emulator) -> None:
        e.put_foreign(
            RT + "/routes/aks-pod-cidr",
            {
                "properties": {
                    "addressPrefix": "10.244.0.0/24",
                    "nextHopType": "VirtualAppliance",
                    "nextHopIpAddress": "10.1.0.4",
                }
            },
        )

    emu.faults.before("PUT", r"/routeTables/rt-spoke-nodes$", foreign_write)
    net.route_tables.begin_create_or_update("rg-spoke", "rt-spoke-nodes", table).result()
    # The stale full-table PUT clobbered the foreign route: exactly what the product must avoid.
    assert [r["name"] for r in emu.get(RT)["properties"]["routes"]] == ["to-onprem"]  # type: ignore[index]


def test_control_endpoint(emu: Emulator, net: NetworkManagementClient) -> None:
    resp = requests.post(
        f"{emu.base_url}/_emulator/faults",
        json={"method": "GET", "path": "rt-spoke-nodes$", "kind": "status", "status": 500, "count": 4},
        verify=emu.ca_bundle,
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["faults"][0]["remaining"] == 4
    assert requests.post(f"{emu.base_url}/_emulator/reset-faults", verify=emu.ca_bundle, timeout=10).ok
    net.route_tables.get("rg-spoke", "rt-spoke-nodes")
    log = requests.get(f"{emu.base_url}/_emulator/log", verify=emu.ca_bundle, timeout=10).json()["requests"]
    assert log[-1]["status"] == 200 and log[-1]["path"].endswith("rt-spoke-nodes")
    state = requests.get(f"{emu.base_url}/_emulator/state", verify=emu.ca_bundle, timeout=10).json()
    assert len(state["resources"]) == 11


def test_clearing_the_log_waits_for_a_request_still_being_answered(emu: Emulator,
                                                                    net: NetworkManagementClient) -> None:
    # A request is logged only after its answer: a clear made while one is in flight must not let that
    # request land in the log afterwards (a test that clears between two passes would count it in the second).
    emu.faults.add("GET", r"/routeTables/rt-spoke-nodes$", kind="delay", seconds=0.5)
    reader = threading.Thread(target=lambda: net.route_tables.get("rg-spoke", "rt-spoke-nodes"))
    reader.start()
    deadline = time.monotonic() + 5
    while not emu._in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu._in_flight == 1
    emu.clear_log()
    reader.join()
    assert emu.request_log == []


def test_reading_the_log_over_http_does_not_wait_for_itself(emu: Emulator, net: NetworkManagementClient) -> None:
    net.route_tables.get("rg-spoke", "rt-spoke-nodes")
    started = time.monotonic()
    log = requests.get(f"{emu.base_url}/_emulator/log", verify=emu.ca_bundle, timeout=10).json()["requests"]
    # request_log waits up to 5 s for in-flight ARM requests; the control request is not one of them.
    assert time.monotonic() - started < 4.0
    assert [r["path"].endswith("rt-spoke-nodes") for r in log] == [True]
