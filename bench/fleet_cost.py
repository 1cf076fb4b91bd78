"""Fleet-scale figures of issue 13, counted from the emulator's request log (never from the product's counters).

- `size_run(n)`: a fresh fleet of n clusters (bench.topology). The product's converging sweep runs with
  realistic LRO durations scaled by `time_factor` (0.1 for small fleets); its GETs and writes are compared
  with the independent minimum of the seeded state (bench/minimum.py). Then converged cluster events for a
  fixed sample of clusters (the same ones at every n): GETs per event against the minimum of one event.
  Last, the owned group's size.
- `burst_run(n)`: the same seed, n new-cluster events at once through a worker pool; reads and group writes
  against one converging sweep.

"One event" is the cluster target plus the follow-up targets its result names (`follow_ups`, when the
result has that attribute): a design that moves the firewall into its own target pays for it here too.
In a burst the follow-ups are coalesced per target, as the intake's dedupe window does within one burst.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench import minimum, projection, topology
from bench.common import RCG_PUT, BenchFailure, harness, is_graph_query, resource_type
from bench.latency import interval_union
from remediation.core.model import ReconcileResult, Target, TargetKind

WRITE_METHODS = ("PUT", "PATCH", "DELETE", "POST")
SAMPLE = 6  # clusters 0..5 exist at every n >= 6 and cover AGIC, userDefinedRouting, flat CNI and overlay
RULES = minimum.Rules(firewall_id=topology.FIREWALL_ID, spoke_prefixes=(topology.SPOKE_PREFIX,))


def accepted(log: Sequence[Any]) -> list[Any]:
    """Requests ARM would have processed: a 429 or a dropped connection took no token and did nothing."""
    return [r for r in log if r.status not in (0, 429)]


def gets(log: Sequence[Any]) -> int:
    return sum(1 for r in accepted(log) if r.method == "GET")


def gets_by_type(log: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in accepted(log):
        if r.method == "GET":
            counts[resource_type(r.path)] = counts.get(resource_type(r.path), 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def writes(log: Sequence[Any]) -> int:
    return sum(1 for r in accepted(log) if r.method in WRITE_METHODS and not is_graph_query(r))


def graph_queries(log: Sequence[Any]) -> int:
    return sum(1 for r in log if is_graph_query(r))


def group_writes(log: Sequence[Any]) -> int:
    return sum(1 for r in accepted(log) if r.method == "PUT" and RCG_PUT.search(r.path))


def follow_ups(result: ReconcileResult) -> tuple[Target, ...]:
    """The targets the result says must run next; none before the firewall-target split, and not those it
    ran itself (a sweep's firewall follow-up inside the lease, `pending_follow_ups`)."""
    pending = getattr(result, "pending_follow_ups", None)
    if pending is not None:
        return tuple(pending)
    return tuple(getattr(result, "follow_ups", ()) or ())


def run_event(reconciler: Any, target: Target) -> list[ReconcileResult]:
    results = [reconciler.reconcile(target, dry_run=False)]
    for follow in follow_ups(results[0]):
        results.append(reconciler.reconcile(follow, dry_run=False))
    return results


def _not_converged(results: Sequence[ReconcileResult]) -> list[str]:
    return [f"{r.target}: {r.error or 'not converged'}" for r in results if r.converged is not True]


@dataclass
class SizeRun:
    n: int
    time_factor: float
    sweep: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)
    group: dict[str, Any] = field(default_factory=dict)


