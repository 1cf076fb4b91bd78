"""Settings are validated once at start; a bad value names the setting (issue: bad configuration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediation.core import config
from remediation.core.config import Mode, load_settings, read_local_settings
from remediation.core.errors import ConfigError

SUB = "00000000-0000-0000-0000-000000000000"
FIREWALL = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/fw-hub"
VALID = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL}


def test_defaults_are_safe() -> None:
    settings = load_settings(VALID)
    assert settings.mode is Mode.REPORT  # a new deployment only reports until told to enforce
    assert settings.arm_endpoint == "https://management.azure.com"
    assert settings.allow_takeover is False
    assert settings.force_default_route is False
    assert settings.owns_name("rmd-egress") and not settings.owns_name("to-onprem")
    assert settings.owns_tags({"Managed-By": "aks-egress-remediation"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REMEDIATION_SCOPE", ""),
        ("REMEDIATION_SCOPE", "not-an-id"),
        ("REMEDIATION_SCOPE", FIREWALL),
        ("FIREWALL_ID", ""),
        ("FIREWALL_ID", f"/subscriptions/{SUB}/resourceGroups/rg"),
        ("AZURE_CLOUD", "AzureGermanCloud"),
        ("ARM_ENDPOINT", "http://management.azure.com"),
        ("OWNERSHIP_PREFIX", "bad prefix!"),
        ("OWNERSHIP_TAG", "no-equals-sign"),
        ("RULE_COLLECTION_GROUP", "other-name"),
        ("RULE_COLLECTION_GROUP_PRIORITY", "50"),
        ("RULE_COLLECTION_GROUP_SHARD_BYTES", "100"),
        ("RULE_COLLECTION_GROUP_SHARD_BYTES", "2097152"),
        ("RULE_COLLECTION_GROUP_SHARD_BYTES", "1.5MB"),
        ("EGRESS_PORTS", "443,70000"),
        ("EGRESS_PORTS", ","),
        ("EGRESS_PROTOCOLS", "TCP,SCTP"),
        ("INGRESS_PORTS", "http"),
        ("SPOKE_PREFIXES", "10.2.0.1/16"),
        ("FORCE_DEFAULT_ROUTE", "maybe"),
        ("REMEDIATION_MODE", "yolo"),
        ("RESULT_TOPIC_ENDPOINT", "ftp://topic"),
        ("BURST_SWEEP_AFTER", "-1"),
        ("BURST_SWEEP_AFTER", "five"),
        ("BURST_SWEEP_AFTER", "1001"),
        ("LRO_FIRST_POLL_SCALE", "-0.5"),
        ("LRO_FIRST_POLL_SCALE", "11"),
        ("LRO_FIRST_POLL_SCALE", "nan"),
        ("LRO_FIRST_POLL_SCALE", "soon"),
    ],
)
def test_invalid_setting_fails_with_its_name(name: str, value: str) -> None:
    env = {**VALID, name: value}
    if name in {"REMEDIATION_SCOPE", "FIREWALL_ID"} and not value:
        env.pop(name)
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.setting == name
    assert str(caught.value).startswith(name + ":")


@pytest.mark.parametrize(
    ("cloud", "endpoint"),
    [
        ("AzureCloud", "https://management.azure.com"),
        ("AzureUSGovernment", "https://management.usgovcloudapi.net"),
        ("AzureChinaCloud", "https://management.chinacloudapi.cn"),
    ],
)
def test_cloud_selects_arm_endpoint(cloud: str, endpoint: str) -> None:
    assert load_settings({**VALID, "AZURE_CLOUD": cloud}).arm_endpoint == endpoint


def test_explicit_endpoint_wins() -> None:
    assert load_settings({**VALID, "ARM_ENDPOINT": "https://127.0.0.1:8443/"}).arm_endpoint == (
        "https://127.0.0.1:8443")


def test_scope_checks_are_case_insensitive() -> None:
    settings = load_settings({**VALID, "REMEDIATION_SCOPE": f"/subscriptions/{SUB}/resourceGroups/RG-Spoke"})
    assert settings.in_scope(f"/subscriptions/{SUB}/resourcegroups/rg-spoke/providers/Microsoft.Network/routeTables/x")
    assert not settings.in_scope(FIREWALL)
    assert not settings.in_scope("garbage")


def test_local_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {**VALID, "REMEDIATION_MODE": "enforce"}}))
    assert load_settings(read_local_settings(path)).mode is Mode.ENFORCE


def test_local_settings_file_must_have_values(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text("[]")
    with pytest.raises(ConfigError, match="--settings"):
        read_local_settings(path)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("SPOKE_PREFIXES", "0.0.0.0/0", "default route"),
        ("SPOKE_PREFIXES", "10.2.0.0/16,0.0.0.0/1", "default route"),
        ("SPOKE_PREFIXES", "0.0.0.0/1,128.0.0.0/1", "default route"),
        ("SPOKE_PREFIXES", "fd00::/8", "IPv6"),
        ("SPOKE_PREFIXES", "10.2.0.0/16, 2001:db8::/32", "IPv6"),
        ("EGRESS_DESTINATIONS", "AzureCloud,2001:db8::/32", "IPv6"),
        ("EGRESS_DESTINATIONS", "::/0", "IPv6"),
    ],
)
def test_unsafe_address_settings_fail_with_their_name(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**VALID, name: value})
    assert caught.value.setting == name and fragment in str(caught.value)


@pytest.mark.parametrize("value", ["", "10.2.0.0/16", "10.2.0.0/16,10.3.0.0/16", "10.0.0.0/8", "192.168.0.0/24"])
def test_spoke_prefixes_that_are_spokes_are_accepted(value: str) -> None:
    assert len(load_settings({**VALID, "SPOKE_PREFIXES": value}).spoke_prefixes) == len(
        [p for p in value.split(",") if p])


@pytest.mark.parametrize(("value", "expected"), [(None, 0.0), ("0", 0.0), ("1", 1.0), ("0.1", 0.1)])
def test_lro_first_poll_scale(value: str | None, expected: float) -> None:
    env = dict(VALID) if value is None else {**VALID, "LRO_FIRST_POLL_SCALE": value}
    assert load_settings(env).lro_first_poll_scale == expected


@pytest.mark.parametrize(("value", "expected"), [(None, 5), ("0", 0), ("12", 12)])
def test_burst_sweep_after(value: str | None, expected: int) -> None:
    env = {**VALID, **({"BURST_SWEEP_AFTER": value} if value is not None else {})}
    assert load_settings(env).burst_sweep_after == expected


def _settings_file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(("key", "known"), [("FORCE_DEFAULT_ROUTES", "FORCE_DEFAULT_ROUTE"),
                                            ("EGRES_PROFILE", "EGRESS_PROFILE"),
                                            ("Remediation_Mode", "REMEDIATION_MODE")])
def test_a_misspelt_key_in_a_settings_file_is_named_with_the_closest_setting(tmp_path: Path, key: str,
                                                                              known: str) -> None:
    """Silently ignored, FORCE_DEFAULT_ROUTES would leave FORCE_DEFAULT_ROUTE at false (#24 item 18)."""
    path = _settings_file(tmp_path, {"IsEncrypted": False, "Values": {"REMEDIATION_SCOPE": "/subscriptions/x",
                                                                      key: "true"}})
    with pytest.raises(ConfigError) as raised:
        config.read_local_settings(path)
    assert raised.value.setting == key and f"did you mean {known}?" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_other_apps_settings_in_the_file_are_left_alone(tmp_path: Path) -> None:
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
              "AzureWebJobsFeatureFlags": "x", "APPLICATIONINSIGHTS_CONNECTION_STRING": "x", "MY_OWN_FLAG": "1"}
    assert config.read_local_settings(_settings_file(tmp_path, {"Values": values})) == values


def test_an_encrypted_settings_file_is_refused_with_one_line(tmp_path: Path) -> None:
    path = _settings_file(tmp_path, {"IsEncrypted": True, "Values": {"REMEDIATION_SCOPE": "AAECAw=="}})
    with pytest.raises(ConfigError) as raised:
        config.read_local_settings(path)
    assert "IsEncrypted: true" in str(raised.value) and "\n" not in str(raised.value)
