"""The README's `status` output is what the CLI prints for the example after `apply --target <aks-cni>`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run
from tests.reconciler.helpers import CNI, ROOT, SEED_PATH, SETTINGS_PATH, SUB


def readme_block(after: str) -> str:
    """The first fenced block after the line containing `after`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after):]
    start = rest.index("```\n") + 4
    return rest[start:rest.index("```", start)]


def test_the_readme_status_output_is_true(cli: Run, tmp_path: Path) -> None:
    dump = tmp_path / "after.json"
    code, _, err = cli("apply", "--target", CNI, "--settings", str(SETTINGS_PATH), "--emulator-seed", str(SEED_PATH),
                       "--emulator-dump", str(dump), "--auto-approve")
    assert code == 0, err
    code, out, err = cli("status", "--settings", str(SETTINGS_PATH), "--emulator-seed", str(dump))
    assert code == 0, err
    assert out.replace(SUB, "…") == readme_block("`apply --target <aks-cni id>` on the example topology:")
    code, out, _ = cli("status", "--settings", str(SETTINGS_PATH), "--emulator-seed", str(dump), "--output", "json")
    document = json.loads(out)
    assert (document["compliant"], document["summary"]) == (False, {"compliant": 1, "non-compliant": 1,
                                                                    "skipped": 1, "conflicted": 0})
