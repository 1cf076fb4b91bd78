"""Compliance judges where the traffic goes (effective next hops), not only whether our routes exist (pure)."""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from remediation.core.ids import id_key
from remediation.core.model import (
    Action,
    FrontendRead,
    ObservedPeering,
    ObservedVnet,
    PublicFrontend,
    Route,
    Snapshot,
)
from remediation.planning import compliance, desired, routes
from remediation.planning.compliance import ComplianceState
from remediation.planning.effective_routes import LearnedRoute
from remediation.planning.flows import Verdict
from tests.core import factories as f
from tests.core.test_compliance import SETTINGS, converged, with_route

HUB = f"{f.HUB_RG}/providers/Microsoft.Network/virtualNetworks/hub-vnet"


def with_vnets(snapshot: Snapshot) -> Snapshot:
    """The spoke VNet (peered with the hub, using its VPN gateway) and the hub, as the observation reads them."""
    peering = ObservedPeering(f"{f.VNET}/virtualNetworkPeerings/to-hub", "to-hub", HUB, "Connected",
                              "FullyInSync", allow_forwarded_traffic=True, use_remote_gateways=True,
                              remote_address_prefixes=("10.0.0.0/16",))
    back = dataclasses.replace(f.peering(HUB, f.VNET), allow_gateway_transit=True,
                               remote_address_prefixes=("10.1.0.0/16",))
    return dataclasses.replace(snapshot, vnets={
        id_key(f.VNET): ObservedVnet(f.VNET, "westeurope", (), address_prefixes=("10.1.0.0/16",),
                                     peerings=(peering,)),
        id_key(HUB): ObservedVnet(HUB, "westeurope", (), has_gateway_subnet=True, gateway_ids=(f.VPN,),
                                  address_prefixes=("10.0.0.0/16",), peerings=(back,))})


def base() -> Snapshot:
    return with_vnets(converged(f.hub_spoke()))


def node_flows(report: compliance.ComplianceReport) -> dict[str, Verdict]:
    (cluster,) = report.clusters
    return {f"{flow.subnet}->{flow.destination}": flow.verdict for flow in cluster.flows}


def test_converged_cluster_has_every_flow_through_the_firewall() -> None:
    report = compliance.assess(base(), SETTINGS, scope="s")
    (cluster,) = report.clusters
    assert cluster.state is ComplianceState.COMPLIANT and cluster.bypasses == ()
    kinds = {(flow.subnet, flow.kind) for flow in cluster.flows}
    assert {("aks-nodes", "internet"), ("aks-nodes", "appgw"), ("aks-nodes", "p2s"), ("appgw", "aks")} <= kinds
    assert all(flow.verdict is Verdict.FIREWALL and flow.next_hop() == f"VirtualAppliance {f.FW_IP}"
               for flow in cluster.flows)


SPLIT = (Route("half-a", "0.0.0.0/1", "Internet"), Route("half-b", "128.0.0.0/1", "Internet"))


def _add(snapshot: Snapshot, table: str, *extra: Route) -> Snapshot:
    for route in extra:
        snapshot = with_route(snapshot, table, route)
    return snapshot


def test_split_default_routes_make_the_cluster_non_compliant_with_the_winners_named() -> None:
    report = compliance.assess(_add(base(), "rt-aks-nodes", *SPLIT), SETTINGS, scope="s")
    (cluster,) = report.clusters
    assert cluster.state is ComplianceState.NON_COMPLIANT and cluster.missing == () and cluster.conflicts == ()
    (line,) = cluster.bypasses
    assert line.startswith("aks-nodes -> internet 0.0.0.0/0: does not pass the firewall 10.0.1.4: ")
    assert "user route half-a on route table rt-aks-nodes: 0.0.0.0/1 -> Internet" in line
    assert "user route half-b on route table rt-aks-nodes: 128.0.0.0/1 -> Internet" in line
    assert node_flows(report)["aks-nodes->0.0.0.0/0"] is Verdict.BYPASS


