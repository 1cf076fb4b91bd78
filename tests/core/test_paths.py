"""paths.py: which configured firewall a VNet reaches, or why none (docs/platform-notes.md 13)."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core.model import ObservedFirewall, ObservedVnet
from remediation.planning import paths
from remediation.planning.paths import Ambiguous, Reaches, Unreachable
from tests.core import factories as f

OTHER_HUB = f"{f.HUB_RG}/providers/Microsoft.Network/virtualNetworks/hub-eastus"
VHUB = f"{f.HUB_RG}/providers/Microsoft.Network/virtualHubs/vhub-1"
HUB_FW = f"{f.HUB_RG}/providers/Microsoft.Network/azureFirewalls/fw-vhub"
LONE = f"{f.RG}/providers/Microsoft.Network/virtualNetworks/lone"


def hub_firewall(**overrides: object) -> ObservedFirewall:
    base = ObservedFirewall(HUB_FW, "fw-vhub", "AZFW_Hub", "10.100.64.132", f.POLICY, hub_id=VHUB)
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def path(vnets: list[ObservedVnet], fw: ObservedFirewall | None = None, vnet_id: str = f.VNET,
         connections: tuple = (), firewall_id: str = f.FIREWALL) -> paths.Path:
    snap = f.snapshot(fw=fw or f.firewall(), vnets=vnets, hub_connections=connections)
    return paths.firewall_for_vnet(snap, vnet_id, f.settings(firewall_id=firewall_id))


def test_both_sides_connected_reaches_the_hub_firewall() -> None:
    result = path(f.peered())
    assert isinstance(result, Reaches)
    assert result.firewall.id == f.FIREWALL and result.hub == f.HUB_VNET
    assert "peering to-hub-vnet" in result.via and not result.vwan


def test_the_firewall_s_own_vnet_reaches_it_without_a_peering() -> None:
    result = path([], vnet_id=f.HUB_VNET.upper())
    assert isinstance(result, Reaches) and result.via == "the firewall's own VNet"


@pytest.mark.parametrize(("spoke_state", "hub_state", "words"), [
    ("Initiated", None, "is Initiated, not Connected"),
    ("Disconnected", "Connected", "is Disconnected, not Connected"),
    ("Connected", "Disconnected", "the hub's side is not usable (to-spoke-vnet Disconnected)"),
    ("Connected", "Initiated", "the hub's side is not usable (to-spoke-vnet Initiated)"),
    ("", None, "is in no state"),
])
def test_a_peering_not_connected_on_both_sides_is_unreachable(spoke_state: str, hub_state: str | None,
                                                               words: str) -> None:
    hub = [f.vnet(f.HUB_VNET, f.peering(f.HUB_VNET, f.VNET, hub_state))] if hub_state else [f.vnet(f.HUB_VNET)]
    result = path([f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET, spoke_state)), *hub])
    assert isinstance(result, Unreachable) and words in result.reason


def test_the_hub_without_a_peering_back_is_unreachable() -> None:
    result = path([f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET)), f.vnet(f.HUB_VNET)])
    assert isinstance(result, Unreachable) and "no peering back to spoke-vnet" in result.reason


@pytest.mark.parametrize(("side", "flags", "words"), [
    ("spoke", {"allow_vnet_access": False}, "allowVirtualNetworkAccess false"),
    ("spoke", {"allow_forwarded_traffic": False}, "allowForwardedTraffic false"),
    ("spoke", {"sync_level": "LocalNotInSync"}, "LocalNotInSync, not FullyInSync"),
    ("hub", {"allow_vnet_access": False}, "without allowVirtualNetworkAccess"),
])
def test_the_flags_each_flow_needs_are_checked_on_the_right_side(side: str, flags: dict, words: str) -> None:
    spoke_side = f.peering(f.VNET, f.HUB_VNET, **(flags if side == "spoke" else {}))
    hub_side = f.peering(f.HUB_VNET, f.VNET, **(flags if side == "hub" else {}))
    result = path([f.vnet(f.VNET, spoke_side), f.vnet(f.HUB_VNET, hub_side)])
    assert isinstance(result, Unreachable) and words in result.reason


@pytest.mark.parametrize("flags", [
    {"allow_forwarded_traffic": False},  # the hub's side needs no forwarded traffic: the spoke originates it
    {"sync_level": None},  # older API versions do not report it
    {"allow_gateway_transit": True},
])
def test_flags_a_flow_does_not_need_do_not_matter(flags: dict) -> None:
    hub_side = f.peering(f.HUB_VNET, f.VNET, **{k: v for k, v in flags.items() if k != "sync_level"})
    spoke_side = f.peering(f.VNET, f.HUB_VNET, **{k: v for k, v in flags.items() if k == "sync_level"})
    assert isinstance(path([f.vnet(f.VNET, spoke_side), f.vnet(f.HUB_VNET, hub_side)]), Reaches)


def test_no_peering_at_all_is_unreachable_with_its_reason() -> None:
    result = path([f.vnet(LONE)], vnet_id=LONE)
    assert isinstance(result, Unreachable) and "has no peering and no hub connection" in result.reason


def test_a_peering_to_a_hub_whose_firewall_is_not_configured_is_unreachable() -> None:
    result = path(f.peered(hub=OTHER_HUB))
    assert isinstance(result, Unreachable)
    assert "connected only to VNet hub-eastus, where no configured firewall is" in result.reason


def test_an_unobserved_spoke_or_hub_is_doubt_never_reachable() -> None:
    assert isinstance(path([f.vnet(f.HUB_VNET, f.peering(f.HUB_VNET, f.VNET))]), Unreachable)
    result = path([f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET))])
    assert isinstance(result, Unreachable) and "hub VNet was not observed" in result.reason


def test_an_unconfigured_or_unobserved_firewall_is_unreachable() -> None:
    other = f"{f.HUB_RG}/providers/Microsoft.Network/azureFirewalls/not-this-one"
    result = path(f.peered(), firewall_id=other)
    assert isinstance(result, Unreachable) and "(FIREWALL_ID) was not observed" in result.reason
    snap = f.snapshot(fw=None)
    assert isinstance(paths.firewall_for_vnet(snap, f.VNET, f.settings()), Unreachable)


def test_a_firewall_without_a_known_vnet_is_unreachable() -> None:
    result = path(f.peered(), fw=f.firewall(vnet_id=None))
    assert isinstance(result, Unreachable) and "VNet of firewall fw is not known" in result.reason


@pytest.mark.parametrize(("state", "reaches"), [
    ("Succeeded", True), ("Updating", False), ("Failed", False), ("Deleting", False), ("", False)])
def test_vwan_hub_connection_states(state: str, reaches: bool) -> None:
    result = path([], fw=hub_firewall(), connections=(f.hub_connection(VHUB, f.VNET, state),),
                  firewall_id=HUB_FW)
    if reaches:
        assert isinstance(result, Reaches) and result.vwan and result.hub == VHUB
        assert result.firewall.private_ip == "10.100.64.132"  # AZFW_Hub: hubIPAddresses.privateIPAddress
    else:
        assert isinstance(result, Unreachable) and "is not Succeeded" in result.reason


def test_a_connection_to_another_virtual_hub_does_not_reach_this_hub_s_firewall() -> None:
    other_hub = f"{f.HUB_RG}/providers/Microsoft.Network/virtualHubs/vhub-2"
    result = path([], fw=hub_firewall(), connections=(f.hub_connection(other_hub, f.VNET),), firewall_id=HUB_FW)
    assert isinstance(result, Unreachable) and "virtual hub vhub-2" in result.reason


def test_two_vnets_that_reach_different_firewalls_are_ambiguous_for_one_cluster() -> None:
    snap = f.snapshot(fw=f.firewall(), vnets=[*f.peered(), f.vnet(LONE)])
    result = paths.firewall_for_vnets(snap, [f.VNET, LONE], f.settings())
    assert isinstance(result, Unreachable) and "VNet lone" in result.reason
    assert isinstance(paths.firewall_for_vnets(snap, [f.VNET, f.VNET], f.settings()), Reaches)


def test_ambiguous_names_every_firewall() -> None:
    result = Ambiguous((f.firewall(), hub_firewall()))
    assert f.FIREWALL in result.reason and HUB_FW in result.reason and "ambiguous" in result.reason


def test_vnet_of_subnet() -> None:
    assert paths.vnet_of_subnet(f.NODE_SUBNET) == f.VNET
    assert paths.vnet_of_subnet("not-an-id") is None


def test_a_vnet_s_sides_of_its_peerings_with_another_are_indexed_case_insensitively_in_order() -> None:
    first = f.peering(f.HUB_VNET, f.VNET)
    second = dataclasses.replace(f.peering(f.HUB_VNET, f.VNET.upper()), name="again")
    hub = f.vnet(f.HUB_VNET, first, f.peering(f.HUB_VNET, LONE), second)
    assert hub.peerings_to(f.VNET.lower() + "/") == (first, second)
    assert hub.peerings_to(OTHER_HUB) == ()


def test_a_path_is_worked_out_once_per_snapshot_and_afresh_for_a_changed_one() -> None:
    settings = f.settings()
    snap = f.snapshot(fw=f.firewall(), vnets=f.peered())
    reached = paths.firewall_for_vnet(snap, f.VNET, settings)
    assert isinstance(reached, Reaches)
    assert paths.firewall_for_vnet(snap, f.VNET.upper(), settings) is reached  # kept with the snapshot
    # A snapshot built from it with other VNets (as observe builds views) answers from its own VNets.
    disconnected = [f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET, "Disconnected")),
                    f.vnet(f.HUB_VNET, f.peering(f.HUB_VNET, f.VNET))]
    changed = dataclasses.replace(snap, vnets={v: o for v, o in f.snapshot(vnets=disconnected).vnets.items()})
    assert isinstance(paths.firewall_for_vnet(changed, f.VNET, settings), Unreachable)
    # Other configured firewalls are another question: not answered from the first one's entry.
    several = f.settings(firewall_ids=(f.FIREWALL, HUB_FW))
    assert isinstance(paths.firewall_for_vnet(snap, f.VNET, several), Unreachable)  # fw-vhub was not observed
