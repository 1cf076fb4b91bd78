"""Pure tests of the prepared subnets (remediation/planning/prepare.py): the VNet tag marks subnets to prepare
for userDefinedRouting clusters before they exist; safety refusals; what a sweep keeps and un-prepares.

Each case runs the fleet's own composition: the clusters' desired routes, the prepared subnets on top, then
`plan_routes(prune=True)` as a sweep plans, and checks what the sweep would do to the subnet's default route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from remediation.core.config import ConfigError, load_settings
from remediation.core.ids import id_key
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    Conflict,
    DesiredSubnetRoutes,
    ObservedCluster,
    ObservedRouteTable,
    ObservedSubnet,
    ObservedVnet,
    RouteTablePayload,
    Severity,
    Skip,
    Snapshot,
)
from remediation.planning import desired, plan, prepare
from tests.core import factories as f

SPARE = f"{f.VNET}/subnets/aks-next"
SPARE_PREFIX = "10.1.16.0/22"
GATEWAY_SUBNET = f"{f.VNET}/subnets/GatewaySubnet"
FIREWALL_SUBNET = f"{f.VNET}/subnets/AzureFirewallSubnet"
TAG = "aks-egress-prepare"
OWNED_TABLE = "rmd-spoke-vnet-aks-next"
DEFAULT = f.fw_route("rmd-default", "0.0.0.0/0")


@dataclass(frozen=True)
class World:
    tags: dict[str, str] = field(default_factory=dict)
    clusters: tuple[ObservedCluster, ...] = ()
    spare_default: bool = False  # the spare subnet already has the owned table with rmd-default
    with_appgw: bool = False
    firewall: bool = True


def _world(w: World) -> Snapshot:
    table_id = f.table_id(OWNED_TABLE) if w.spare_default else None
    subnets = [
        f.subnet(SPARE, SPARE_PREFIX, table_id),
        f.subnet(f.NODE_SUBNET, f.NODE_PREFIX),
        f.subnet(f.APPGW_SUBNET, f.APPGW_PREFIX),
        f.subnet(GATEWAY_SUBNET, "10.1.255.0/27"),
        f.subnet(FIREWALL_SUBNET, "10.1.254.0/26"),
    ]
    tables: list[ObservedRouteTable] = []
    if w.spare_default:
        tables.append(f.route_table(OWNED_TABLE, [DEFAULT], [SPARE], owned=True))
    base = f.snapshot(clusters=w.clusters, subnets=subnets, tables=tables,
                      gateways=[f.appgw()] if w.with_appgw else [], fw=f.firewall() if w.firewall else None)
    # The spoke peered both ways with the firewall's hub VNet: the path a prepared subnet's route needs.
    vnet = ObservedVnet(f.VNET, "westeurope", tuple(subnets), address_prefixes=("10.1.0.0/16",), tags=w.tags,
                        peerings=(f.peering(f.VNET, f.HUB_VNET),))
    hub = f.vnet(f.HUB_VNET, f.peering(f.HUB_VNET, f.VNET))
    return Snapshot(clusters=base.clusters, subnets=base.subnets, route_tables=base.route_tables,
                    app_gateways=base.app_gateways, firewall=base.firewall,
                    vnets={id_key(f.VNET): vnet, id_key(f.HUB_VNET): hub})


def _sweep(snapshot: Snapshot) -> tuple[list[Change], list[Conflict], prepare.PrepareResult]:
    settings = f.settings()
    wanted: list[DesiredSubnetRoutes] = []
    for cluster in snapshot.clusters.values():
        result = desired.desired_cluster_routes(snapshot, cluster.id, settings)
        if not isinstance(result, Skip):
            wanted.extend(result)
    prepared = prepare.prepared_subnets(snapshot, wanted, settings)
    changes, conflicts = plan.plan_routes(snapshot, desired.merge_subnet_routes([*wanted, *prepared.desired]),
                                          settings, prune=True)
    return list(changes), [*prepared.reports, *conflicts], prepared


def _default_on(changes: Iterable[Change], subnet: str) -> str:
    """What the sweep's plan does to the default route of the subnet: create / keep / delete / none."""
    table = f.table_id(OWNED_TABLE) if subnet == SPARE else None
    for change in changes:
        mine = table is None or change.address.lower().startswith(table.lower())
        if (change.kind is ChangeKind.ROUTE_TABLE and isinstance(change.new, RouteTablePayload) and mine
                and any(r.address_prefix == "0.0.0.0/0" for r in change.new.routes)):
            return "create"
        if change.kind is ChangeKind.ROUTE and change.address.lower().endswith("/routes/rmd-default") and mine:
            return {Action.NOOP: "keep", Action.DELETE: "delete"}.get(change.action, change.action.value)
    return "none"