def test_a_foreign_more_specific_route_into_the_app_gateway_range_is_named() -> None:
    snapshot = _add(base(), "rt-aks-nodes", Route("to-agw-half", "10.1.4.0/25", "VnetLocal"))
    (cluster,) = compliance.assess(snapshot, SETTINGS, scope="s").clusters
    assert cluster.state is ComplianceState.NON_COMPLIANT
    assert cluster.bypasses == ("aks-nodes -> appgw 10.1.4.0/24: does not pass the firewall 10.0.1.4: user route "
                                "to-agw-half on route table rt-aks-nodes: 10.1.4.0/25 -> VnetLocal",)


def test_the_plan_reports_the_foreign_route_with_its_fix_and_never_writes_it_even_with_takeover() -> None:
    snapshot = _add(base(), "rt-aks-nodes", *SPLIT)
    for settings in (SETTINGS, dataclasses.replace(SETTINGS, allow_takeover=True)):
        wanted = desired.desired_cluster_routes(snapshot, f.CLUSTER, settings)
        assert isinstance(wanted, tuple)
        changes, conflicts = routes.plan_routes(snapshot, wanted, settings, prune=True)
        assert [c for c in changes if c.action is not Action.NOOP] == []
        named = sorted(c.address.rsplit("/", 1)[-1] for c in conflicts if c.blocking)
        assert named == ["half-a", "half-b"]
        assert all("fix: delete route half-" in c.message and "ALLOW_TAKEOVER does not apply" in c.message
                   for c in conflicts if c.blocking)


def test_removing_the_foreign_route_gives_compliant_again() -> None:
    snapshot = _add(base(), "rt-aks-nodes", *SPLIT)
    for route in SPLIT:
        snapshot = with_route(snapshot, "rt-aks-nodes", None, drop=route.name)
    assert compliance.assess(snapshot, SETTINGS, scope="s").clusters[0].state is ComplianceState.COMPLIANT


HUB_GATEWAY = id_key(f.VPN)


def test_bgp_routes_of_the_hub_gateway_win_where_more_specific_and_propagation_is_on() -> None:
    # A BGP default route loses to our user default route (same prefix: user > BGP) ...
    default = {HUB_GATEWAY: (LearnedRoute("0.0.0.0/0", "192.168.10.1"),)}
    assert compliance.assess(base(), SETTINGS, scope="s", learned=default).clusters[0].state is \
        ComplianceState.COMPLIANT
    # ... a more specific one (forced tunnelling as two halves) wins and is named,
    split = {HUB_GATEWAY: (LearnedRoute("0.0.0.0/1", "192.168.10.1"), LearnedRoute("128.0.0.0/1", "192.168.10.1"))}
    (cluster,) = compliance.assess(base(), SETTINGS, scope="s", learned=split).clusters
    assert cluster.state is ComplianceState.NON_COMPLIANT
    assert "BGP route from gateway vpn: 0.0.0.0/1 -> VirtualNetworkGateway 192.168.10.1" in cluster.bypasses[0]
    # ... and with propagation off on the node table, it is not put on the subnet at all.
    tables = dict(base().route_tables)
    key = id_key(f.table_id("rt-aks-nodes"))
    tables[key] = dataclasses.replace(tables[key], disable_bgp_route_propagation=True)
    off = dataclasses.replace(base(), route_tables=tables)
    assert compliance.assess(off, SETTINGS, scope="s", learned=split).clusters[0].state is ComplianceState.COMPLIANT


