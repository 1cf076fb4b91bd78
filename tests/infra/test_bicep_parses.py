"""Every .bicep file under infra/ must parse: checkov exits 0 even on a syntax error, so parse here."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark.exceptions import LarkError
from pycep import BicepParser

from tests.infra.bicep_model import INFRA_DIR, bicep_paths, parse

EXPECTED_MODULES = {
    "main.bicep",
    "app/api.bicep",
    "app/storage.bicep",
    "app/monitoring.bicep",
    "app/rbac.bicep",
    "app/spoke-role.bicep",
    "app/hub-role.bicep",
    "app/role-assignment-rg.bicep",
    "app/role-assignment-sub.bicep",
    "app/eventgrid-topic.bicep",
    "app/eventgrid-delivery-rbac.bicep",
    "app/eventgrid-subscription.bicep",
    "app/result-topic.bicep",
    "app/network.bicep",
    "app/private-dns.bicep",
    "app/private-endpoint.bicep",
    "app/events-storage.bicep",
    "app/identity.bicep",
    "app/role-assignment-resource.bicep",
    "app/hub-peering.bicep",
    "app/diagnostics.bicep",
    "app/alerts.bicep",
    "app/ampls-link.bicep",
}


@pytest.mark.parametrize("path", bicep_paths(), ids=lambda p: str(p.relative_to(INFRA_DIR)))
def test_bicep_file_parses(path: Path) -> None:
    document = parse(path).document  # fail() is read through bicep_model.offline_text
    assert document.get("resources") or document.get("modules"), f"{path} declares nothing"


def test_all_modules_present_and_referenced() -> None:
    found = {str(p.relative_to(INFRA_DIR)) for p in bicep_paths()}
    assert found >= EXPECTED_MODULES
    main = parse(INFRA_DIR / "main.bicep")
    referenced = {"app/" + Path(m["detail"]["path"]).name for m in main.document["modules"].values()}
    assert referenced == EXPECTED_MODULES - {"main.bicep"}
    # Every module main.bicep points at exists, so a rename cannot leave a dangling reference.
    for module in main.document["modules"].values():
        assert (INFRA_DIR / module["detail"]["path"]).is_file(), module["detail"]["path"]


def test_parser_rejects_a_syntax_error() -> None:
    """Guards the guard: the parse test above would catch a broken file."""
    broken = "resource broken 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name:\n"
    with pytest.raises((LarkError, ValueError)):
        BicepParser().parse(text=broken)


def test_main_targets_subscription() -> None:
    main = parse(INFRA_DIR / "main.bicep")
    assert main.document["globals"]["scope"]["value"] == "subscription"
