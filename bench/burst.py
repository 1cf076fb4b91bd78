"""Benchmark 4: a burst of cluster events sharing one firewall policy, reconciled by concurrent workers.

The Function app (queue-triggered workers, blob-lease lock on the policy) is not used here: concurrent
workers are modelled by threads calling one Reconciler with in-process locks (remediation.engine.locks.
InProcessLocks), which serialise the firewall read-plan-write exactly as the lease does across instances.
Topology: bench.topology.generate(100); 100 cluster events arrive at once; each worker reconciles one
cluster target. LRO durations are realistic, scaled by TIME_FACTOR (an RCG PUT takes 180 s * F), and ARM's
token buckets are on. Counted: PUTs on .../ruleCollectionGroups/... in the emulator's request log (goal <= 2,
since the group is computed from every cluster in scope inside the lock, so the first writer carries
everything and the others find nothing to change) and the time until every worker reports converged.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import topology
from bench.common import RCG_PUT, BenchFailure, harness
from bench.sweep import WRITE_METHODS, bucket_minimum_s
from emulator.resource_types import RCG, TYPES
from remediation.core.model import ReconcileResult, Target, TargetKind
from remediation.engine.locks import InProcessLocks

TIME_FACTOR = 0.01
EVENTS = 100


def run_one(workers: int, events: int = EVENTS) -> dict[str, Any]:
    fleet = topology.generate(events)
    locks = InProcessLocks()
    with harness(fleet.seed, topology.SETTINGS, locks=locks, time_factor=TIME_FACTOR, token_buckets=True) as h:
        h.emu.clear_log()
        done_at: list[float] = []
        started = time.monotonic()

        def worker(cluster_id: str) -> ReconcileResult:
            result = h.reconciler.reconcile(Target(TargetKind.CLUSTER, cluster_id), dry_run=False)
            done_at.append(time.monotonic() - started)
            return result

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker") as pool:
            results = list(pool.map(worker, fleet.cluster_ids))
        wall = time.monotonic() - started
        log = h.emu.request_log
        final = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=True)
    not_converged = [r for r in results if r.converged is not True]
    rcg_puts = [r for r in log if r.method == "PUT" and RCG_PUT.search(r.path)]
    accepted = [r for r in log if r.status not in (0, 429)]
    failed = [o for r in results for o in r.outcomes if o.outcome.value == "failed"]
    row = {
        "name": "burst",
        "events": events,
        "workers": workers,
        "time_factor": TIME_FACTOR,
        "rcg_put_requests": len(rcg_puts),
        "rcg_puts_accepted": sum(1 for r in rcg_puts if r.status in (200, 201)),
        "rcg_put_azure_s_each": TYPES[RCG].lro_seconds,
        "wall_s_all_converged": round(wall, 2),
        "first_done_s": round(min(done_at), 2) if done_at else None,
        "median_done_s": round(sorted(done_at)[len(done_at) // 2], 2) if done_at else None,
        "reads": sum(r.arm_calls.reads for r in results),
        "writes": sum(r.arm_calls.writes for r in results),
        "http_429": sum(1 for r in log if r.status == 429),
        "http_409": sum(1 for r in log if r.status == 409),
        "failed_writes": len(failed),
        "not_converged": len(not_converged),
        "bucket_min_s": round(bucket_minimum_s(sum(1 for r in accepted if r.method == "GET"),
                                               sum(1 for r in accepted if r.method in WRITE_METHODS)), 2),
        "final_sweep_changes": len(final.plan.writes),
    }
    if not_converged or final.plan.has_changes:
        raise BenchFailure(f"burst with {workers} workers: {len(not_converged)} workers not converged, "
                           f"{len(final.plan.writes)} changes left; e.g. {failed[:1]}")
    return row


def run(quick: bool = False) -> list[dict[str, Any]]:
    return [run_one(w) for w in ((8,) if quick else (8, 100))]
