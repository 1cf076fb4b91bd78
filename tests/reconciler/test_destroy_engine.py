"""engine/destroy.py (#25 item 4): the group writes are made holding the firewall lease, read inside it, and
a lost lease stops the writes; the scope is listed through ARM even with INVENTORY=resource-graph."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from emulator import Emulator
from remediation.core.config import Settings, load_settings
from remediation.core.deadline import Deadline
from remediation.core.errors import RemediationError
from remediation.core.model import Outcome
from remediation.engine.destroy import Destroyer
from remediation.engine.locks import Held, InProcessLocks
from remediation.engine.reconciler import Reconciler
from tests.reconciler.helpers import BASE_SETTINGS, CNI, FIREWALL, OWNED_RCG, arm_writes, start_emulator
from tests.reconciler.test_reconciler import classic_firewall


class _Lost(RemediationError):
    code = "LeaseLost"


class _Recording(InProcessLocks):
    """In-process locks that record what is held when; `lose` makes the firewall lease report itself lost."""

    def __init__(self, *, lose: bool = False) -> None:
        super().__init__()
        self.events: list[str] = []
        self.lose = lose

    @contextmanager
    def hold(self, name: str, deadline: Deadline | None = None) -> Iterator[Held | None]:
        with super().hold(name, deadline) as held:
            self.events.append("enter " + name.split(":", 1)[0])
            try:
                yield _LostLease() if self.lose and name.startswith("firewall:") else held
            finally:
                self.events.append("exit " + name.split(":", 1)[0])


class _LostLease:
    def check(self, what: str) -> None:
        raise _Lost(f"lease lost before {what}")


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, Settings]]:
    emu = start_emulator(monkeypatch)
    settings = load_settings({**BASE_SETTINGS, "ARM_ENDPOINT": emu.base_url})
    result = Reconciler(settings).reconcile_combined(Reconciler(settings).resolve(CNI), dry_run=False)
    assert result.converged
    try:
        yield emu, settings
    finally:
        emu.stop()


def test_the_writes_are_made_inside_the_firewall_lease(applied: tuple[Emulator, Settings]) -> None:
    emu, settings = applied
    locks = _Recording()
    result = Destroyer(settings, locks=locks).run(dry_run=False, approve=lambda plan: True)
    assert result.converged, result
    assert locks.events[0] == "enter firewall" and locks.events[-1] == "exit firewall"
    assert "enter route-table" in locks.events and "enter vnet" in locks.events
    assert emu.get(OWNED_RCG) is None


def test_a_lost_lease_stops_every_write(applied: tuple[Emulator, Settings]) -> None:
    emu, settings = applied
    writes = len(arm_writes(emu))
    result = Destroyer(settings, locks=_Recording(lose=True)).run(dry_run=False, approve=lambda plan: True)
    assert result.converged is False
    assert result.outcomes and all(o.outcome is Outcome.FAILED for o in result.outcomes)
    assert arm_writes(emu)[writes:] == []


def test_no_approval_no_write_and_deletes_never_rest_on_resource_graph(applied: tuple[Emulator, Settings]) -> None:
    emu, settings = applied
    writes = len(arm_writes(emu))
    refused = Destroyer(settings).run(dry_run=False, approve=lambda plan: False)
    assert refused.converged is False and refused.error and refused.error.startswith("not approved")
    assert arm_writes(emu)[writes:] == []
    emu.clear_log()
    graph = load_settings({**BASE_SETTINGS, "ARM_ENDPOINT": emu.base_url, "INVENTORY": "resource-graph"})
    plan = Destroyer(graph).run(dry_run=True).plan
    assert plan.has_changes
    assert not [r for r in emu.request_log if "Microsoft.ResourceGraph" in r.path]


def test_classic_firewall_loses_only_its_owned_collections(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = start_emulator(monkeypatch, classic_firewall)
    try:
        settings = load_settings({**BASE_SETTINGS, "ARM_ENDPOINT": emu.base_url})
        reconciler = Reconciler(settings)
        assert reconciler.reconcile_combined(reconciler.resolve(CNI), dry_run=False).converged
        firewall = (emu.get(FIREWALL) or {})["properties"]
        foreign = [c for c in firewall["networkRuleCollections"] if c["name"] == "corp-allow-ntp"]
        assert foreign and any(c["name"].startswith("rmd-") for c in firewall["networkRuleCollections"])
        result = Destroyer(settings).run(dry_run=False, approve=lambda plan: True)
        assert result.converged, result
        kinds = {c.kind.value for c in result.plan.writes}
        assert {"firewallNetworkRuleCollection", "firewallApplicationRuleCollection"} <= kinds
        after = (emu.get(FIREWALL) or {})["properties"]
        assert after["networkRuleCollections"] == foreign
        assert not [c for c in after.get("applicationRuleCollections") or [] if c["name"].startswith("rmd-")]
        assert Destroyer(settings).run(dry_run=True).plan.writes == ()
    finally:
        emu.stop()
