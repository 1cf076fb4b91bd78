"""checkov's Bicep checks pass with no failure and no parsing error; every skip carries its reason inline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_model import INFRA_DIR, REPO_ROOT, bicep_paths, offline_text


def _checkov_executable() -> str:
    beside_python = Path(sys.executable).with_name("checkov")
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed (requirements-dev.txt pins it)")
    return found


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run for the whole module (it takes a few seconds)."""
    env = {**os.environ, "LOG_LEVEL": "ERROR"}
    # checkov's parser (pycep) predates Bicep's fail(): scan a copy where it reads as a one-string function
    # (bicep_model.offline_text), everything else byte for byte.
    scanned = tmp_path_factory.mktemp("infra")
    for path in INFRA_DIR.rglob("*"):
        if path.is_file():
            target = scanned / path.relative_to(INFRA_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = path.read_text(encoding="utf-8")
            target.write_text(offline_text(text) if path.suffix == ".bicep" else text, encoding="utf-8")
    completed = subprocess.run(
        [
            _checkov_executable(),
            "--directory",
            str(scanned),
            "--framework",
            "bicep",
            "--output",
            "json",
            "--compact",
            "--skip-download",  # offline: no Prisma Cloud guidelines
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.stdout.strip(), f"checkov printed no report; stderr:\n{completed.stderr[-2000:]}"
    report = json.loads(completed.stdout)
    if isinstance(report, list):  # several frameworks -> a list of reports
        (report,) = [r for r in report if r.get("check_type") == "bicep"]
    assert isinstance(report, dict)
    return report


def test_checkov_parsed_everything(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 0
    assert summary["passed"] > 0, "checkov evaluated nothing"


def test_checkov_has_no_failed_check(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report.get("results", {}).get("failed_checks", [])
    described = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in failed]
    assert not failed, "\n".join(described)
    assert checkov_report["summary"]["failed"] == 0


def test_every_skip_is_justified_inline(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report.get("results", {}).get("skipped_checks", [])
    assert len(skipped) == checkov_report["summary"]["skipped"]
    for check in skipped:
        comment = str(check.get("check_result", {}).get("suppress_comment", ""))
        assert len(comment) > 20 and comment != "No comment provided", f"{check['check_id']} needs a reason"


def test_skip_comments_name_real_checks() -> None:
    """A skip comment must sit inside a resource body and name a CKV id, or checkov ignores it silently."""
    for path in bicep_paths():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "checkov:skip" in line:
                assert line.startswith("  // checkov:skip=CKV"), f"{path}:{number}: {line.strip()}"
                assert ":" in line.split("checkov:skip=", 1)[1], f"{path}:{number}: skip without a reason"
