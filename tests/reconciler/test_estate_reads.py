"""A cluster event under FIREWALL_IDS reads only the firewalls its VNets can reach (remediation/engine/observe.py
`_read_on_path`, docs/platform-notes.md 13.3): its reads stay flat in the number of configured hubs (issue #21
"Done when", issue #26 goal 4), and it decides every path exactly as a sweep's full read does, falling back to
that read whenever it cannot show which firewalls are out of reach. Real SDK against the emulator, on the estate
of examples/estate.json (two VNet hubs, one secured vWAN hub, five spokes)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bench.common import harness
from remediation.azure.arm import ArmClient
from remediation.core.model import Snapshot
from remediation.engine import observe
from remediation.planning import desired, paths
from tests.reconciler.helpers import SUB
from tests.reconciler.helpers import estate_cluster as _cluster
from tests.reconciler.helpers import estate_net as _net
from tests.reconciler.helpers import estate_seed as _seed

FW_WEU = _net("rg-hub-weu", "azureFirewalls", "fw-westeurope")
FW_EUS = _net("rg-hub-eus", "azureFirewalls", "fw-eastus")
FW_VHUB = _net("rg-vwan", "azureFirewalls", "fw-vhub-weu")
HUB_WEU = _net("rg-hub-weu", "virtualNetworks", "vnet-hub-westeurope")
SPOKE_EUS = _net("rg-spoke-eus", "virtualNetworks", "vnet-spoke-eus")
SPOKES = ("spoke-weu", "spoke-eus", "spoke-lone", "spoke-initiated", "spoke-vwan")



def _settings(firewalls: tuple[str, ...], **extra: str) -> dict[str, str]:
    key = "FIREWALL_ID" if len(firewalls) == 1 else "FIREWALL_IDS"
    return {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", key: ",".join(firewalls), "REMEDIATION_MODE": "enforce",
            "SPOKE_PREFIXES": "10.200.0.0/16", **extra}


def _converged_event_reads(firewalls: tuple[str, ...]) -> int:
    with harness(_seed(), _settings(firewalls)) as h:
        sweep = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert sweep.error is None, sweep.error
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-eus")), dry_run=False)
        assert event.error is None and event.converged is True and not event.plan.writes, event
        assert event.arm_calls is not None and event.arm_calls.writes == 0
        return event.arm_calls.reads


def test_converged_event_reads_stay_flat_in_the_number_of_hubs() -> None:
    """The spoke-eus cluster (on the eastus hub) with 1, 2 and 3 configured firewalls: the same reads (6 each;
    before: 6 / 8 / 11, every configured firewall and where it sits read for every event)."""
    reads = [_converged_event_reads(f) for f in ((FW_EUS,), (FW_WEU, FW_EUS), (FW_WEU, FW_EUS, FW_VHUB))]
    assert reads[0] == reads[1] == reads[2], reads


def _decision(path: paths.Path) -> tuple[str, ...]:
    if isinstance(path, paths.Reaches):
        return ("reaches", path.firewall.id.lower(), path.hub.lower())
    if isinstance(path, paths.Ambiguous):
        return ("ambiguous", *sorted(f.id.lower() for f in path.firewalls))
    return ("unreachable",)


def _routes(snapshot: Snapshot, cluster_id: str, settings: Any) -> Any:
    wanted = desired.desired_cluster_routes(snapshot, cluster_id, settings)
    if isinstance(wanted, list):
        return sorted((d.subnet_id.lower(), sorted((r.address_prefix, r.next_hop_ip_address) for r in d.routes))
                      for d in wanted)
    return ("skip", type(wanted).__name__)


def _event_and_sweep_agree(h: Any) -> dict[str, tuple[str, ...]]:
    """Each cluster's path and desired routes from its event's read and from a sweep's read: equal, or the test
    fails. Returns the event's decisions by spoke."""
    arm = ArmClient(h.settings)
    fleet = observe.observe_fleet(arm, h.settings)
    decisions: dict[str, tuple[str, ...]] = {}
    for spoke in SPOKES:
        cluster_id = _cluster(spoke)
        event = observe.observe_cluster(arm, cluster_id, h.settings)
        vnets = [_net(f"rg-{spoke}", "virtualNetworks", f"vnet-{spoke}")]
        mine, theirs = (paths.firewall_for_vnets(s, vnets, h.settings) for s in (event, fleet))
        assert _decision(mine) == _decision(theirs), (spoke, mine, theirs)
        assert _routes(event, cluster_id, h.settings) == _routes(fleet, cluster_id, h.settings), spoke
        decisions[spoke] = _decision(mine)
    return decisions


