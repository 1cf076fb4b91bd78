"""Measure the emulator's CPU during a converging fleet sweep (issue: emulator cost), not a test.

    .venv/bin/python tests/emulator/measure_cost.py 1000

Seeds bench.topology.generate(N) (one shared firewall), runs the reconciler's scope sweep in-process (token
buckets off: the CPU of the emulator does not depend on them), and splits process CPU into the emulator's
(thread CPU of every request handler, summed) and the rest (the product and the SDK).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import topology
from bench.common import harness
from emulator.server import ArmHandler
from remediation.azure import pacing

_lock = threading.Lock()
_cpu = {"emulator": 0.0, "requests": 0.0}
_original = ArmHandler._handle


def _counted(self: ArmHandler, method: str) -> None:
    started = time.thread_time()
    try:
        _original(self, method)
    finally:
        with _lock:
            _cpu["emulator"] += time.thread_time() - started
            _cpu["requests"] += 1


def main(n: int) -> dict[str, Any]:
    ArmHandler._handle = _counted  # type: ignore[method-assign]
    # The product paces its reads on its own count (25/s); that is wall time, not CPU, and would make a
    # 1000-cluster sweep take ten minutes. A huge refill rate turns the pacing waits off for the measurement.
    for bucket in pacing.REFILL_PER_S:
        pacing.REFILL_PER_S[bucket] = 1e9
    fleet = topology.generate(n)
    with harness(fleet.seed, topology.SETTINGS) as h:
        wall0, cpu0 = time.monotonic(), time.process_time()
        result = h.reconciler.reconcile(h.reconciler.scope_target(), dry_run=False)
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    return {"n": n, "converged": result.converged, "requests": int(_cpu["requests"]), "wall_s": round(wall, 1),
            "process_cpu_s": round(cpu, 1), "emulator_cpu_s": round(_cpu["emulator"], 1),
            "product_cpu_s": round(cpu - _cpu["emulator"], 1)}


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