def size_run(n: int, *, time_factor: float, sample: int = SAMPLE, subnets_per_vnet: int = 50,
             hubs: int = 1) -> SizeRun:
    """subnets_per_vnet=2 is the landing-zone shape: one cluster (and its App Gateway subnet) per VNet; hubs > 1
    adds hubs with a P2S VPN gateway each (bench/topology.py)."""
    fleet = topology.generate(n, subnets_per_vnet=subnets_per_vnet, hubs=hubs)
    seeded = minimum.Topology.from_dump(fleet.seed)
    write_min = minimum.writes_needed(seeded, RULES)
    out = SizeRun(n, time_factor)
    with harness(fleet.seed, topology.SETTINGS, time_factor=time_factor) as h:
        page_size = h.emu.page_size
        read_min = minimum.sweep_reads(seeded, RULES, page_size, write_min)
        h.emu.clear_log()
        started, cpu = time.monotonic(), time.process_time()
        result = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=False)
        sweep_results = [result, *(h.reconciler.reconcile(f, dry_run=False) for f in follow_ups(result))]
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        log = h.emu.request_log
        ops = [(o.started_at, o.ended_at or o.started_at) for o in h.emu.operations if not o.foreign]
        lro_real = interval_union(ops)  # wall seconds during which at least one of our LROs was running
        if _not_converged(sweep_results):
            raise BenchFailure(f"N={n}: the converging sweep did not converge: {_not_converged(sweep_results)[:2]}")
        converged = minimum.Topology.from_dump(h.emu.dump())
        left = minimum.writes_needed(converged, RULES)
        out.sweep = {
            "gets": gets(log), "writes": writes(log), "group_writes": group_writes(log),
            "gets_minimum": minimum.total(read_min), "writes_minimum": minimum.total(write_min),
            "gets_minimum_items": read_min, "writes_minimum_items": write_min,
            "http_429": sum(1 for r in log if r.status == 429), "http_409": sum(1 for r in log if r.status == 409),
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            # Scaled back to Azure seconds: LRO time / time_factor, plus the local time unscaled.
            "azure_s": round(lro_real / time_factor + (wall - lro_real), 1) if time_factor else None,
            "lro_real_s": round(lro_real, 2),
            "independent_model_writes_left_after": minimum.total(left),
            "gets_by_type": gets_by_type(log),
            # What the log says takes time on real Azure (bench/projection.py), for projecting larger fleets.
            "calls": dataclasses.asdict(projection.calls_from_log(log)),
        }
        if minimum.total(left):
            raise BenchFailure(f"N={n}: the product says converged, the independent model still sees {left}: "
                               "the two disagree about the runbook (bench/minimum.py)")
        per_event: list[int] = []
        event_min: list[int] = []
        event_writes = 0
        cpu = time.process_time()
        for cluster_id in fleet.cluster_ids[:sample]:
            h.emu.clear_log()
            results = run_event(h.reconciler, Target(TargetKind.CLUSTER, cluster_id))
            log = h.emu.request_log
            if _not_converged(results):
                raise BenchFailure(f"N={n}: converged event for {cluster_id}: {_not_converged(results)[:2]}")
            per_event.append(gets(log))
            by_type = gets_by_type(log)
            event_writes += writes(log)
            event_min.append(minimum.total(minimum.event_reads(converged, cluster_id, RULES)))
        count = len(per_event)
        out.event = {
            "events": count, "gets_per_event": round(sum(per_event) / count, 2), "gets_each": per_event,
            "gets_minimum_per_event": round(sum(event_min) / count, 2),
            "gets_minimum_items_first": minimum.event_reads(converged, fleet.cluster_ids[0], RULES),
            "gets_by_type_last": by_type, "writes": event_writes,
            "cpu_s_per_event": round((time.process_time() - cpu) / count, 3),
        }
        groups = minimum.owned_groups(converged, RULES)
        sizes = {str(g["name"]): minimum.group_bytes(g) for g in groups}
        out.group = {"groups": sizes, "largest_bytes": max(sizes.values(), default=0),
                     "total_bytes": sum(sizes.values())}
    return out


def sweep_gets(n: int, *, time_factor: float) -> dict[str, Any]:
    """One converging sweep of a fresh fleet: what a burst of n events is compared with."""
    fleet = topology.generate(n)
    with harness(fleet.seed, topology.SETTINGS, time_factor=time_factor) as h:
        h.emu.clear_log()
        result = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=False)
        results = [result, *(h.reconciler.reconcile(f, dry_run=False) for f in follow_ups(result))]
        log = h.emu.request_log
    if _not_converged(results):
        raise BenchFailure(f"N={n}: the converging sweep did not converge: {_not_converged(results)[:2]}")
    return {"gets": gets(log), "writes": writes(log), "group_writes": group_writes(log)}


def run_coalesced(reconciler: Any, targets: Sequence[Target], workers: int) -> list[ReconcileResult]:
    """The targets on `workers` threads, then each follow-up target once (coalesced, as the dedupe window
    coalesces one burst's follow-ups). Results in that order: the targets', then the follow-ups'."""
    seen: set[Target] = set()
    guard = threading.Lock()

    def run(target: Target) -> tuple[ReconcileResult, list[Target]]:
        result = reconciler.reconcile(target, dry_run=False)
        fresh = []
        with guard:
            for follow_up in follow_ups(result):
                if follow_up not in seen:
                    seen.add(follow_up)
                    fresh.append(follow_up)
        return result, fresh

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker") as pool:
        done = list(pool.map(run, targets))
    return [r for r, _ in done] + [reconciler.reconcile(t, dry_run=False) for _, fresh in done for t in fresh]


def burst_run(n: int, *, time_factor: float, workers: int = 8) -> dict[str, Any]:
    """n new-cluster events at once on a fresh fleet of n clusters, `workers` at a time, against one sweep of
    the same seed at the same LRO durations."""
    fleet = topology.generate(n)
    with harness(fleet.seed, topology.SETTINGS, time_factor=time_factor) as h:
        h.emu.clear_log()
        started = time.monotonic()
        results = run_coalesced(h.reconciler, [Target(TargetKind.CLUSTER, c) for c in fleet.cluster_ids], workers)
        wall = time.monotonic() - started
        log = h.emu.request_log
        final = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=True)
    if _not_converged(results) or final.plan.has_changes:
        raise BenchFailure(f"burst of {n}: {len(_not_converged(results))} results not converged, "
                           f"{len(final.plan.writes)} changes left; e.g. {_not_converged(results)[:1]}")
    return {
        "events": n, "workers": workers, "time_factor": time_factor,
        "gets": gets(log), "writes": writes(log), "group_writes": group_writes(log),
        "follow_up_runs": len(results) - n,
        "http_429": sum(1 for r in log if r.status == 429), "http_409": sum(1 for r in log if r.status == 409),
        "wall_s": round(wall, 2),
        "sweep": sweep_gets(n, time_factor=time_factor),
    }
