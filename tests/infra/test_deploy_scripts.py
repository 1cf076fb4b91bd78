"""scripts/deploy-private.sh publishes only where the app's SCM host resolves to a private address, and
scripts/preflight.sh records the region only when Flex lists Python 3.13 there. Both run with `getent`,
`az` and `azd` replaced by stubs on PATH that print fixed answers and log their calls (no Azure)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.bicep_model import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)


def _run(script: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls.log"), **env}
    return subprocess.run(["sh", str(SCRIPTS / script)], env=full_env, capture_output=True, text=True,
                          timeout=30, check=False, cwd=tmp_path)


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


@pytest.mark.parametrize(("address", "deploys"), [
    ("10.90.0.70", True), ("172.20.1.4", True), ("192.168.3.9", True),
    ("20.50.2.3", False), ("172.32.0.1", False), ("", False),
])
def test_deploy_private_requires_a_private_scm_address(tmp_path: Path, address: str, deploys: bool) -> None:
    answer = f'echo "{address} func-abc.scm.azurewebsites.net"' if address else "exit 2"
    _stub(tmp_path, "getent", f'echo "getent $*" >> "$CALLS"\n{answer}\n')
    _stub(tmp_path, "azd", 'echo "azd $*" >> "$CALLS"\n')
    completed = _run("deploy-private.sh", tmp_path, {"AZURE_FUNCTION_APP_NAME": "func-abc",
                                                      "FUNCTION_APP_HOSTNAME": "func-abc.azurewebsites.net"})
    assert "getent hosts func-abc.scm.azurewebsites.net" in _calls(tmp_path)
    assert ("azd deploy api --no-prompt" in _calls(tmp_path)) is deploys
    assert (completed.returncode == 0) is deploys, completed.stderr
    if not deploys:
        assert "VNet" in completed.stderr


@pytest.mark.parametrize(("versions", "recorded"), [("3.11\n3.12\n3.13", True), ("3.11\n3.12", False)])
def test_preflight_records_the_region_only_when_python_313_is_offered(tmp_path: Path, versions: str,
                                                                      recorded: bool) -> None:
    listing = versions.replace("\n", "\\n")
    _stub(tmp_path, "az", f'echo "az $*" >> "$CALLS"\ncase "$*" in *list-flexconsumption-runtimes*) '
                          f'printf "{listing}\\n";; *firewall*) echo "/subscriptions/s/resourceGroups/rg/'
                          f'providers/Microsoft.Network/firewallPolicies/pol";; esac\n')
    _stub(tmp_path, "azd", 'echo "azd $*" >> "$CALLS"\n')
    env = {"AZURE_LOCATION": "westeurope",
           "FIREWALL_ID": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/azureFirewalls/fw"}
    completed = _run("preflight.sh", tmp_path, env)
    calls = _calls(tmp_path)
    assert ("azd env set FLEX_RUNTIME_CHECKED_LOCATION westeurope" in calls) is recorded
    assert (completed.returncode == 0) is recorded, completed.stderr
    if recorded:
        policies = [c for c in calls if c.startswith("azd env set FIREWALL_POLICY_IDS")]
        assert policies == ['azd env set FIREWALL_POLICY_IDS ["/subscriptions/s/resourceGroups/rg/providers/'
                            'Microsoft.Network/firewallPolicies/pol"]']
    else:
        assert "Python 3.13" in completed.stderr


def test_scripts_are_executable() -> None:
    for name in ("preflight.sh", "deploy-private.sh", "lock-audit-retention.sh"):
        assert os.access(SCRIPTS / name, os.X_OK), name
