"""Hypothesis profiles and shared fixtures of the robustness evidence.

Profiles: `ci` (default, >= 200 fixed examples for the main properties) and `long` (HYPOTHESIS_PROFILE=long,
2000 random ones).
Deadlines are off: examples talk to a real HTTPS emulator and their duration depends on the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from emulator import Emulator
from tests.evidence import support

_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]

# database=None: CI keeps nothing between runs; a failure prints its reproduction blob instead.
# derandomize: the ci profile draws the same 200+ examples every run, so a red CI run is reproducible and
# never comes from a change that did not touch the code under test; `long` keeps exploring at random.
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=_SUPPRESSED,
                          print_blob=True, database=None, derandomize=True)
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=_SUPPRESSED,
                          print_blob=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def module_env() -> Iterator[pytest.MonkeyPatch]:
    """A module-scoped monkeypatch (the built-in one is per test)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
            mp.delenv(key, raising=False)
        yield mp


@pytest.fixture(scope="module")
def emu(module_env: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """One emulator per module; tests reset it with `support.reset(emu)`."""
    emulator = Emulator(seed=support.seed(), time_factor=0.0).start()
    for key, value in emulator.env().items():
        module_env.setenv(key, value)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def harness(emu: Emulator) -> Iterator[support.Harness]:
    h = support.Harness(emu)
    try:
        yield h
    finally:
        h.close()
