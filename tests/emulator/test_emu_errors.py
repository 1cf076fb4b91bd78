"""Error answers: envelope, 404s, 401, conflicts, in-use and validation errors (docs/arm-notes.md §3.4-3.5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpResponse
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import (
    Route,
    RoutePropertiesFormat,
    RouteTable,
    RouteTablePropertiesFormat,
    Subnet,
    SubnetPropertiesFormat,
)
from emu_helpers import network_client, rid

from emulator import Emulator

RT = rid("rg-spoke", "routeTables", "rt-spoke-nodes")


def test_missing_top_level_resource(emu: Emulator, net: NetworkManagementClient) -> None:
    resp = requests.get(
        f"{emu.base_url}{rid('rg-spoke', 'routeTables', 'nope')}?api-version=2026-03-01",
        headers={"Authorization": "Bearer t"},
        verify=emu.ca_bundle,
        timeout=10,
    )
    assert resp.status_code == 404
    assert resp.headers["x-ms-failure-cause"] == "gateway"
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.json() == {
        "error": {
            "code": "ResourceNotFound",
            "details": [],
            "message": "The Resource 'Microsoft.Network/routeTables/nope' under resource group "
            "'rg-spoke' was not "
            "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        }
    }
    with pytest.raises(ResourceNotFoundError) as exc:
        net.route_tables.get("rg-spoke", "nope")
    assert exc.value.error is not None and exc.value.error.code == "ResourceNotFound"


def test_missing_children_and_group(net: NetworkManagementClient) -> None:
    for call in (
        lambda: net.subnets.get("rg-spoke", "vnet-spoke", "nope"),
        lambda: net.routes.get("rg-spoke", "rt-spoke-nodes", "nope"),
        lambda: net.firewall_policy_rule_collection_groups.get("rg-hub", "fwpol-hub", "nope"),
    ):
        with pytest.raises(ResourceNotFoundError) as exc:
            call()
        assert exc.value.error is not None and exc.value.error.code == "NotFound"
    with pytest.raises(ResourceNotFoundError) as exc:
        net.route_tables.get("rg-unknown", "x")
    assert exc.value.error is not None and exc.value.error.code == "ResourceGroupNotFound"
    assert exc.value.response is not None
    # HttpResponseError.response is typed as a minimal protocol; the SDK raises with an azure.core.rest.HttpResponse.
    assert cast(HttpResponse, exc.value.response).headers["x-ms-failure-cause"] == "gateway"


def test_bearer_token_required(emu: Emulator) -> None:
    resp = requests.get(f"{emu.base_url}{RT}?api-version=2026-03-01", verify=emu.ca_bundle, timeout=10)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "AuthenticationFailed"


def test_conflict_in_lock_domain(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(
        time_factor=1.0,
        lro_seconds={
            "Microsoft.Network/virtualNetworks/subnets": 0.5,
            "Microsoft.Network/routeTables/routes": 0.05,
        },
    )
    net = network_client(emu)
    nodes = net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-nodes")
    pods = net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-pods")
    first = net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-nodes", nodes)
    with pytest.raises(ResourceExistsError) as exc:  # 409 without Retry-After: azure-core does not retry
        net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-pods", pods)
    assert exc.value.error is not None and exc.value.error.code == "AnotherOperationInProgress"
    assert first.result().provisioning_state == "Succeeded"
    # Other lock domains are not blocked.
    net.routes.begin_create_or_update(
        "rg-spoke",
        "rt-spoke-nodes",
        "x",
        Route(properties=RoutePropertiesFormat(address_prefix="10.8.0.0/16", next_hop_type="None")),
    ).result()
    net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-pods", pods).result()


def test_conflict_supersede_mode(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(
        time_factor=1.0, conflict_mode="supersede", lro_seconds={"Microsoft.Network/routeTables/routes": 0.4}
    )
    net = network_client(emu)
    old = net.routes.begin_create_or_update(
        "rg-spoke",
        "rt-spoke-nodes",
        "a",
        Route(properties=RoutePropertiesFormat(address_prefix="10.7.0.0/16", next_hop_type="None")),
    )
    new = net.routes.begin_create_or_update(
        "rg-spoke",
        "rt-spoke-nodes",
        "b",
        Route(properties=RoutePropertiesFormat(address_prefix="10.6.0.0/16", next_hop_type="None")),
    )
    with pytest.raises(HttpResponseError) as exc:
        old.result()
    assert exc.value.status_code == 200 and exc.value.error is not None
    assert exc.value.error.code == "Canceled"
    assert exc.value.error.details[0].code == "CanceledAndSupersededDueToAnotherOperation"
    assert new.result().provisioning_state == "Succeeded"


def test_in_use_route_table_cannot_be_deleted(emu: Emulator, net: NetworkManagementClient) -> None:
    with pytest.raises(HttpResponseError) as exc:
        net.route_tables.begin_delete("rg-spoke", "rt-spoke-nodes").result()
    assert exc.value.status_code == 400 and exc.value.error is not None
    assert exc.value.error.code == "InUseRouteTableCannotBeDeleted"
    assert emu.get(RT) is not None


def _route_props(props: dict[str, str]) -> RoutePropertiesFormat:
    """Keys absent from props stay unset (None values are not serialized)."""
    return RoutePropertiesFormat(
        address_prefix=props.get("address_prefix"),
        next_hop_type=props["next_hop_type"],
        next_hop_ip_address=props.get("next_hop_ip_address"),
    )


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"address_prefix": "not-a-cidr", "next_hop_type": "VnetLocal"}, "InvalidAddressPrefixFormat"),
        ({"address_prefix": "10.0.0.0/33", "next_hop_type": "VnetLocal"}, "InvalidAddressPrefixFormat"),
        ({"address_prefix": "10.0.0.0/8", "next_hop_type": "Teleport"}, "InvalidRequestFormat"),
        ({"address_prefix": "10.0.0.0/8", "next_hop_type": "VirtualAppliance"}, "MissingNextHopIpAddress"),
        (
            {"address_prefix": "10.0.0.0/8", "next_hop_type": "Internet", "next_hop_ip_address": "10.0.1.4"},
            "NextHopIpAddressNotAllowed",
        ),
    ],
)
def test_route_validation(
    net: NetworkManagementClient, emu: Emulator, props: dict[str, str], code: str
) -> None:
    with pytest.raises(HttpResponseError) as exc:
        net.routes.begin_create_or_update("rg-spoke", "rt-spoke-nodes", "bad", Route(properties=_route_props(props)))
    assert exc.value.status_code == 400 and exc.value.error is not None and exc.value.error.code == code
    with pytest.raises(HttpResponseError):  # the same check applies to routes inside a table PUT
        net.route_tables.begin_create_or_update(
            "rg-spoke",
            "rt-other",
            RouteTable(
                location="westeurope",
                properties=RouteTablePropertiesFormat(routes=[Route(name="bad", properties=_route_props(props))]),
            ),
        )
    assert [r["name"] for r in emu.get(RT)["properties"]["routes"]] == ["to-onprem"]  # type: ignore[index]


def test_subnet_with_missing_route_table(net: NetworkManagementClient) -> None:
    subnet = net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-pods")
    subnet.route_table = RouteTable(id=rid("rg-spoke", "routeTables", "rt-missing"))
    with pytest.raises(HttpResponseError) as exc:
        net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-pods", subnet)
    assert exc.value.status_code == 400 and exc.value.error is not None
    assert exc.value.error.code == "InvalidResourceReference"
    bad = Subnet(properties=SubnetPropertiesFormat(address_prefix="10.1.300.0/24"))
    with pytest.raises(HttpResponseError) as exc:
        net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-bad", bad)
    assert exc.value.error is not None and exc.value.error.code == "InvalidAddressPrefixFormat"
