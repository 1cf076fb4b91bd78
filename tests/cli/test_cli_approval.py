"""Approval of writes: a terminal answers the prompt (simulated by an injected `ask`), a non-interactive run
needs --auto-approve, `sweep` only plans without --apply, and report mode refuses to write. Every refusal is
one line on stderr, exit 1 and zero ARM writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from emulator import Emulator
from remediation.cli.approve import PROMPT
from remediation.cli.output import shorten_ids
from tests.cli.conftest import Run
from tests.reconciler.helpers import (
    APPGW_TABLE,
    CNI,
    KUBENET,
    OWNED_RCG,
    ROOT,
    SEED_PATH,
    SETTINGS_PATH,
    arm_writes,
)


class Terminal:
    """What a person at a terminal types: one answer per prompt, and what they were asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def test_without_a_terminal_apply_needs_auto_approve(cli: Run, live: Emulator,
                                                     settings: Callable[..., str]) -> None:
    code, out, err = cli("apply", "--target", CNI, "--settings", settings())
    assert (code, out) == (1, "")
    assert err.splitlines() == ["error: apply needs --auto-approve when stdin is not a terminal (nothing was read "
                                "or written); or save a plan with `plan -out FILE` and `apply FILE`"]
    assert live.request_log == []


def test_a_terminal_sees_the_plan_and_only_yes_applies(cli: Run, live: Emulator,
                                                       settings: Callable[..., str]) -> None:
    for answer in ("no", "y", ""):
        terminal = Terminal(answer)
        code, out, err = cli("apply", "--target", CNI, "--settings", settings(), ask=terminal)
        assert code == 1, answer
        assert terminal.prompts == [PROMPT]
        assert f"+ create routeTable {shorten_ids(APPGW_TABLE)}" in out and "Plan: 8 to create" in out
        assert err.splitlines() == ["error: apply cancelled: only 'yes' approves the plan; nothing was written"]
        assert arm_writes(live) == []

    terminal = Terminal("yes")
    code, out, err = cli("apply", "--target", CNI, "--settings", settings(), ask=terminal)
    assert code == 0, err
    assert terminal.prompts == [PROMPT]
    assert "converged: true" in out
    assert len(arm_writes(live)) >= 8

    # Nothing left to write: nobody is asked.
    quiet = Terminal()
    code, out, _ = cli("apply", "--target", CNI, "--settings", settings(), "--detailed-exitcode", ask=quiet)
    assert (code, quiet.prompts) == (0, [])
    assert "No changes." in out


def test_auto_approve_applies_without_asking(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    terminal = Terminal()
    code, out, err = cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve", ask=terminal)
    assert code == 0, err
    assert terminal.prompts == [] and "converged: true" in out


def test_json_output_keeps_the_prompt_off_stdout(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    terminal = Terminal("no")
    code, out, err = cli("apply", "--target", CNI, "--settings", settings(), "--output", "json", ask=terminal)
    assert code == 1
    assert out.startswith("{") and '"error": "not approved: 8 planned write(s), none made"' in out
    assert "Plan: 8 to create" in err and arm_writes(live) == []


def test_sweep_only_plans_unless_apply(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    code, out, _ = cli("sweep", "--settings", settings(), "--detailed-exitcode")
    assert code == 2 and "(dry run)" in out
    assert arm_writes(live) == []
    code, out, err = cli("sweep", "--apply", "--settings", settings())
    assert (code, out) == (1, "")
    assert err.startswith("error: sweep --apply needs --auto-approve") and len(err.splitlines()) == 1
    terminal = Terminal("yes")
    code, out, err = cli("sweep", "--apply", "--settings", settings(), "--detailed-exitcode", ask=terminal)
    assert code == 2, err  # changes were made
    assert terminal.prompts == [PROMPT] and "converged: true" in out
    code, out, _ = cli("sweep", "--apply", "--auto-approve", "--settings", settings(), "--detailed-exitcode")
    assert code == 0 and "No changes." in out


@pytest.mark.parametrize("argv", [
    ["apply", "--target", CNI, "--auto-approve"],
    ["sweep", "--apply", "--auto-approve"],
    ["prepare-subnet", "--subnet", CNI.replace("Microsoft.ContainerService/managedClusters/aks-cni",
                                               "Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-x")],
], ids=["apply", "sweep-apply", "prepare-subnet"])
def test_report_mode_refuses_to_write(cli: Run, live: Emulator, settings: Callable[..., str],
                                      argv: list[str]) -> None:
    code, out, err = cli(*argv, "--settings", settings(REMEDIATION_MODE="report"))
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: REMEDIATION_MODE=report: `{argv[0]}` would write and report mode writes "
                          "nothing; set REMEDIATION_MODE=enforce")
    assert live.request_log == []


def test_report_mode_still_plans(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    code, out, _ = cli("plan", "--target", CNI, "--settings", settings(REMEDIATION_MODE="report"),
                       "--detailed-exitcode")
    assert code == 2 and "Plan: 8 to create" in out


# --------------------------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize("command", [["plan"], ["apply", "--auto-approve"]], ids=["plan", "apply"])
def test_a_skipped_named_target_exits_3_with_its_reason(cli: Run, live: Emulator, settings: Callable[..., str],
                                                       command: list[str]) -> None:
    code, out, _ = cli(*command, "--target", KUBENET, "--settings", settings())
    assert code == 3
    assert "aks-kubenet: network plugin kubenet: the runbook needs Azure CNI" in out


def test_a_skipped_cluster_in_a_sweep_is_not_exit_3(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    code, out, _ = cli("sweep", "--settings", settings())
    assert code == 0 and "skipped " in out


def test_apply_detailed_exitcode_says_whether_it_changed_anything(cli: Run, live: Emulator,
                                                                  settings: Callable[..., str]) -> None:
    first = cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve", "--detailed-exitcode")
    second = cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve", "--detailed-exitcode")
    assert (first[0], second[0]) == (2, 0), (first[2], second[2])


def test_a_firewall_change_while_the_prompt_waits_is_not_written(cli: Run, live: Emulator,
                                                                 settings: Callable[..., str]) -> None:
    """Another writer changes the owned group while the person reads the plan: the routing part they approved
    is written, the firewall part (planned again inside the lock) no longer matches and is not."""

    def answer_after_a_foreign_write(prompt: str) -> str:
        live.put_foreign(OWNED_RCG, {"properties": {"priority": 250, "ruleCollections": []}})
        return "yes"

    code, out, err = cli("apply", "--target", CNI, "--settings", settings(), "--output", "json",
                         ask=answer_after_a_foreign_write)
    assert code == 1, err
    result = json.loads(out)
    # The firewall target refuses its own part inside the lease: the routing part went ahead.
    assert result["error"] == "not approved: 1 planned write(s) were not made"
    assert "error: the plan approved at the prompt is stale" in err
    assert not any(w.startswith("PUT") and "ruleCollectionGroups" in w for w in arm_writes(live))
    assert any("/routes/" in w for w in arm_writes(live))
    group = live.get(OWNED_RCG)
    assert group is not None and group["properties"]["ruleCollections"] == []


def test_a_real_process_without_a_terminal_refuses_before_reading_arm() -> None:
    """stdin is /dev/null, as in CI: the real isatty() check, not an injected one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATION_", "AZURE_", "ARM_", "IDENTITY_"))}
    dump = ["--settings", str(SETTINGS_PATH), "--emulator-seed", str(SEED_PATH)]
    proc = subprocess.run([sys.executable, "-m", "remediation", "sweep", "--apply", *dump], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith("error: sweep --apply needs --auto-approve when stdin is not a terminal")
