"""A write holds a lane only for its request (issue 26): the real SDK against the emulator, whose operations
take time. Assertions are on the emulator's operation log (which writes ARM ran at once), never on wall time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from emulator import Emulator
from emulator.lro import OperationRecord
from remediation.azure.arm import ArmClient
from remediation.core.config import ConfigError
from remediation.core.deadline import Deadline
from remediation.core.errors import TransientError
from remediation.core.model import Action, Change, ChangeKind, Outcome, RouteTablePayload, SubnetAssociationPayload
from remediation.engine.apply import apply_changes

from .conftest import SPOKE, make_emulator, make_settings

TAG = {"managed-by": "aks-egress-remediation"}
TABLE_S = 0.6  # how long the emulator runs one route table's create (time factor 1)


def _table(name: str) -> Change:
    return Change(Action.CREATE, ChangeKind.ROUTE_TABLE, f"{SPOKE}/routeTables/{name}", None,
                  RouteTablePayload("westeurope", TAG), "test")


def _most_at_once(ops: Sequence[OperationRecord]) -> int:
    """The most operations the emulator ran at the same moment (an end at the moment of a start: not at once)."""
    events = sorted([(o.started_at, 1) for o in ops] + [(o.ended_at or float("inf"), -1) for o in ops],
                    key=lambda event: (event[0], event[1]))
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.fixture
def slow_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emu = make_emulator(monkeypatch, time_factor=1.0, lro_seconds={"Microsoft.Network/routeTables": TABLE_S,
                                                                   "Microsoft.Network/virtualNetworks/subnets": 0.3})
    try:
        yield emu
    finally:
        emu.stop()


def _apply(emu: Emulator, changes: Sequence[Change], **settings: str) -> tuple[Any, ArmClient]:
    configured = make_settings(emu, **settings)
    arm = ArmClient(configured)
    try:
        outcomes = apply_changes(arm, changes, settings=configured)
    finally:
        arm.close()
    return outcomes, arm


def test_with_one_write_lane_the_operations_of_two_tables_run_at_once(slow_tables: Emulator) -> None:
    """One lane: the second table's PUT is sent while ARM still runs the first table's create. Before issue
    26 the lane was held through the first operation, so the two never overlapped."""
    outcomes, arm = _apply(slow_tables, [_table("rmd-one"), _table("rmd-two")], WRITE_LANES="1")
    assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 2, [o.error for o in outcomes]
    ops = [o for o in slow_tables.operations if "/routetables/rmd-" in o.resource_id.lower()]
    assert len(ops) == 2 and all(o.status == "Succeeded" for o in ops)
    assert _most_at_once(ops) == 2
    assert arm.operations.peak == 2


def test_the_operations_in_flight_stay_within_the_bound(slow_tables: Emulator) -> None:
    """Eight lanes, five tables, at most two operations at once: a third write's request waits for a slot."""
    changes = [_table(f"rmd-bound-{i}") for i in range(5)]
    outcomes, arm = _apply(slow_tables, changes, WRITE_LANES="8", OPERATIONS_IN_FLIGHT="2")
    assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 5, [o.error for o in outcomes]
    ops = [o for o in slow_tables.operations if "/routetables/rmd-bound-" in o.resource_id.lower()]
    assert len(ops) == 5
    assert _most_at_once(ops) == 2  # the bound is reached, never passed
    assert arm.operations.peak == 2


def test_a_vnets_subnet_writes_stay_one_at_a_time_while_other_writes_overlap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ARM serializes subnet writes per VNet (docs/arm-notes.md 3.4): they stay one after another, each after
    the previous operation ended, while a table of another lane runs beside them on the same single lane."""
    emu = make_emulator(monkeypatch, time_factor=1.0, lro_seconds={"Microsoft.Network/routeTables": TABLE_S,
                                                                   "Microsoft.Network/virtualNetworks/subnets": 0.3})
    try:
        vnet = f"{SPOKE}/virtualNetworks/vnet-spoke"
        existing = f"{SPOKE}/routeTables/rmd-existing"
        emu.put_foreign(existing, {"location": "westeurope", "tags": TAG, "properties": {"routes": []}})
        changes = [
            Change(Action.CREATE, ChangeKind.SUBNET_ROUTE_TABLE, f"{vnet}/subnets/{name}", None,
                   SubnetAssociationPayload(existing), "test") for name in ("snet-aks-pods", "snet-appgw")
        ] + [_table("rmd-beside")]
        outcomes, _ = _apply(emu, changes, WRITE_LANES="1")
        assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 3, [o.error for o in outcomes]
        subnets = sorted((o for o in emu.operations if "/subnets/" in o.resource_id), key=lambda o: o.started_at)
        table = next(o for o in emu.operations if o.resource_id.lower().endswith("/rmd-beside"))
        assert len(subnets) == 2
        assert subnets[0].ended_at is not None and subnets[0].ended_at <= subnets[1].started_at
        assert _most_at_once([subnets[0], table]) == 2 or _most_at_once([subnets[1], table]) == 2
    finally:
        emu.stop()


def test_a_poll_that_cannot_fit_the_deadline_fails_the_write_as_retryable_without_waiting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The operation runs 30 s; the run has 5 s left: ARM's Retry-After does not fit, so the write ends
    DeadlineExceeded (retryable, never retried inside the run) instead of a poll being scheduled past it."""
    emu = make_emulator(monkeypatch, time_factor=1.0, lro_seconds={"Microsoft.Network/routeTables": 30.0})
    try:
        configured = make_settings(emu)
        arm = ArmClient(configured)
        deadline = Deadline.after(5.0)
        arm.bind_deadline(deadline)
        try:
            (outcome,) = apply_changes(arm, [_table("rmd-late")], settings=configured, deadline=deadline)
        finally:
            arm.close()
        assert outcome.outcome is Outcome.FAILED and outcome.retryable
        assert outcome.error is not None and outcome.error.startswith("DeadlineExceeded"), outcome.error
        assert not deadline.expired()  # ended on the refusal, not by waiting the deadline out
    finally:
        emu.stop()


