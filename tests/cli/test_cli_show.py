"""`show FILE` (#25.2): a saved plan rendered as text or JSON from the file alone: no settings, no ARM call."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from emulator import Emulator
from tests.cli.conftest import Run
from tests.reconciler.helpers import CNI, SUB


def test_show_renders_a_saved_plan_without_reading_azure(cli: Run, live: Emulator, tmp_path: Path,
                                                         settings: Callable[..., str],
                                                         monkeypatch) -> None:
    path = tmp_path / "aks.plan"
    code, planned, err = cli("plan", "--target", CNI, "--settings", settings(), "-out", str(path), "-o", "json")
    assert code == 0, err
    calls = len(live.request_log)
    monkeypatch.delenv("ARM_ENDPOINT")  # nothing to reach: show needs no settings and no ARM
    code, text, err = cli("show", str(path))
    assert code == 0, err
    assert text.splitlines()[0].startswith(f"saved plan {path}: cluster:/subscriptions/…/")
    assert "  + create route /subscriptions/…/resourceGroups/rg-spoke/providers/Microsoft.Network/routeTables/" \
           "rt-spoke-nodes/routes/rmd-spoke-10-2-0-0-16" in text
    assert '      properties.routes[1].properties.addressPrefix: "10.2.0.0/16"' in text
    assert text.rstrip().splitlines()[-1] == "Plan: 8 to create, 0 to update, 0 to delete, 0 unchanged."
    code, shown, _ = cli("show", str(path), "-o", "json", "--detailed-exitcode")
    assert code == 2
    document = json.loads(shown)
    assert document["plan"]["changes"] == json.loads(planned)["changes"]
    assert document["target"]["id"].lower() == CNI.lower() and SUB in json.dumps(document)
    code, summary, _ = cli("show", str(path), "--query", "plan.summary.create")
    assert (code, json.loads(summary)) == (0, 8)
    assert len(live.request_log) == calls


def test_show_of_something_else_is_one_line(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "not-a-plan.json"
    path.write_text(json.dumps({"resources": []}), encoding="utf-8")
    code, out, err = cli("show", str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"error: saved plan: {path} is not a plan saved by `plan -out`"]
