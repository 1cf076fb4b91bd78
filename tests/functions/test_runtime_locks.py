"""One writer per firewall across every writer (invariant 9): the CLI's lock provider, a lost lease, and
the run budget setting, against Azurite and the ARM emulator."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from remediation.azure.arm import ArmClient
from remediation.core.deadline import Deadline
from remediation.core.errors import ConfigError
from remediation.core.model import Action, Change, ChangeKind, Outcome, Route
from remediation.engine.apply import apply_changes
from remediation.engine.locks import NO_STORAGE_WARNING, InProcessLocks, locks_from_settings
from remediation.storage import LOCK_CONTAINER, BlobLeaseLocks
from remediation.storage.lease_lock import LeaseLostError
from remediation.triggers.runtime import RUN_BUDGET_SETTING, _run_budget, get_runtime
from tests.functions.helpers import SPOKE, Azurite

TABLE = f"{SPOKE}/routeTables/rt-spoke-nodes"


def test_the_cli_lock_provider_is_the_blob_lease_when_storage_is_configured(storage: Azurite) -> None:
    locks = locks_from_settings({"AzureWebJobsStorage": storage.connection_string()})
    assert isinstance(locks, BlobLeaseLocks)
    with locks.hold("firewall:/subscriptions/x/fw") as held:
        assert held is not None
        held.check("a write")
        names = [b.name for b in BlobServiceClient.from_connection_string(storage.connection_string())
                 .get_container_client(LOCK_CONTAINER).list_blobs()]
        assert [n.split("/")[0] for n in names] == ["firewall"]


def test_without_storage_the_cli_says_other_writers_are_not_excluded(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="remediation.engine.locks"):
        locks = locks_from_settings({})
    assert isinstance(locks, InProcessLocks)
    assert [r.getMessage() for r in caplog.records] == [NO_STORAGE_WARNING]
    assert "NOT excluded" in NO_STORAGE_WARNING


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_write_whose_lease_was_lost_is_not_sent(arm: Any, storage: Azurite) -> None:
    clock = Clock()
    service = BlobServiceClient.from_connection_string(storage.connection_string())
    # The renewer waits far longer than the lease lasts: a stalled renewal, as on a starved worker.
    locks = BlobLeaseLocks(service, lease_s=15, renew_every_s=10, clock=clock)
    runtime = get_runtime()
    gateway = ArmClient(runtime.settings)
    change = Change(Action.CREATE, ChangeKind.ROUTE, f"{TABLE}/routes/rmd-x", None,
                    Route("rmd-x", "10.9.0.0/16", "VirtualAppliance", "10.0.1.4"), "test")
    arm.clear_log()
    try:
        with locks.hold("firewall:/subscriptions/x/fw") as held:
            clock.now += 16  # past the lease duration without a renewal
            with pytest.raises(LeaseLostError):
                held.check("put route")
            (outcome,) = apply_changes(gateway, [change], settings=runtime.settings, held=held,
                                       sleep=lambda _s: None)
        assert outcome.outcome is Outcome.FAILED and outcome.error is not None
        assert outcome.error.startswith("LeaseLost")
        assert [r for r in arm.request_log if r.method != "GET"] == []
    finally:
        gateway.close()


def test_a_lost_lease_ends_the_run_at_once_retryable(arm: Any, storage: Azurite) -> None:
    """A lost firewall lease is not retried inside the run (no backoff until the deadline): every write
    fails at once, nothing is sent, and the outcomes are retryable so the queue runs it again."""
    clock = Clock()
    service = BlobServiceClient.from_connection_string(storage.connection_string())
    locks = BlobLeaseLocks(service, lease_s=15, renew_every_s=10, clock=clock)
    runtime = get_runtime()
    gateway = ArmClient(runtime.settings)
    changes = [Change(Action.CREATE, ChangeKind.ROUTE, f"{TABLE}/routes/rmd-{n}", None,
                      Route(f"rmd-{n}", f"10.9.{n}.0/24", "VirtualAppliance", "10.0.1.4"), "test") for n in (1, 2)]
    sleeps: list[float] = []
    arm.clear_log()
    started = time.monotonic()
    try:
        with locks.hold("firewall:/subscriptions/x/fw") as held:
            clock.now += 16
            outcomes = apply_changes(gateway, changes, settings=runtime.settings, held=held,
                                     deadline=Deadline.after(480.0), sleep=sleeps.append)
        assert time.monotonic() - started < 10
        assert sleeps == []  # not one backoff: the run ends
        assert all(o.outcome is Outcome.FAILED and o.retryable for o in outcomes)
        assert all((o.error or "").startswith("LeaseLost") for o in outcomes)
        assert [r for r in arm.request_log if r.method != "GET"] == []
    finally:
        gateway.close()


@pytest.mark.parametrize(("text", "expected"), [("", 480.0), ("300", 300.0), (" 45 ", 45.0)])
def test_the_run_budget_setting(text: str, expected: float) -> None:
    assert _run_budget({RUN_BUDGET_SETTING: text}) == expected


@pytest.mark.parametrize("text", ["soon", "0", "600", "-5"])
def test_a_run_budget_at_or_past_the_function_timeout_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _run_budget({RUN_BUDGET_SETTING: text})
    assert raised.value.setting == RUN_BUDGET_SETTING
