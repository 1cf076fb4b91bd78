"""One table per runbook rule and per prerequisite (desired.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediation.core.model import (
    ChangeKind,
    Conflict,
    DesiredSubnetRoutes,
    ObservedVpnGateway,
    RoutePurpose,
    Severity,
    Skip,
)
from remediation.planning import desired
from tests.core import factories as f

OVERLAY = {"network_plugin": "azure", "network_plugin_mode": "overlay"}
FLAT = {"network_plugin": "azure", "network_plugin_mode": None, "pod_subnet_ids": (f.POD_SUBNET,)}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            OVERLAY | {"pod_subnet_ids": (f.POD_SUBNET,)}, (f.NODE_PREFIX,), id="overlay-nodes-only"
        ),
        pytest.param(FLAT, (f.NODE_PREFIX, f.POD_PREFIX), id="flat-cni-nodes-and-pod-subnet"),
        pytest.param(
            {"network_plugin": "kubenet", "network_plugin_mode": None},
            (f.NODE_PREFIX,),
            id="kubenet-nodes-only",
        ),
        pytest.param(
            {"node_subnet_ids": (f.NODE_SUBNET, f.NODE_SUBNET.upper())},
            (f.NODE_PREFIX,),
            id="two-pools-one-subnet-deduplicated",
        ),
    ],
)
def test_aks_ranges_per_cni_mode(overrides: dict, expected: tuple[str, ...]) -> None:
    snap = f.hub_spoke(aks=f.cluster(**overrides))
    assert desired.aks_ranges(snap, f.cluster(**overrides)) == expected


def _names(routes: tuple) -> list[str]:
    return [r.name for r in routes]


@pytest.mark.parametrize(
    ("cluster_kw", "settings_kw", "with_vpn", "expected"),
    [
        pytest.param({}, {}, True, ["rmd-appgw-10-1-4-0-24", "rmd-p2s-172-16-201-0-24"], id="appgw-and-p2s"),
        pytest.param({}, {}, False, ["rmd-appgw-10-1-4-0-24"], id="appgw-only-without-vpn"),
        pytest.param(
            {},
            {"spoke_prefixes": ("10.2.0.0/16",)},
            False,
            ["rmd-appgw-10-1-4-0-24", "rmd-spoke-10-2-0-0-16"],
            id="spoke-prefix",
        ),
        pytest.param(
            {"outbound_type": "UserDefinedRouting"},
            {},
            False,
            ["rmd-default", "rmd-appgw-10-1-4-0-24"],
            id="default-route-for-udr-case-insensitive",
        ),
        pytest.param(
            {},
            {"force_default_route": True},
            False,
            ["rmd-default", "rmd-appgw-10-1-4-0-24"],
            id="default-route-forced",
        ),
        pytest.param(
            {"outbound_type": "loadBalancer"},
            {},
            False,
            ["rmd-appgw-10-1-4-0-24"],
            id="no-default-route-for-load-balancer",
        ),
        pytest.param(
            {},
            {"spoke_prefixes": ("10.0.0.0/16", "10.0.1.0/26")},
            False,
            ["rmd-appgw-10-1-4-0-24"],
            id="never-the-firewall-subnet-or-a-prefix-holding-its-ip",
        ),
        pytest.param(
            {},
            {"spoke_prefixes": ("10.1.0.0/16",)},
            False,
            ["rmd-appgw-10-1-4-0-24"],
            id="never-the-clusters-own-range",
        ),
    ],
)
def test_egress_routes(cluster_kw: dict, settings_kw: dict, with_vpn: bool, expected: list[str]) -> None:
    c = f.cluster(ingress_gateway_id=f.APPGW, **cluster_kw)
    snap = f.hub_spoke(aks=c, with_vpn=with_vpn)
    routes = desired.egress_routes(snap, c, f.settings(**settings_kw))
    assert _names(routes) == expected
    assert all(r.next_hop_type == "VirtualAppliance" and r.next_hop_ip_address == f.FW_IP for r in routes)


def test_egress_p2s_route_is_the_client_pool_not_the_gateway_subnet() -> None:
    c = f.cluster()
    snap = f.hub_spoke(aks=c, with_appgw=False)
    assert [r.address_prefix for r in desired.egress_routes(snap, c, f.settings())] == [f.P2S_PREFIX]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(OVERLAY, ["rmd-aks-10-1-0-0-22"], id="overlay-node-range"),
        pytest.param(FLAT, ["rmd-aks-10-1-0-0-22", "rmd-aks-10-1-8-0-22"], id="flat-cni-node-and-pod-range"),
        pytest.param(
            OVERLAY | {"outbound_type": "userDefinedRouting"},
            ["rmd-aks-10-1-0-0-22"],
            id="never-default-route-on-appgw-subnet",
        ),
    ],
)
def test_ingress_routes(overrides: dict, expected: list[str]) -> None:
    c = f.cluster(ingress_gateway_id=f.APPGW, **overrides)
    snap = f.hub_spoke(aks=c)
    assert _names(desired.ingress_routes(snap, c, f.settings(force_default_route=True))) == expected


def _reason(snap, cluster_id: str = f.CLUSTER) -> str:
    skip = desired.check_cluster(snap, cluster_id, f.settings())
    assert isinstance(skip, Skip)
    return skip.reason


def _with_appgw_default_route(isolated: bool):
    table = f.route_table("agw-rt", [f.fw_route("to-fw", "0.0.0.0/0")], [f.APPGW_SUBNET])
    snap = f.hub_spoke(tables=[table], gateway=f.appgw(network_isolated=isolated))
    subnets = dict(snap.subnets)
    key = next(k for k in subnets if k.endswith("/appgw"))
    subnets[key] = f.subnet(f.APPGW_SUBNET, f.APPGW_PREFIX, table.id)
    return snap.__class__(**{**snap.__dict__, "subnets": subnets})


@pytest.mark.parametrize(
    ("snap", "cluster_id", "fragment"),
    [
        pytest.param(f.snapshot(absent=[f.CLUSTER]), f.CLUSTER, "not found (deleted)", id="cluster-absent"),
        pytest.param(f.snapshot(), f.CLUSTER, "not observed", id="cluster-not-observed"),
        pytest.param(
            f.hub_spoke(aks=f.cluster(provisioning_state="Updating")),
            f.CLUSTER,
            "still Updating; will retry",
            id="provisioning-deferred",
        ),
        pytest.param(
            f.hub_spoke(aks=f.cluster(network_plugin="kubenet", network_plugin_mode=None)),
            f.CLUSTER,
            "network plugin kubenet: the runbook needs Azure CNI (flat or overlay)",
            id="kubenet",
        ),
        pytest.param(
            f.hub_spoke(aks=f.cluster(network_plugin="none")), f.CLUSTER, "network plugin none", id="byo-cni"
        ),
        pytest.param(
            f.hub_spoke(aks=f.cluster(node_subnet_ids=(), pools_without_subnet=("system",))),
            f.CLUSTER,
            "AKS-managed VNet: agent pool(s) system",
            id="aks-managed-vnet",
        ),
        pytest.param(
            f.snapshot(clusters=[f.cluster()], fw=f.firewall(), absent=[f.NODE_SUBNET]),
            f.CLUSTER,
            "node subnet",
            id="node-subnet-absent",
        ),
        pytest.param(
            f.hub_spoke(aks=f.cluster(**FLAT)).__class__(
                clusters={k: f.cluster(**FLAT) for k in f.hub_spoke().clusters},
                subnets={k: v for k, v in f.hub_spoke().subnets.items() if not k.endswith("aks-pods")},
                firewall=f.firewall(),
            ),
            f.CLUSTER,
            "pod subnet",
            id="pod-subnet-not-observed",
        ),
        pytest.param(
            f.snapshot(clusters=[f.cluster()], subnets=[f.subnet(f.NODE_SUBNET, f.NODE_PREFIX)]),
            f.CLUSTER,
            "firewall not found",
            id="firewall-missing",
        ),
        pytest.param(
            f.hub_spoke(fw=f.firewall(private_ip=None)),
            f.CLUSTER,
            "has no private IP",
            id="firewall-without-private-ip",
        ),
        pytest.param(
            f.hub_spoke(aks=f.cluster(ingress_gateway_id=f.APPGW), with_appgw=False),
            f.CLUSTER,
            "ingress gateway",
            id="ingress-gateway-missing",
        ),
        pytest.param(
            f.hub_spoke(gateway=f.appgw(sku_name="Standard_Medium", sku_tier="Standard")),
            f.CLUSTER,
            "(v1): the runbook needs a V2 gateway",
            id="appgw-v1",
        ),
        pytest.param(
            f.hub_spoke(gateway=f.appgw(sku_name="Basic_v2", sku_tier="Basic")),
            f.CLUSTER,
            "Basic_v2: not supported by AGIC",
            id="appgw-basic-v2",
        ),
        pytest.param(
            _with_appgw_default_route(isolated=False),
            f.CLUSTER,
            "sends 0.0.0.0/0 to VirtualAppliance",
            id="appgw-subnet-default-route-not-isolated",
        ),
    ],
)
def test_check_cluster_reasons(snap, cluster_id: str, fragment: str) -> None:
    assert fragment in _reason(snap, cluster_id)


@pytest.mark.parametrize(
    "snap",
    [
        pytest.param(f.hub_spoke(), id="overlay-with-appgw"),
        pytest.param(f.hub_spoke(gateway=f.appgw(sku_name="WAF_v2", sku_tier="WAF_v2")), id="waf-v2"),
        pytest.param(_with_appgw_default_route(isolated=True), id="default-route-ok-when-network-isolated"),
    ],
)
def test_check_cluster_passes(snap) -> None:
    assert desired.check_cluster(snap, f.CLUSTER, f.settings()) is None


def test_desired_cluster_routes_one_entry_per_subnet_with_reasons() -> None:
    c = f.cluster(ingress_gateway_id=f.APPGW, node_subnet_ids=(f.NODE_SUBNET, f.NODE_SUBNET.lower()))
    result = desired.desired_cluster_routes(f.hub_spoke(aks=c), f.CLUSTER, f.settings())
    assert isinstance(result, tuple)
    assert [(d.subnet_id.rsplit("/", 1)[-1], d.purpose) for d in result] == [
        ("aks-nodes", RoutePurpose.EGRESS),
        ("appgw", RoutePurpose.INGRESS),
    ]
    assert result[0].reasons["rmd-appgw-10-1-4-0-24"] == (
        "runbook egress: App Gateway subnet 10.1.4.0/24 via firewall 10.0.1.4"
    )


def test_desired_cluster_routes_skip() -> None:
    snap = f.hub_spoke(aks=f.cluster(network_plugin="kubenet"))
    assert isinstance(desired.desired_cluster_routes(snap, f.CLUSTER, f.settings()), Skip)


def test_merge_subnet_routes_unions_by_subnet() -> None:
    a = DesiredSubnetRoutes(
        f.NODE_SUBNET, RoutePurpose.EGRESS, (f.fw_route("rmd-default", "0.0.0.0/0"),), {"rmd-default": "a"}
    )
    b = DesiredSubnetRoutes(
        f.NODE_SUBNET.upper(),
        RoutePurpose.EGRESS,
        (f.fw_route("rmd-default", "0.0.0.0/0"), f.fw_route("rmd-spoke-10-2-0-0-16", "10.2.0.0/16")),
        {"rmd-default": "b"},
    )
    (merged,) = desired.merge_subnet_routes([a, b])
    assert [r.name for r in merged.routes] == ["rmd-default", "rmd-spoke-10-2-0-0-16"]
    assert merged.reasons["rmd-default"] == "a; b"


def test_desired_prepared_subnet() -> None:
    snap = f.hub_spoke()
    result = desired.desired_prepared_subnet(snap, f.NODE_SUBNET, f.settings(spoke_prefixes=("10.2.0.0/16",)))
    assert isinstance(result, DesiredSubnetRoutes)
    assert _names(result.routes) == ["rmd-default", "rmd-spoke-10-2-0-0-16", "rmd-p2s-172-16-201-0-24"]
    assert isinstance(desired.desired_prepared_subnet(f.snapshot(), f.NODE_SUBNET, f.settings()), Skip)


def _two_clusters():
    other_subnet = f.NODE_SUBNET.replace("aks-nodes", "aks2-nodes")
    other_rg = f.CLUSTER.replace("spoke-rg", "other-rg")
    c1 = f.cluster(ingress_gateway_id=f.APPGW)
    c2 = f.cluster(id=other_rg, node_subnet_ids=(other_subnet,))
    kubenet = f.cluster(id=f.CLUSTER.replace("aks1", "old"), name="old", network_plugin="kubenet")
    snap = f.hub_spoke(aks=c1)
    return snap.__class__(
        **{
            **snap.__dict__,
            "clusters": {**snap.clusters, other_rg.lower(): c2, kubenet.id.lower(): kubenet},
            "subnets": {**snap.subnets, other_subnet.lower(): f.subnet(other_subnet, "10.1.12.0/22")},
            "vpn_gateways": (ObservedVpnGateway(f.VPN, "vpn", (f.P2S_PREFIX, "172.16.202.0/24")),),
        }
    )


# The network egress rule per cluster of EGRESS_PROFILE=custom, for clusters whose egress the firewall sees.
CUSTOM_EGRESS = {"egress_profile": "custom", "force_default_route": True,
                 "egress_destinations": ("AzureCloud.westeurope",)}


def test_rule_collections_from_several_clusters() -> None:
    collections, skips = desired.desired_rule_collections(_two_clusters(), f.settings(**CUSTOM_EGRESS))
    assert [s.reason for s in skips] == [
        "network plugin kubenet: the runbook needs Azure CNI (flat or overlay)"
    ]
    egress, ingress, p2s = collections
    assert (egress.name, egress.priority, ingress.name, ingress.priority, p2s.name, p2s.priority) == (
        "rmd-egress",
        200,
        "rmd-ingress",
        210,
        "rmd-p2s",
        220,
    )
    # both clusters are called aks1: names are made unique with a stable hash of the id
    assert len({r.name for r in egress.rules}) == 2 and all(r.name.startswith("aks1-") for r in egress.rules)
    assert sorted(r.source_addresses for r in egress.rules) == [("10.1.0.0/22",), ("10.1.12.0/22",)]
    assert ingress.rules[0].source_addresses == (f.APPGW_PREFIX,)
    assert ingress.rules[0].protocols == ("TCP",)
    # runbook hint: the P2S source is the client pool, never the GatewaySubnet prefix
    assert p2s.rules[0].source_addresses == (f.P2S_PREFIX, "172.16.202.0/24")
    assert f.GATEWAY_SUBNET_PREFIX not in p2s.rules[0].source_addresses
    assert p2s.rules[0].destination_addresses == ("10.1.0.0/22", "10.1.12.0/22")


def test_rule_collections_deterministic_and_keep_provisioning_cluster() -> None:
    snap = f.hub_spoke(aks=f.cluster(provisioning_state="Updating"), with_vpn=False, with_appgw=False)
    first = desired.desired_rule_collections(snap, f.settings(**CUSTOM_EGRESS))
    assert first == desired.desired_rule_collections(snap, f.settings(**CUSTOM_EGRESS))
    assert [c.name for c in first[0]] == ["rmd-egress"] and first[1] == ()


def test_rule_collections_empty_when_no_cluster_qualifies() -> None:
    snap = f.hub_spoke(aks=f.cluster(network_plugin="kubenet"))
    collections, skips = desired.desired_rule_collections(snap, f.settings())
    assert collections == () and len(skips) == 1


_NAMES = st.sampled_from(["rmd-default", "RMD-default", "rmd-spoke-a", "rmd-p2s", "rmd-appgw", "other"])
_PREFIXES = st.sampled_from(["0.0.0.0/0", "10.2.0.0/16", "10.2.0.7/16", "172.16.201.0/24", "not-a-prefix"])
_REPORTS = st.lists(st.builds(lambda m: Conflict(ChangeKind.ROUTE, f.NODE_SUBNET, m, Severity.NOTE),
                              st.sampled_from(["x", "y"])), max_size=3)


@st.composite
def _items(draw: st.DrawFn) -> DesiredSubnetRoutes:
    routes = tuple(f.fw_route(n, p) for n, p in draw(st.lists(st.tuples(_NAMES, _PREFIXES), max_size=5)))
    reasons = {r.name: draw(st.sampled_from(["", "why", "because"])) for r in routes if draw(st.booleans())}
    return DesiredSubnetRoutes(f.NODE_SUBNET, draw(st.sampled_from(list(RoutePurpose))), routes, reasons,
                               tuple(draw(_REPORTS)))


@given(item=_items())
def test_a_lone_item_merges_as_it_would_with_a_copy_of_itself(item: DesiredSubnetRoutes) -> None:
    # Merging an item with a copy of itself takes the general path and gives what merging it alone must give;
    # a lone item that is merged already is handed back as it is (issue 26: merging was redone per cluster and
    # twice per fleet), never a different result.
    alone, doubled = desired.merge_subnet_routes([item]), desired.merge_subnet_routes([item, item])
    assert alone == doubled
    (merged,) = alone
    assert desired.merge_subnet_routes([merged]) == (merged,) == desired.merge_subnet_routes([merged, merged])
