"""guards.py: the route safety rules, one table per rule."""

from __future__ import annotations

import pytest

from remediation.core import net
from remediation.core.model import ObservedSubnet, Route
from remediation.planning import guards
from tests.core import factories as f

HUB_VNET = f"{f.HUB_RG}/providers/Microsoft.Network/virtualNetworks/hub"
NODES = f.subnet(f.NODE_SUBNET, f.NODE_PREFIX)
APPGW = f.subnet(f.APPGW_SUBNET, f.APPGW_PREFIX)
FW_SUBNET = f.subnet(f"{HUB_VNET}/subnets/AzureFirewallSubnet", "10.0.1.0/26")
DUAL = ObservedSubnet(f.NODE_SUBNET, "aks-nodes", (f.NODE_PREFIX, "fd00:1::/64"), "westeurope")


def _use(*subnets: ObservedSubnet, gateways=(), unobserved=()) -> guards.TableUse:
    ids = [s.id for s in subnets] + list(unobserved)
    return guards.TableUse.of(f.table_id("rt"), ids, {s.id.lower(): s for s in subnets}, gateways)


@pytest.mark.parametrize(
    ("name", "special"),
    [
        ("AzureFirewallSubnet", True),
        ("azurefirewallsubnet", True),  # ARM compares names case-insensitively
        ("AzureFirewallManagementSubnet", True),
        ("GatewaySubnet", True),
        ("RouteServerSubnet", True),
        ("AzureBastionSubnet", True),
        ("aks-nodes", False),
        ("GatewaySubnet2", False),
    ],
)
def test_special_subnets_by_name(name: str, special: bool) -> None:
    assert (guards.special_subnet_reason(f"{HUB_VNET}/subnets/{name}") is not None) is special
    assert (guards.special_subnet_reason(f.subnet(f"{HUB_VNET}/subnets/{name}", "10.0.9.0/24")) is not None) is special


@pytest.mark.parametrize(
    ("use", "refused_with"),
    [
        pytest.param(_use(NODES), None, id="plain-node-subnet"),
        pytest.param(_use(NODES, APPGW), None, id="shared-but-known"),
        pytest.param(_use(FW_SUBNET), "AzureFirewallSubnet", id="firewall-subnet"),
        pytest.param(_use(NODES, FW_SUBNET), "AzureFirewallSubnet", id="shared-with-firewall-subnet"),
        pytest.param(_use(NODES, unobserved=[f"{HUB_VNET}/subnets/GatewaySubnet"]), "GatewaySubnet",
                     id="unobserved-gateway-subnet"),
        pytest.param(_use(NODES, unobserved=[f"{f.VNET}/subnets/other"]), "not observed", id="unobserved-subnet"),
    ],
)
def test_table_refusal(use: guards.TableUse, refused_with: str | None) -> None:
    why = guards.table_refusal(use)
    if refused_with is None:
        assert why is None
    else:
        assert why is not None and refused_with in why


V2 = f.appgw()
V2_ISOLATED = f.appgw(network_isolated=True)
V1 = f.appgw(sku_name="Standard_Medium", sku_tier="Standard")


@pytest.mark.parametrize(
    ("route", "use", "refused_with"),
    [
        pytest.param(f.fw_route("r", "10.2.0.0/16"), _use(NODES), None, id="spoke-on-nodes"),
        pytest.param(f.fw_route("r", f.APPGW_PREFIX), _use(NODES), None, id="appgw-range-on-nodes"),
        pytest.param(f.fw_route("r", f.NODE_PREFIX), _use(NODES), "covers 10.1.0.0/22", id="own-range"),
        pytest.param(f.fw_route("r", "10.1.0.0/16"), _use(NODES), "covers 10.1.0.0/22", id="supernet-of-own"),
        pytest.param(f.fw_route("r", "10.1.1.0/24"), _use(NODES), "covers 10.1.0.0/22", id="inside-own"),
        # Node and App Gateway subnets on ONE table: each one's route is the other's own range.
        pytest.param(f.fw_route("r", f.APPGW_PREFIX), _use(NODES, APPGW), "subnet appgw", id="shared-appgw"),
        pytest.param(f.fw_route("r", f.NODE_PREFIX), _use(NODES, APPGW), "subnet aks-nodes", id="shared-nodes"),
        pytest.param(f.fw_route("r", "0.0.0.0/0"), _use(NODES), None, id="default-on-nodes"),
        pytest.param(f.fw_route("r", "0.0.0.0/0"), _use(APPGW, gateways=[V2]), "not network-isolated",
                     id="default-on-v2-gateway"),
        pytest.param(f.fw_route("r", "0.0.0.0/0"), _use(NODES, APPGW, gateways=[V2]), "not network-isolated",
                     id="default-on-table-shared-with-v2-gateway"),
        pytest.param(f.fw_route("r", "0.0.0.0/0"), _use(APPGW, gateways=[V2_ISOLATED]), None,
                     id="default-on-isolated-v2-gateway"),
        pytest.param(f.fw_route("r", "0.0.0.0/0"), _use(APPGW, gateways=[V1]), None, id="v1-is-not-the-v2-rule"),
        pytest.param(f.fw_route("r", "0.0.0.0/0", ip="10.1.0.4"), _use(NODES), "inside 10.1.0.0/22",
                     id="next-hop-inside-own-range"),
        pytest.param(f.fw_route("r", "0.0.0.0/0"), _use(FW_SUBNET), "inside 10.0.1.0/26",
                     id="firewall-ip-inside-firewall-subnet"),
        pytest.param(f.fw_route("r", "fd00:2::/64"), _use(NODES), "IPv6", id="ipv6-to-ipv4-appliance"),
        pytest.param(f.fw_route("r", "10.2.0.0/16"), _use(DUAL), None, id="dual-stack-ipv4-route"),
        pytest.param(f.fw_route("r", "10.2.0.0/33"), _use(NODES), "not a CIDR", id="bad-prefix"),
        pytest.param(Route("r", "10.1.0.0/22", "VnetLocal"), _use(NODES), None, id="not-an-appliance-route"),
    ],
)
def test_route_refusal(route: Route, use: guards.TableUse, refused_with: str | None) -> None:
    why = guards.route_refusal(route, use)
    if refused_with is None:
        assert why is None
    else:
        assert why is not None and refused_with in why


def test_ip_version_filters() -> None:
    mixed = ["10.1.0.0/22", "fd00:1::/64", "not-a-prefix", "2001:db8::/32"]
    assert net.ipv4_only(mixed) == ("10.1.0.0/22",)
    assert net.ipv6_only(mixed) == ("fd00:1::/64", "2001:db8::/32")
    assert net.is_ipv6("fd00::/8") and not net.is_ipv6("10.0.0.0/8") and not net.is_ipv6("x")
