"""Benchmark 3: event-to-converged latency with realistic LRO durations, scaled by the emulator's time factor.

The emulator's default durations (emulator/README.md) are realistic: route tables and routes 2 s, subnets 8 s,
firewall policies and rule collection groups 180 s. With time_factor F every LRO takes F times as long.
A new cluster's Event Grid event (as scripts/demo.py sends it) is parsed and mapped to a target by
remediation.planning.intake, then the worker's reconcile runs; the clock stops when reconcile returns converged.

The floor is the longest single dependency chain (docs/architecture.md section 2):
  max(route table create -> one route -> subnet association,  rule collection group PUT)
  = max(5 + 5 + 8, 180) = 180 Azure seconds,
which a reconcile only reaches if the routing writes and the firewall write run side by side.
Reported in real seconds and scaled back to "Azure seconds": LRO time / F plus the rest (local HTTP,
SDK and planning time) unscaled.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.common import ROOT, BenchFailure, harness
from bench.converged import SETTINGS
from emulator.resource_types import RCG, ROUTE, ROUTE_TABLE, SUBNET, TYPES
from remediation.core.model import ChangeKind, Outcome, Target
from remediation.planning import intake

TIME_FACTOR = 0.01


def new_cluster_event() -> dict[str, Any]:
    """The sample event the demo uses too: ResourceWriteSuccess for aks-cni."""
    return dict(json.loads((ROOT / "examples" / "events" / "managed-cluster-write.json").read_text(encoding="utf-8")))


def interval_union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def run(quick: bool = False) -> dict[str, Any]:
    seed = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    durations = {k: TYPES[k].lro_seconds for k in (ROUTE_TABLE, ROUTE, SUBNET, RCG)}
    floor_azure = max(durations[ROUTE_TABLE] + durations[ROUTE] + durations[SUBNET], durations[RCG])
    with harness(seed, SETTINGS, time_factor=TIME_FACTOR) as h:
        h.emu.clear_log()
        wall_started = time.time()
        started = time.monotonic()
        decision = intake.decide(intake.parse_event(new_cluster_event()), h.settings, h.reconciler.resolve)
        if not isinstance(decision, Target):
            raise BenchFailure(f"the new-cluster event was not mapped to a target: {decision}")
        result = h.reconciler.reconcile(decision, dry_run=False)
        real = time.monotonic() - started
        if result.converged is not True:
            raise BenchFailure("event-to-converged: the reconcile did not converge")
        ops = [o for o in h.emu.operations if not o.foreign and o.ended_at is not None]
    rcg_ops = [(o.started_at, o.ended_at or o.started_at) for o in ops
               if "/rulecollectiongroups/" in o.resource_id.lower()]
    route_ops = [(o.started_at, o.ended_at or o.started_at) for o in ops
                 if "/rulecollectiongroups/" not in o.resource_id.lower()]
    lro_real = interval_union([*rcg_ops, *route_ops])
    other_real = real - lro_real
    azure = lro_real / TIME_FACTOR + other_real

    def span(intervals: list[tuple[float, float]]) -> tuple[float, float] | None:
        if not intervals:
            return None
        return min(s for s, _ in intervals) - wall_started, max(e for _, e in intervals) - wall_started

    route_span, rcg_span = span(route_ops), span(rcg_ops)
    return {
        "name": "event to converged",
        "time_factor": TIME_FACTOR,
        "lro_seconds": {TYPES[k].type_name: v for k, v in durations.items()},
        "writes": result.arm_calls.writes,
        "route_and_subnet_operations": len(route_ops),
        "rcg_operations": len(rcg_ops),
        "real_s": round(real, 3),
        "lro_busy_real_s": round(lro_real, 3),
        "non_lro_real_s": round(other_real, 3),
        "azure_s": round(azure, 1),
        "floor_azure_s": floor_azure,
        "floor_real_s": round(floor_azure * TIME_FACTOR, 3),
        "ratio_to_floor": round(azure / floor_azure, 2),
        "routing_writes_window_real_s": [round(x, 3) for x in route_span] if route_span else None,
        "rcg_write_window_real_s": [round(x, 3) for x in rcg_span] if rcg_span else None,
        "routing_and_rcg_overlap": bool(route_span and rcg_span and rcg_span[0] < route_span[1]),
    }


def chain_run(time_factor: float = TIME_FACTOR) -> dict[str, Any]:
    """One new cluster's whole chain: the event, its routing, every follow-up it leaves (the firewall target's
    group write), until nothing is pending, as the queue worker runs them (remediation/triggers/queue.py).

    Since round 6 the worker enqueues a cluster's firewall follow-up as soon as its plan has routing writes
    (Reconciler.reconcile `early_follow_ups`), visible at once (Runtime.enqueue_beside), so the group write
    runs beside the routing. The follow-up named after the run still goes through the intake's dedupe window
    (Runtime.enqueue_coalesced) and never folds into the early one; it waits for the firewall lease and finds
    the rules in place.

    The targets run one after another here (the emulator's clock is real time); the chain is then laid out
    the way the queue runs them, in Azure-seconds (LRO time / time factor, the rest unscaled): routing R and the
    early firewall run F side by side from the plan, the follow-up after the writes from max(R + window, F),
    each later follow-up after its parent plus the window. The floor is the longest ARM chain any design needs
    for the seed (bench/floor.py: table create and serialized subnet writes against the group write, after the
    inventory read)."""
    from bench import floor, minimum

    seed = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    rules = minimum.Rules(firewall_id=str(SETTINGS["FIREWALL_ID"]),
                          spoke_prefixes=tuple(p for p in str(SETTINGS.get("SPOKE_PREFIXES", "")).split(",") if p))
    chain_floor = floor.floor(minimum.Topology.from_dump(seed), rules)
    window = intake.DEDUPE_WINDOW_S
    with harness(seed, SETTINGS, time_factor=time_factor) as h:
        decision = intake.decide(intake.parse_event(new_cluster_event()), h.settings, h.reconciler.resolve)
        if not isinstance(decision, Target):
            raise BenchFailure(f"the new-cluster event was not mapped to a target: {decision}")
        early: list[Target] = []
        routing, r_az = _timed(h, lambda: h.reconciler.reconcile(decision, dry_run=False,
                                                                 early_follow_ups=early.extend), time_factor)
        results, timeline = [routing], {"routing": round(r_az, 1)}
        ends = [r_az]
        branch_end = 0.0
        for target in early:  # enqueued before the routing writes, visible at once (it starts with them)
            result, f_az = _timed(h, lambda t=target: h.reconciler.reconcile(t, dry_run=False), time_factor)
            results.append(result)
            branch_end = max(branch_end, f_az)
            timeline[f"beside: {target.kind.value}"] = round(f_az, 1)
        ends.append(branch_end)
        pending = [(t, max(r_az + window, branch_end)) for t in _follow_ups_of(routing)]
        queued = len(early) + len(pending)
        while pending:
            target, start = pending.pop(0)
            result, az = _timed(h, lambda t=target: h.reconciler.reconcile(t, dry_run=False), time_factor)
            results.append(result)
            ends.append(start + az)
            timeline[f"after: {target.kind.value}"] = round(start + az, 1)
            pending += [(t, start + az + window) for t in _follow_ups_of(result)]
            queued += len(_follow_ups_of(result))
        not_converged = [str(r.target) for r in results if r.converged is not True]
        if not_converged:
            raise BenchFailure(f"new-cluster chain did not converge: {not_converged[:2]}")
        group_writes = sum(1 for r in results for o in r.outcomes
                           if o.change.kind is ChangeKind.RULE_COLLECTION_GROUP and o.outcome is not Outcome.UNCHANGED)
    azure = max(ends)
    return {"azure_s": round(azure, 1), "floor_s": chain_floor["floor_s"], "floor": chain_floor,
            "targets_run": len(results), "queued_follow_ups": queued, "beside": [str(t) for t in early],
            "group_writes": group_writes, "timeline_azure_s": timeline,
            "queue_delay_s": window, "time_factor": time_factor}


def _follow_ups_of(result: Any) -> list[Target]:
    from bench.fleet_cost import follow_ups

    return list(follow_ups(result))


def _timed(h: Any, job: Any, time_factor: float) -> tuple[Any, float]:
    """(the job's result, its Azure-seconds: the union of its LROs / time factor, plus the rest unscaled)."""
    mark = len(h.emu.operations)
    started = time.monotonic()
    result = job()
    real = time.monotonic() - started
    ops = [(o.started_at, o.ended_at or o.started_at) for o in h.emu.operations[mark:]
           if not o.foreign and o.ended_at is not None]
    lro_real = interval_union(ops)
    return result, lro_real / time_factor + max(0.0, real - lro_real)
