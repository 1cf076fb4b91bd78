from __future__ import annotations

import pytest

from tests.infra.bicep_model import BicepFile, bicep_paths, parse


@pytest.fixture(scope="session")
def bicep_files() -> list[BicepFile]:
    return [parse(path) for path in bicep_paths()]
