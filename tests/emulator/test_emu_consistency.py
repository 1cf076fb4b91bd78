"""State ARM keeps consistent: readonly fields, full replace, back-references, etags, paging, rate limits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import Route, RoutePropertiesFormat, RouteTable
from emu_helpers import SUB, network_client, rid

from emulator import Emulator

RT = rid("rg-spoke", "routeTables", "rt-spoke-nodes")
VNET = rid("rg-spoke", "virtualNetworks", "vnet-spoke")
NODES = VNET + "/subnets/snet-aks-nodes"
AUTH = {"Authorization": "Bearer t"}


def test_readonly_fields_in_dict_body_are_ignored(emu: Emulator) -> None:
    before = emu.get(VNET + "/subnets/snet-appgw")
    assert before is not None
    body = dict(before, etag='W/"bogus"', type="Wrong/type")
    body["properties"] = dict(
        before["properties"], provisioningState="Failed", ipConfigurations=[], purpose="Nonsense"
    )
    resp = requests.put(
        f"{emu.base_url}{VNET}/subnets/snet-appgw?api-version=2026-03-01",
        json=body,
        headers=AUTH,
        verify=emu.ca_bundle,
        timeout=10,
    )
    assert resp.status_code == 200
    after = emu.get(VNET + "/subnets/snet-appgw")
    assert after is not None
    assert after["properties"]["ipConfigurations"] == before["properties"]["ipConfigurations"]
    assert "purpose" not in after["properties"]
    assert after["type"] == "Microsoft.Network/virtualNetworks/subnets"
    assert after["etag"] not in (before["etag"], 'W/"bogus"')


def test_subnet_put_without_route_table_removes_association(
    net: NetworkManagementClient, emu: Emulator
) -> None:
    subnet = net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-nodes")
    subnet.route_table = None
    net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-nodes", subnet).result()
    assert "subnets" not in emu.get(RT)["properties"]  # type: ignore[index]
    assert net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-nodes").network_security_group is not None
    # ...and associating it (this time with the kubenet subnet) is reflected back on the table.
    kubenet = net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-kubenet")
    kubenet.route_table = RouteTable(id=RT)
    net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-kubenet", kubenet).result()
    table = net.route_tables.get("rg-spoke", "rt-spoke-nodes")
    assert [s.id for s in table.subnets or []] == [VNET + "/subnets/snet-aks-kubenet"]


def test_vnet_put_updates_route_table_back_references(net: NetworkManagementClient, emu: Emulator) -> None:
    vnet = net.virtual_networks.get("rg-spoke", "vnet-spoke")
    for subnet in vnet.subnets or []:
        if subnet.name == "snet-aks-pods":
            subnet.route_table = RouteTable(id=RT)
    net.virtual_networks.begin_create_or_update("rg-spoke", "vnet-spoke", vnet).result()
    ids = {s["id"] for s in emu.get(RT)["properties"]["subnets"]}  # type: ignore[index]
    assert ids == {NODES, VNET + "/subnets/snet-aks-pods"}


def test_route_table_put_replaces_routes(net: NetworkManagementClient) -> None:
    table = net.route_tables.get("rg-spoke", "rt-spoke-nodes")
    table.routes = [
        Route(name="only", properties=RoutePropertiesFormat(address_prefix="10.2.0.0/16", next_hop_type="VnetLocal"))
    ]
    result = net.route_tables.begin_create_or_update("rg-spoke", "rt-spoke-nodes", table).result()
    assert [r.name for r in result.routes or []] == ["only"]
    assert [s.id for s in result.subnets or []] == [NODES]  # readonly, kept


def test_children_share_parent_etag_and_writes_mint_new(net: NetworkManagementClient, emu: Emulator) -> None:
    before = net.virtual_networks.get("rg-spoke", "vnet-spoke")
    assert {s.etag for s in before.subnets or []} == {before.etag}
    pods = net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-pods")
    net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-pods", pods).result()
    after = net.virtual_networks.get("rg-spoke", "vnet-spoke")
    assert after.etag != before.etag
    assert net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-nodes").etag == after.etag


def test_if_match_ignored_by_default_and_strict_mode(make_emu: Callable[..., Emulator]) -> None:
    lax = make_emu()
    net = network_client(lax)
    route = net.routes.get("rg-spoke", "rt-spoke-nodes", "to-onprem")
    net.routes.begin_create_or_update(
        "rg-spoke", "rt-spoke-nodes", "to-onprem", route, headers={"If-Match": 'W/"stale"'}
    ).result()
    strict = make_emu(strict_if_match=True)
    snet = network_client(strict)
    route = snet.routes.get("rg-spoke", "rt-spoke-nodes", "to-onprem")
    with pytest.raises(HttpResponseError) as exc:
        snet.routes.begin_create_or_update(
            "rg-spoke", "rt-spoke-nodes", "to-onprem", route, headers={"If-Match": 'W/"stale"'}
        )
    assert exc.value.status_code == 412 and exc.value.error is not None
    assert exc.value.error.code == "PreconditionFailed"
    assert route.etag is not None
    snet.routes.begin_create_or_update(
        "rg-spoke", "rt-spoke-nodes", "to-onprem", route, headers={"If-Match": route.etag}
    ).result()


def test_if_none_match_star_is_a_create_only_put(emu: Emulator) -> None:
    """ARM RPC (docs/arm-notes.md §3.2): `If-None-Match: *` creates when absent (201) and answers 412 when the
    resource exists, leaving it as it was; honoured whether or not strict If-Match is on."""
    net = network_client(emu)
    body = RouteTable({"location": "westeurope", "properties": {"routes": [
        {"name": "r1", "properties": {"addressPrefix": "10.9.0.0/16", "nextHopType": "None"}}]}})
    star = {"If-None-Match": "*"}
    net.route_tables.begin_create_or_update("rg-spoke", "rt-new", body, headers=star).result()
    puts = [r.status for r in emu.request_log if r.method == "PUT" and r.path.endswith("/rt-new")]
    assert puts == [201]
    before = emu.get(RT)
    with pytest.raises(HttpResponseError) as exc:
        net.route_tables.begin_create_or_update("rg-spoke", "rt-spoke-nodes", RouteTable(location="westeurope"),
                                                headers=star)
    assert exc.value.status_code == 412 and exc.value.error is not None
    assert exc.value.error.code == "PreconditionFailed"
    assert emu.get(RT) == before  # the existing table keeps its routes


def test_paging_follows_next_link(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(page_size=2)
    net = network_client(emu)
    for i in range(5):
        net.route_tables.begin_create_or_update(
            "rg-spoke", f"rt-{i}", RouteTable(location="westeurope")
        ).result()
    raw = requests.get(
        f"{emu.base_url}/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/"
        "Microsoft.Network/routeTables?api-version=2026-03-01",
        headers=AUTH,
        verify=emu.ca_bundle,
        timeout=10,
    ).json()
    assert len(raw["value"]) == 2
    assert raw["nextLink"].startswith(emu.base_url) and "api-version=2026-03-01" in raw["nextLink"]
    assert "$skiptoken=" in raw["nextLink"]
    assert len(list(net.route_tables.list("rg-spoke"))) == 6
    assert len(list(net.route_tables.list_all())) == 6
    assert [s.name for s in net.subnets.list("rg-spoke", "vnet-spoke")][:2] == [
        "snet-aks-nodes",
        "snet-aks-pods",
    ]
    assert len(list(net.subnets.list("rg-spoke", "vnet-spoke"))) == 5


def test_rate_limit_headers_and_token_buckets(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    url = f"{emu.base_url}{RT}?api-version=2026-03-01"
    first = requests.get(url, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    second = requests.get(
        url, headers={**AUTH, "x-ms-correlation-request-id": "corr-1"}, verify=emu.ca_bundle, timeout=10
    )
    # Reads carry only the global header, as real ARM sends it (docs/arm-notes.md §6).
    assert "x-ms-ratelimit-remaining-subscription-reads" not in first.headers
    assert first.headers["x-ms-ratelimit-remaining-subscription-global-reads"] == "3749"
    assert int(second.headers["x-ms-ratelimit-remaining-subscription-global-reads"]) <= 3749
    assert second.headers["x-ms-correlation-request-id"] == "corr-1"
    assert first.headers["x-ms-request-id"] and first.headers["x-ms-routing-request-id"]
    put = requests.put(url, json=first.json(), headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert put.headers["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    assert put.headers["x-ms-ratelimit-remaining-subscription-global-writes"] == "2999"
    assert "x-ms-ratelimit-remaining-subscription-global-reads" not in put.headers
    limited = make_emu(token_buckets=True)
    # The bucket refills 25 tokens/s while we drain it, so on a slow machine 260 reads may not be enough:
    # keep reading (bounded) until the first 429.
    throttled: list[requests.Response] = []
    with requests.Session() as session:
        for _ in range(3000):
            response = session.get(
                f"{limited.base_url}{RT}?api-version=1", headers=AUTH, verify=limited.ca_bundle, timeout=10
            )
            if response.status_code == 429:
                throttled.append(response)
                break
    assert throttled, "the 250-token read bucket must run dry"
    assert throttled[0].json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert int(throttled[0].headers["Retry-After"]) >= 1
