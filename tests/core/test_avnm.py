"""Azure Virtual Network Manager co-existence (#21 item 6): what AVNM manages is recognised from what ARM returns,
never written, and a route it already provides is reported as provided (docs/platform-notes.md 13)."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core.ids import id_key
from remediation.core.model import Action, ChangeKind, Route, Severity, Skip, Snapshot
from remediation.planning import avnm, desired, guards, paths, plan
from tests.core import factories as f

MANAGED_RG = f"/subscriptions/{f.SUB}/resourceGroups/AVNM_Managed_ResourceGroup_{f.SUB}"
AVNM_TABLE_NAME = "AVNM_Managed_312496641AD74FC994A9D15A92911F72"


@pytest.mark.parametrize(("table_id", "managed"), [
    # The managed resource group (docs: common-issues; SDK tests read the tables there), any casing.
    (f"{MANAGED_RG}/providers/Microsoft.Network/routeTables/{AVNM_TABLE_NAME}", True),
    (f"{MANAGED_RG.lower()}/providers/Microsoft.Network/routeTables/anything", True),
    # The name seen in a public export, in a resource group of its own: unconfirmed, treated as managed.
    (f.table_id(AVNM_TABLE_NAME), True),
    (f.table_id(AVNM_TABLE_NAME.lower()), True),
    # A customer's tables, even with a look-alike name, are not.
    (f.table_id("AVNM_Managed_rt-spoke"), False),
    (f.table_id("rt-aks"), False),
    (f"/subscriptions/{f.SUB}/resourceGroups/AVNM_Managed_rg/providers/Microsoft.Network/routeTables/rt", False),
    ("not-an-id", False),
])
def test_managed_route_tables_are_told_by_their_resource_group_or_name(table_id: str, managed: bool) -> None:
    assert (avnm.managed_table_reason(table_id) is not None) is managed


@pytest.mark.parametrize(("name", "managed"), [
    ("ANM_22740FFA83EB4B03043CC7E_hub0_spoke0_2436812035", True),  # the name a public export shows
    ("anm_22740ffa83eb4b03043cc7e_spoke0_hub0_2436812035", True),
    ("to-hub-vnet", False),
    ("ANMtohub", False),
])
def test_managed_peerings_are_told_by_their_name(name: str, managed: bool) -> None:
    assert avnm.is_managed_peering(f.peering(f.VNET, f.HUB_VNET, name=name)) is managed


def _avnm_table(*routes: Route) -> Snapshot:
    table = dataclasses.replace(f.route_table(AVNM_TABLE_NAME, routes, [f.NODE_SUBNET]),
                                id=f"{MANAGED_RG}/providers/Microsoft.Network/routeTables/{AVNM_TABLE_NAME}")
    base = f.hub_spoke(aks=f.cluster(outbound_type="userDefinedRouting"), with_appgw=False, with_vpn=False,
                       tables=[table])
    node = dataclasses.replace(base.subnets[id_key(f.NODE_SUBNET)], route_table_id=table.id)
    return dataclasses.replace(base, subnets={**base.subnets, id_key(f.NODE_SUBNET): node})


def _cluster_plan(snap: Snapshot) -> tuple[list[tuple[str, str]], list[tuple[str, Severity]]]:
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, f.settings())
    assert not isinstance(wanted, Skip)
    changes, conflicts = plan.plan_routes(snap, wanted, f.settings(), prune=True)
    return ([(c.action.value, c.address) for c in changes if c.action is not Action.NOOP],
            [(c.message, c.severity) for c in conflicts])


TABLE_WORDS = "is managed by Azure Virtual Network Manager"


@pytest.mark.parametrize(("routes", "verdict", "severity"), [
    ((Route("udr-default", "0.0.0.0/0", "VirtualAppliance", f.FW_IP),), "provided by Azure Virtual Network Manager",
     Severity.NOTE),
    ((Route("udr-default", "0.0.0.0/0", "VirtualAppliance", "10.9.9.9"),), "sends 0.0.0.0/0 to VirtualAppliance "
     "10.9.9.9", Severity.CONFLICT),
    ((Route("udr-default", "0.0.0.0/0", "Internet", None),), "sends 0.0.0.0/0 to Internet", Severity.CONFLICT),
    ((), "holds no route for it", Severity.CONFLICT),
])
def test_a_subnet_on_an_avnm_table_gets_zero_writes_and_each_needed_route_is_reported(
        routes: tuple[Route, ...], verdict: str, severity: Severity) -> None:
    writes, conflicts = _cluster_plan(_avnm_table(*routes))
    assert writes == []  # no route, no owned table, no re-association: AVNM owns the subnet's routing
    assert any(TABLE_WORDS in m and "skipped" in m and s is Severity.NOTE for m, s in conflicts), conflicts
    about_default = [(m, s) for m, s in conflicts if "0.0.0.0/0" in m]
    assert len(about_default) == 1 and verdict in about_default[0][0] and about_default[0][1] is severity


def test_a_provided_route_is_not_blocking_and_even_allow_takeover_writes_nothing() -> None:
    snap = _avnm_table(Route("udr-default", "0.0.0.0/0", "VirtualAppliance", "10.9.9.9"),
                       Route("rmd-stale", "10.99.0.0/16", "VirtualAppliance", f.FW_IP))
    settings = f.settings(allow_takeover=True)
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, settings)
    assert not isinstance(wanted, Skip)
    changes, _ = plan.plan_routes(snap, wanted, settings, prune=True)
    assert [c for c in changes if c.action is not Action.NOOP] == []  # no takeover, no prune of "rmd-" names
    _, provided = _cluster_plan(_avnm_table(Route("x", "0.0.0.0/0", "VirtualAppliance", f.FW_IP)))
    assert all(s is Severity.NOTE for _, s in provided)


def test_an_avnm_table_no_cluster_needs_is_never_pruned() -> None:
    table = dataclasses.replace(f.route_table(AVNM_TABLE_NAME, [f.fw_route("rmd-default", "0.0.0.0/0")],
                                              ["/subscriptions/x/resourceGroups/r/providers/Microsoft.Network/"
                                               "virtualNetworks/v/subnets/other"]),
                                id=f"{MANAGED_RG}/providers/Microsoft.Network/routeTables/{AVNM_TABLE_NAME}")
    snap = f.snapshot(tables=[table], fw=f.firewall())
    changes, _ = plan.plan_routes(snap, (), f.settings(), prune=True)
    assert [c for c in changes if c.action is Action.DELETE] == []


def test_the_table_guard_refuses_an_avnm_table() -> None:
    table_id = f"{MANAGED_RG}/providers/Microsoft.Network/routeTables/{AVNM_TABLE_NAME}"
    use = guards.TableUse.of(table_id, [f.NODE_SUBNET], {id_key(f.NODE_SUBNET): f.subnet(f.NODE_SUBNET,
                                                                                          f.NODE_PREFIX)}, [])
    assert "managed by Azure Virtual Network Manager" in (guards.table_refusal(use) or "")
    assert guards.table_refusal(dataclasses.replace(use, table_id=f.table_id("rt"))) is None


def test_avnm_peerings_are_real_peerings_for_the_path_model() -> None:
    name = "ANM_22740FFA83EB4B03043CC7E_spoke_hub_2436812035"
    vnets = [f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET, name=name)),
             f.vnet(f.HUB_VNET, f.peering(f.HUB_VNET, f.VNET, name="ANM_22740FFA83EB4B03043CC7E_hub_spoke_1"))]
    snap = dataclasses.replace(f.hub_spoke(), vnets={id_key(v.id): v for v in vnets})
    path = paths.firewall_for_vnet(snap, f.VNET, f.settings())
    assert isinstance(path, paths.Reaches) and "created by Azure Virtual Network Manager" in path.via
    # The same peering in another state is judged like any peering: no path, nothing routed.
    vnets[0] = f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET, "Disconnected", name=name))
    cut = dataclasses.replace(snap, vnets={id_key(v.id): v for v in vnets})
    assert isinstance(desired.desired_cluster_routes(cut, f.CLUSTER, f.settings()), Skip)


def test_a_vnet_whose_avnm_peerings_lead_elsewhere_says_connected_groups_are_not_seen() -> None:
    other = f"{f.RG}/providers/Microsoft.Network/virtualNetworks/other-spoke"
    vnets = [f.vnet(f.VNET, f.peering(f.VNET, other, name="ANM_1_spoke_other_2")), *f.peered()[1:]]
    snap = dataclasses.replace(f.hub_spoke(), vnets={id_key(v.id): v for v in vnets})
    path = paths.firewall_for_vnet(snap, f.VNET, f.settings())
    assert isinstance(path, paths.Unreachable) and "connected groups create no peering" in path.reason
    plain = dataclasses.replace(snap, vnets={id_key(v.id): v for v in
                                             [f.vnet(f.VNET, f.peering(f.VNET, other)), *f.peered()[1:]]})
    reason = paths.firewall_for_vnet(plain, f.VNET, f.settings())
    assert isinstance(reason, paths.Unreachable) and "Virtual Network Manager" not in reason.reason


def test_route_reports_name_the_route_held_by_the_avnm_table() -> None:
    table = f.route_table(AVNM_TABLE_NAME, [Route("r1", "10.200.0.0/16", "VirtualAppliance", f.FW_IP)])
    reports = avnm.route_reports(f.NODE_SUBNET, "aks-nodes", table, "why", [f.fw_route("rmd-spoke", "10.200.0.0/16")])
    assert [r.kind for r in reports] == [ChangeKind.SUBNET_ROUTE_TABLE, ChangeKind.ROUTE]
    assert reports[1].address.endswith("/routes/r1") and not reports[1].blocking


def test_a_cluster_whose_avnm_table_provides_every_route_is_compliant_and_one_it_misses_is_conflicted() -> None:
    """No conflict war: what AVNM provides is the cluster's route, judged by the flows of the table in effect."""
    from remediation.core.model import ObservedRuleCollectionGroup
    from remediation.planning import compliance

    def with_rules(snap: Snapshot) -> Snapshot:
        collections, _ = desired.desired_rule_collections(snap, f.settings())
        group = ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/rmd-aks-runbook", "rmd-aks-runbook",
                                            250, collections)
        return dataclasses.replace(snap, rule_collection_group=group)

    snap = with_rules(_avnm_table(Route("avnm-0", "0.0.0.0/0", "VirtualAppliance", f.FW_IP)))
    (cluster,) = compliance.assess(snap, f.settings(), scope="s").clusters
    assert cluster.state is compliance.ComplianceState.COMPLIANT, cluster
    assert any("provided by Azure Virtual Network Manager" in c for c in cluster.conflicts)  # still said
    (cluster,) = compliance.assess(with_rules(_avnm_table()), f.settings(), scope="s").clusters
    assert cluster.state is compliance.ComplianceState.CONFLICTED


