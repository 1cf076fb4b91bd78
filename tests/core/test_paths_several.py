"""Several firewalls (FIREWALL_IDS, docs/platform-notes.md 13.1): which firewall a cluster's routes point at,
which spoke prefixes and P2S pools each hub gets, whose rules each policy holds, a moved firewall's routes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from remediation.core.model import ObservedFirewall, ObservedVnet, ObservedVpnGateway, Skip, Snapshot
from remediation.planning import desired, paths
from tests.core import factories as f

HUB2 = f"{f.HUB_RG}/providers/Microsoft.Network/virtualNetworks/hub-eastus"
FW2 = f"{f.HUB_RG}/providers/Microsoft.Network/azureFirewalls/fw-eastus"
POLICY2 = f"{f.HUB_RG}/providers/Microsoft.Network/firewallPolicies/fw-policy-eastus"
SPOKE2 = f"{f.RG}/providers/Microsoft.Network/virtualNetworks/spoke-eastus"


def fw2(**overrides: object) -> ObservedFirewall:
    base = ObservedFirewall(FW2, "fw-eastus", "AZFW_VNet", "10.50.1.4", POLICY2, vnet_id=HUB2)
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def _peer(local: str, remote: str, prefixes: tuple[str, ...] = (), state: str = "Connected") -> object:
    return f.peering(local, remote, state, remote_address_prefixes=prefixes)


def estate(*, spoke2_prefix: str = "10.60.0.0/16", second: ObservedFirewall | None = None,
           hub2_state: str = "Connected", vpns: tuple[ObservedVpnGateway, ...] = (), **spoke: object) -> Snapshot:
    """The factories' spoke (10.1.0.0/16) on hub-vnet (fw), and spoke-eastus on hub-eastus (fw-eastus)."""
    vnets: list[ObservedVnet] = [
        f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET)),
        f.vnet(f.HUB_VNET, f.peering(f.HUB_VNET, f.VNET, remote_address_prefixes=("10.1.0.0/16",))),
        f.vnet(SPOKE2, f.peering(SPOKE2, HUB2)),
        f.vnet(HUB2, f.peering(HUB2, SPOKE2, hub2_state, remote_address_prefixes=(spoke2_prefix,))),
    ]
    base = f.hub_spoke(**spoke)  # type: ignore[arg-type]
    firewalls = (f.firewall(), second or fw2())
    return dataclasses.replace(base, firewall=f.firewall(), firewalls=firewalls,
                               vnets={v.id.lower(): v for v in vnets}, vpn_gateways=vpns)


SEVERAL = f.settings(firewall_ids=(f.FIREWALL, FW2))


def test_each_vnet_reaches_its_own_hub_firewall() -> None:
    snap = estate()
    here = paths.firewall_for_vnet(snap, f.VNET, SEVERAL)
    there = paths.firewall_for_vnet(snap, SPOKE2, SEVERAL)
    assert isinstance(here, paths.Reaches) and here.firewall.id == f.FIREWALL
    assert isinstance(there, paths.Reaches) and there.firewall.id == FW2


def test_a_configured_firewall_not_observed_means_no_path_at_all() -> None:
    snap = dataclasses.replace(estate(), firewalls=(f.firewall(),))
    result = paths.firewall_for_vnet(snap, f.VNET, SEVERAL)
    assert isinstance(result, paths.Unreachable) and FW2 in result.reason and "FIREWALL_IDS" in result.reason


def test_a_vnet_peered_to_two_configured_hubs_is_ambiguous() -> None:
    snap = estate()
    both = f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET), f.peering(f.VNET, HUB2))
    hub2 = f.vnet(HUB2, f.peering(HUB2, SPOKE2), f.peering(HUB2, f.VNET))
    snap = dataclasses.replace(snap, vnets={**snap.vnets, f.VNET.lower(): both, HUB2.lower(): hub2})
    assert isinstance(paths.firewall_for_vnet(snap, f.VNET, SEVERAL), paths.Ambiguous)


