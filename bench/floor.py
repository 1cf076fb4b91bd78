"""The physical floor: the shortest time in which ANY correct design could converge a fleet on real Azure.

Independent of the product's design (no remediation import; only bench/minimum.py's runbook model, which shares
no code with the product either). Where bench/minimum.py counts the requests *this* design's shape needs (one
owned table per subnet), the floor models the best design the platform allows, and states what it assumes:

- One owned route table per (VNet, route set): every subnet in a VNet that needs the same routes shares one
  table, so a VNet needs as many table creates as it has distinct route sets (the tables are created in
  parallel, each in ROUTE_TABLE_S).
- Associations are subnet PUTs, and ARM serializes the subnet writes of one VNet (docs/arm-notes.md 2.2, 3.4):
  a VNet's chain is one table create, then its subnet writes one after another, SUBNET_S each. A VNet PUT
  carrying every subnet could associate them at once, but it replaces every subnet and peering of the VNet
  (a lost update of anything another writer changed meanwhile): the team's trust rules rule it out, so the
  floor does not use it.
- The owned rule collection group is written once per policy (one group write per policy at a time; its
  content depends only on the cluster ranges, so it can start as soon as the inventory is read), GROUP_S.
- Write lanes: WRITE_LANES requests in flight from the app at once, each holding its lane for the request's
  round trip only (an operation runs on ARM's side and is polled without holding a lane).
- ARM's per-subscription token buckets (docs/arm-notes.md 3.3): reads 250, refilled 25/s; writes 200, refilled
  10/s. Every write costs one status poll and every subnet PUT one fresh subnet GET (bench/minimum.py).
- The inventory read comes first (the list pages, the VPN gateway lists, the firewall), in parallel on the lanes.
- The run budget of one Function run is RUN_BUDGET_S.

Durations (docs/arm-notes.md 1.2, from recorded azure-cli traffic): a route table PUT is Succeeded at its first
poll 2-3 s after the request; a subnet PUT is InProgress at once and Succeeded by the next poll 10-11 s later
(the project's typical duration, and the emulator's, is 8 s: used here, so the floor is not inflated); a group
behind a firewall takes three to five minutes (section 2.3; 180 s used). The request round trips are assumed
(the recordings' Date headers have one-second resolution): GET_RTT_S and PUT_RTT_S below.

The floor is the largest of: the longest VNet chain, the group write(s) of one policy, the lanes' request time,
and the buckets of the busiest subscription, each after the inventory read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bench import minimum


@dataclass(frozen=True)
class Assumptions:
    route_table_s: float = 2.0
    subnet_s: float = 8.0
    group_s: float = 180.0
    write_lanes: int = 16
    get_rtt_s: float = 0.1  # assumed
    put_rtt_s: float = 0.3  # assumed
    read_bucket: int = 250
    read_refill_per_s: float = 25.0
    write_bucket: int = 200
    write_refill_per_s: float = 10.0
    run_budget_s: float = 480.0
    page_size: int = 50


ASSUMPTIONS = Assumptions()


def _bucket_wait(count: int, bucket: int, refill: float) -> float:
    return max(0.0, (count - bucket) / refill)


def route_sets(topo: minimum.Topology, rules: minimum.Rules) -> dict[str, dict[frozenset[str], int]]:
    """VNet -> route set -> the subnets needing a write that want exactly those routes (the best design's
    tables: one per VNet and route set). A subnet already associated with a table holding every route it
    needs wants no write."""
    ip = minimum.firewall_ip(topo, rules)
    out: dict[str, dict[frozenset[str], int]] = {}
    for subnet_id, prefixes in minimum.desired_prefixes(topo, rules).items():
        if not prefixes or ip is None:
            continue
        table = topo.get(topo.route_table_of(subnet_id))
        present = {str(minimum._props(r).get("addressPrefix")) for r in minimum._props(table).get("routes") or []
                   if minimum._route_ok(r, ip)}
        if table is not None and prefixes <= present:
            continue
        sets = out.setdefault(topo.subnet_vnet[subnet_id], {})
        sets[frozenset(prefixes)] = sets.get(frozenset(prefixes), 0) + 1
    return out


def _inventory_reads(topo: minimum.Topology, page_size: int) -> dict[str, int]:
    """Per subscription: the list pages and VPN gateway lists a sweep reads before it can plan a write."""
    per_sub: dict[str, int] = {}
    for body in topo.resources.values():
        sub = minimum._subscription(body["id"])
        per_sub.setdefault(sub, 0)
    for sub in per_sub:
        for type_key in (minimum.CLUSTER, minimum.VNET, minimum.APP_GW, minimum.ROUTE_TABLE):
            count = sum(1 for b in topo.of_type(type_key) if minimum._subscription(b["id"]) == sub)
            per_sub[sub] += math.ceil(count / page_size) if count else 1
    for body in topo.of_type(minimum.VPN_GW):
        per_sub[minimum._subscription(body["id"])] += 1
    return per_sub


def floor(topo: minimum.Topology, rules: minimum.Rules, a: Assumptions = ASSUMPTIONS) -> dict[str, Any]:
    """The floor in Azure-seconds with its parts, which part binds, and the assumptions."""
    sets = route_sets(topo, rules)
    inventory = _inventory_reads(topo, a.page_size)
    inventory[minimum._subscription(rules.firewall_id)] = inventory.get(minimum._subscription(rules.firewall_id),
                                                                         0) + 2  # the firewall and the group
    read_phase = math.ceil(sum(inventory.values()) / a.write_lanes) * a.get_rtt_s
    chains = {vnet: a.route_table_s + sum(by_set.values()) * a.subnet_s for vnet, by_set in sets.items()}
    group_writes = 0 if minimum.group_complete(topo, rules) else 1
    writes_by_sub: dict[str, int] = {}
    reads_by_sub: dict[str, int] = dict(inventory)
    for vnet, by_set in sets.items():
        sub = minimum._subscription(vnet)
        subnet_writes = sum(by_set.values())
        count = len(by_set) + subnet_writes
        writes_by_sub[sub] = writes_by_sub.get(sub, 0) + count
        reads_by_sub[sub] = reads_by_sub.get(sub, 0) + count + subnet_writes  # a poll each, a fresh GET each
    policy_sub = minimum._subscription(rules.firewall_id)
    writes_by_sub[policy_sub] = writes_by_sub.get(policy_sub, 0) + group_writes
    total_writes = sum(writes_by_sub.values())
    bucket = max((max(_bucket_wait(writes_by_sub.get(s, 0), a.write_bucket, a.write_refill_per_s),
                      _bucket_wait(reads_by_sub.get(s, 0), a.read_bucket, a.read_refill_per_s))
                  for s in reads_by_sub), default=0.0)
    parts = {
        "longest VNet chain (table create, then its serialized subnet writes)": max(chains.values(), default=0.0),
        "group write(s) of the policy, one at a time": group_writes * a.group_s,
        "write requests over the lanes": total_writes * a.put_rtt_s / a.write_lanes,
        "token buckets of the busiest subscription": bucket,
    }
    binding = max(parts, key=lambda k: parts[k])
    return {
        "floor_s": round(read_phase + parts[binding], 1),
        "inventory_read_s": round(read_phase, 2),
        "parts_s": {k: round(v, 2) for k, v in parts.items()},
        "binding": binding,
        "vnets_written": len(sets),
        "tables": sum(len(s) for s in sets.values()),
        "subnet_writes": sum(sum(s.values()) for s in sets.values()),
        "writes": total_writes,
        "subscriptions": len(reads_by_sub),
        "assumptions": asdict(a),
    }


def summary(result: Mapping[str, Any]) -> str:
    return (f"floor {result['floor_s']} s ({result['binding']}; {result['tables']} tables, "
            f"{result['subnet_writes']} subnet writes in {result['vnets_written']} VNets)")
