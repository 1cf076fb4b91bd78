"""The three-hub estate (examples/estate.json) under FIREWALL_IDS, after its first sweep: a firewall whose
private IP moves is followed by that firewall's own event; a peering going Disconnected deletes nothing; a
policy event maps to its own firewall. Real SDK against the emulator."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import harness
from remediation.core.deadline import Deadline
from remediation.core.model import TargetKind
from remediation.engine.locks import Held, InProcessLocks
from tests.reconciler.test_estate import FIREWALL_IDS, OWN, SPOKE_PREFIX, SUB, _net, _route_hop, _seed

FW_EUS = _net("rg-hub-eus", "azureFirewalls", "fw-eastus")
SETTINGS = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
            "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}


def _all_hops(emu: object) -> set[str | None]:
    return {_route_hop(emu, spoke) for spoke in OWN}


def test_a_moved_firewall_ip_is_followed_by_the_firewall_event() -> None:
    with harness(_seed(), SETTINGS) as h:
        first = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert first.error is None and _route_hop(h.emu, "spoke-eus") == "10.50.1.4"
        body = copy.deepcopy(h.emu.get(FW_EUS))
        assert body is not None
        config = body["properties"]["ipConfigurations"][0]
        config["name"] = "ipconfig-reallocated"  # a new allocation: the emulator keeps the address given
        config["properties"]["privateIPAddress"] = "10.50.1.5"
        h.emu.put_foreign(FW_EUS, body)  # deallocate / allocate gave it another address
        target = h.reconciler.resolve(FW_EUS)  # the firewall's write event names its own target
        assert target.kind is TargetKind.FIREWALL and target.id.lower() == FW_EUS.lower()
        result = h.reconciler.reconcile_combined(target, dry_run=False)
        assert result.error is None and result.converged is True
        assert _route_hop(h.emu, "spoke-eus") == "10.50.1.5"
        assert _all_hops(h.emu) == {"10.0.1.4", "10.50.1.5", "10.100.0.132"}  # nothing left at 10.50.1.4
        again = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert not again.plan.writes and again.error is None


def test_a_policy_event_maps_to_the_firewall_that_uses_it() -> None:
    with harness(_seed(), SETTINGS) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        policy = OWN["spoke-eus"][1]
        target = h.reconciler.resolve(f"{policy}/ruleCollectionGroups/rmd-aks-runbook")
        assert target.kind is TargetKind.FIREWALL and target.id.lower() == policy.lower()
        result = h.reconciler.reconcile_combined(target, dry_run=False)
        assert result.error is None and not result.plan.writes


def test_a_peering_going_disconnected_deletes_nothing() -> None:
    with harness(_seed(), SETTINGS) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        hub = _net("rg-hub-eus", "virtualNetworks", "vnet-hub-eastus")
        body = h.emu.get(hub)
        assert body is not None
        peering = next(p for p in body["properties"]["virtualNetworkPeerings"])
        h.emu.delete_foreign(peering["id"])  # the hub's side goes: the spoke's side turns Disconnected
        spoke = h.emu.get(_net("rg-spoke-eus", "virtualNetworks", "vnet-spoke-eus"))
        assert spoke is not None
        assert {p["properties"]["peeringState"] for p in spoke["properties"]["virtualNetworkPeerings"]} == {
            "Disconnected"}
        h.emu.clear_log()
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is None
        assert not [c for c in result.plan.writes if c.action.value == "delete"], result.plan.writes
        assert _route_hop(h.emu, "spoke-eus") == "10.50.1.4"  # kept, reported, the next run decides
        group = h.emu.get(f"{OWN['spoke-eus'][1]}/ruleCollectionGroups/rmd-aks-runbook")
        assert group is not None and group["properties"]["ruleCollections"]  # its rules stay too


def test_a_deallocated_hub_firewall_skips_only_its_spokes_and_keeps_their_routes() -> None:
    with harness(_seed(), SETTINGS) as h:
        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        body = copy.deepcopy(h.emu.get(FW_EUS))
        assert body is not None
        allocated = body["properties"]["ipConfigurations"]
        body["properties"]["ipConfigurations"] = []  # deallocate(): no address any more
        h.emu.put_foreign(FW_EUS, body)
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is None  # the other hubs are served
        skips = {s.target.rsplit("/", 1)[-1]: s.reason for s in result.plan.skipped}
        assert skips["aks-spoke-eus"].startswith("no path to the firewall"), skips
        assert not [c for c in result.plan.writes if c.action.value == "delete"], result.plan.writes
        assert _all_hops(h.emu) == {"10.0.1.4", "10.50.1.4", "10.100.0.132"}  # kept, not pruned
        allocated[0]["name"] = "ipconfig-reallocated"  # allocate(): a new allocation, another address
        allocated[0]["properties"]["privateIPAddress"] = "10.50.1.6"
        body["properties"]["ipConfigurations"] = allocated
        h.emu.put_foreign(FW_EUS, body)
        moved = h.reconciler.reconcile_combined(h.reconciler.resolve(FW_EUS), dry_run=False)
        assert moved.error is None and moved.converged is True
        assert _all_hops(h.emu) == {"10.0.1.4", "10.50.1.6", "10.100.0.132"}


def test_a_configured_firewall_not_found_stops_every_write_and_status_says_so() -> None:
    from remediation.engine.status import scope_compliance

    ghost = _net("rg-hub-eus", "azureFirewalls", "fw-typo")
    settings = {**SETTINGS, "FIREWALL_IDS": f"{FIREWALL_IDS},{ghost}"}
    with harness(_seed(), settings) as h:
        h.emu.clear_log()
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is not None and "fw-typo" in result.error and "nothing written" in result.error
        assert not result.outcomes and _all_hops(h.emu) == {None}  # a VNet might reach it: no route anywhere
        report = scope_compliance(h.reconciler)
        skipped = [f for f in report.firewalls if f.state.value == "skipped"]
        assert [f.address for f in skipped] == [ghost]  # the CLI's status exits 1 on it, as for FIREWALL_ID
        assert all(c.state.value == "skipped" for c in report.clusters)  # nothing judged against a guess


class _Recorded(InProcessLocks):
    """In-process locks that remember every lease name taken."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    @contextmanager
    def hold(self, name: str, deadline: Deadline | None = None) -> Iterator[Held | None]:
        self.names.append(name)
        with super().hold(name, deadline) as held:
            yield held


