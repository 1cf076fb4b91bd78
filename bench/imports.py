"""Benchmark 5: cold import time of the Function app entry point, against azure.mgmt.network alone.

Each figure is the median of RUNS fresh interpreters (`python -c "import X"` timed inside the child with
time.perf_counter, so interpreter start-up is left out), run from the repository root with the venv's Python.
`python -X importtime` gives the heaviest top-level packages behind function_app.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from typing import Any

from bench.common import ROOT

RUNS = 5
MODULES = ("function_app", "azure.mgmt.network", "azure.functions", "remediation.engine.reconciler")
_CHILD = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def _time(module: str) -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(m=module)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def _heaviest(module: str, top: int = 8) -> list[tuple[str, float]]:
    """The import chain's heaviest modules by cumulative time (ms), from -X importtime (root left out)."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stderr
    rows: list[tuple[str, float]] = []
    for line in err.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and match.group(3) != module:
            rows.append((match.group(3), int(match.group(1)) / 1000))
    return sorted(rows, key=lambda kv: -kv[1])[:top]


def run(quick: bool = False) -> dict[str, Any]:
    if not (ROOT / "function_app.py").exists():
        raise FileNotFoundError("function_app.py does not exist yet")
    medians = {m: round(statistics.median(_time(m) for _ in range(RUNS)), 3) for m in MODULES}
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, function_app; print(int('remediation.engine.reconciler' in sys.modules), "
         "int('azure.mgmt.network' in sys.modules))"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    return {
        "name": "cold import",
        "runs": RUNS,
        "median_s": medians,
        "function_app_over_network_sdk": round(medians["function_app"] / medians["azure.mgmt.network"], 2),
        "function_app_loads_reconciler": loaded[0] == "1",
        "function_app_loads_network_sdk": loaded[1] == "1",
        "function_app_heaviest_ms": [[name, round(ms)] for name, ms in _heaviest("function_app")],
    }
