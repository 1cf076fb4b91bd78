"""Pure: what follows a sweep run whose budget ran out (remediation/triggers/continuation.py `step_after`,
`budget_ended`), table-driven. The same rules run against Azurite and the emulator in
tests/functions/test_continuation.py."""

from __future__ import annotations

import pytest

from remediation.core.model import Action, Change, ChangeKind, ChangeOutcome, Outcome, Plan, ReconcileResult, Route
from remediation.planning.intake import MAX_CONTINUATIONS
from remediation.triggers.continuation import Chain, budget_ended, step_after

RT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt"
CHANGES = tuple(Change(Action.CREATE, ChangeKind.ROUTE, f"{RT}/routes/rmd-{i}", None,
                       Route(f"rmd-{i}", f"10.1.{i}.0/24", "VirtualAppliance", "10.0.1.4"), "egress")
                for i in range(4))
CUT = "DeadlineExceeded: deadline exceeded before create route: the run is retried later"
BUSY = "AnotherOperationInProgress: another operation on this or a dependent resource is in progress"


def result(*outcomes: tuple[Outcome, str | None, bool]) -> ReconcileResult:
    return ReconcileResult("scope:s", False, Plan("scope:s", CHANGES),
                           outcomes=tuple(ChangeOutcome(c, o, e, retryable=r)
                                          for c, (o, e, r) in zip(CHANGES, outcomes, strict=True)))


DONE = (Outcome.CREATED, None, False)
NOT_REACHED = (Outcome.FAILED, CUT, True)
STILL_BUSY = (Outcome.FAILED, BUSY, True)


def chain(number: int, *, owned: bool = True) -> Chain:
    return Chain("key", "req-first", owned, number, 10 * number)


@pytest.mark.parametrize(("outcomes", "ended"), [
    ((DONE, DONE, NOT_REACHED, NOT_REACHED), True),
    ((STILL_BUSY, NOT_REACHED, NOT_REACHED, NOT_REACHED), True),
    ((DONE, STILL_BUSY, DONE, DONE), False),  # busy, not out of time: the host retries, as before
    ((DONE, DONE, DONE, DONE), False),
    ((DONE, (Outcome.FAILED, CUT, False), DONE, DONE), False),  # not retryable: not the budget's end
])
def test_budget_ended_is_a_change_the_deadline_did_not_reach(
        outcomes: tuple[tuple[Outcome, str | None, bool], ...], ended: bool) -> None:
    assert budget_ended(result(*outcomes)) is ended


@pytest.mark.parametrize(("number", "owned", "outcomes", "continues", "stops_with"), [
    (0, True, (DONE, DONE, NOT_REACHED, NOT_REACHED), True, None),
    (3, True, (DONE, NOT_REACHED, NOT_REACHED, NOT_REACHED), True, None),
    (0, True, (STILL_BUSY, NOT_REACHED, NOT_REACHED, NOT_REACHED), False, None),  # first run: the host retries
    (3, True, (STILL_BUSY, NOT_REACHED, NOT_REACHED, NOT_REACHED), False, "NoProgress: continuation 3 "),
    (MAX_CONTINUATIONS, True, (DONE, NOT_REACHED, NOT_REACHED, NOT_REACHED), False, "ChainTooLong: "),
    (0, False, (DONE, NOT_REACHED, NOT_REACHED, NOT_REACHED), False, None),  # another chain's: never continues
])
def test_a_run_continues_only_when_it_wrote_something(
        number: int, owned: bool, outcomes: tuple[tuple[Outcome, str | None, bool], ...], continues: bool,
        stops_with: str | None) -> None:
    step = step_after(chain(number, owned=owned), result(*outcomes))
    assert step.continues is continues
    assert (step.stop_reason or "").startswith(stops_with or "") and (step.stop_reason is None) is (stops_with is None)
    assert (step.done, step.planned, step.left) == (sum(o is DONE for o in outcomes), 4,
                                                    4 - sum(o is DONE for o in outcomes))


@pytest.mark.parametrize(("number", "sent", "continues", "stops"), [
    (0, 6, True, False),
    (2, 6, True, False),
    (0, 0, False, False),  # the host retries the first run
    (0, None, False, False),
    (2, 0, False, True),
    (2, None, False, True),  # not known: no progress can be shown, the chain stops
])
def test_a_run_ended_outside_its_apply_continues_on_the_writes_it_sent(
        number: int, sent: int | None, continues: bool, stops: bool) -> None:
    step = step_after(chain(number), sent=sent)
    assert step.continues is continues and (step.stop_reason is not None) is stops
    assert step.done is None and step.left is None and step.sent == sent