@pytest.mark.parametrize("value", ["0", "1001", "many", "-3", " "])
def test_operations_in_flight_is_validated_at_start_up(emu: Emulator, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(emu, OPERATIONS_IN_FLIGHT=value)
    assert "OPERATIONS_IN_FLIGHT" in str(raised.value)


class _LostOnRelease:
    """A lock provider whose `vnet:` lease turns out lost when it is released (as remediation/storage/lease_lock.py
    raises LeaseLostError from its exit): the release now happens when the operation has ended, on another
    thread, and must still end the apply with that error (the run is retried), not be dropped."""

    def __init__(self) -> None:
        self.released: list[str] = []

    @contextmanager
    def hold(self, name: str, deadline: Deadline | None = None) -> Iterator[None]:
        yield None
        self.released.append(name)
        if name.startswith("vnet:"):
            raise TransientError(f"lock {name} was lost while held", arm_code=None, status=None, target=name)


def test_a_lease_lost_while_a_subnet_operation_ran_ends_the_apply_with_that_error(emu: Emulator) -> None:
    configured = make_settings(emu)
    arm = ArmClient(configured)
    locks = _LostOnRelease()
    table = f"{SPOKE}/routeTables/rmd-existing"
    emu.put_foreign(table, {"location": "westeurope", "tags": TAG, "properties": {"routes": []}})
    change = Change(Action.CREATE, ChangeKind.SUBNET_ROUTE_TABLE,
                    f"{SPOKE}/virtualNetworks/vnet-spoke/subnets/snet-aks-pods", None, SubnetAssociationPayload(table),
                    "test")
    try:
        with pytest.raises(TransientError, match="was lost while held"):
            apply_changes(arm, [change], settings=configured, locks=locks)
    finally:
        arm.close()
    assert [n.split(":")[0] for n in locks.released] == ["vnet"]


def test_a_subnets_read_before_write_is_not_separated_from_its_put_by_a_wait_for_a_slot(
        slow_tables: Emulator) -> None:
    """One operation in flight, two lanes: a table's create holds the slot while the subnet write waits for it.
    The subnet's GET (its read-modify-write's read) comes after the wait, next to its PUT, never during the
    table's operation with the PUT after it (docs/arm-notes.md 2.2: the PUT is built from the read just made)."""
    table = f"{SPOKE}/routeTables/rmd-existing"
    slow_tables.put_foreign(table, {"location": "westeurope", "tags": TAG, "properties": {"routes": []}})
    subnet = f"{SPOKE}/virtualNetworks/vnet-spoke/subnets/snet-aks-pods"
    changes = [_table("rmd-first"),
               Change(Action.CREATE, ChangeKind.SUBNET_ROUTE_TABLE, subnet, None, SubnetAssociationPayload(table),
                      "test")]
    outcomes, _ = _apply(slow_tables, changes, WRITE_LANES="2", OPERATIONS_IN_FLIGHT="1")
    assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 2, [o.error for o in outcomes]
    created = next(o for o in slow_tables.operations if o.resource_id.lower().endswith("/rmd-first"))
    assert created.ended_at is not None
    reads = [r for r in slow_tables.request_log
             if r.method == "GET" and r.path.split("?")[0].lower().endswith("/subnets/snet-aks-pods")]
    puts = [r for r in slow_tables.request_log
            if r.method == "PUT" and r.path.split("?")[0].lower().endswith("/subnets/snet-aks-pods")]
    assert len(puts) == 1 and reads
    read = max((r for r in reads if r.started_at <= puts[0].started_at), key=lambda r: r.started_at)
    # The other operation's end (the slot freed) never falls between the read and the PUT built from it.
    assert not read.started_at < created.ended_at <= puts[0].started_at
