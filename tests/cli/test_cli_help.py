"""Help and errors: every subcommand's help has a description, an example, its exit codes and the settings it
reads; `--version`; no credential is one line that says what was tried and how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from remediation import __version__
from remediation.cli.help import DESCRIPTIONS
from remediation.cli.main import main
from tests.reconciler.helpers import CNI, ROOT

COMMANDS = ["plan", "apply", "sweep", "prepare-subnet", "status"]


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--help"])
    assert stopped.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines; compare words


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_explains_itself(capsys: pytest.CaptureFixture[str], command: str) -> None:
    text = help_of(capsys, command)
    assert " ".join(DESCRIPTIONS[command].split()) in text
    assert f"example: aks-remediation {command}" in text
    assert "exit codes: 0 " in text and " 1 error" in text
    assert "settings read: REMEDIATION_SCOPE, FIREWALL_ID (required)" in text
    assert "az login" in text


def test_exit_code_3_and_2_are_explained_where_they_happen(capsys: pytest.CaptureFixture[str]) -> None:
    for command, skipped in (("plan", "named target"), ("apply", "named target"), ("prepare-subnet", "subnet")):
        assert f"3 the {skipped} is skipped" in help_of(capsys, command)
    for command in ("plan", "apply", "sweep", "status"):
        text = help_of(capsys, command)
        assert "; 2 " in text and "(with --detailed-exitcode)" in text
    top = help_of(capsys)
    assert ("exit codes: 0 success, 1 error or a blocking conflict (one 'blocked:' line says why), 2 changes "
            "(with --detailed-exitcode), 3 named target skipped") in top


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"aks-egress-remediation {__version__}"


@pytest.mark.parametrize("command", [["status"], ["plan", "--target", CNI]], ids=["status", "plan"])
def test_no_credential_is_one_line_naming_what_was_tried_and_the_fixes(
        command: list[str], settings: Callable[..., str]) -> None:
    """A real process with no identity: DefaultAzureCredential limited (AZURE_TOKEN_CREDENTIALS) to the
    environment credential, so the test does not depend on an `az login` or a managed identity on this host."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REMEDIATION_", "AZURE_", "ARM_", "IDENTITY_", "MSI_"))}
    env["AZURE_TOKEN_CREDENTIALS"] = "EnvironmentCredential"
    proc = subprocess.run([sys.executable, "-m", "remediation", *command, "--settings", settings()], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.splitlines() == [
        "error: no Azure credential could get a token (tried EnvironmentCredential): sign in with `az login` (and "
        "`az account set --subscription <id>`); run where a managed identity is assigned; or, for the local "
        "emulator, apply the `export` lines of `python -m remediation emulator`"]