def _udr(**kw: Any) -> ObservedCluster:
    return f.cluster(**{"outbound_type": "userDefinedRouting", "node_subnet_ids": (SPARE,), **kw})


def _lb(**kw: Any) -> ObservedCluster:
    return f.cluster(**{"outbound_type": "loadBalancer", "node_subnet_ids": (SPARE,), **kw})


# (case, world, what the sweep does to the spare subnet's default route, refusal text or None)
CASES = [
    ("marked, unused: prepared", World({TAG: "aks-next"}), "create", None),
    ("marked, tag name and value in other case, spaces", World({"AKS-Egress-Prepare": " other , AKS-NEXT "}),
     "create", None),
    ("marked, already prepared: kept", World({TAG: "aks-next"}, spare_default=True), "keep", None),
    ("no tag: nothing prepared", World(), "none", None),
    ("no tag, prepared before by prepare-subnet, unused: kept", World(spare_default=True), "keep", None),
    ("tag without the name, unused: un-prepared", World({TAG: "other"}, spare_default=True), "delete", None),
    ("empty tag, unused: un-prepared", World({TAG: ""}, spare_default=True), "delete", None),
    ("marked, a userDefinedRouting cluster uses it: its own default route",
     World({TAG: "aks-next"}, (_udr(),), spare_default=True), "keep", None),
    ("marked, a userDefinedRouting cluster still Creating: nothing pruned",
     World({TAG: "aks-next"}, (_udr(provisioning_state="Creating"),), spare_default=True), "none", None),
    ("name removed, a userDefinedRouting cluster uses it: kept",
     World({TAG: "other"}, (_udr(),), spare_default=True), "keep", None),
    ("marked, a loadBalancer cluster uses it: refused, nothing written",
     World({TAG: "aks-next"}, (_lb(),)), "none", "outboundType loadBalancer"),
    ("marked, a loadBalancer cluster came: refused, what the marker prepared is kept",
     World({TAG: "aks-next"}, (_lb(),), spare_default=True), "keep", "outboundType loadBalancer"),
    ("marked, a managedNATGateway cluster uses it: refused",
     World({TAG: "aks-next"}, (_lb(outbound_type="managedNATGateway"),)), "none", "managedNATGateway"),
    ("marked, a kubenet cluster uses it: refused",
     World({TAG: "aks-next"}, (_udr(network_plugin="kubenet", network_plugin_mode=None),)), "none", "kubenet"),
    ("marked, no firewall: refused", World({TAG: "aks-next"}, firewall=False), "none", "FIREWALL_ID"),
]


@pytest.mark.parametrize(("case", "world", "default", "refusal"), CASES, ids=[c[0] for c in CASES])
def test_what_a_sweep_does_to_a_marked_subnet(case: str, world: World, default: str, refusal: str | None) -> None:
    changes, conflicts, _ = _sweep(_world(world))
    assert _default_on(changes, SPARE) == default, case
    refused = [c for c in conflicts if c.blocking and id_key(c.address) == id_key(SPARE)]
    if refusal is None:
        assert refused == [], case
    else:
        (conflict,) = refused
        assert refusal in conflict.message and "refused to prepare aks-next" in conflict.message, case


@pytest.mark.parametrize(("name", "why"), [
    ("GatewaySubnet", "platform subnet GatewaySubnet"),
    ("AzureFirewallSubnet", "platform subnet AzureFirewallSubnet"),
    ("appgw", "hosts App Gateway agw1"),
])
def test_infrastructure_and_app_gateway_subnets_are_never_prepared(name: str, why: str) -> None:
    changes, conflicts, prepared = _sweep(_world(World({TAG: name}, with_appgw=True)))
    assert prepared.desired == ()
    assert [c.kind for c in changes if c.action is not Action.NOOP] == []
    (conflict,) = [c for c in conflicts if c.blocking]
    assert why in conflict.message and conflict.severity is Severity.CONFLICT


