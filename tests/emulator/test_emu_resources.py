"""Microsoft.Resources: subscriptions, tenants, resource groups (PUT/GET/HEAD/PATCH/DELETE) and providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from emu_helpers import SUB

from emulator import Emulator, SeedError

AUTH = {"Authorization": "Bearer t"}
V = "?api-version=2022-09-01"


def call(emu: Emulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.base_url}{path}{V}", json=body, headers=AUTH, verify=emu.ca_bundle,
                            timeout=10)


def test_subscriptions_and_tenants_come_from_the_seed(emu: Emulator) -> None:
    subs = call(emu, "GET", "/subscriptions").json()["value"]
    assert [s["subscriptionId"] for s in subs] == [SUB]
    assert subs[0]["state"] == "Enabled" and subs[0]["tenantId"] == emu.tenant_id
    assert call(emu, "GET", f"/subscriptions/{SUB}").json()["id"] == f"/subscriptions/{SUB}"
    missing = call(emu, "GET", "/subscriptions/11111111-2222-3333-4444-555555555555")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SubscriptionNotFound"
    tenants = call(emu, "GET", "/tenants").json()["value"]
    assert tenants[0]["tenantId"] == emu.tenant_id
    emu.add_subscription("11111111-2222-3333-4444-555555555555", "second")
    names = {s["displayName"] for s in call(emu, "GET", "/subscriptions").json()["value"]}
    assert "second" in names


def test_an_empty_emulator_serves_one_subscription(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu({"resources": []})
    assert len(call(emu, "GET", "/subscriptions").json()["value"]) == 1


def test_resource_group_lifecycle_deletes_its_contents(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    rg = f"/subscriptions/{SUB}/resourcegroups/rg-new"
    assert call(emu, "HEAD", rg).status_code == 404
    created = call(emu, "PUT", rg, {"location": "westeurope", "tags": {"a": "1"}})
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Succeeded"
    assert created.json()["id"] == f"/subscriptions/{SUB}/resourceGroups/rg-new"
    assert call(emu, "PUT", rg, {"location": "westeurope"}).status_code == 200
    moved = call(emu, "PUT", rg, {"location": "northeurope"})
    assert moved.status_code == 409 and moved.json()["error"]["code"] == "InvalidResourceGroupLocation"
    assert call(emu, "HEAD", rg).status_code == 204
    assert call(emu, "PATCH", rg, {"tags": {"b": "2"}}).json()["tags"] == {"b": "2"}
    table = f"{rg}/providers/Microsoft.Network/routeTables/rt1"
    assert call(emu, "PUT", table, {"location": "westeurope"}).status_code == 201
    listed = call(emu, "GET", f"{rg}/resources").json()["value"]
    assert [(r["name"], r["type"]) for r in listed] == [("rt1", "Microsoft.Network/routeTables")]
    assert any(g["name"] == "rg-new" for g in call(emu, "GET", f"/subscriptions/{SUB}/resourcegroups").json()["value"])
    deleting = call(emu, "DELETE", rg)
    assert deleting.status_code == 202 and "/operationresults/" in deleting.headers["Location"]
    # time_factor=0: finished by the first poll.
    done = requests.get(deleting.headers["Location"], headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert done.status_code == 200
    assert call(emu, "GET", rg).json()["error"]["code"] == "ResourceGroupNotFound"
    assert emu.get(table) is None
    assert call(emu, "PUT", f"/subscriptions/{SUB}/resourcegroups/x", {}).json()["error"]["code"] == "LocationRequired"
    unknown = call(emu, "PUT", "/subscriptions/99999999-0000-0000-0000-000000000000/resourcegroups/x",
                   {"location": "westeurope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "SubscriptionNotFound"


def test_a_group_being_deleted_refuses_writes(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(time_factor=1.0)
    rg = f"/subscriptions/{SUB}/resourcegroups/rg-slow"
    call(emu, "PUT", rg, {"location": "westeurope"})
    assert call(emu, "DELETE", rg).status_code == 202
    assert call(emu, "GET", rg).json()["properties"]["provisioningState"] == "Deleting"
    refused = call(emu, "PUT", f"{rg}/providers/Microsoft.Network/routeTables/rt1", {"location": "westeurope"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "ResourceGroupBeingDeleted"


def test_providers_report_registration(emu: Emulator) -> None:
    listed = call(emu, "GET", f"/subscriptions/{SUB}/providers").json()["value"]
    assert {p["namespace"] for p in listed} >= {"Microsoft.Network", "Microsoft.ContainerService"}
    network = call(emu, "GET", f"/subscriptions/{SUB}/providers/microsoft.network").json()
    assert network["registrationState"] == "Registered"
    assert "routeTables" in {t["resourceType"] for t in network["resourceTypes"]}
    assert call(emu, "GET", f"/subscriptions/{SUB}/providers/Microsoft.Nope").status_code == 404


def test_seeds_declare_resource_groups_and_dump_keeps_them(make_emu: Callable[..., Emulator]) -> None:
    seed = {"subscriptions": [{"subscriptionId": "12345678-0000-0000-0000-000000000000", "displayName": "s"}],
            "resources": [{"id": "/subscriptions/12345678-0000-0000-0000-000000000000/resourceGroups/rg-empty",
                           "type": "Microsoft.Resources/resourceGroups", "location": "westus",
                           "name": "rg-empty", "properties": {"provisioningState": "Succeeded"}}]}
    emu = make_emu(seed)
    got = call(emu, "GET", "/subscriptions/12345678-0000-0000-0000-000000000000/resourcegroups/rg-empty").json()
    assert got["location"] == "westus"
    assert Emulator(emu.dump()).dump() == emu.dump()
    with pytest.raises(SeedError, match=r"resourceGroups\[0\]"):
        Emulator({"resources": [], "resourceGroups": [{"id": "/subscriptions/x", "location": "w"}]})