ORDERS = [tuple(p) for n in (1, 2, 3) for c in itertools.combinations((FW_WEU, FW_EUS, FW_VHUB), n)
          for p in itertools.permutations(c)]


@pytest.mark.parametrize("firewalls", ORDERS, ids=lambda fws: "+".join(f.rsplit("/", 1)[-1] for f in fws))
def test_an_event_decides_every_path_as_a_sweep_does(firewalls: tuple[str, ...]) -> None:
    with harness(_seed(), _settings(firewalls)) as h:
        decisions = _event_and_sweep_agree(h)
    routed = {s for s, d in decisions.items() if d[0] == "reaches"}
    expected = {FW_WEU: "spoke-weu", FW_EUS: "spoke-eus", FW_VHUB: "spoke-vwan"}
    assert routed == {expected[f] for f in firewalls}


def _peer_both_ways(emu: Any, one: str, other: str) -> None:
    for local, remote in ((one, other), (other, one)):
        name = f"to-{remote.rsplit('/', 1)[-1]}-extra"
        emu.put_foreign(f"{local}/virtualNetworkPeerings/{name}", {"properties": {
            "remoteVirtualNetwork": {"id": remote}, "allowVirtualNetworkAccess": True,
            "allowForwardedTraffic": True}})


def test_a_spoke_newly_peered_to_a_second_configured_hub_is_ambiguous_in_its_event() -> None:
    with harness(_seed(), _settings((FW_WEU, FW_EUS, FW_VHUB))) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        _peer_both_ways(h.emu, SPOKE_EUS, HUB_WEU)
        assert _event_and_sweep_agree(h)["spoke-eus"] == ("ambiguous", FW_EUS.lower(), FW_WEU.lower())
        h.emu.clear_log()
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-eus")), dry_run=False)
        skips = {s.target.rsplit("/", 1)[-1]: s.reason for s in event.plan.skipped}
        assert "reaches more than one configured firewall" in skips["aks-spoke-eus"], event.plan
        assert not event.plan.writes and event.arm_calls is not None and event.arm_calls.writes == 0


def _extra_spoke(emu: Any, rg: str, name: str, space: str, hub: str) -> None:
    vnet = _net(rg, "virtualNetworks", name)
    emu.put_foreign(vnet, {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": [space]},
                                                                "subnets": []}})
    _peer_both_ways(emu, vnet, hub)


@pytest.mark.parametrize(("prefix", "routed"), [("10.52.0.0/16", True), ("10.52.0.0/15", False)],
                         ids=["held-by-this-hub", "spans-two-hubs"])
