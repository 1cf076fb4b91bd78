"""Shared by every test directory: the `fast` hypothesis profile and the `slow` marker of `make test-fast`.

`make test` runs everything (what CI runs). `make test-fast` is the quick loop while editing:
`HYPOTHESIS_PROFILE=fast` (20 fixed examples per property instead of 200+) and `-m "not slow"`, which leaves
out the suites listed in SLOW, each with the reason it costs more than the fast lane's 60 s budget allows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# derandomize: the same 20 examples every run, like the `ci` profile (tests/evidence/conftest.py).
settings.register_profile(
    "fast", max_examples=20, deadline=None, print_blob=True, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])

# Test files (relative to the repository root) left out of the fast lane, and why.
SLOW: dict[str, str] = {
    "tests/infra/": "checkov and the Bicep/azd parsers load every template (about a minute of set-up)",
    "tests/evidence/test_crash_safety.py": "kills and restarts real subprocess applies",
    "tests/evidence/test_fault_injection.py": "fault-injection properties, each example a full reconcile",
    "tests/evidence/test_concurrency.py": "threads racing real LRO durations against the emulator",
    "tests/evidence/test_fleet_properties.py": "generated fleets, each seeded and swept end to end",
    "tests/functions/test_concurrency.py": "real LRO durations and lease contention between workers",
    "tests/packaging/": "builds the wheel and installs it into a fresh venv",
    "tests/reconciler/test_shards_emulator.py": "three sweeps of a 110-cluster fleet to fill several shards",
}

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve().relative_to(ROOT).as_posix()
        if any(path.startswith(prefix) for prefix in SLOW):
            item.add_marker(pytest.mark.slow)
