"""The ARM routing table (emulator/server.py ROUTES): URL shapes only, with type behaviour from the hooks.

The answers of the edge paths are the ones the length-based router gave (group checks first, then the type,
then the route), and a POST action registered for a type is served to the real SDK as a long-running operation.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from emu_helpers import SUB, aks_client

from emulator import ArmError, Emulator, hooks
from emulator.resource_types import CLUSTER, ResourceId
from emulator.server import ROUTES, ArmHandler, Route

AUTH = {"Authorization": "Bearer t"}
CLUSTERS = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters"


def _call(emu: Emulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    sep = "&" if "?" in path else "?"
    return requests.request(method, f"{emu.base_url}{path}{sep}api-version=2024-05-01", headers=AUTH,
                            verify=emu.ca_bundle, timeout=10, **kwargs)


def _code(resp: requests.Response) -> tuple[int, str | None]:
    return resp.status_code, (resp.json().get("error") or {}).get("code") if resp.content else None


@pytest.mark.parametrize(
    ("methods", "pattern", "method", "path", "expected"),
    [
        ("GET", "/subscriptions/{sub}", "GET", "/Subscriptions/S1", {"sub": "S1"}),
        ("GET", "/subscriptions/{sub}", "PUT", "/subscriptions/s1", None),
        ("GET", "/subscriptions/{sub}", "GET", "/subscriptions/s1/x", None),
        ("GET", "/a/{k=ops|opResults}/{id}", "GET", "/a/OPRESULTS/7", {"k": "OPRESULTS", "id": "7"}),
        ("GET", "/a/{k=ops|opResults}/{id}", "GET", "/a/other/7", None),
        ("GET POST", "/a/{*rest}", "POST", "/a", {"rest": ""}),
        ("GET POST", "/a/{*rest}", "POST", "/A/b/C", {"rest": "b/C"}),
        ("*", "/a/b", "PATCH", "/a/B", {}),
        ("*", "/a/b", "PATCH", "/a/c", None),
    ],
)
def test_route_patterns(methods: str, pattern: str, method: str, path: str, expected: dict[str, str] | None) -> None:
    route = Route(methods, pattern, ArmHandler._tenants)
    parts = [p for p in path.split("/") if p]
    assert route.match(method, [p.lower() for p in parts], parts) == expected


def test_table_catch_all_is_last() -> None:
    # Every line after a catch-all would be unreachable.
    assert ROUTES[-1].pattern.endswith("{*rest}")
    assert not any(route.pattern.endswith("{*rest}") for route in ROUTES[:-1])


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/subscriptions/{SUB}/resourceGroups/rg-nope/providers/Microsoft.Network/routeTables",
         (404, "ResourceGroupNotFound")),
        ("POST", "/subscriptions/{SUB}/resourceGroups/rg-nope", (404, "ResourceGroupNotFound")),
        ("GET", "/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/widgets",
         (404, "InvalidResourceType")),
        ("GET", "/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/widgets/w",
         (404, "InvalidResourceType")),
        ("GET", "/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/routeTables/"
                "rt-spoke-nodes/widgets/w", (404, "NotFound")),
        ("PATCH", "/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/routeTables/"
                  "rt-spoke-nodes", (405, "MethodNotAllowed")),
        ("POST", "/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/routeTables/"
                 "rt-spoke-nodes/noSuchAction", (404, "NotFound")),
        ("GET", "/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/routeTables/"
                "rt-spoke-nodes/routes/a/b", (404, "NotFound")),
        ("GET", "/subscriptions/{SUB}/resourceGroups/rg-spoke/foo", (404, "NotFound")),
        ("GET", "/nowhere", (404, "NotFound")),
        ("GET", "/subscriptions/{SUB}/providers/Microsoft.Network/routeTables", (200, None)),
        ("GET", "/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/routeTables/"
                "rt-spoke-nodes/routes", (200, None)),
    ],
)
def test_edge_paths_answer_as_before(emu: Emulator, method: str, path: str, expected: tuple[int, str | None]) -> None:
    assert _code(_call(emu, method, path.replace("{SUB}", SUB))) == expected


def test_missing_api_version_is_refused_first(emu: Emulator) -> None:
    resp = requests.get(f"{emu.base_url}/nowhere", headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert _code(resp) == (400, "MissingApiVersionParameter")


def _run_command(store: Any, cluster: ResourceId, api_version: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not body.get("command"):
        raise ArmError(400, "InvalidParameter", "command is required")
    return {"id": "cmd-1", "properties": {"provisioningState": "Succeeded", "exitCode": 0,
                                          "logs": f"{cluster.name}: {body['command']}"}}


def test_registered_action_is_a_long_running_operation_for_the_sdk(emu: Emulator) -> None:
    hooks.register_action(CLUSTER, "runCommand", _run_command)
    poller = aks_client(emu).managed_clusters.begin_run_command("rg-spoke", "aks-cni", {"command": "kubectl get"})
    result = poller.result()
    assert result.exit_code == 0 and result.logs == "aks-cni: kubectl get"
    answer = _call(emu, "POST", f"{CLUSTERS}/aks-cni/runCommand", json={"command": "x"})
    assert answer.status_code == 202 and "operationResults" in answer.headers["Location"]
    assert "Azure-AsyncOperation" in answer.headers
    refused = _call(emu, "POST", f"{CLUSTERS}/aks-cni/runCommand", json={})
    assert _code(refused) == (400, "InvalidParameter")
    assert _code(_call(emu, "POST", f"{CLUSTERS}/aks-gone/runCommand", json={"command": "x"}))[0] == 404


def test_action_result_waits_for_the_operation(make_emu: Any) -> None:
    emu = make_emu(time_factor=1.0)
    hooks.register_action(CLUSTER, "runCommand", _run_command, lro_seconds=30.0)
    answer = _call(emu, "POST", f"{CLUSTERS}/aks-cni/runCommand", json={"command": "x"})
    assert answer.status_code == 202 and answer.headers["Retry-After"] == "30"
    pending = requests.get(answer.headers["Location"], headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert pending.status_code == 202
    status = requests.get(answer.headers["Azure-AsyncOperation"], headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert status.json()["status"] == "InProgress"
    # The action holds no lock domain: a write to the cluster while it runs is accepted (not 409).
    cluster = emu.get(f"{CLUSTERS}/aks-cni")
    assert _call(emu, "PUT", f"{CLUSTERS}/aks-cni", json=cluster).status_code == 200