def test_the_cluster_routes_point_at_its_own_hub_firewall_only() -> None:
    snap = estate()
    cluster = next(iter(snap.clusters.values()))
    own = desired.cluster_firewall(snap, cluster, SEVERAL)
    assert own is not None and own.id == f.FIREWALL
    # As the pass of the other firewall (its target), the routes still point at the cluster's own firewall.
    as_other = dataclasses.replace(snap, firewall=fw2())
    routes = desired.egress_routes(as_other, cluster, SEVERAL.for_firewall(FW2))
    assert routes and {r.next_hop_ip_address for r in routes} == {f.FW_IP}


@pytest.mark.parametrize(("prefix", "spoke2", "kept", "reported"), [
    ("10.60.0.0/16", "10.60.0.0/16", (), ()),             # only the other hub's spoke holds it: not this hub's
    ("10.1.0.0/16", "10.60.0.0/16", ("10.1.0.0/16",), ()),  # this hub's spoke holds it
    ("10.0.0.0/8", "10.60.0.0/16", (), ("10.0.0.0/8",)),    # spans both hubs: reported, routed via neither
    ("192.168.0.0/16", "10.60.0.0/16", (), ()),            # nobody holds it
])
def test_spoke_prefixes_go_to_the_hub_whose_spokes_hold_them(prefix: str, spoke2: str, kept: tuple[str, ...],
                                                             reported: tuple[str, ...]) -> None:
    snap = estate(spoke2_prefix=spoke2)
    got, left = paths.hub_spoke_prefixes(snap, f.firewall(), [prefix], SEVERAL)
    assert tuple(got) == kept and tuple(p for p, _ in left) == reported


def test_a_hub_side_not_connected_holds_nothing() -> None:
    snap = estate(hub2_state="Disconnected")
    got, left = paths.hub_spoke_prefixes(snap, f.firewall(), ["10.0.0.0/8"], SEVERAL)
    assert got == ["10.0.0.0/8"] and left == []


def test_p2s_pools_are_those_of_the_gateways_in_the_hub_vnet() -> None:
    mine = ObservedVpnGateway(f.VPN, "vpn", (f.P2S_PREFIX,), vnet_ids=(f.HUB_VNET,))
    other = ObservedVpnGateway(f.VPN + "-eastus", "vpn-eastus", ("172.30.0.0/24",), vnet_ids=(HUB2,))
    snap = estate(vpns=(mine, other))
    cluster = next(iter(snap.clusters.values()))
    prefixes = {r.address_prefix for r in desired.egress_routes(snap, cluster, SEVERAL)}
    assert f.P2S_PREFIX in prefixes and "172.30.0.0/24" not in prefixes
    assert desired.vpn_gateways_of_pass(snap, SEVERAL) == (mine,)
    assert desired.vpn_gateways_of_pass(dataclasses.replace(snap, firewall=fw2()), SEVERAL.for_firewall(FW2)) == (
        other,)


def test_rules_go_to_the_policy_of_the_cluster_s_firewall_and_a_shared_policy_holds_both() -> None:
    snap = estate()
    mine, _ = desired.desired_rule_collections(snap, SEVERAL)
    theirs, _ = desired.desired_rule_collections(dataclasses.replace(snap, firewall=fw2()), SEVERAL.for_firewall(FW2))
    assert mine and not theirs  # the only cluster is behind fw: fw-eastus's policy holds none of it
    shared = estate(second=fw2(policy_id=f.POLICY))
    as_second, _ = desired.desired_rule_collections(dataclasses.replace(shared, firewall=fw2(policy_id=f.POLICY)),
                                                    SEVERAL.for_firewall(FW2))
    assert as_second == mine  # the same group, whichever of its firewalls computes it


