"""Timer: run callbacks later from ONE thread, however many are waiting (no thread per wait).

Used where something must happen after a delay without holding a thread for it: the next status poll of an
operation ARM runs (remediation/azure/inflight.py) and the next attempt of a write after a retry backoff
(remediation/engine/apply.py). A callback runs on the timer's thread and must be short: it hands the real
work (a request) to a pool. The thread starts with the first `after` and ends with `close`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Timer:
    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._name = name
        self._clock = clock
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def after(self, seconds: float, callback: Callable[[], None]) -> None:
        """Run `callback` on the timer's thread once `seconds` have passed (0: as soon as it can)."""
        with self._changed:
            heapq.heappush(self._due, (self._clock() + max(0.0, seconds), next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify()

    def close(self) -> None:
        """Stop the thread; callbacks not yet due are dropped (their owners are ending). A later `after` starts
        a new thread (a client can be used again after its close, as its SDK clients can)."""
        with self._changed:
            self._closed = True
            self._due.clear()
            self._changed.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._changed:
            self._closed = False
            self._thread = None

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._changed:
                while not self._closed and (not self._due or self._due[0][0] > self._clock()):
                    self._changed.wait(None if not self._due else self._due[0][0] - self._clock())
                if self._closed or self._thread is not me:
                    return
                _, _, callback = heapq.heappop(self._due)
            try:
                callback()
            except Exception:  # a callback's owner records its own failures; one that escapes must not stop others
                log.exception("timer %s: a callback raised", self._name)
