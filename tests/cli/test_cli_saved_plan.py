"""`plan -out FILE` / `apply FILE`: the saved document, applying exactly it, and refusing a stale plan (the
emulator's state is changed between the two commands, as another writer would) or other settings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator import Emulator
from remediation.cli.plan_file import FORMAT, FORMAT_VERSION, settings_fingerprint
from remediation.core.config import Mode, load_settings
from tests.cli.conftest import Run
from tests.reconciler.helpers import BASE_SETTINGS, CNI, CUSTOMER_TABLE, FIREWALL_IP, OWNED_RCG, arm_writes

SPOKE_ROUTE = f"{CUSTOMER_TABLE}/routes/rmd-spoke-10-2-0-0-16"


def save_plan(cli: Run, settings: str, path: Path) -> dict:
    code, out, err = cli("plan", "--target", CNI, "--settings", settings, "-out", str(path))
    assert code == 0, err
    assert "Plan: 8 to create" in out
    document: dict = json.loads(path.read_text(encoding="utf-8"))
    return document


def test_the_saved_plan_holds_target_fingerprint_version_and_the_changes(
        cli: Run, live: Emulator, settings: Callable[..., str], tmp_path: Path) -> None:
    document = save_plan(cli, settings(), tmp_path / "aks.plan")
    assert document["format"] == FORMAT and document["formatVersion"] == FORMAT_VERSION
    assert document["target"]["kind"] == "cluster" and document["target"]["id"].lower() == CNI.lower()
    assert document["settingsFingerprint"].startswith("sha256:")
    changes = {c["address"]: c for c in document["plan"]["changes"]}
    assert changes[SPOKE_ROUTE]["before"] is None
    assert changes[SPOKE_ROUTE]["after"] == {"addressPrefix": "10.2.0.0/16", "nextHopType": "VirtualAppliance",
                                             "nextHopIpAddress": FIREWALL_IP}
    assert arm_writes(live) == []


def test_apply_of_a_fresh_saved_plan_makes_exactly_its_changes(cli: Run, live: Emulator,
                                                              settings: Callable[..., str], tmp_path: Path) -> None:
    path = tmp_path / "aks.plan"
    document = save_plan(cli, settings(), path)
    planned = {c["address"].lower() for c in document["plan"]["changes"] if c["action"] != "noop"}
    code, out, err = cli("apply", str(path), "--settings", settings(), "--output", "json", "--detailed-exitcode")
    assert code == 2, err  # changes were made
    result = json.loads(out)
    assert result["converged"] is True and result["error"] is None
    done = {o["address"].lower() for o in result["outcomes"] if o["outcome"] != "unchanged"}
    assert done == planned
    # Applying the same file again: the state moved on, so it is stale now.
    code, _, err = cli("apply", str(path), "--settings", settings())
    assert code == 1 and "is stale" in err


def test_a_routing_change_since_the_plan_makes_it_stale(cli: Run, live: Emulator, settings: Callable[..., str],
                                                        tmp_path: Path) -> None:
    path = tmp_path / "aks.plan"
    save_plan(cli, settings(), path)
    live.put_foreign(SPOKE_ROUTE, {"properties": {"addressPrefix": "10.2.0.0/16", "nextHopType": "VirtualAppliance",
                                                  "nextHopIpAddress": "10.0.1.9"}})
    live.clear_log()
    code, out, err = cli("apply", str(path), "--settings", settings())
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: saved plan {path} is stale: the state changed since it was made (saved: create route "
        f"{SPOKE_ROUTE}; now: update route {SPOKE_ROUTE}); nothing was written: run `plan -out` again"]
    assert arm_writes(live) == []


def test_a_firewall_change_since_the_plan_makes_it_stale(cli: Run, live: Emulator, settings: Callable[..., str],
                                                         tmp_path: Path) -> None:
    path = tmp_path / "aks.plan"
    save_plan(cli, settings(), path)
    live.put_foreign(OWNED_RCG, {"properties": {"priority": 250, "ruleCollections": []}})
    live.clear_log()
    code, _, err = cli("apply", str(path), "--settings", settings())
    assert code == 1
    assert f"(saved: create ruleCollectionGroup {OWNED_RCG}; now: update ruleCollectionGroup" in err
    assert arm_writes(live) == []


def test_other_settings_than_the_plans_are_refused_before_any_arm_call(
        cli: Run, live: Emulator, settings: Callable[..., str], tmp_path: Path) -> None:
    path = tmp_path / "aks.plan"
    save_plan(cli, settings(), path)
    live.clear_log()
    code, _, err = cli("apply", str(path), "--settings", settings(SPOKE_PREFIXES="10.3.0.0/16"))
    assert code == 1
    # The differing setting is named (#24 item 18).
    assert err.splitlines() == [f"error: saved plan {path} was made with other settings than these "
                                "(SPOKE_PREFIXES differs): run `plan -out` again"]
    assert live.request_log == []


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read"),
    ("{not json", "cannot read"),
    (json.dumps({"resources": []}), "is not a plan saved by `plan -out`"),
    (json.dumps({"format": FORMAT, "formatVersion": 99}), "has format version 99"),
    (json.dumps({"format": FORMAT, "formatVersion": FORMAT_VERSION, "target": {"kind": "galaxy", "id": "x"}}),
     "is incomplete"),
], ids=["missing", "not-json", "not-a-plan", "future-version", "bad-target"])
def test_a_file_that_is_not_a_saved_plan(cli: Run, live: Emulator, settings: Callable[..., str], tmp_path: Path,
                                         content: str | None, problem: str) -> None:
    path = tmp_path / "x.plan"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = cli("apply", str(path), "--settings", settings())
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and problem in err
    assert live.request_log == []


def test_apply_takes_a_file_or_a_target(cli: Run, live: Emulator, settings: Callable[..., str],
                                        tmp_path: Path) -> None:
    path = tmp_path / "aks.plan"
    save_plan(cli, settings(), path)
    code, _, err = cli("apply", str(path), "--target", CNI, "--settings", settings())
    assert code == 1 and "not both" in err
    code, _, err = cli("apply", "--settings", settings(), "--auto-approve")
    assert code == 1 and err.splitlines() == ["error: apply needs --target <id> or a saved plan FILE"]


@pytest.mark.parametrize(("change", "same"), [
    ({"arm_endpoint": "https://127.0.0.1:1"}, True),  # an emulator's port differs per run
    ({"mode": "report"}, True),
    ({"principal_id": "someone-else"}, True),
    ({"spoke_prefixes": ("10.3.0.0/16",)}, False),
    ({"allow_takeover": True}, False),
    ({"rule_collection_group_priority": 300}, False),
    ({"egress_ports": ("443",)}, False),
], ids=lambda v: str(v))
def test_the_fingerprint_covers_what_shapes_a_plan(change: dict, same: bool) -> None:
    base = load_settings(BASE_SETTINGS)
    if "mode" in change:
        change = {"mode": Mode(change["mode"])}
    other = dataclasses.replace(base, **change)
    assert (settings_fingerprint(other) == settings_fingerprint(base)) is same
