"""Fixtures for the emulator tests: a started emulator and real SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient
from emu_helpers import network_client, private_network

from emulator import Emulator


@pytest.fixture
def make_emu() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def factory(seed: dict[str, Any] | None = None, **kwargs: Any) -> Emulator:
        emu = Emulator(seed if seed is not None else private_network(), **kwargs).start()
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        emu.stop()


@pytest.fixture
def emu(make_emu: Callable[..., Emulator]) -> Emulator:
    return make_emu()


@pytest.fixture
def net(emu: Emulator) -> NetworkManagementClient:
    return network_client(emu)
