"""Per-type hooks (emulator/hooks.py): the dispatch point for extra validation and GET-only sub-resources."""

from __future__ import annotations

from typing import Any

import requests
from emu_helpers import rid

from emulator import ArmError, Emulator, hooks
from emulator.resource_types import CLUSTER, ROUTE, ResourceId

AUTH = {"Authorization": "Bearer t"}


def _refuse_marked_routes(store: Any, resource_id: str, props: dict[str, Any], parent: dict[str, Any] | None) -> None:
    # Only routes named like this one: the registration is process-wide.
    if resource_id.endswith("/routes/hook-refuses-me"):
        assert parent is not None and parent["name"] == "rt-spoke-nodes"
        raise ArmError(400, "RefusedByHook", f"{resource_id}: refused ({props.get('nextHopType')})")


def _view(store: Any, parent: ResourceId, api_version: str) -> dict[str, Any]:
    return {"value": [{"category": "test", "cluster": parent.name, "apiVersion": api_version}]}


def test_registered_validator_and_subresource(emu: Emulator) -> None:
    hooks.register(ROUTE, validate=_refuse_marked_routes)
    hooks.register_subresource_get(CLUSTER, "emulatorTestView", _view)
    table = rid("rg-spoke", "routeTables", "rt-spoke-nodes")
    body = {"properties": {"addressPrefix": "10.9.0.0/16", "nextHopType": "VnetLocal"}}
    refused = requests.put(f"{emu.base_url}{table}/routes/hook-refuses-me?api-version=1", json=body,
                           headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "RefusedByHook"
    accepted = requests.put(f"{emu.base_url}{table}/routes/fine?api-version=1", json=body, headers=AUTH,
                            verify=emu.ca_bundle, timeout=10)
    assert accepted.status_code == 201
    cluster = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-spoke/providers/" \
              "Microsoft.ContainerService/managedClusters/aks-cni"
    view = requests.get(f"{emu.base_url}{cluster}/emulatorTestView?api-version=2024-09-01", headers=AUTH,
                        verify=emu.ca_bundle, timeout=10)
    assert view.status_code == 200 and view.json()["value"][0]["cluster"] == "aks-cni"
    missing = requests.get(f"{emu.base_url}{cluster}-gone/emulatorTestView?api-version=1", headers=AUTH,
                           verify=emu.ca_bundle, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
