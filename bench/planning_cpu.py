"""Pure planning CPU of a sweep, on synthetic snapshots (no emulator, no HTTP): what the product computes once
the fleet is read.

The snapshot is built from a bench/topology.py fleet with the product's own converters (`remediation.azure.convert`,
the functions the ARM client feeds its reads through), so the planning sees exactly what a sweep would observe.
A *converged* fleet has its routing seeded by the independent model (bench/fleet10k.converged_seed) and the owned
group as the product's own desired rules (a converged group holds exactly those). Measured, each in this process's
CPU time: the routing plan of a sweep (`Reconciler._fleet_plan`: desired routes of every cluster, the plan with
pruning), the verify's settle check (`reconciler._unsettled`), and the firewall plan (desired rule collections
and their plan). Goals (issue 26 item 3): at N = 1,000 <= 0.5 s, a converged 10,000-cluster sweep <= 15 s.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Mapping
from typing import Any

from bench import fleet10k, topology
from remediation.azure import convert
from remediation.core import ids
from remediation.core.config import Settings, load_settings
from remediation.core.model import Snapshot
from remediation.engine import reconciler as reconciler_module
from remediation.engine.locks import InProcessLocks
from remediation.planning import desired, plan

SETTINGS = {**topology.SETTINGS, "AZURE_TENANT_ID": "00000000-0000-0000-0000-00000000000a"}


def _type(body: Mapping[str, Any]) -> str:
    return str(body.get("type", "")).lower()


def snapshot_of(dump: Mapping[str, Any]) -> Snapshot:
    """What observe_fleet would hold for this dump (route tables carry their associated subnets, as ARM
    computes them)."""
    resources = list(dump["resources"])
    on_table: dict[str, list[dict[str, str]]] = {}
    vnets = [b for b in resources if _type(b) == "microsoft.network/virtualnetworks"]
    for vnet in vnets:
        for subnet in vnet.get("properties", {}).get("subnets") or []:
            table = (subnet.get("properties", {}).get("routeTable") or {}).get("id")
            if table:
                on_table.setdefault(ids.id_key(table), []).append({"id": subnet["id"]})
    tables = {}
    for body in resources:
        if _type(body) == "microsoft.network/routetables":
            body = {**body, "properties": {**body["properties"], "subnets": on_table.get(ids.id_key(body["id"]), [])}}
            tables[ids.id_key(body["id"])] = convert.route_table_from_arm(body)
    subnets = {ids.id_key(s.id): s for v in vnets for s in convert.vnet_subnets_from_arm(v)}
    firewall = next(convert.firewall_from_arm(b) for b in resources if _type(b) == "microsoft.network/azurefirewalls")
    return Snapshot(
        clusters={ids.id_key(b["id"]): convert.cluster_from_arm(b) for b in resources
                  if _type(b) == "microsoft.containerservice/managedclusters"},
        subnets=subnets, route_tables=tables,
        app_gateways={ids.id_key(b["id"]): convert.app_gateway_from_arm(b) for b in resources
                      if _type(b) == "microsoft.network/applicationgateways"},
        vpn_gateways=tuple(convert.vpn_gateway_from_arm(b) for b in resources
                           if _type(b) == "microsoft.network/virtualnetworkgateways"),
        firewall=firewall,
        vnets={ids.id_key(v["id"]): convert.vnet_from_arm(v) for v in vnets},
    )


def _cpu(job: Any) -> tuple[Any, float]:
    started = time.process_time()
    out = job()
    return out, time.process_time() - started


def _inputs(n_clusters: int, *, converged: bool, subscriptions: int, subnets_per_vnet: int) -> tuple[Any, Settings]:
    fleet = topology.generate(n_clusters, subscriptions=subscriptions, subnets_per_vnet=subnets_per_vnet)
    dump = fleet10k.converged_seed(fleet) if converged else fleet.seed
    scope = ",".join(f"/subscriptions/{topology.subscription(k, subscriptions)}" for k in range(subscriptions))
    return dump, load_settings({**SETTINGS, "REMEDIATION_SCOPE": scope})


def planning(snapshot: Snapshot, settings: Settings) -> None:
    """What `run` times, in one go: the routing plan, its settle check and the firewall plan."""
    routing = reconciler_module.Reconciler(settings, locks=InProcessLocks())._fleet_plan(snapshot)
    reconciler_module._unsettled(snapshot, routing.changes)
    collections, _ = desired.desired_rule_collections(snapshot, settings)
    plan.plan_firewall_checked(snapshot, collections, settings)


def calls(n_clusters: int, *, subnets_per_vnet: int = 50) -> int:
    """Python function calls the planning of a converged fleet makes (cProfile's count, caches warmed by one
    planning first). Unlike CPU seconds it does not depend on the machine's load, so a test can hold planning
    linear: the count per cluster must not grow with the fleet (one cluster per VNet: a hub peered with every
    spoke, where a scan of the hub's peerings per spoke was quadratic)."""
    dump, settings = _inputs(n_clusters, converged=True, subscriptions=1, subnets_per_vnet=subnets_per_vnet)
    planning(snapshot_of(dump), settings)
    snapshot = snapshot_of(dump)  # a new snapshot: its per-snapshot answers (Snapshot.derived) are computed again
    profile = cProfile.Profile()
    profile.runcall(planning, snapshot, settings)
    return sum(count for _, count, _, _, _ in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def run(n_clusters: int, *, converged: bool = True, subscriptions: int = 1) -> dict[str, Any]:
    dump, settings = _inputs(n_clusters, converged=converged, subscriptions=subscriptions, subnets_per_vnet=50)
    snapshot, build_s = _cpu(lambda: snapshot_of(dump))
    engine = reconciler_module.Reconciler(settings, locks=InProcessLocks())
    routing, routing_s = _cpu(lambda: engine._fleet_plan(snapshot))
    unsettled, unsettled_s = _cpu(lambda: reconciler_module._unsettled(snapshot, routing.changes))

    def firewall() -> Any:
        collections, _ = desired.desired_rule_collections(snapshot, settings)
        return plan.plan_firewall_checked(snapshot, collections, settings)

    (changes, _conflicts), firewall_s = _cpu(firewall)
    writes = sum(1 for c in routing.changes if c.action.value != "noop")
    return {"clusters": n_clusters, "converged_seed": converged, "snapshot_build_cpu_s": round(build_s, 3),
            "routing_plan_cpu_s": round(routing_s, 3), "unsettled_cpu_s": round(unsettled_s, 3),
            "firewall_plan_cpu_s": round(firewall_s, 3),
            "planning_cpu_s": round(routing_s + unsettled_s + firewall_s, 3),
            "routing_writes_planned": writes, "firewall_changes_planned": len(changes),
            "unsettled": len(unsettled), "route_tables": len(snapshot.route_tables)}
