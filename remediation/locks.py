"""Named mutual exclusion. The reconciler holds `firewall:<policy>` around the firewall read-plan-write.

In one process a threading lock is enough (the CLI); the Function app passes a blob-lease provider so that
all instances share one writer per firewall policy (ARCHITECTURE.md section 3).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class LockProvider(Protocol):
    def hold(self, name: str) -> AbstractContextManager[None]:
        """Block until `name` is held by this caller; release on exit."""
        ...


class InProcessLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name.lower(), threading.Lock())
        with lock:
            yield
