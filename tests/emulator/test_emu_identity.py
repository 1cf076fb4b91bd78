"""The App Service managed-identity endpoint lets the unmodified DefaultAzureCredential work."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from azure.identity import DefaultAzureCredential
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.network import NetworkManagementClient
from emu_helpers import SUB

from emulator import Emulator
from emulator.identity import decode_claims

PRINCIPAL = "99999999-8888-7777-6666-555555555555"


def test_default_azure_credential(make_emu: Callable[..., Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    emu = make_emu(principal_id=PRINCIPAL)
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "IDENTITY_SERVER_THUMBPRINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    credential = DefaultAzureCredential()
    token = credential.get_token("https://management.azure.com/.default")
    assert decode_claims(token.token)["oid"] == PRINCIPAL
    net = NetworkManagementClient(credential, SUB, base_url=emu.env()["ARM_ENDPOINT"])
    assert net.route_tables.get("rg-spoke", "rt-spoke-nodes").name == "rt-spoke-nodes"
    aks = ContainerServiceClient(credential, SUB, base_url=emu.env()["ARM_ENDPOINT"])
    assert {c.name for c in aks.managed_clusters.list()} == {"aks-cni", "aks-overlay", "aks-kubenet"}


def test_identity_header_checked(emu: Emulator) -> None:
    url = emu.env()["IDENTITY_ENDPOINT"]
    params = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    assert requests.get(url, params=params, timeout=10).status_code == 401
    ok = requests.get(
        url, params=params, headers={"X-IDENTITY-HEADER": emu.env()["IDENTITY_HEADER"]}, timeout=10
    )
    body = ok.json()
    assert ok.status_code == 200 and body["token_type"] == "Bearer"
    assert body["resource"] == "https://management.azure.com" and int(body["expires_on"]) > 0