def test_a_name_that_matches_no_subnet_is_reported_as_a_note() -> None:
    changes, conflicts, prepared = _sweep(_world(World({TAG: "aks-next,not-there"})))
    assert _default_on(changes, SPARE) == "create" and len(prepared.desired) == 1
    (note,) = [c for c in conflicts if "not-there" in c.message]
    assert note.severity is Severity.NOTE and id_key(note.address) == id_key(f.VNET)


def test_a_prepared_subnet_gets_the_shared_egress_routes_to_the_firewall_the_vnet_reaches() -> None:
    snapshot = _world(World({TAG: "aks-next"}))
    (entry,) = prepare.prepared_subnets(snapshot, (), f.settings(spoke_prefixes=("10.2.0.0/16",))).desired
    assert {(r.address_prefix, r.next_hop_ip_address) for r in entry.routes} == {
        ("0.0.0.0/0", f.FW_IP), ("10.2.0.0/16", f.FW_IP)}


# --------------------------------------------------------------------------------- prepare-subnet (one subnet)

ONE = [
    ("unused, VNet without tag", World(), SPARE, None),
    ("marked", World({TAG: "aks-next"}), SPARE, None),
    ("tag does not name it: the sweep would un-prepare it", World({TAG: "other"}), SPARE, "does not name aks-next"),
    ("loadBalancer cluster's node subnet (#24.11)", World(clusters=(_lb(),)), SPARE, "outboundType loadBalancer"),
    ("App Gateway subnet (#24.11)", World(with_appgw=True), f.APPGW_SUBNET, "hosts App Gateway"),
    ("GatewaySubnet", World(), GATEWAY_SUBNET, "platform subnet"),
    ("no firewall", World(firewall=False), SPARE, "FIREWALL_ID"),
]


@pytest.mark.parametrize(("case", "world", "subnet", "refusal"), ONE, ids=[c[0] for c in ONE])
def test_prepare_subnet_follows_the_same_rules(case: str, world: World, subnet: str, refusal: str | None) -> None:
    result = prepare.prepare_one(_world(world), subnet, f.settings())
    if refusal is None:
        assert isinstance(result, DesiredSubnetRoutes), case
        assert any(r.address_prefix == "0.0.0.0/0" for r in result.routes)
    else:
        assert isinstance(result, Conflict) and result.blocking and refusal in result.message, case


def test_marked_names() -> None:
    settings = f.settings()
    vnet = ObservedVnet(f.VNET, "westeurope", (), tags={"Aks-Egress-Prepare": "a, b,,a , c"})
    assert prepare.marked_names(vnet, settings) == ("a", "b", "c")
    assert prepare.marked_names(ObservedVnet(f.VNET, "westeurope", ()), settings) is None


def test_a_subnet_refusal_needs_no_cluster_list() -> None:
    assert prepare.subnet_refusal(_world(World()), ObservedSubnet(SPARE, "aks-next", (SPARE_PREFIX,), "x")) is None


@pytest.mark.parametrize("value", ["", "a/b", "x" * 513, "a?b"])
def test_the_tag_setting_is_checked_at_start(value: str) -> None:
    env = {"REMEDIATION_SCOPE": f"/subscriptions/{f.SUB}", "FIREWALL_ID": f.FIREWALL, "PREPARE_SUBNETS_TAG": value}
    if value == "":
        assert load_settings(env).prepare_subnets_tag == "aks-egress-prepare"  # empty = the default
        return
    with pytest.raises(ConfigError, match="PREPARE_SUBNETS_TAG"):
        load_settings(env)


def test_a_marked_vnet_outside_the_scope_is_not_prepared() -> None:
    snapshot = _world(World({TAG: "aks-next"}))
    narrow = f.settings(scope=load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{f.SUB}/resourceGroups/other-rg",
                                             "FIREWALL_ID": f.FIREWALL}).scope)
    assert prepare.prepared_subnets(snapshot, (), narrow) == prepare.PrepareResult()
    assert len(prepare.prepared_subnets(snapshot, (), f.settings()).desired) == 1
