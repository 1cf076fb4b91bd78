"""Cold import of the Function app entry point in a venv holding only requirements.txt (what the Functions
host installs on deploy): no test, emulator or benchmark packages that could be imported by accident or sit
warm in the page cache of a bigger venv.

The venv is built once, under /tmp (or $BENCH_COLD_VENV), with the interpreter running the benchmark, and
rebuilt when requirements.txt changes (a stamp file holds its hash). When it cannot be built (no network to
the package index, no `venv` module) the figure is skipped with the reason, and bench-check says so.
Each time is the median of RUNS fresh interpreters timing `import function_app` inside the child (start-up of
the interpreter itself left out), run from the repository root.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import ROOT

RUNS = 5
DEFAULT_VENV = Path("/tmp/bench-cold-venv")
_CHILD = ("import sys, time; t = time.perf_counter(); import {m}; d = time.perf_counter() - t; "
          "print(d, int('remediation.engine.reconciler' in sys.modules), int('azure.mgmt.network' in sys.modules))")


def _stamp() -> str:
    return hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> str | None:
    """Build (or reuse) the venv; None when ready, else why it is not."""
    stamp = venv / ".requirements.sha256"
    if _python(venv).exists() and stamp.exists() and stamp.read_text(encoding="utf-8").strip() == _stamp():
        return None
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run([str(_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(ROOT / "requirements.txt")], check=True, capture_output=True, text=True,
                       timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"could not build a venv with requirements.txt in {venv}: {detail.strip().splitlines()[-1:]}"
    stamp.write_text(_stamp() + "\n", encoding="utf-8")
    return None


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH or venv of the caller leaks into the child."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def measure(module: str, venv: Path) -> tuple[float, bool, bool]:
    runs = []
    loads = (False, False)
    for _ in range(RUNS):
        out = subprocess.run([str(_python(venv)), "-c", _CHILD.format(m=module)], cwd=ROOT, check=True,
                             capture_output=True, text=True, env=_clean_env()).stdout.split()
        runs.append(float(out[0]))
        loads = (out[1] == "1", out[2] == "1")
    return statistics.median(runs), *loads


def run() -> dict[str, Any]:
    venv = Path(os.environ.get("BENCH_COLD_VENV", DEFAULT_VENV))
    problem = ensure_venv(venv)
    if problem:
        return {"skipped": problem}
    try:
        app_s, loads_reconciler, loads_network = measure("function_app", venv)
        network_s, _, _ = measure("azure.mgmt.network", venv)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return {"skipped": f"import failed in {venv}: {exc}"}
    return {"venv": str(venv), "runs": RUNS, "function_app_s": round(app_s, 3),
            "azure_mgmt_network_s": round(network_s, 3), "function_app_loads_reconciler": loads_reconciler,
            "function_app_loads_network_sdk": loads_network}
