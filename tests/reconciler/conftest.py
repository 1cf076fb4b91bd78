"""Fixtures: `world(mutate=None, **settings)` starts the emulator on a copy of the example topology and
returns a World (emulator, settings, Reconciler whose gateways are recorded so the request log can be split
into passes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.core import config
from remediation.core.model import ReconcileResult, Target
from remediation.engine.reconciler import Reconciler
from tests.reconciler.helpers import Seed, settings_for, start_emulator


@dataclass
class World:
    emu: Emulator
    settings: config.Settings
    reconciler: Reconciler
    # len(emu.request_log) each time the reconciler built a gateway: one mark per pass (and the verify).
    pass_marks: list[int] = field(default_factory=list)

    def run(self, resource_id: str, *, dry_run: bool = False) -> ReconcileResult:
        """The target and its follow-ups (the firewall target), as the CLI runs and shows them: one combined
        result (remediation/views/results.py) that still carries the follow-ups' own results."""
        return self.run_target(self.reconciler.resolve(resource_id), dry_run=dry_run)

    def run_target(self, target: Target, *, dry_run: bool = False) -> ReconcileResult:
        return self.reconciler.reconcile_combined(target, dry_run=dry_run)

    def sweep(self) -> ReconcileResult:
        return self.run_target(self.reconciler.scope_target())

    def reset_log(self) -> None:
        self.emu.clear_log()
        self.pass_marks.clear()

    def passes(self) -> list[list[tuple[str, str]]]:
        """The request log cut at each gateway creation: [(method, path), ...] per pass."""
        log = [(r.method, r.path.lower()) for r in self.emu.request_log]
        cuts = [*self.pass_marks, len(log)]
        return [log[cuts[i]:cuts[i + 1]] for i in range(len(self.pass_marks))]


WorldFactory = Callable[..., World]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[WorldFactory]:
    started: list[tuple[Emulator, list[ArmClient]]] = []

    def make(mutate: Callable[[Seed], None] | None = None, **extra: str) -> World:
        emu = start_emulator(monkeypatch, mutate)
        settings = settings_for(emu, **extra)
        gateways: list[ArmClient] = []
        marks: list[int] = []

        def build() -> ArmClient:
            marks.append(len(emu.request_log))
            gw = ArmClient(settings)
            gateways.append(gw)
            return gw

        started.append((emu, gateways))
        return World(emu, settings, Reconciler(settings, arm_factory=build), marks)

    yield make
    for emu, gateways in started:
        for gw in gateways:
            gw.close()
        emu.stop()