def test_owned_routes_at_an_old_address_are_found_behind_the_firewall_only() -> None:
    table = f.route_table("rt-nodes", (f.fw_route("rmd-default", "0.0.0.0/0"), f.fw_route("other", "10.9.0.0/16")),
                          (f.NODE_SUBNET,), owned=True)
    snap = estate(node_table="rt-nodes", tables=(table,))
    assert desired.routes_left_behind(snap, SEVERAL) == ()
    moved = dataclasses.replace(snap, firewall=f.firewall(private_ip="10.0.1.5"),
                                firewalls=(f.firewall(private_ip="10.0.1.5"), fw2()))
    left = desired.routes_left_behind(moved, SEVERAL)
    assert left == (f"{table.id}/routes/rmd-default",)  # the foreign route "other" is never ours to move
    # fw-eastus has no cluster behind it here: nothing of its own was left behind.
    assert desired.routes_left_behind(dataclasses.replace(moved, firewall=fw2()), SEVERAL.for_firewall(FW2)) == ()


def test_behind_names_hub_and_firewall_or_why_none() -> None:
    snap = estate()
    (where,) = desired.behind(snap, SEVERAL)
    assert where.firewall == f.FIREWALL and where.hub == f.HUB_VNET and where.reason is None
    lone = dataclasses.replace(snap, vnets={k: v for k, v in snap.vnets.items() if k != f.VNET.lower()})
    (none,) = desired.behind(lone, SEVERAL)
    assert none.firewall is None and none.reason and "not observed" in none.reason


_STATES = st.sampled_from(["Connected", "Initiated", "Disconnected", None])


@given(st.tuples(_STATES, _STATES), st.tuples(_STATES, _STATES), st.booleans())
@example(("Connected", "Connected"), (None, None), True)  # reaches hub 1's firewall: routes there
@example(("Connected", "Connected"), ("Connected", "Connected"), True)  # both: ambiguous, nothing
@example(("Connected", "Connected"), (None, None), False)  # hub 2's firewall unknown: nothing
def test_property_no_route_points_at_a_firewall_the_vnet_does_not_reach(
        to_hub1: tuple[str | None, str | None], to_hub2: tuple[str | None, str | None], fw2_observed: bool) -> None:
    """Whatever the peerings between the spoke and two configured hubs (each side present or not, in any state),
    every route planned for the cluster points at the one firewall its VNet reaches, or nothing is planned."""
    sides = []
    hub_sides = {f.HUB_VNET: [], HUB2: [f.peering(HUB2, SPOKE2)]}
    for hub, (spoke_state, hub_state) in ((f.HUB_VNET, to_hub1), (HUB2, to_hub2)):
        if spoke_state:
            sides.append(f.peering(f.VNET, hub, spoke_state))
        if hub_state:
            hub_sides[hub].append(f.peering(hub, f.VNET, hub_state))
    snap = estate()
    vnets = {**snap.vnets, f.VNET.lower(): f.vnet(f.VNET, *sides),
             f.HUB_VNET.lower(): f.vnet(f.HUB_VNET, *hub_sides[f.HUB_VNET]),
             HUB2.lower(): f.vnet(HUB2, *hub_sides[HUB2])}
    snap = dataclasses.replace(snap, vnets=vnets, firewalls=(f.firewall(), fw2()) if fw2_observed else (f.firewall(),))
    cluster = next(iter(snap.clusters.values()))
    reached = paths.firewall_for_vnet(snap, f.VNET, SEVERAL)
    wanted = desired.desired_cluster_routes(snap, cluster.id, SEVERAL)
    hops = set() if isinstance(wanted, Skip) else {r.next_hop_ip_address for d in wanted for r in d.routes}
    if not isinstance(reached, paths.Reaches):
        assert hops == set()
    else:
        assert hops == {reached.firewall.private_ip}  # the cluster's routes, all to its firewall
        assert fw2_observed  # a configured firewall not observed leaves no path at all
