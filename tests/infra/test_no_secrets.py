"""No key, secret or connection string with a key appears in the templates, parameters or settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from remediation.core import config
from tests.infra.bicep_model import INFRA_DIR, REPO_ROOT, BicepFile, body, resources_of_type

FORBIDDEN = [
    re.compile(r"\.?list(Keys|AccountSas|ServiceSas|Secrets|ConnectionStrings)\s*\(", re.IGNORECASE),
    re.compile(r"AccountKey\s*=", re.IGNORECASE),
    re.compile(r"SharedAccessKey", re.IGNORECASE),
    re.compile(r"SharedAccessSignature", re.IGNORECASE),
    re.compile(r"InstrumentationKey\s*=", re.IGNORECASE),
    re.compile(r"\bsig=", re.IGNORECASE),
]


def _deployment_files() -> list[Path]:
    files = [p for p in INFRA_DIR.rglob("*") if p.is_file()]
    return [*files, REPO_ROOT / "azure.yaml", REPO_ROOT / "local.settings.json.example",
            REPO_ROOT / "host.json"]


@pytest.mark.parametrize("path", _deployment_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_key_material(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in FORBIDDEN:
        assert not pattern.search(text), f"{path}: matches {pattern.pattern}"


def test_secure_parameters_have_no_default(bicep_files: list[BicepFile]) -> None:
    for bicep in bicep_files:
        for name, parameter in bicep.parameters.items():
            secure = any(d.get("type") == "secure" for d in parameter.get("decorators", []))
            if secure:
                assert parameter.get("default") in (None, ""), f"{bicep.path}: {name}"


def test_storage_accepts_entra_id_only(bicep_files: list[BicepFile]) -> None:
    accounts = list(resources_of_type(bicep_files, "Microsoft.Storage/storageAccounts"))
    assert accounts
    for _, account in accounts:
        properties = account["properties"]
        assert properties["allowSharedKeyAccess"] is False
        assert properties["allowBlobPublicAccess"] is False
        assert properties["minimumTlsVersion"] == "TLS1_2"
        assert properties["supportsHttpsTrafficOnly"] is True


def test_local_auth_disabled_everywhere(bicep_files: list[BicepFile]) -> None:
    for _, component in resources_of_type(bicep_files, "Microsoft.Insights/components"):
        assert component["properties"]["DisableLocalAuth"] is True
    for _, topic in resources_of_type(bicep_files, "Microsoft.EventGrid/topics"):
        assert topic["properties"]["disableLocalAuth"] is True
    for _, policy in resources_of_type(bicep_files, "Microsoft.Web/sites/basicPublishingCredentialsPolicies"):
        assert policy["properties"]["allow"] is False


def _app_settings(bicep_files: list[BicepFile]) -> tuple[BicepFile, dict[str, object]]:
    api = next(b for b in bicep_files if b.path.name == "api.bicep")
    declaration = next(r for r in api.resources.values() if r["type"] == "Microsoft.Web/sites/config")
    union = body(declaration)["properties"]["function"]
    assert union["type"] == "union"
    arguments = list(union["parameters"].values())
    assert arguments[0] == "remediationSettings"
    host_settings = dict(arguments[1])
    return api, host_settings


def test_host_storage_is_identity_based(bicep_files: list[BicepFile]) -> None:
    _, settings = _app_settings(bicep_files)
    assert "AzureWebJobsStorage" not in settings, "a plain AzureWebJobsStorage would be a connection string"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__queueServiceUri"} <= settings.keys()
    assert settings["EventsStorage__credential"] == "managedidentity"
    assert "EventsStorage" not in settings, "a plain EventsStorage would be a connection string"
    # The user-assigned identity is named by its client id (telemetry, host storage, SDK clients).
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    assert settings["AzureWebJobsStorage__clientId"] == settings["EventsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert "REMEDIATION_PRINCIPAL_ID" in settings


def test_every_setting_the_code_reads_is_deployed(bicep_files: list[BicepFile]) -> None:
    main = next(b for b in bicep_files if b.path.name == "main.bicep")
    deployed = set(main.resolve("remediationSettings"))
    _, host_settings = _app_settings(bicep_files)
    deployed |= set(host_settings)
    read_by_code = set(config.DEFAULTS) | {
        "REMEDIATION_SCOPE",
        "FIREWALL_ID",
        "ARM_ENDPOINT",
        "REMEDIATION_PRINCIPAL_ID",
        "RESULT_TOPIC_ENDPOINT",
        "DRIFT_SCHEDULE",
    }
    assert read_by_code <= deployed, sorted(read_by_code - deployed)