def test_a_policy_shared_by_two_hub_firewalls_holds_both_spokes_under_one_lease() -> None:
    seed = _seed()
    weu_policy = OWN["spoke-weu"][1]
    for resource in seed["resources"]:
        if resource["id"].lower() == FW_EUS.lower():
            resource["properties"]["firewallPolicy"] = {"id": weu_policy}
    locks = _Recorded()
    with harness(seed, SETTINGS, locks=locks) as h:
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is None and result.converged is True
        group = h.emu.get(f"{weu_policy}/ruleCollectionGroups/rmd-aks-runbook")
        assert group is not None
        names = {r["name"] for c in group["properties"]["ruleCollections"] for r in c.get("rules", [])}
        assert {"aks-spoke-weu", "aks-spoke-eus"} <= names, names  # both hubs' spokes, one group
        assert h.emu.get(f"{OWN['spoke-eus'][1]}/ruleCollectionGroups/rmd-aks-runbook") is None
        weu_lease = "firewall:" + _net("rg-hub-weu", "azureFirewalls", "fw-westeurope").lower()
        # The sweep writes the shared group itself, once, beside its routing (issue 26), holding the lease both
        # firewall targets take (the first configured firewall's of the policy); as `sweep --destroy`, it takes
        # every configured firewall's lease, in one order. (Before, each firewall target ran after the sweep, the
        # second under the same lease.)
        assert weu_lease in locks.names
        assert [f for f in locks.names if f.startswith("firewall:")] == sorted(
            {"firewall:" + f.lower() for f in FIREWALL_IDS.split(",")})
        ran = [r.target.lower() for r in result.follow_up_results]
        assert weu_lease in ran and f"firewall:{FW_EUS.lower()}" not in ran and result.pending_follow_ups == ()
        weu_puts = [r for r in h.emu.request_log
                    if r.method == "PUT" and r.path.lower().startswith(f"{weu_policy}/rulecollectiongroups/".lower())]
        assert len(weu_puts) == 1
        again = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert not again.plan.writes and again.error is None
