"""Helpers shared by the emulator tests (a module of its own so tests need not import conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.network import NetworkManagementClient

from emulator import Emulator

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parents[2] / "examples"
SUB = "00000000-0000-0000-0000-000000000000"


class StaticCredential:
    """Any credential with get_token() works (docs/arm-notes.md §0.1)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("emulator-test-token", 4102444800)


def example_body(name: str, status: str = "200") -> dict[str, Any]:
    body: dict[str, Any] = json.loads((DATA / name).read_text())["responses"][status]["body"]
    return body


def private_network() -> dict[str, Any]:
    seed: dict[str, Any] = json.loads((EXAMPLES / "private-network.json").read_text())
    return seed


def rid(rg: str, kind: str, name: str, *rest: str, sub: str = SUB) -> str:
    tail = "/".join(rest)
    out = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}"
    return f"{out}/{tail}" if tail else out


def network_client(emu: Emulator, sub: str = SUB, **kwargs: Any) -> NetworkManagementClient:
    # No polling_interval override: the emulator's retry-after-ms paces the SDK's polls.
    return NetworkManagementClient(
        StaticCredential(),
        sub,
        base_url=emu.base_url,
        connection_verify=emu.ca_bundle,
        **kwargs,
    )


def aks_client(emu: Emulator, sub: str = SUB, **kwargs: Any) -> ContainerServiceClient:
    return ContainerServiceClient(
        StaticCredential(),
        sub,
        base_url=emu.base_url,
        connection_verify=emu.ca_bundle,
        **kwargs,
    )
