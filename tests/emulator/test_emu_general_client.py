"""A general ARM client works against the served emulator (emulator/README.md "Use it with any ARM client"):
DefaultAzureCredential through the managed-identity endpoint, list subscriptions, create a resource group,
then create/show/update route tables, routes, subnets and firewall policies with the real SDK clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import (
    AddressSpace,
    FirewallPolicy,
    FirewallPolicyRuleCollectionGroup,
    FirewallPolicyRuleCollectionGroupProperties,
    Route,
    RoutePropertiesFormat,
    RouteTable,
    Subnet,
    SubnetPropertiesFormat,
    VirtualNetwork,
    VirtualNetworkPropertiesFormat,
)
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

from emulator import Emulator

IDENTITY_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                      "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT")


def test_general_client_recipe(make_emu: Callable[..., Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    emu = make_emu({"resources": []})  # an empty world: the client builds everything itself
    for name in IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    endpoint = emu.env()["ARM_ENDPOINT"]
    credential = DefaultAzureCredential()

    subscriptions = list(SubscriptionClient(credential, base_url=endpoint).subscriptions.list())
    assert len(subscriptions) == 1 and subscriptions[0].state == "Enabled"
    sub = subscriptions[0].subscription_id
    assert sub is not None
    tenants = list(SubscriptionClient(credential, base_url=endpoint).tenants.list())
    assert tenants[0].tenant_id == emu.tenant_id

    resources = ResourceManagementClient(credential, sub, base_url=endpoint)
    group = resources.resource_groups.create_or_update("rg-client", {"location": "westeurope", "tags": {"a": "1"}})
    assert group.properties is not None and group.properties.provisioning_state == "Succeeded"
    assert resources.resource_groups.check_existence("rg-client")
    assert resources.providers.get("Microsoft.Network").registration_state == "Registered"

    net = NetworkManagementClient(credential, sub, base_url=endpoint)
    table = net.route_tables.begin_create_or_update(
        "rg-client", "rt-nodes", RouteTable(location="westeurope")).result()
    assert table.provisioning_state == "Succeeded" and table.disable_bgp_route_propagation is False
    net.routes.begin_create_or_update(
        "rg-client", "rt-nodes", "default",
        Route(properties=RoutePropertiesFormat(address_prefix="0.0.0.0/0", next_hop_type="VirtualAppliance",
                                               next_hop_ip_address="10.0.0.4")),
    ).result()
    table.tags = {"owner": "client"}
    table.routes = net.route_tables.get("rg-client", "rt-nodes").routes
    updated = net.route_tables.begin_create_or_update("rg-client", "rt-nodes", table).result()
    assert updated.tags == {"owner": "client"} and [r.name for r in updated.routes or []] == ["default"]

    net.virtual_networks.begin_create_or_update(
        "rg-client", "vnet", VirtualNetwork(location="westeurope", properties=VirtualNetworkPropertiesFormat(
            address_space=AddressSpace(address_prefixes=["10.1.0.0/16"])))).result()
    subnet = net.subnets.begin_create_or_update(
        "rg-client", "vnet", "nodes",
        Subnet(properties=SubnetPropertiesFormat(address_prefix="10.1.0.0/24", route_table=updated))).result()
    assert subnet.route_table is not None and subnet.route_table.id == updated.id
    shown = net.route_tables.get("rg-client", "rt-nodes")
    assert [s.id for s in shown.subnets or []] == [subnet.id]

    policy = net.firewall_policies.begin_create_or_update(
        "rg-client", "fwpol", FirewallPolicy(location="westeurope")).result()
    assert policy.provisioning_state == "Succeeded" and policy.etag and not policy.etag.startswith("W/")
    rcg = net.firewall_policy_rule_collection_groups.begin_create_or_update(
        "rg-client", "fwpol", "rcg", FirewallPolicyRuleCollectionGroup(
            properties=FirewallPolicyRuleCollectionGroupProperties(priority=200, rule_collections=[]))).result()
    assert rcg.properties is not None and rcg.properties.size is not None and rcg.properties.size.endswith("MB")
    refreshed = net.firewall_policies.get("rg-client", "fwpol")
    assert [g.id for g in refreshed.rule_collection_groups or []] == [rcg.id]

    listed = {r.name for r in resources.resources.list_by_resource_group("rg-client")}
    assert listed == {"rt-nodes", "vnet", "fwpol"}
    resources.resource_groups.begin_delete("rg-client").result()
    assert not resources.resource_groups.check_existence("rg-client")
    assert emu.get(updated.id or "") is None
