"""`python -m bench [--quick]`: every benchmark against the embedded ARM emulator; a table, bench/results.json
and docs/bench-sweep-cost.png. Benchmarks print figures and do not assert goals; the exit status is 1 when
something is broken (a reconcile that does not converge, a converged sweep that writes, an exception)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import burst, converged, imports, latency, sweep
from bench.common import ROOT, BenchFailure

RESULTS = ROOT / "bench" / "results.json"
PLOT = ROOT / "docs" / "bench-sweep-cost.png"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
        product = subprocess.run(["git", "log", "-1", "--format=%h", "--", "remediation", "emulator",
                                  "function_app.py"], cwd=ROOT, capture_output=True, text=True,
                                 check=False).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "remediation", "emulator"], cwd=ROOT,
                                    capture_output=True, text=True, check=False).stdout.strip())
    except OSError:
        head, product, dirty = "unknown", "unknown", False
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "git_head": head,
            "product_code_commit": product, "product_code_uncommitted_changes": dirty}


def table(results: dict[str, Any]) -> str:
    out: list[str] = []
    c = results.get("converged")
    if c:
        out += ["1. Converged single cluster (examples/private-network.json, target aks-cni)",
                f"   writes {c['arm_calls_writes']} (goal 0) | reads {c['arm_calls_reads']} (GETs in ARM log "
                f"{c['log_gets_total']}, unique paths {c['log_gets_unique_paths']}) | must-read {c['must_read']} | "
                f"reads/must {c['ratio_reads_to_must']} (goal 1.0) | unique/must {c['ratio_unique_to_must']}",
                "   GETs by phase: " + ", ".join(f"{k} {v}" for k, v in c["gets_by_phase"].items()),
                "   GETs by type:  " + ", ".join(f"{k} {v}" for k, v in c["gets_by_type"].items()), ""]
    rows = results.get("sweep") or []
    if rows:
        out.append("2. Fleet sweep (one firewall; token buckets on; LROs instant)")
        head = (f"   {'N':>5} {'sweep':<13} {'reads':>6} {'writes':>6} {'rd/cl':>6} {'wr/cl':>6} {'wall s':>7} "
                f"{'ARM GET':>7} {'ARM wr':>6} {'429':>5} {'min s':>7} {'over s':>7}")
        out += [head, "   " + "-" * (len(head) - 3)]
        for r in rows:
            out.append(f"   {r['n']:>5} {r['sweep']:<13} {r['reads']:>6} {r['writes']:>6} {r['reads_per_cluster']:>6} "
                       f"{r['writes_per_cluster']:>6} {r['wall_s']:>7} {r['arm_gets']:>7} {r['arm_writes']:>6} "
                       f"{r['http_429']:>5} {r['bucket_min_s']:>7} {r['wall_over_min_s']:>7}")
        out.append("")
    lat = results.get("latency")
    if lat:
        out += [f"3. Event to converged (time factor {lat['time_factor']})",
                f"   real {lat['real_s']} s (LRO {lat['lro_busy_real_s']} s + other {lat['non_lro_real_s']} s) | "
                f"Azure-equivalent {lat['azure_s']} s | floor {lat['floor_azure_s']} s | x{lat['ratio_to_floor']} | "
                f"routing and RCG writes overlap: {lat['routing_and_rcg_overlap']}", ""]
    for b in results.get("burst") or []:
        out += [f"4. Burst: {b['events']} cluster events, {b['workers']} workers (time factor {b['time_factor']}, "
                "token buckets on)",
                f"   RCG PUTs {b['rcg_put_requests']} (goal <= 2) | all converged after {b['wall_s_all_converged']} s "
                f"(first {b['first_done_s']} s, median {b['median_done_s']} s) | reads {b['reads']} writes "
                f"{b['writes']} | 429 {b['http_429']} 409 {b['http_409']} | bucket minimum {b['bucket_min_s']} s", ""]
    imp = results.get("imports")
    if imp:
        out += [f"5. Cold import (median of {imp['runs']} fresh interpreters)",
                "   " + " | ".join(f"{k} {v} s" for k, v in imp["median_s"].items()),
                f"   function_app / azure.mgmt.network = {imp['function_app_over_network_sdk']}; loads reconciler: "
                f"{imp['function_app_loads_reconciler']}, network SDK: {imp['function_app_loads_network_sdk']}", ""]
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for label, style in (("1 converging", "o-"), ("2 converged", "s--")):
        sel = sorted((r for r in rows if r["sweep"] == label), key=lambda r: r["n"])
        ns = [r["n"] for r in sel]
        for ax, key in zip(axes, ("reads", "writes", "wall_s"), strict=True):
            ax.plot(ns, [max(r[key], 0.01) for r in sel], style, label=f"sweep {label}")
    mins = sorted((r for r in rows if r["sweep"] == "1 converging"), key=lambda r: r["n"])
    axes[2].plot([r["n"] for r in mins], [max(r["bucket_min_s"], 0.01) for r in mins], "k:",
                 label="token-bucket minimum (sweep 1)")
    for ax, title in zip(axes, ("ARM reads (reconciler count)", "ARM writes", "wall time (s)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("clusters N")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Fleet sweep cost against N (emulator, token buckets on)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 10, 100 and one burst pool (8 workers)")
    parser.add_argument("--only", nargs="*", choices=["converged", "sweep", "latency", "burst", "imports"],
                        help="run only these benchmarks")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the sweep sizes")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    # The reconciler logs every retried 409/429 at WARNING; the figures count them instead.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    sizes = tuple(args.sizes or ((10, 100) if args.quick else (10, 100, 1000)))
    jobs: dict[str, Callable[[], Any]] = {
        "converged": converged.run,
        "sweep": lambda: sweep.run(sizes),
        "latency": latency.run,
        "burst": lambda: burst.run(quick=args.quick),
        "imports": imports.run,
    }
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "machine": machine()}
    failures: list[str] = []
    started = time.monotonic()
    for name, job in jobs.items():
        if args.only and name not in args.only:
            continue
        t0 = time.monotonic()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = job()
        except BenchFailure as exc:
            failures.append(f"{name}: {exc}")
        except Exception:  # a crashed benchmark is reported and fails the run; the rest still run
            failures.append(f"{name}: {traceback.format_exc()}")
        print(f"[bench] {name} done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    results["total_s"] = round(time.monotonic() - started, 1)
    results["failures"] = failures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    m = results["machine"]
    print(f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}, git {m['git_head']}"
          f"{' + uncommitted product changes' if m['product_code_uncommitted_changes'] else ''}; "
          f"total {results['total_s']} s; results in {RESULTS.relative_to(ROOT)}")
    if results.get("sweep") and not args.no_plot:
        note = plot(results["sweep"], PLOT)
        print(note or f"plot: {PLOT.relative_to(ROOT)}")
    for failure in failures:
        print(f"BENCH FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