def test_destroy_never_deletes_from_an_avnm_table() -> None:
    """AVNM copies the routes of a subnet's former table into the table it creates (concept-user-defined-route):
    routes named like this tool's may sit there; `sweep --destroy` keeps them and says so."""
    from remediation.planning.destroy import plan_destroy

    table = dataclasses.replace(f.route_table(AVNM_TABLE_NAME, [f.fw_route("rmd-default", "0.0.0.0/0")],
                                              [f.NODE_SUBNET]),
                                id=f"{MANAGED_RG}/providers/Microsoft.Network/routeTables/{AVNM_TABLE_NAME}")
    result = plan_destroy(f.snapshot(tables=[table], fw=f.firewall()), f.settings(), "s")
    assert [c for c in result.changes if c.kind is ChangeKind.ROUTE] == []
    assert any("Azure Virtual Network Manager" in n.message and not n.blocking for n in result.conflicts)


def test_a_moved_firewall_ip_does_not_count_routes_on_an_avnm_table_as_left_behind() -> None:
    """Only the tool's own routes are followed to a new firewall IP; AVNM's table (whatever its route names) is
    AVNM's to update, so it never triggers a re-plan that could only report."""
    stale = f.fw_route("rmd-default", "0.0.0.0/0", ip="10.0.1.99")
    assert desired.routes_left_behind(_avnm_table(stale), f.settings()) == ()
    own = f.route_table("rt-nodes", [stale], [f.NODE_SUBNET])
    snap = f.hub_spoke(aks=f.cluster(outbound_type="userDefinedRouting"), with_appgw=False, node_table="rt-nodes",
                       tables=[own])
    assert desired.routes_left_behind(snap, f.settings()) == (f"{own.id}/routes/rmd-default",)
