"""The process-wide dependencies of the triggers, built on first use and cached.

Importing `function_app` must not need settings or network: the host imports it to index the functions,
often before app settings are complete. So nothing here runs at import time. The first invocation loads
and validates the settings; an invalid setting fails that invocation with the setting's name (and the
next ones, until the app is fixed and restarted) instead of half-way through a remediation.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from remediation.core.config import Mode, Settings, load_settings
from remediation.core.deadline import DEFAULT_RUN_BUDGET_S
from remediation.core.errors import ConfigError
from remediation.planning import intake
from remediation.planning.intake import DEDUPE_WINDOW_S, RemediationRequest
from remediation.storage import (
    AUDIT_CONTAINER,
    AUDIT_TABLE,
    DEDUPE_TABLE,
    QUEUE_NAME,
    STATUS_TABLE,
    AuditLog,
    AuditTrail,
    BlobLeaseLocks,
    DedupeMarkers,
    RequestQueue,
    StatusStore,
    StorageClients,
)
from remediation.triggers.continuation import CHAIN_WINDOW_S, CONTINUATION_DELAY_S
from remediation.triggers.publish import ResultPublisher

if TYPE_CHECKING:
    from remediation.engine.reconciler import Reconciler

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, storage: StorageClients,
                 run_budget_s: float = DEFAULT_RUN_BUDGET_S) -> None:
        self.settings = settings
        self.run_budget_s = run_budget_s
        self.storage = storage
        self.queue = RequestQueue(storage.queue_client(QUEUE_NAME))
        self.dedupe = DedupeMarkers(storage.tables.get_table_client(DEDUPE_TABLE), DEDUPE_WINDOW_S)
        # The markers of sweeps going on in continuations (remediation/triggers/continuation.py): same table,
        # their own keys, a window that outlives a run.
        self.chains = DedupeMarkers(storage.tables.get_table_client(DEDUPE_TABLE), CHAIN_WINDOW_S)
        self.continuation_delay_s = CONTINUATION_DELAY_S
        self.audit = AuditLog(storage.tables.get_table_client(AUDIT_TABLE),
                              AuditTrail(storage.blobs.get_container_client(AUDIT_CONTAINER)))
        self.status = StatusStore(storage.tables.get_table_client(STATUS_TABLE))
        self.locks = BlobLeaseLocks(storage.blobs)
        self.publisher = ResultPublisher(settings.result_topic_endpoint)
        self._reconciler: Reconciler | None = None
        self._guard = threading.Lock()

    @property
    def report_mode(self) -> bool:
        return self.settings.mode is Mode.REPORT

    @property
    def reconciler(self) -> Reconciler:
        # Built on first use: the Azure SDK clients behind it are only needed by the paths that read ARM.
        with self._guard:
            if self._reconciler is None:
                from remediation.engine.reconciler import Reconciler

                self._reconciler = Reconciler(self.settings, locks=self.locks,
                                              retry_deadline_s=self.run_budget_s)
            return self._reconciler

    def enqueue_coalesced(self, request: RemediationRequest) -> str | None:
        """Enqueue unless a request for the same target is already pending within the dedupe window; the
        message becomes visible after the window, so a burst of requests for one target (Event Grid events,
        or the firewall follow-ups of many cluster runs) ends in ONE run that reads the state once.
        Returns the id of the request that will run (ours, or the pending one's; None when unknown);
        raises TransientError when the queue refused the message."""
        key = intake.target_key(request.target)
        # An atomic claim, not check-then-mark: follow-ups come from workers running side by side.
        claimed, pending = self.dedupe.claim(key, request.request_id, request.target.kind.value)
        if not claimed:
            return pending
        try:
            self.queue.send(request, delay_s=self.dedupe.window_s)
        except BaseException:
            self.dedupe.release(key)
            raise
        return request.request_id


    def enqueue_beside(self, request: RemediationRequest) -> str | None:
        """A follow-up named before its routing run writes (Reconciler.reconcile `early_follow_ups`), visible at
        once, so the firewall's group write runs beside the routing. Its marker is its own (`BESIDE_SUFFIX`):
        the follow-ups named after a run never fold into it, since it may read before their writes land; only
        other early follow-ups within the window do, and those come from runs whose events (or requests)
        happened before it reads (each run starts a window after its event). Returns the id of the request
        that will run (ours or the pending one's; None when unknown); raises TransientError when the queue
        refused the message."""
        key = f"{intake.target_key(request.target)}{BESIDE_SUFFIX}"
        claimed, pending = self.dedupe.claim(key, request.request_id, request.target.kind.value)
        if not claimed:
            return pending
        try:
            self.queue.send(request, delay_s=0)
        except BaseException:
            self.dedupe.release(key)
            raise
        return request.request_id


# The dedupe marker of an early follow-up (Runtime.enqueue_beside): a table key, so no '/', '#', '?', '\'.
BESIDE_SUFFIX = "-beside"

_runtime: Runtime | None = None
_runtime_guard = threading.Lock()


def get_runtime(env: Mapping[str, str] | None = None) -> Runtime:
    """The cached runtime; raises ConfigError (naming the setting) when the app settings are invalid."""
    global _runtime
    with _runtime_guard:
        if _runtime is None:
            values = os.environ if env is None else env
            try:
                _runtime = Runtime(load_settings(values), StorageClients.from_env(values),
                                   run_budget_s=_run_budget(values))
            except ConfigError as exc:
                log.error("invalid app setting %s: %s; fix the setting and restart the app", exc.setting,
                          exc.problem, extra={"action": "load-settings", "setting": exc.setting})
                raise
        return _runtime


RUN_BUDGET_SETTING = "RECONCILE_DEADLINE_SECONDS"


def _run_budget(env: Mapping[str, str]) -> float:
    """The one deadline of each reconcile; it must end before host.json's functionTimeout (10 min)."""
    text = (env.get(RUN_BUDGET_SETTING) or "").strip()
    if not text:
        return DEFAULT_RUN_BUDGET_S
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(RUN_BUDGET_SETTING, f"must be a number of seconds, got {text!r}") from None
    if not 30 <= value <= 540:
        raise ConfigError(RUN_BUDGET_SETTING, "must be 30-540 seconds: below the 600 s functionTimeout")
    return value


def reset_runtime() -> None:
    """Forget the cached runtime, e.g. after app settings changed in a long-lived process."""
    global _runtime
    with _runtime_guard:
        _runtime = None