def test_a_held_spoke_prefix_makes_the_event_read_every_hub_and_decide_as_the_sweep(prefix: str,
                                                                                     routed: bool) -> None:
    """SPOKE_PREFIXES holding the range of a second spoke of the eastus hub (10.52.0.0/16), or spanning it and a
    second spoke of the westeurope hub (10.53.0.0/16): whether the entry is routed via the eastus firewall
    depends on the other hubs' spokes (`paths.hub_spoke_prefixes`), so an event on that hub reads every configured
    firewall and hub, and routes the entry exactly when the sweep does (not when it spans two hubs)."""
    firewalls = (FW_WEU, FW_EUS, FW_VHUB)
    with harness(_seed(), _settings(firewalls, SPOKE_PREFIXES=prefix)) as h:
        _extra_spoke(h.emu, "rg-spoke-eus", "vnet-spoke-eus-2", "10.52.0.0/16",
                     _net("rg-hub-eus", "virtualNetworks", "vnet-hub-eastus"))
        _extra_spoke(h.emu, "rg-spoke-weu", "vnet-spoke-weu-2", "10.53.0.0/16", HUB_WEU)
        sweep = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert sweep.error is None
        _event_and_sweep_agree(h)
        h.emu.clear_log()
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-eus")), dry_run=False)
        assert event.converged is True and not event.plan.writes, event.plan
        assert event.arm_calls is not None and event.arm_calls.reads > _converged_event_reads(firewalls)
        table = h.emu.get(str((h.emu.get(f"{SPOKE_EUS}/subnets/snet-aks") or {})["properties"]["routeTable"]["id"]))
        assert table is not None
        assert (prefix in {r["properties"]["addressPrefix"] for r in table["properties"]["routes"]}) is routed


def test_a_vwan_spoke_event_reads_every_firewall_and_reaches_its_hub() -> None:
    """The vWAN spoke's hub connection shows as a peering to the hub's managed VNet: the event cannot tell which
    configured firewalls are out of reach without the hubs' connections, so it reads them all."""
    with harness(_seed(), _settings((FW_WEU, FW_EUS, FW_VHUB))) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        decisions = _event_and_sweep_agree(h)
        assert decisions["spoke-vwan"][:2] == ("reaches", FW_VHUB.lower())
        h.emu.clear_log()
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-vwan")), dry_run=False)
        assert event.converged is True and not event.plan.writes
        # Known by its shape, the hub's managed VNet is never asked for (the customer may not read it).
        assert not [r.path for r in h.emu.request_log if "/virtualnetworks/hv_" in r.path.lower()]


def test_a_configured_firewall_out_of_every_path_is_not_read_by_an_event() -> None:
    """The one place an event and a sweep differ (docs/platform-notes.md 13.3): a configured firewall no VNet of
    the event can reach is not read, so a typo in FIREWALL_IDS is refused by the sweep, the firewall targets and
    `status` (every write stopped: tests/reconciler/test_estate_moves.py) but not by an event whose cluster reaches
    exactly one real firewall; that event routes its cluster as it would without the typo."""
    ghost = _net("rg-hub-eus", "azureFirewalls", "fw-typo")
    with harness(_seed(), _settings((FW_WEU, FW_EUS, ghost))) as h:
        sweep = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert sweep.error is not None and "fw-typo" in sweep.error and not sweep.outcomes
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-eus")), dry_run=False)
        assert event.error is None and event.converged is True
        hops = {r.next_hop_ip_address for c in event.plan.writes for r in getattr(c, "routes", ())}
        assert all(h_ in (None, "10.50.1.4") for h_ in hops)


def test_a_deallocated_firewall_leaves_its_subnet_unexplained_and_the_event_decides_as_the_sweep() -> None:
    """A firewall without IP configurations names no AzureFirewallSubnet: the hub's firewall subnet then proves
    nothing, so the event reads every configured firewall and skips the spoke as the sweep does."""
    with harness(_seed(), _settings((FW_WEU, FW_EUS, FW_VHUB))) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        body = h.emu.get(FW_EUS)
        assert body is not None
        body["properties"]["ipConfigurations"] = []
        h.emu.put_foreign(FW_EUS, body)
        assert _event_and_sweep_agree(h)["spoke-eus"] == ("unreachable",)
        h.emu.clear_log()
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-eus")), dry_run=False)
        assert not event.plan.writes and event.arm_calls is not None
        assert {r.path.lower() for r in h.emu.request_log if "/azurefirewalls/" in r.path.lower()} >= {
            f"{f.lower()}" for f in (FW_WEU, FW_EUS, FW_VHUB)}


