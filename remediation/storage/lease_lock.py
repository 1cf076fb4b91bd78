"""One writer per firewall policy across all Function instances: a blob lease per lock name.

Azure Firewall applies one policy update at a time and each takes minutes (docs/platform-notes.md section 4), and a
rule collection group PUT replaces the whole group, so two instances writing the same policy would either
fail (`AnotherOperationInProgress`) or lose each other's rules. A blob lease is exclusive across every
process that talks to the storage account. Leases last at most 60 s, so a background thread renews the
lease while the holder works; if the holder dies, the lease expires and the next instance proceeds.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient

from remediation.core.deadline import Deadline, DeadlineExceeded, RunEnds
from remediation.core.errors import RemediationError, TransientError

log = logging.getLogger(__name__)

LOCK_CONTAINER = "remediation-locks"


class LeaseLostError(RunEnds):
    """The lease could not be renewed while held: another writer may have run. The run ends at once, nothing
    more is sent; the queue retries it and the next run re-reads (RunEnds: never retried inside the run)."""


class LockStoreUnreachableError(RemediationError):
    """The blob store that holds the leases does not answer: a writer outside the host stops before planning."""


class _LeaseGuard:
    """What the holder checks before each write: the lease is still ours (renewed within its duration)."""

    def __init__(self, name: str, lease_s: float, clock: Callable[[], float]) -> None:
        self.name = name
        self._lease_s = lease_s
        self._clock = clock
        self.renewed_at = clock()
        self.lost: list[BaseException] = []

    def check(self, what: str) -> None:
        # A renewal that failed, or none for a whole lease duration (a stalled renewer): another writer
        # may hold the lease now, so the write is not sent.
        if self.lost or self._clock() - self.renewed_at >= self._lease_s:
            cause = self.lost[0] if self.lost else "not renewed within the lease duration"
            raise LeaseLostError(f"lock {self.name} was lost before {what}: {cause}", arm_code="LeaseLost",
                                 status=None, target=self.name)


class BlobLeaseLocks:
    """LockProvider (remediation.engine.locks) backed by blob leases on container `remediation-locks`."""

    def __init__(self, service: BlobServiceClient, *, container: str = LOCK_CONTAINER, lease_s: int = 60,
                 renew_every_s: float = 20.0, acquire_timeout_s: float = 180.0, max_backoff_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 renew_wait: Callable[[threading.Event, float], bool] = threading.Event.wait) -> None:
        # Renewing at a third of the lease leaves two renewals' worth of slack for a slow storage call.
        if not 15 <= lease_s <= 60:
            raise ValueError("a blob lease lasts 15 to 60 seconds")
        if renew_every_s >= lease_s:
            raise ValueError("renew_every_s must be shorter than lease_s")
        self._container = service.get_container_client(container)
        self._lease_s = lease_s
        self._renew_every_s = renew_every_s
        self._acquire_timeout_s = acquire_timeout_s
        self._max_backoff_s = max_backoff_s
        self._clock = clock
        # How the renewer waits between renewals: `stop.wait(renew_every_s)`, True once stopped. Injectable so a
        # test decides when each renewal happens instead of sleeping through a lease.
        self._renew_wait = renew_wait
        self._container_ready = False

    def probe(self) -> None:
        """Reach the lock store once, without retries and without writing (a container existence check), so a
        CLI run fails in seconds, before it plans, when storage is down or refuses us."""
        try:
            self._container.exists(retry_total=0, connection_timeout=5, read_timeout=10)
        except AzureError as exc:
            detail = " ".join(str(exc).split())[:300]
            raise LockStoreUnreachableError(
                f"the lock store (AzureWebJobsStorage, container {self._container.container_name}) cannot be "
                f"reached: {type(exc).__name__}: {detail}; nothing was planned or written") from exc

    @contextmanager
    def hold(self, name: str, deadline: Deadline | None = None) -> Iterator[_LeaseGuard]:
        blob = self._container.get_blob_client(_blob_name(name))
        lease = self._acquire(blob, name, deadline)
        stop = threading.Event()
        guard = _LeaseGuard(name, self._lease_s, self._clock)
        lost = guard.lost
        renewer = threading.Thread(target=self._renew_loop, args=(lease, name, stop, guard),
                                   name=f"lease-renew:{name[:40]}", daemon=True)
        renewer.start()
        body_failed = False
        try:
            yield guard
        except BaseException:
            body_failed = True
            raise
        finally:
            stop.set()
            renewer.join()
            try:
                lease.release()
            except AzureError as exc:
                # Not fatal: the lease expires by itself within lease_s.
                log.warning("lock %s: release failed, the lease expires in %ss: %s", name, self._lease_s, exc)
            if lost and not body_failed:
                # The work finished without the lease for a while: another writer may have interleaved.
                # Raising a transient error makes the queue retry, and the retry re-reads and re-verifies.
                raise LeaseLostError(f"lock {name} was lost while held: {lost[0]}", arm_code=None,
                                     status=None, target=name) from lost[0]

    def _acquire(self, blob: BlobClient, name: str, run_deadline: Deadline | None) -> BlobLeaseClient:
        deadline = self._clock() + self._acquire_timeout_s
        if run_deadline is not None:
            # The wait counts against the reconcile's one deadline (docs/architecture.md section 4).
            deadline = min(deadline, self._clock() + run_deadline.remaining())
        delay = 0.5
        while True:
            try:
                return blob.acquire_lease(lease_duration=self._lease_s)
            except ResourceNotFoundError:
                self._create_blob(blob)
                continue
            except HttpResponseError as exc:
                if exc.status_code != 409:  # 409 LeaseAlreadyPresent: someone else holds it
                    raise TransientError(f"lock {name}: cannot acquire lease: {exc}", arm_code=None,
                                         status=exc.status_code, target=name) from exc
            now = self._clock()
            if run_deadline is not None and run_deadline.expired():
                raise DeadlineExceeded(f"deadline exceeded waiting for lock {name}", target=name)
            if now >= deadline:
                raise TransientError(
                    f"lock {name} still held by another writer after {self._acquire_timeout_s:.0f}s",
                    arm_code=None, status=409, target=name)
            # Jitter keeps several waiting instances from polling in lock-step.
            time.sleep(min(delay * random.uniform(0.5, 1.0), deadline - now))
            delay = min(delay * 2, self._max_backoff_s)

    def _create_blob(self, blob: BlobClient) -> None:
        if not self._container_ready:
            with suppress(ResourceExistsError):
                self._container.create_container()
            self._container_ready = True
        try:
            blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass  # another instance created it first
        except HttpResponseError as exc:
            if exc.status_code != 412:  # leased by another instance between our calls: also fine
                raise

    def _renew_loop(self, lease: BlobLeaseClient, name: str, stop: threading.Event, guard: _LeaseGuard) -> None:
        while not self._renew_wait(stop, self._renew_every_s):
            try:
                lease.renew()
            except AzureError as exc:
                log.error("lock %s: lease renewal failed, another writer may take over: %s", name, exc)
                guard.lost.append(exc)
                return
            guard.renewed_at = self._clock()


def _blob_name(name: str) -> str:
    """`firewall:/subscriptions/...` -> `firewall/<sha256>`: readable kind, case-insensitive identity.

    ARM ids compare case-insensitively while blob names do not, so the name is lower-cased before hashing.
    """
    kind, _, rest = name.partition(":")
    digest = hashlib.sha256(name.lower().encode("utf-8")).hexdigest()
    return f"{kind.lower() or 'lock'}/{digest}" if rest else f"lock/{digest}"
