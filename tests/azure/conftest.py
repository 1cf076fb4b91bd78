"""Fixtures: the local ARM emulator seeded with examples/private-network.json, and Settings pointing at it.

The product code is unmodified: DefaultAzureCredential finds the emulator's managed-identity endpoint through
IDENTITY_ENDPOINT / IDENTITY_HEADER, and requests verifies the emulator's TLS through REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.core import config

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"
HUB = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
SPOKE = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network"
AKS = f"/subscriptions/{SUB}/resourcegroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters"
FIREWALL_ID = f"{HUB}/azureFirewalls/fw-hub"


def seed() -> dict[str, Any]:
    return json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))


def make_emulator(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Emulator:
    emu = Emulator(seed=seed(), **{"time_factor": 0.0, **kwargs}).start()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    # No developer credential on the test machine may win over the emulator's managed identity.
    for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
        monkeypatch.delenv(key, raising=False)
    return emu


def make_settings(emu: Emulator, **extra: str) -> config.Settings:
    return config.load_settings({
        "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
        "FIREWALL_ID": FIREWALL_ID,
        "ARM_ENDPOINT": emu.base_url,
        "REMEDIATION_MODE": "enforce",
        **extra,
    })


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emulator = make_emulator(monkeypatch)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def settings(emu: Emulator) -> config.Settings:
    return make_settings(emu)


@pytest.fixture
def arm_factory(settings: config.Settings) -> Iterator[Callable[[], ArmClient]]:
    made: list[ArmClient] = []

    def build() -> ArmClient:
        gw = ArmClient(settings)
        made.append(gw)
        return gw

    yield build
    for gw in made:
        gw.close()


@pytest.fixture
def arm(arm_factory: Callable[[], ArmClient]) -> ArmClient:
    return arm_factory()


def no_sleep(_: float) -> None:
    """Injected into run_with_retries: tests never wait for backoff."""
