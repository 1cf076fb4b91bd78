"""Never route where traffic cannot go (#21), end to end: the reconciler with the real SDK against the emulator,
whose peerings keep ARM's peeringState (emulator/peering.py)."""

from __future__ import annotations

from bench import topology
from bench.common import count_requests, harness
from remediation.core.model import Action
from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import (
    CNI,
    CUSTOMER_TABLE,
    FIREWALL,
    HUB,
    OVERLAY,
    OWNED_RCG,
    VNET,
    Seed,
    arm_writes,
    canonical,
    props,
    route_names,
    seed_item,
)

HUB_VNET = f"{HUB}/virtualNetworks/vnet-hub"
HUB_SIDE = f"{HUB_VNET}/virtualNetworkPeerings/hub-to-spoke"
NO_PATH = "no path to the firewall"
NEW_IP = "10.0.1.5"


def spoke_side_only(seed: Seed) -> None:
    """The spoke asked for the peering, the hub never answered: the spoke's side is Initiated."""
    seed_item(seed, HUB_VNET)["properties"]["virtualNetworkPeerings"] = []
    seed_item(seed, VNET)["properties"]["virtualNetworkPeerings"][0]["properties"]["peeringState"] = "Initiated"


def unpeered(seed: Seed) -> None:
    seed_item(seed, HUB_VNET)["properties"]["virtualNetworkPeerings"] = []
    seed_item(seed, VNET)["properties"]["virtualNetworkPeerings"] = []


def _skips(result: object) -> dict[str, str]:
    plan = getattr(result, "plan")  # noqa: B009 - ReconcileResult; typed loosely for the combined result
    return {s.target.lower(): s.reason for s in plan.skipped}


def test_a_spoke_whose_peering_is_only_initiated_gets_nothing_and_the_sweep_is_no_error(world: WorldFactory) -> None:
    w = world(spoke_side_only)
    assert props(w.emu, VNET)["virtualNetworkPeerings"][0]["properties"]["peeringState"] == "Initiated"
    result = w.sweep()
    assert result.error is None
    skips = _skips(result)
    for cluster in (CNI, OVERLAY):
        assert skips[cluster.lower()].startswith(NO_PATH) and "Initiated, not Connected" in skips[cluster.lower()]
    assert [w for w in arm_writes(w.emu) if "routeTables" in w or "subnets" in w] == []
    assert _owned_routes(w) == set() and w.emu.get(OWNED_RCG) is None


def test_a_vnet_without_any_peering_is_skipped_with_its_reason(world: WorldFactory) -> None:
    w = world(unpeered)
    result = w.run(CNI)
    assert result.error is None and not result.plan.writes and arm_writes(w.emu) == []
    assert "has no peering and no hub connection" in _skips(result)[CNI.lower()]


def test_a_peering_going_disconnected_deletes_nothing(world: WorldFactory) -> None:
    w = world()
    assert w.sweep().converged is True
    routes_before, rules_before = _owned_routes(w), canonical(props(w.emu, OWNED_RCG))
    assert routes_before  # the first sweep routed the spoke through the hub firewall
    w.emu.delete_foreign(HUB_SIDE)  # the hub's side goes: the spoke's side turns Disconnected (ARM)
    peering = props(w.emu, VNET)["virtualNetworkPeerings"][0]
    assert peering["properties"]["peeringState"] == "Disconnected"
    w.reset_log()

    result = w.sweep()

    assert result.error is None
    assert not any(c.action is Action.DELETE for c in result.plan.changes)
    assert arm_writes(w.emu) == []
    assert _owned_routes(w) == routes_before and canonical(props(w.emu, OWNED_RCG)) == rules_before
    assert "Disconnected" in _skips(result)[CNI.lower()]


def _owned_routes(w: object) -> set[str]:
    emu = getattr(w, "emu")  # noqa: B009
    return {n for n in route_names(emu, CUSTOMER_TABLE) if n.startswith("rmd-")}


def test_a_moved_firewall_ip_is_followed_by_the_sweep(world: WorldFactory) -> None:
    """Deallocate / allocate can give the firewall a new private IP (firewall known issues): the next sweep
    moves every owned route to it and leaves none at the old address."""
    w = world()
    assert w.sweep().converged is True
    body = w.emu.get(FIREWALL)
    assert body is not None
    config = body["properties"]["ipConfigurations"][0]
    config["name"] = "ipconfig-reallocated"  # a new allocation: the emulator keeps the address given
    config["properties"]["privateIPAddress"] = NEW_IP
    w.emu.put_foreign(FIREWALL, body)

    result = w.sweep()

    assert result.converged is True and result.error is None
    hops = {props(w.emu, f"{CUSTOMER_TABLE}/routes/{name}")["nextHopIpAddress"] for name in _owned_routes(w)}
    assert hops == {NEW_IP}
    w.reset_log()
    assert not w.sweep().plan.writes and arm_writes(w.emu) == []


def _event_reads(clusters: int) -> int:
    """GETs of one converged cluster event in a bench fleet whose spokes are all peered with the hub."""
    fleet = topology.generate(clusters, subnets_per_vnet=3)
    with harness(fleet.seed, topology.SETTINGS) as h:
        assert h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False).converged is True
        h.emu.clear_log()
        result = h.reconciler.reconcile_combined(h.reconciler.resolve(fleet.cluster_ids[1]), dry_run=False)
        assert result.converged is True and not result.plan.writes
        return sum(count_requests(h.emu.request_log).values())


def test_reads_per_converged_cluster_event_stay_flat_in_the_number_of_peered_vnets() -> None:
    """Peerings come inside the VNet bodies the pass reads anyway (the VNet list, the hub VNet in it): no GET
    per VNet or per peering (measured 6 GETs before and after #21, docs/platform-notes.md 13)."""
    assert _event_reads(4) == _event_reads(24)  # 2 and 12 spoke VNets
