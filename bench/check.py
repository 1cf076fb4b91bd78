"""`python -m bench.check [--full]` (`make bench-check`): measure the issue-13 figures, compare each with its
goal, print the table, exit 1 when a goal is missed (2 when a benchmark itself broke).

Quick (the default, a few minutes on 2 cores): fleets of 10 and 300 clusters (300 is where re-listing the
fleet shows: 6 pages of clusters), a converging sweep with realistic LRO durations scaled 0.1x at N=10 and
instant LROs at N=300, a burst of 100 new-cluster events through the product's intake (bench/burst_intake.py)
against one sweep of the same seed, the group
size, the cold import. Full: fleets of 10, 100, 300 and 1000; LROs scaled 0.1x up to 100 clusters and
instant above (a 0.1x sweep of 1000 clusters would take about 1000 s of LRO time alone). `--fleet10k` adds the
converged sweep of 10,000 clusters in 100 subscriptions on Resource Graph inventory (bench/fleet10k.py, about
3 minutes here; goals: converged, 0 writes, 0 x 429). Goals and where they come from: docs/BENCHMARKS.md.
Results: bench/check-results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import (
    burst_intake,
    cold_import,
    continuation,
    estate_reads,
    fleet10k,
    fleet_cost,
    latency,
    physical,
    planning_cpu,
)
from bench.__main__ import machine
from bench.common import ROOT, BenchFailure
from bench.goals import Bound, Figure, Goal, check, exit_status, render, render_markdown

RESULTS = ROOT / "bench" / "check-results.json"
GROUP_LIMIT_BYTES = 2 * 1024 * 1024  # RCG size limit for policies created after July 2022 (docs/arm-notes.md)
FLEET_GOAL = 10_000  # clusters one policy must hold (issue 13, item 4)
BURST_EVENTS = 100
BURST_TIME_FACTOR = 0.01  # a group PUT takes 1.8 s instead of 180 s: the burst overlaps, counts stay honest
REALISTIC_LRO_UP_TO = 100
QUICK_SIZES = (10, 300)
FULL_SIZES = (10, 100, 300, 1000)


def time_factor_for(n: int) -> float:
    return 0.1 if n <= REALISTIC_LRO_UP_TO else 0.0


def goals(sizes: tuple[int, ...], *, fleet10k: bool = False) -> list[Goal]:
    small, large = min(sizes), max(sizes)
    out = [Goal(f"event_gets@{large}", Bound.TIMES_FIGURE, 1.2, f"event_gets@{small}",
                "issue 13 item 1: per-event GETs flat in fleet size")]
    for n in sizes:
        out += [Goal(f"event_writes@{n}", Bound.AT_MOST, 0, text="a converged event writes nothing"),
                Goal(f"sweep_gets@{n}", Bound.TIMES_MINIMUM, 1.2, text="issue 13 item 2"),
                Goal(f"sweep_writes@{n}", Bound.TIMES_MINIMUM, 1.2, text="issue 13 item 2")]
    out += [Goal("burst_gets", Bound.TIMES_FIGURE, 1.2, "burst_sweep_gets", "issue 13 item 1"),
            Goal("burst_group_writes", Bound.AT_MOST, 2, text="issue 13 item 1"),
            Goal(f"group_bytes@{FLEET_GOAL}", Bound.AT_MOST, GROUP_LIMIT_BYTES, text="issue 13 item 4"),
            Goal("cold_import_lazy", Bound.IS_TRUE, text="indexing loads neither reconciler nor network SDK")]
    out += physical.goals()
    out += continuation_goals()
    if fleet10k:
        out += [Goal("fleet10k_converged", Bound.IS_TRUE, text="issue 13 item 5: 10,000 clusters converged sweep"),
                Goal("fleet10k_429", Bound.AT_MOST, 0, text="issue 13: 0 x 429 within ARG quota"),
                Goal("fleet10k_sweep_writes", Bound.AT_MOST, 0, text="a converged sweep writes nothing")]
    return out


CONTINUED_AT = continuation.CLUSTERS


def continuation_goals() -> list[Goal]:
    n = CONTINUED_AT
    return [
        Goal(f"continue_chain@{n}", Bound.IS_TRUE, text="issue 26 item 2: each run its budget ended is continued"),
        Goal(f"continue_redeliveries@{n}", Bound.AT_MOST, 0,
             text="issue 26 item 2: never restarts (no delivery counted against maxDequeueCount)"),
        Goal(f"continue_converged@{n}", Bound.IS_TRUE, text="issue 26 item 2: never drops (converged)"),
        Goal(f"continue_writes@{n}", Bound.TIMES_FIGURE, 1.0, f"continue_writes_uninterrupted@{n}",
             "issue 26 item 2: nothing done is redone"),
        Goal(f"continue_extra_writes@{n}", Bound.AT_MOST, 0,
             text="resources written more often than by one uninterrupted sweep"),
    ]


def continuation_figures(run: dict[str, Any]) -> list[Figure]:
    """A converging sweep longer than its run budget, through the queue worker (bench/continuation.py)."""
    n = CONTINUED_AT
    keys = [f"continue_{k}@{n}" for k in ("chain", "redeliveries", "converged", "writes", "writes_uninterrupted",
                                          "extra_writes", "runs")]
    if run.get("skipped"):
        return [Figure(k, k, None, skipped=run["skipped"]) for k in keys]
    done, whole = run["continued"], run["uninterrupted"]
    where = f"N={run['clusters']}, budget {run['budget_writes']:g} writes per run"
    return [
        Figure(keys[0], f"sweep longer than its budget ({where}): every ended run continued",
               float(continuation.chain_ok(run))),
        Figure(keys[1], "the same: messages delivered again by the host", done["redeliveries"]),
        Figure(keys[2], "the same: converged, nothing poisoned", float(done["converged"] and not done["poisoned"])),
        Figure(keys[3], "the same: writes ARM accepted", done["writes"]),
        Figure(keys[4], f"one uninterrupted sweep of the same fleet (N={run['clusters']}): writes", whole["writes"]),
        Figure(keys[5], "the same: resources written more often than by the uninterrupted sweep",
               run["extra_writes"]),
        Figure(keys[6], "the same: sweep runs (the first and its continuations)", done["sweep_runs"]),
    ]


def fleet10k_figures(run: dict[str, Any]) -> list[Figure]:
    """The 10,000-cluster / 100-subscription converged sweep (bench/fleet10k.py), Resource Graph inventory."""
    n, subs = run["clusters"], run["subscriptions"]
    sweep, firewall = run["sweep"], run["firewall_dry_run"]
    where = f"N={n:,} in {subs} subscriptions"
    return [
        Figure("fleet10k_converged", f"converged sweep, {where}: converged", float(bool(sweep["converged"]))),
        Figure("fleet10k_429", f"converged sweep + firewall read, {where}: HTTP 429", run["http_429"]),
        Figure("fleet10k_sweep_writes", f"converged sweep, {where}: writes", sweep["writes"]),
        Figure("fleet10k_graph_queries", f"converged sweep + firewall read, {where}: Resource Graph queries",
               run["graph_queries"]),
        Figure("fleet10k_sweep_gets", f"converged sweep, {where}: ARM GETs", sweep["gets"]),
        Figure("fleet10k_firewall_gets", f"firewall read (dry run), {where}: ARM GETs", firewall["gets"]),
        Figure("fleet10k_sweep_wall_s", f"converged sweep, {where}: wall", sweep["wall_s"], unit="s"),
    ]


def figures(results: dict[str, Any]) -> list[Figure]:
    out: list[Figure] = []
    sizes = results.get("sizes", {})
    for n_text, run in sorted(sizes.items(), key=lambda kv: int(kv[0])):
        n = int(n_text)
        ev, sw = run["event"], run["sweep"]
        factor = run["time_factor"]
        out += [
            Figure(f"event_gets@{n}", f"GETs per converged cluster event, N={n}", ev["gets_per_event"],
                   ev["gets_minimum_per_event"]),
            Figure(f"event_writes@{n}", f"writes per converged cluster event, N={n}", ev["writes"] / ev["events"]),
            Figure(f"event_cpu@{n}", f"CPU s per converged event, N={n} (noisy)", ev["cpu_s_per_event"]),
            Figure(f"sweep_gets@{n}", f"converging sweep GETs, N={n}", sw["gets"], sw["gets_minimum"]),
            Figure(f"sweep_writes@{n}", f"converging sweep writes, N={n}", sw["writes"], sw["writes_minimum"]),
        ]
        if sw.get("azure_s") is not None:  # only where the LROs had realistic (scaled) durations
            out.append(Figure(f"sweep_azure_s@{n}", f"converging sweep, N={n}: Azure-s (LROs x{factor})",
                              sw["azure_s"]))
    burst = results.get("burst")
    if burst and burst.get("skipped"):
        # Left out on the command line: its goals say so instead of failing as "not measured".
        out += [Figure(key, key, None, skipped=burst["skipped"])
                for key in ("burst_gets", "burst_sweep_gets", "burst_group_writes")]
    elif burst:
        out += [Figure("burst_gets", f"burst of {burst['events']} new-cluster events: GETs", burst["gets"]),
                Figure("burst_sweep_gets", f"one converging sweep of the same {burst['events']}: GETs",
                       burst["sweep"]["gets"]),
                Figure("burst_group_writes", f"burst of {burst['events']}: group writes", burst["group_writes"],
                       1)]
    group = results.get("group")
    if group:
        out += [Figure("group_bytes_per_cluster", "owned group bytes per cluster", group["bytes_per_cluster"]),
                Figure(f"group_bytes@{FLEET_GOAL}", f"largest owned group at {FLEET_GOAL:,} clusters (projected)",
                       group["projected_largest_bytes"], unit="bytes")]
    cold = results.get("cold_import")
    if cold is not None:
        reason = cold.get("skipped")
        out += [Figure("cold_import_s", "cold import function_app (requirements.txt venv)",
                       cold.get("function_app_s"), unit="s", skipped=reason),
                Figure("cold_import_network_s", "cold import azure.mgmt.network alone",
                       cold.get("azure_mgmt_network_s"), unit="s", skipped=reason),
                Figure("cold_import_lazy", "function_app import loads no reconciler / network SDK",
                       None if reason else float(not cold["function_app_loads_reconciler"]
                                                 and not cold["function_app_loads_network_sdk"]),
                       skipped=reason)]
    if results.get("continuation"):
        out += continuation_figures(results["continuation"])
    if results.get("fleet10k"):
        out += fleet10k_figures(results["fleet10k"])
    out += physical.figures(results)
    return out


def project_group(sizes: dict[str, Any]) -> dict[str, Any] | None:
    """Bytes per cluster from the two largest fleets (the group grows by one cluster's rules per cluster);
    the largest owned group projected linearly to FLEET_GOAL clusters. A product that shards or moves
    sources into IP Groups shows it as fewer bytes per cluster or a largest group that stops growing."""
    points = sorted((int(n), run["group"]["largest_bytes"], run["group"]["total_bytes"]) for n, run in sizes.items())
    if len(points) < 2:
        return None
    (n1, largest1, total1), (n2, largest2, total2) = points[-2], points[-1]
    per_cluster = (total2 - total1) / (n2 - n1)
    largest_slope = (largest2 - largest1) / (n2 - n1)
    return {"from_sizes": [n1, n2], "bytes_per_cluster": round(per_cluster, 1),
            "projected_largest_bytes": round(largest2 + largest_slope * (FLEET_GOAL - n2)),
            "clusters_per_2mb_group": int(GROUP_LIMIT_BYTES / per_cluster) if per_cluster > 0 else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.check", description=__doc__)
    parser.add_argument("--full", action="store_true", help="N = 10, 100, 300, 1000 (tens of minutes)")
    parser.add_argument("--sizes", type=int, nargs="*", help="fleet sizes (the smallest must be >= 6)")
    parser.add_argument("--no-burst", action="store_true")
    parser.add_argument("--no-cold-import", action="store_true")
    parser.add_argument("--fleet10k", action="store_true",
                        help="also the 10,000-cluster / 100-subscription converged sweep on Resource Graph "
                             "inventory (bench/fleet10k.py; minutes)")
    parser.add_argument("--no-planning", action="store_true", help="leave out the pure planning CPU at 1,000 and "
                        "10,000 clusters (the 10,000 one takes a minute or more of CPU)")
    parser.add_argument("--no-one-per-vnet", action="store_true",
                        help="leave out the one-cluster-per-VNet fleets (10 and 300 VNets), the fleets with 1 and "
                             "4 hubs and the estate with 1, 2 and 3 configured firewalls")
    parser.add_argument("--no-chain", action="store_true", help="leave out one new cluster's whole chain")
    parser.add_argument("--no-continuation", action="store_true",
                        help="leave out the sweep longer than its run budget (bench/continuation.py)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--from-results", type=Path, metavar="FILE",
                        help="measure nothing: judge the figures in FILE (an earlier --output) again")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.from_results:
        saved = json.loads(args.from_results.read_text(encoding="utf-8"))
        verdicts = check(figures(saved), goals(tuple(sorted(int(n) for n in saved["sizes"])),
                                               fleet10k="fleet10k" in saved))  # issue 26's goals: missed when absent
        print(render_markdown(verdicts) if args.markdown else render(verdicts))
        return exit_status(verdicts)
    sizes = tuple(sorted(set(args.sizes or (FULL_SIZES if args.full else QUICK_SIZES))))
    if min(sizes) < fleet_cost.SAMPLE:
        parser.error(f"the smallest fleet must hold the {fleet_cost.SAMPLE} sampled clusters")
    results: dict[str, Any] = {"mode": "full" if args.full else "quick", "machine": machine(), "sizes": {}}
    broken: list[str] = []
    started = time.monotonic()

    def step(name: str, job: Callable[[], Any]) -> Any:
        print(f"[bench-check] {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            return job()
        except BenchFailure as exc:
            broken.append(f"{name}: {exc}")
        except Exception:  # a crashed benchmark is reported and fails the run; the others still run
            broken.append(f"{name}: {traceback.format_exc()}")
        finally:
            print(f"[bench-check] {name} done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        return None

    def fleet(n: int) -> Callable[[], fleet_cost.SizeRun]:
        return lambda: fleet_cost.size_run(n, time_factor=time_factor_for(n))

    for n in sizes:
        run = step(f"fleet N={n}", fleet(n))
        if run is not None:
            results["sizes"][str(n)] = {"time_factor": run.time_factor, "sweep": run.sweep, "event": run.event,
                                        "group": run.group}
    results["group"] = project_group(results["sizes"])
    if args.no_burst:
        results["burst"] = {"skipped": "not measured: --no-burst"}
    else:
        results["burst"] = step(f"burst of {BURST_EVENTS}", lambda: burst_intake.burst_run(
            BURST_EVENTS, time_factor=BURST_TIME_FACTOR))
    if args.no_cold_import:
        results["cold_import"] = {"skipped": "not measured: --no-cold-import"}
    else:
        results["cold_import"] = step("cold import", cold_import.run)
    results["one_per_vnet"] = {"skipped": "not measured: --no-one-per-vnet"} if args.no_one_per_vnet else {}
    for n in () if args.no_one_per_vnet else physical.ONE_PER_VNET_SIZES:
        run = step(f"one cluster per VNet, N={n}", partial(fleet_cost.size_run, n, time_factor=0.0,
                                                            subnets_per_vnet=2))
        if run is not None:
            results["one_per_vnet"][str(n)] = {"event": run.event}
    results["hubs"] = {"skipped": "not measured: --no-one-per-vnet"} if args.no_one_per_vnet else {}
    for h in () if args.no_one_per_vnet else physical.HUBS:
        run = step(f"{h} hub(s), N={physical.HUB_FLEET}", partial(fleet_cost.size_run, physical.HUB_FLEET,
                                                                 time_factor=0.0, hubs=h))
        if run is not None:
            results["hubs"][str(h)] = {"event": run.event}
    results["firewalls"] = ({"skipped": "not measured: --no-one-per-vnet"} if args.no_one_per_vnet else
                            step("estate with 1, 2, 3 configured firewalls", estate_reads.run) or {})
    results["chain"] = {"skipped": "not measured: --no-chain"} if args.no_chain else step(
        "one new cluster, the whole chain", latency.chain_run)
    results["continuation"] = {"skipped": "not measured: --no-continuation"} if args.no_continuation else step(
        "a sweep longer than its run budget, through the queue worker", continuation.run)
    results["planning"] = {"skipped": "not measured: --no-planning"} if args.no_planning else {
        str(n): step(f"planning CPU, N={n}", partial(planning_cpu.run, n)) for n in physical.PLANNING_SIZES}
    results["physical"] = step("physical floor and projections", lambda: physical.measure(results["sizes"]))
    if args.fleet10k:
        results["fleet10k"] = step("fleet of 10,000 in 100 subscriptions", fleet10k.run)
    verdicts = check(figures(results), goals(sizes, fleet10k=args.fleet10k))
    results["total_s"] = round(time.monotonic() - started, 1)
    results["verdicts"] = [{"figure": v.figure.key, "value": v.figure.value, "minimum": v.figure.minimum,
                            "bound": v.ceiling, "status": v.status.value, "note": v.note} for v in verdicts]
    results["broken"] = broken
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(render_markdown(verdicts) if args.markdown else render(verdicts))
    m = results["machine"]
    print(f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}, git {m['git_head']} "
          f"(product code as of {m['product_code_commit']})"
          f"{' + uncommitted product changes' if m['product_code_uncommitted_changes'] else ''}; "
          f"total {results['total_s']} s; results in {args.output}")
    for problem in broken:
        print(f"BENCH BROKEN: {problem}", file=sys.stderr)
    return 2 if broken else exit_status(verdicts)


if __name__ == "__main__":
    raise SystemExit(main())
