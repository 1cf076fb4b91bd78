"""Fixtures of the CLI tests: a clean environment and an emulator the CLI reaches through it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from remediation.cli.main import main
from tests.reconciler.helpers import BASE_SETTINGS, Seed, start_emulator


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the settings the test gives count: nothing from the developer's shell."""
    for key in list(os.environ):
        if key.startswith(("REMEDIATION_", "AZURE_", "ARM_", "IDENTITY_")) or key in {
                "FIREWALL_ID", "SPOKE_PREFIXES", "REQUESTS_CA_BUNDLE", "MSI_ENDPOINT"}:
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator the CLI reaches through the environment (no --emulator-seed), so its log can be read and
    its state changed between two commands."""
    emu = start_emulator(monkeypatch)
    monkeypatch.setenv("ARM_ENDPOINT", emu.base_url)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Callable[..., str]:
    """A local.settings.json with the base settings and overrides; returns its path."""

    def write(**overrides: str) -> str:
        path = tmp_path / f"settings-{len(list(tmp_path.glob('settings-*')))}.json"
        path.write_text(json.dumps({"IsEncrypted": False, "Values": {**BASE_SETTINGS, **overrides}}),
                        encoding="utf-8")
        return str(path)

    return write


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """`cli(*argv, ask=None)` -> (exit code, stdout, stderr) of the real entry point, in process."""

    def run(*argv: str, ask: Callable[[str], str] | None = None) -> tuple[int, str, str]:
        code = main(list(argv), ask=ask)
        out, err = capsys.readouterr()
        return code, out, err

    return run


__all__ = ["Run", "Seed"]
