"""10,000 clusters in 100 subscriptions: a converged sweep with Resource Graph inventory (issue 13 item 5).

Converging 10,000 clusters with the product would take hours here (a 1000-cluster converging sweep took
about 1,400 s), so the converged routing state is seeded directly from the independent model
(bench/minimum.py, which shares no code with the product): every subnet that the runbook says must reach the
firewall gets an owned route table (tagged OWNERSHIP_TAG) holding an owned route per prefix to the firewall's
IP, and is associated with it. The product is free to name its routes as it likes, and it keeps an owned
route of the right prefix and next hop under the name it has (remediation/planning/plan.py), so the product sees
this state as converged if, and only if, it agrees with the model. The owned rule collection group is left
to the firewall follow-up, which runs as a dry run: its reads count, its group (item 4's business) is
reported by size, not written.

Counted from the emulator's request log: Resource Graph queries (POST .../Microsoft.ResourceGraph/resources),
429s of any kind, ARM GETs, and writes (PUT/PATCH/DELETE; an ARG POST changes nothing and is not a write).
The emulator meters ARG as ARG does by default: 15 queries per 5-second window per user.
"""

from __future__ import annotations

import time
from typing import Any

from bench import minimum, topology
from bench.common import BenchFailure, harness
from bench.fleet_cost import RULES, accepted, follow_ups, gets, gets_by_type, graph_queries, writes
from remediation.core.model import ReconcileResult

CLUSTERS = 10_000
SUBSCRIPTIONS = 100
OWNED_TAG = {RULES.ownership_tag[0]: RULES.ownership_tag[1]}


def converged_seed(fleet: topology.Fleet) -> dict[str, Any]:
    """The fleet's seed plus the routing the independent model says the runbook needs, already in place."""
    seed = fleet.seed
    topo = minimum.Topology.from_dump(seed)
    ip = minimum.firewall_ip(topo, RULES)
    if ip is None:
        raise BenchFailure("the generated fleet has no firewall IP")
    wanted = minimum.desired_prefixes(topo, RULES)
    vnets = {minimum.key(b["id"]): b for b in seed["resources"] if str(b.get("type", "")).lower() == minimum.VNET}
    tables: list[dict[str, Any]] = []
    for n, (subnet_key, prefixes) in enumerate(sorted(wanted.items())):
        subnet = topo.subnets[subnet_key]
        vnet = vnets[topo.subnet_vnet[subnet_key]]
        rg_path = vnet["id"].split("/providers/")[0]
        table_id = f"{rg_path}/providers/Microsoft.Network/routeTables/{RULES.ownership_prefix}seed-{n:05d}"
        names = [f"{RULES.ownership_prefix}seed-{i}" for i in range(len(prefixes))]
        routes = [{"name": name, "id": f"{table_id}/routes/{name}", "type": "Microsoft.Network/routeTables/routes",
                   "properties": {"provisioningState": "Succeeded", "addressPrefix": prefix,
                                  "nextHopType": "VirtualAppliance", "nextHopIpAddress": ip}}
                  for name, prefix in zip(names, sorted(prefixes), strict=True)]
        tables.append({"name": table_id.rsplit("/", 1)[1], "id": table_id, "type": "Microsoft.Network/routeTables",
                       "location": vnet["location"], "tags": dict(OWNED_TAG),
                       "etag": f'W/"00000000-0000-4000-a000-{n:012d}"',
                       "properties": {"provisioningState": "Succeeded", "disableBgpRoutePropagation": False,
                                      "routes": routes}})
        subnet.setdefault("properties", {})["routeTable"] = {"id": table_id}
    return {"resources": [*seed["resources"], *tables]}


def run(n_clusters: int = CLUSTERS, subscriptions: int = SUBSCRIPTIONS) -> dict[str, Any]:
    started = time.monotonic()
    fleet = topology.generate(n_clusters, subscriptions=subscriptions)
    seed = converged_seed(fleet)
    if minimum.total(minimum.writes_needed(minimum.Topology.from_dump(seed), RULES)) != 1:  # only the group
        raise BenchFailure("the seeded routing is not converged by the independent model's own account")
    settings = topology.settings_for(subscriptions, INVENTORY="resource-graph")
    seeded_s = time.monotonic() - started
    with harness(seed, settings) as h:
        h.emu.clear_log()
        t0, cpu = time.monotonic(), time.process_time()
        sweep = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=False)
        sweep_wall, sweep_cpu = time.monotonic() - t0, time.process_time() - cpu
        sweep_log = h.emu.request_log
        h.emu.clear_log()
        t0 = time.monotonic()
        firewall: list[ReconcileResult] = [h.reconciler.reconcile(f, dry_run=True) for f in follow_ups(sweep)]
        firewall_wall = time.monotonic() - t0
        firewall_log = h.emu.request_log
    if sweep.converged is not True or sweep.plan.has_changes:
        raise BenchFailure(f"10k sweep: not converged ({sweep.error or 'changes planned'}); "
                           f"{len(sweep.plan.writes)} changes, e.g. {[c.reason for c in sweep.plan.writes[:2]]}")
    both = [*sweep_log, *firewall_log]
    group_changes = [c for r in firewall for c in r.plan.writes]
    return {
        "clusters": n_clusters, "subscriptions": subscriptions, "resources": len(seed["resources"]),
        "seed_s": round(seeded_s, 1),
        "sweep": {"converged": sweep.converged, "graph_queries": graph_queries(sweep_log),
                  "gets": gets(sweep_log), "writes": writes(sweep_log),
                  "http_429": sum(1 for r in sweep_log if r.status == 429),
                  "wall_s": round(sweep_wall, 1), "cpu_s": round(sweep_cpu, 1),
                  "gets_by_type": gets_by_type(sweep_log)},
        "firewall_dry_run": {"graph_queries": graph_queries(firewall_log), "gets": gets(firewall_log),
                             "writes": writes(firewall_log),
                             "http_429": sum(1 for r in firewall_log if r.status == 429),
                             "planned_group_changes": len(group_changes),
                             "errors": [r.error for r in firewall if r.error], "wall_s": round(firewall_wall, 1)},
        "graph_queries": graph_queries(both), "http_429": sum(1 for r in both if r.status == 429),
        "accepted_requests": len(accepted(both)),
        "total_s": round(time.monotonic() - started, 1),
    }
