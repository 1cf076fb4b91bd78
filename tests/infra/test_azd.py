"""azure.yaml and infra/main.parameters.json agree with infra/main.bicep."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.infra.bicep_model import INFRA_DIR, REPO_ROOT, BicepFile


def _main(bicep_files: list[BicepFile]) -> BicepFile:
    return next(b for b in bicep_files if b.path == INFRA_DIR / "main.bicep")


def _parameters_file() -> dict[str, Any]:
    document = json.loads((INFRA_DIR / "main.parameters.json").read_text(encoding="utf-8"))
    return dict(document["parameters"])


def test_parameters_file_matches_main(bicep_files: list[BicepFile]) -> None:
    declared = _main(bicep_files).parameters
    given = _parameters_file()
    assert set(given) <= set(declared), sorted(set(given) - set(declared))
    required = {name for name, p in declared.items() if p.get("default") is None}  # pycep: None = no default
    assert {"environmentName", "location", "remediationScope", "firewallId"} <= required
    assert required <= set(given), sorted(required - set(given))


def test_parameters_come_from_the_azd_environment() -> None:
    given = _parameters_file()
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"
    placeholder = re.compile(r"^\$\{[A-Z0-9_]+(=[^}]*)?\}$")
    for name, parameter in given.items():
        assert placeholder.match(str(parameter["value"])), f"{name} is not an environment placeholder"


def test_report_mode_is_the_default(bicep_files: list[BicepFile]) -> None:
    declared = _main(bicep_files).parameters
    assert declared["remediationMode"]["default"] == "report"
    assert declared["driftSchedule"]["default"] == "0 */15 * * * *"
    assert _parameters_file()["remediationMode"]["value"] == "${REMEDIATION_MODE=report}"


def test_azure_yaml_service() -> None:
    document = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text(encoding="utf-8"))
    api = document["services"]["api"]
    assert api == {"project": ".", "language": "python", "host": "function"}
    for platform in ("posix", "windows"):
        hook = document["hooks"]["postdeploy"][platform]["run"]
        assert (REPO_ROOT / hook).is_file(), hook
    preprovision = document["hooks"]["preprovision"]["posix"]["run"]
    assert (REPO_ROOT / preprovision).is_file(), preprovision


def test_preflight_sets_what_the_guards_read(bicep_files: list[BicepFile]) -> None:
    """scripts/preflight.sh writes the azd variables of the flexRuntimeCheckedLocation and firewallPolicyIds
    parameters (guardFlexRuntime, guardPolicyNeeded)."""
    script = (REPO_ROOT / "scripts" / "preflight.sh").read_text(encoding="utf-8")
    given = _parameters_file()
    for parameter, variable in (("flexRuntimeCheckedLocation", "FLEX_RUNTIME_CHECKED_LOCATION"),
                                ("firewallPolicyIds", "FIREWALL_POLICY_IDS")):
        assert given[parameter]["value"].startswith("${" + variable)
        assert f"azd env set {variable}" in script
        assert parameter in _main(bicep_files).parameters
