"""`make demo` installs what the demo needs and no more; `make test` still installs the dev tools (#25.7).

Checked with `make -n` (what would run) into a venv path that does not exist, so nothing is installed here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str, tmp_path: Path) -> str:
    done = subprocess.run(["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}",
                           f"PYTHON={sys.executable}"], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_demo_installs_the_app_and_cli_requirements_only(tmp_path: Path) -> None:
    out = dry_run("demo", tmp_path)
    assert "pip install --quiet -r requirements.txt -r requirements-cli.txt" in out
    assert "requirements-dev.txt" not in out
    assert "scripts/demo.py" in out


def test_test_still_installs_the_dev_tools(tmp_path: Path) -> None:
    out = dry_run("lint", tmp_path)
    assert "pip install --quiet -r requirements-dev.txt" in out


def test_the_demo_needs_nothing_from_the_dev_requirements() -> None:
    """The demo's imports resolve from requirements.txt + requirements-cli.txt: the emulator and the product
    import no package that only requirements-dev.txt brings (pytest, yaml, hypothesis, ...)."""
    done = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "scripts" / "demo.py")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert {"remediation", "emulator", "trustme"} <= imported  # the check sees the demo's imports
    assert not imported & {"pytest", "yaml", "hypothesis", "mypy", "checkov", "matplotlib", "ruff"}, imported