def test_a_peer_the_identity_may_not_read_makes_the_event_read_every_firewall_not_fail() -> None:
    """spoke-eus also peers with a partner's VNet in another subscription, which answers 403: the event cannot tell
    what sits there, so it reads every configured firewall (as before this read existed) and still routes."""
    partner = ("/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/rg-partner/providers/"
               "Microsoft.Network/virtualNetworks/vnet-partner")
    with harness(_seed(), _settings((FW_WEU, FW_EUS, FW_VHUB))) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        h.emu.put_foreign(f"{SPOKE_EUS}/virtualNetworkPeerings/to-partner", {"properties": {
            "remoteVirtualNetwork": {"id": partner}, "allowVirtualNetworkAccess": True}})
        h.emu.faults.add("GET", r"/virtualNetworks/vnet-partner$", kind="status", status=403,
                         code="AuthorizationFailed", count=20)
        assert _event_and_sweep_agree(h)["spoke-eus"][:2] == ("reaches", FW_EUS.lower())
        h.emu.clear_log()
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-eus")), dry_run=False)
        assert event.error is None and event.converged is True and not event.plan.writes
        assert {r.path.lower() for r in h.emu.request_log if "/azurefirewalls/" in r.path.lower()} >= {
            f.lower() for f in (FW_WEU, FW_EUS, FW_VHUB)}


def test_a_default_route_to_an_unknown_appliance_makes_the_event_read_every_firewall() -> None:
    """The owned 0.0.0.0/0 of spoke-eus drifted to an address that is none of the firewalls the event would read
    (it might be an unread configured firewall's: egress.egress_path weighs every one): the event reads them all,
    and plans the repair the sweep plans."""
    with harness(_seed(), _settings((FW_WEU, FW_EUS, FW_VHUB))) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        table_id = str((h.emu.get(f"{SPOKE_EUS}/subnets/snet-aks") or {})["properties"]["routeTable"]["id"])
        table = h.emu.get(table_id)
        assert table is not None
        default = next(r for r in table["properties"]["routes"] if r["properties"]["addressPrefix"] == "0.0.0.0/0")
        default["properties"]["nextHopIpAddress"] = "10.9.9.9"
        h.emu.put_foreign(table_id, table)
        _event_and_sweep_agree(h)
        h.emu.clear_log()
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-eus")), dry_run=True)
        assert [c.address for c in event.plan.writes] and event.error is None
        assert {r.path.lower() for r in h.emu.request_log if "/azurefirewalls/" in r.path.lower()} >= {
            f.lower() for f in (FW_WEU, FW_EUS, FW_VHUB)}


def test_a_vwan_spoke_using_the_hub_gateways_never_asks_for_the_hubs_managed_vnet() -> None:
    """Should ARM set useRemoteGateways on the spoke peering of a hub connection (*unconfirmed*), the event's VPN
    gateway read must not follow it to the hub's managed VNet, which the customer cannot read (403)."""
    with harness(_seed(), _settings((FW_WEU, FW_EUS, FW_VHUB))) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        spoke = _net("rg-spoke-vwan", "virtualNetworks", "vnet-spoke-vwan")
        body = h.emu.get(spoke)
        assert body is not None
        peering = next(p for p in body["properties"]["virtualNetworkPeerings"]
                       if p["name"].startswith("RemoteVnetToHubPeering_"))
        peering["properties"]["useRemoteGateways"] = True
        h.emu.put_foreign(spoke, body)
        h.emu.faults.add("GET", r"/virtualNetworks/HV_", kind="status", status=403, code="AuthorizationFailed",
                         count=20)
        event = h.reconciler.reconcile(h.reconciler.resolve(_cluster("spoke-vwan")), dry_run=False)
        assert event.error is None and event.converged is True and not event.plan.writes
        assert _event_and_sweep_agree(h)["spoke-vwan"][:2] == ("reaches", FW_VHUB.lower())
