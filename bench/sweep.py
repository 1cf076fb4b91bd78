"""Benchmark 2: fleet sweeps of N clusters sharing one firewall, with ARM's token buckets on.

For each N: a fresh emulator (token_buckets=True, LROs finish at once: time_factor=0) seeded by
bench.topology.generate(N); sweep 1 converges the fleet (creates every route table, route and association,
and the rule collection group), sweep 2 finds it converged. Per sweep: the reconciler's own count
(result.arm_calls), what ARM saw (the emulator's request log, LRO status polls included, since ARM charges
them to the read bucket), 429s, wall time, and the wall time the buckets allow at best:
  minimum = max(0, (writes - 200) / 10, (reads - 250) / 25) seconds, with the buckets full at the start
(docs/arm-notes.md 3.3), counting the requests ARM accepted (a 429 takes no token).
"""

from __future__ import annotations

import time
from typing import Any

from bench import topology
from bench.common import POLL_PATH, BenchFailure, harness, is_graph_query, resource_type

WRITE_METHODS = ("PUT", "PATCH", "DELETE", "POST")


def bucket_minimum_s(accepted_reads: int, accepted_writes: int) -> float:
    return max(0.0, (accepted_writes - 200) / 10, (accepted_reads - 250) / 25)


def _sweep(h: Any, n: int, label: str) -> dict[str, Any]:
    h.emu.clear_log()
    started = time.monotonic()
    result = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=False)
    wall = time.monotonic() - started
    log = h.emu.request_log
    if result.converged is not True:
        failed = [o for o in result.outcomes if o.outcome.value == "failed"]
        example = failed[0].error if failed else "no failed write; the verify pass still found changes"
        raise BenchFailure(f"N={n} {label} did not converge ({len(failed)} failed writes, e.g. {example})")
    accepted = [r for r in log if r.status not in (0, 429)]
    reads = sum(1 for r in accepted if r.method == "GET")
    writes = sum(1 for r in accepted if r.method in WRITE_METHODS and not is_graph_query(r))
    minimum = bucket_minimum_s(reads, writes)
    throttled = [r for r in log if r.status == 429]
    by_type: dict[str, int] = {}
    for r in accepted:
        if r.method == "GET":
            key = resource_type(r.path)
            by_type[key] = by_type.get(key, 0) + 1
    return {
        "n": n,
        "sweep": label,
        "reads": result.arm_calls.reads,
        "writes": result.arm_calls.writes,
        "reads_per_cluster": round(result.arm_calls.reads / n, 3),
        "writes_per_cluster": round(result.arm_calls.writes / n, 3),
        "wall_s": round(wall, 2),
        "arm_gets": reads,
        "arm_gets_excl_polls": sum(1 for r in accepted if r.method == "GET" and not POLL_PATH.search(r.path)),
        "arm_writes": writes,
        "http_429": len(throttled),
        "http_429_writes": sum(1 for r in throttled if r.method in WRITE_METHODS and not is_graph_query(r)),
        "bucket_min_s": round(minimum, 2),
        "wall_over_min_s": round(wall - minimum, 2),
        "planned_writes": len(result.plan.writes),
        "skipped": len(result.plan.skipped),
        "conflicts": len(result.plan.conflicts),
        "gets_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
    }


def run_one(n: int) -> list[dict[str, Any]]:
    fleet = topology.generate(n)
    with harness(fleet.seed, topology.SETTINGS, token_buckets=True) as h:
        rows = [_sweep(h, n, "1 converging"), _sweep(h, n, "2 converged")]
    if rows[1]["writes"] != 0:
        raise BenchFailure(f"N={n}: the converged sweep wrote {rows[1]['writes']} times")
    for row in rows:
        row["resources_in_seed"] = fleet.resource_count
        row["vnets"] = len(fleet.vnet_ids)
        row["app_gateways"] = len(fleet.app_gateway_ids)
    return rows


def run(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows.extend(run_one(n))
    return rows