def test_a_peering_inside_a_spoke_prefix_is_a_bypass() -> None:
    settings = dataclasses.replace(SETTINGS, spoke_prefixes=("10.8.0.0/16",))
    snapshot = converged(f.hub_spoke())
    snapshot = with_vnets(desired_in_place(snapshot, settings))
    vnets = dict(snapshot.vnets)
    spoke_vnet = vnets[id_key(f.VNET)]
    peer = ObservedPeering(f"{f.VNET}/virtualNetworkPeerings/direct", "direct", f"{f.RG}/x", "Connected",
                           remote_address_prefixes=("10.8.1.0/24",))
    vnets[id_key(f.VNET)] = dataclasses.replace(spoke_vnet, peerings=(*spoke_vnet.peerings, peer))
    (cluster,) = compliance.assess(dataclasses.replace(snapshot, vnets=vnets), settings, scope="s").clusters
    assert cluster.state is ComplianceState.NON_COMPLIANT
    assert any("spoke 10.8.0.0/16" in line and "system route 10.8.1.0/24 -> VNetPeering" in line
               for line in cluster.bypasses), cluster.bypasses


def desired_in_place(snapshot: Snapshot, settings: object) -> Snapshot:
    """`snapshot` with the desired node routes of `settings` added to the node table."""
    wanted = desired.desired_cluster_routes(snapshot, f.CLUSTER, settings)  # type: ignore[arg-type]
    assert isinstance(wanted, tuple)
    for item in wanted:
        if id_key(item.subnet_id) == id_key(f.NODE_SUBNET):
            snapshot = _add(snapshot, "rt-aks-nodes", *item.routes)
    return snapshot


_PRIVATE = [ipaddress.ip_network(p) for p in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                               "0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3")]
internet_ips = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address).filter(
    lambda ip: not any(ip in n for n in _PRIVATE))
HOPS = st.sampled_from([("Internet", None), ("None", None), ("VirtualNetworkGateway", None),
                        ("VirtualAppliance", "10.0.1.5"), ("VnetLocal", None)])


@given(ip=internet_ips, length=st.integers(1, 32), hop=HOPS)
def test_property_a_foreign_route_sending_an_internet_address_elsewhere_makes_the_cluster_non_compliant(
        ip: ipaddress.IPv4Address, length: int, hop: tuple[str, str | None]) -> None:
    prefix = str(ipaddress.ip_network(f"{ip}/{length}", strict=False))
    snapshot = _add(base(), "rt-aks-nodes", Route("someone-else", prefix, hop[0], hop[1]))
    (cluster,) = compliance.assess(snapshot, SETTINGS, scope="s").clusters
    assert cluster.state is ComplianceState.NON_COMPLIANT
    assert any("user route someone-else" in line for line in cluster.bypasses)


LB = f"{f.SUB}/resourceGroups/MC_x/providers/Microsoft.Network/loadBalancers/kubernetes"


def test_a_public_frontend_counts_only_where_the_default_route_goes_to_the_firewall() -> None:
    frontend = PublicFrontend(LB, "fe1", f"{f.SUB}/publicIPAddresses/pip1")
    found = {id_key(f.CLUSTER): FrontendRead((frontend,))}
    (cluster,) = compliance.assess(dataclasses.replace(base(), public_frontends=found), SETTINGS,
                                   scope="s").clusters
    assert cluster.state is ComplianceState.NON_COMPLIANT
    assert cluster.asymmetric[0].startswith("public load balancer kubernetes frontend fe1 (public IP pip1)")
    # No default route through the firewall (loadBalancer outbound, no FORCE_DEFAULT_ROUTE): nothing to say.
    plain = dataclasses.replace(SETTINGS, force_default_route=False)
    (cluster,) = compliance.assess(dataclasses.replace(with_vnets(converged(f.hub_spoke())),
                                                       public_frontends=found), plain, scope="s").clusters
    assert cluster.asymmetric == ()
    # A node resource group that could not be read is said, not counted.
    unread = {id_key(f.CLUSTER): FrontendRead(error="AuthorizationFailed")}
    (cluster,) = compliance.assess(dataclasses.replace(base(), public_frontends=unread), SETTINGS,
                                   scope="s").clusters
    assert cluster.state is ComplianceState.COMPLIANT
    assert cluster.asymmetric == ("asymmetric routing not checked: AuthorizationFailed",)
