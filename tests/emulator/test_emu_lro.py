"""LRO PUT/DELETE as the Network RP answers them (docs/arm-notes.md §0.3-0.5, §1.2, §3.1)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import requests
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import Route, RoutePropertiesFormat, RouteTable
from emu_helpers import SUB, network_client, rid

from emulator import Emulator

RT = rid("rg-spoke", "routeTables", "rt-spoke-nodes")
AUTH = {"Authorization": "Bearer t"}


def test_put_create_then_update_raw_protocol(emu: Emulator) -> None:
    url = f"{emu.base_url}{rid('rg-spoke', 'routeTables', 'rt-new')}?api-version=2026-03-01"
    body: dict[str, Any] = {
        "location": "westeurope",
        "properties": {
            "routes": [
                {"name": "r1", "properties": {"addressPrefix": "10.9.0.0/16", "nextHopType": "VnetLocal"}}
            ]
        },
    }
    first = requests.put(url, json=body, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert first.status_code == 201
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.headers["Azure-AsyncNotification"] == "Enabled"
    op_url = first.headers["Azure-AsyncOperation"]
    assert op_url.startswith(
        f"{emu.base_url}/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operations/"
    )
    assert "api-version=2026-03-01" in op_url
    created = first.json()
    assert created["properties"]["provisioningState"] == "Updating"
    assert created["properties"]["routes"][0]["properties"]["provisioningState"] == "Updating"
    assert created["type"] == "Microsoft.Network/routeTables"
    assert created["etag"].startswith('W/"')
    status = requests.get(op_url, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert status.json() == {"status": "Succeeded"}  # time_factor=0: done by the first poll
    second = requests.put(url, json=body, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert second.status_code == 200
    got = requests.get(url, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert got.headers["ETag"] == got.json()["etag"]


def test_updating_until_duration_elapses(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(time_factor=1.0, lro_seconds={"Microsoft.Network/routeTables": 0.6})
    net = network_client(emu)
    table = net.route_tables.get("rg-spoke", "rt-spoke-nodes")
    started = time.monotonic()
    poller = net.route_tables.begin_create_or_update("rg-spoke", "rt-spoke-nodes", table)
    assert emu.get(RT)["properties"]["provisioningState"] == "Updating"  # type: ignore[index]
    assert net.route_tables.get("rg-spoke", "rt-spoke-nodes").provisioning_state == "Updating"
    result = poller.result()
    elapsed = time.monotonic() - started
    assert result.provisioning_state == "Succeeded"
    assert 0.5 <= elapsed < 3.0  # paced by retry-after-ms, not the SDK's 30 s default
    assert emu.get(RT)["properties"]["routes"][0]["properties"]["provisioningState"] == "Succeeded"  # type: ignore[index]
    polls = [r for r in emu.request_log if "/operations/" in r.path]
    assert polls and all(r.status == 200 for r in polls)


def test_poll_headers_in_progress(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(time_factor=1.0, lro_seconds={"Microsoft.Network/routeTables": 3})
    url = f"{emu.base_url}{RT}?api-version=2026-03-01"
    body = requests.get(url, headers=AUTH, verify=emu.ca_bundle, timeout=10).json()
    put = requests.put(url, json=body, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    poll = requests.get(put.headers["Azure-AsyncOperation"], headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert poll.status_code == 200 and poll.json() == {"status": "InProgress"}
    assert poll.headers["Retry-After"] in ("2", "3")
    assert 2000 <= int(poll.headers["retry-after-ms"]) <= 3100


def test_sdk_create_route_and_table(net: NetworkManagementClient, emu: Emulator) -> None:
    route = net.routes.begin_create_or_update(
        "rg-spoke",
        "rt-spoke-nodes",
        "to-fw",
        Route(
            properties=RoutePropertiesFormat(
                address_prefix="0.0.0.0/0", next_hop_type="VirtualAppliance", next_hop_ip_address="10.0.1.4"
            )
        ),
    ).result()
    assert route.provisioning_state == "Succeeded" and route.next_hop_ip_address == "10.0.1.4"
    table = net.route_tables.begin_create_or_update(
        "rg-hub", "rt-hub", RouteTable(location="westeurope")
    ).result()
    assert table.id is not None and table.id.endswith("/routeTables/rt-hub") and table.provisioning_state == "Succeeded"
    stored = emu.get(RT)
    assert stored is not None
    assert [r["name"] for r in stored["properties"]["routes"]] == ["to-onprem", "to-fw"]


def test_delete_202_then_gone_and_204_when_absent(emu: Emulator, net: NetworkManagementClient) -> None:
    route = f"{RT}/routes/to-onprem"
    url = f"{emu.base_url}{route}"
    resp = requests.delete(url + "?api-version=2026-03-01", headers=AUTH, verify=emu.ca_bundle, timeout=10)
    # [REC test_network_route_table_operation.yaml 20]: no body, operationResults Location, async notification.
    assert resp.status_code == 202 and resp.content == b""
    assert "/operationResults/" in resp.headers["Location"]
    assert "/operations/" in resp.headers["Azure-AsyncOperation"]
    assert resp.headers["Azure-AsyncNotification"] == "Enabled"
    assert int(resp.headers["Retry-After"]) >= 1
    done = requests.get(resp.headers["Location"], headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert done.status_code == 204
    assert emu.get(route) is None
    again = requests.delete(url + "?api-version=2026-03-01", headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert again.status_code == 204
    net.route_tables.begin_delete("rg-spoke", "rt-never-existed").result()
    net.routes.begin_delete("rg-spoke", "rt-spoke-nodes", "to-onprem").result()
    assert emu.get(RT)["properties"]["routes"] == []  # type: ignore[index]


def test_rcg_delete_answers_with_its_body_under_nfv_operations(emu: Emulator, net: NetworkManagementClient) -> None:
    rcg = rid("rg-hub", "firewallPolicies", "fwpol-hub", "ruleCollectionGroups", "platform-baseline")
    before = emu.get(rcg)
    assert before is not None
    url = f"{emu.base_url}{rcg}?api-version=2026-03-01"
    resp = requests.delete(url, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    # [REC test_azure_firewall_policy.yaml 69-72]
    assert resp.status_code == 202
    body = resp.json()
    assert body["name"] == "platform-baseline" and body["etag"] != before["etag"]
    assert "/nfvOperationResults/" in resp.headers["Location"]
    assert "/nfvOperations/" in resp.headers["Azure-AsyncOperation"]
    assert "Azure-AsyncNotification" not in resp.headers
    done = requests.get(resp.headers["Location"], headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert done.status_code == 200 and done.content == b"null"
    assert emu.get(rcg) is None
    # The real SDK handles the nfv protocol end to end.
    net.firewall_policy_rule_collection_groups.begin_delete("rg-hub", "fwpol-hub", "platform-baseline").result()


def test_operations_in_one_lock_domain_never_overlap(emu: Emulator, net: NetworkManagementClient) -> None:
    for i in range(3):
        net.routes.begin_create_or_update(
            "rg-spoke",
            "rt-spoke-nodes",
            f"r{i}",
            Route(properties=RoutePropertiesFormat(address_prefix=f"10.{50 + i}.0.0/16", next_hop_type="VnetLocal")),
        ).result()
    ops = [o for o in emu.operations if o.lock_domain == RT.lower()]
    assert len(ops) == 3 and all(o.status == "Succeeded" and o.ended_at is not None for o in ops)
    ordered = sorted(ops, key=lambda o: o.started_at)
    for a, b in itertools.pairwise(ordered):
        assert a.ended_at is not None and a.ended_at <= b.started_at
