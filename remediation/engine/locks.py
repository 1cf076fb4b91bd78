"""Named mutual exclusion: ONE lock provider per process, used by every writer (docs/architecture.md 3).

The firewall target holds `firewall:<firewall id>` around its read-plan-write; apply holds `route-table:`
(creating a table) and `vnet:` (a subnet read-modify-write). In one process without storage a threading
lock is enough; the Function app and, when `AzureWebJobsStorage` is set, the CLI use blob leases
(remediation.storage.lease_lock) so that all writers share one holder per name.

`hold(name, deadline)` waits at most until the reconcile's deadline (then DeadlineExceeded, retryable) and
yields a `Held` whose `check()` raises when the lock was lost meanwhile: a write whose lease was lost is
never sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from remediation.core.deadline import Deadline, DeadlineExceeded

log = logging.getLogger(__name__)


class Held(Protocol):
    def check(self, what: str) -> None:
        """Raise (a TransientError) when the lock is no longer held, before `what` is sent."""
        ...


class LockProvider(Protocol):
    def hold(self, name: str, deadline: Deadline | None = None) -> AbstractContextManager[Held | None]:
        """Block until `name` is held by this caller (at most until `deadline`); release on exit."""
        ...


class _AlwaysHeld:
    def check(self, what: str) -> None:
        return None


def check_held(held: Held | None, what: str) -> None:
    """`held.check(what)` for providers that yield a guard (test doubles may yield None)."""
    if held is not None:
        held.check(what)


class InProcessLocks:
    """Threading locks: exclusive inside this process only."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, name: str, deadline: Deadline | None = None) -> Iterator[Held | None]:
        with self._guard:
            lock = self._locks.setdefault(name.lower(), threading.Lock())
        timeout = -1.0 if deadline is None else deadline.remaining()
        if not lock.acquire(timeout=timeout):
            raise DeadlineExceeded(f"deadline exceeded waiting for lock {name}")
        try:
            yield _AlwaysHeld()
        finally:
            lock.release()


NO_STORAGE_WARNING = ("AzureWebJobsStorage is not set: using in-process locks, so other writers (the "
                      "Function app, another terminal) are NOT excluded from the same firewall")


def locks_from_settings(env: Mapping[str, str]) -> LockProvider:
    """The lock provider for a writer outside the Function host (the CLI): the app's blob leases whenever
    `AzureWebJobsStorage` is configured, else in-process locks with a warning that says what is not covered."""
    if any(key == "AzureWebJobsStorage" or key.startswith("AzureWebJobsStorage__") for key, value in env.items()
           if value):
        from remediation.storage import StorageClients
        from remediation.storage.lease_lock import BlobLeaseLocks

        return BlobLeaseLocks(StorageClients.from_env(env).blobs)
    log.warning(NO_STORAGE_WARNING)
    return InProcessLocks()
