"""Fault injection: answers and outcomes that real ARM produces only under load or contention."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("throttle", "status", "drop", "conflict", "lro_failed", "lro_canceled", "delay")


@dataclass
class Fault:
    """One armed fault; fires for the next `count` matching requests, then disappears."""

    kind: str
    method: str | None
    pattern: re.Pattern[str]
    count: int
    params: dict[str, Any] = field(default_factory=dict)
    callback: Callable[[Any], None] | None = None
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and bool(self.pattern.search(path))

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "path": self.pattern.pattern,
            "remaining": self.count,
            "fired": self.fired,
            "params": dict(self.params),
        }


class Faults:
    """`emu.faults`: arm faults by method + path regex (case-insensitive, matched against the path only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._hooks: list[Fault] = []

    def add(
        self, method: str | None = None, path: str = ".*", kind: str = "status", count: int = 1, **params: Any
    ) -> Fault:
        """Arm a fault.

        kinds and params:
          throttle      retry_after (int seconds, default 1), code (default SubscriptionRequestsThrottled)
          status        status (default 500), code, message, retry_after (optional)
          drop          (none) - the connection is closed without an answer
          conflict      message (optional) - 409 AnotherOperationInProgress without Retry-After
          lro_failed    code (default InternalServerError), message - operation ends Failed, rolled back
          lro_canceled  message (optional) - operation ends Canceled/CanceledAndSuperseded..., rolled back
          delay         seconds (default 1.0) - wait before handling normally
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        fault = Fault(
            kind=kind,
            method=method.upper() if method else None,
            pattern=re.compile(path, re.IGNORECASE),
            count=count,
            params=params,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def before(self, method: str | None, path: str, callback: Callable[[Any], None], count: int = 1) -> Fault:
        """Run callback(emulator) just before a matching request is handled (e.g. a foreign write)."""
        hook = Fault(
            kind="hook",
            method=method.upper() if method else None,
            pattern=re.compile(path, re.IGNORECASE),
            count=count,
            callback=callback,
        )
        with self._lock:
            self._hooks.append(hook)
        return hook

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._hooks.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults + self._hooks]

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """Consume the first armed fault of the given kinds that matches."""
        return self._take(self._faults, method, path, kinds)

    def take_hooks(self, method: str, path: str) -> list[Fault]:
        """Consume every armed hook that matches (each fires once per request)."""
        with self._lock:
            out = [h for h in self._hooks if h.matches(method, path)]
            for hook in out:
                hook.count -= 1
                hook.fired += 1
                if hook.count <= 0:
                    self._hooks.remove(hook)
            return out

    def _take(self, pool: list[Fault], method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        with self._lock:
            for fault in pool:
                if fault.kind in kinds and fault.matches(method, path):
                    fault.count -= 1
                    fault.fired += 1
                    if fault.count <= 0:
                        pool.remove(fault)
                    return fault
        return None
