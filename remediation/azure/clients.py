"""SDK clients per subscription, and the policy that counts ARM calls.

How calls are counted (the numbers behind `ArmCalls`):
- The counting policy is a *per-call* policy: it sits in front of azure-core's RetryPolicy, so it sees each
  logical request once; azure-core's own 429/5xx re-sends are not counted again.
- reads = GET requests of resources and lists (every page of a list is one read);
  writes = PUT / PATCH / DELETE / POST.
- Protocol overhead is not counted: LRO status polls (`.../operations/{id}`, `.../operationResults/{id}`) and
  the SDK's GETs of a resource while one of our PUTs on that same URL is in flight (body polling; our
  writes make no final GET after an Azure-AsyncOperation completes: polling.py, docs/arm-notes.md 1.2).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from azure.core import AzureClouds
from azure.core.credentials import TokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.core.tools import get_arm_endpoints
from azure.mgmt.network import NetworkManagementClient

from remediation.azure.credentials import default_credential
from remediation.azure.pacing import RatePacingPolicy, estimate_for
from remediation.azure.polling import TYPICAL_LRO_S, LroKind, TerminalStatusPolling
from remediation.core.config import CLOUD_ENDPOINTS, Settings
from remediation.core.deadline import Deadline, DeadlineExceeded
from remediation.core.model import ArmCalls

# Real ARM answers with Retry-After on every async operation (Network RP typically 10 s); this is only the
# fallback when a poll response carries none. The SDK default of 30 s would add half a minute to every
# route write, and firewall updates run for minutes anyway (docs/arm-notes.md 1.2 step 6).
PRODUCTION_POLLING_INTERVAL_S = 5

_CLOUD_SETTINGS: dict[str, AzureClouds] = {
    "AzureCloud": AzureClouds.AZURE_PUBLIC_CLOUD,
    "AzureUSGovernment": AzureClouds.AZURE_US_GOVERNMENT,
    "AzureChinaCloud": AzureClouds.AZURE_CHINA_CLOUD,
}

# Async-operation status URLs: /subscriptions/{s}/providers/{ns}/locations/{l}/operations[Results]/{id}
_POLL_PATH = re.compile(r"/providers/[^/]+/locations/[^/]+/(operations|operationresults)/", re.IGNORECASE)


def credential_scopes(settings: Settings) -> list[str]:
    """The token audience of the configured cloud, so sovereign clouds get their own ARM audience.

    A custom ARM_ENDPOINT that is a known cloud's endpoint uses that cloud's audience; any other endpoint
    (Azure Stack-like or a local emulator) keeps the audience of AZURE_CLOUD.
    """
    cloud = settings.cloud
    for name, endpoint in CLOUD_ENDPOINTS.items():
        if settings.arm_endpoint.rstrip("/").lower() == endpoint.lower():
            cloud = name
    scopes = get_arm_endpoints(_CLOUD_SETTINGS[cloud])["credential_scopes"]
    return [str(scope) for scope in scopes]


# What DefaultAzureCredential reads from the environment when it is built; a change means a new one.
_IDENTITY_ENVIRONMENT = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_CLIENT_ID",
                         "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE")
_credentials: dict[tuple[str | None, ...], TokenCredential] = {}
_credential_lock = threading.Lock()


def shared_credential() -> TokenCredential:
    """One credential per identity configuration in this process: it caches its token across reconciles."""
    key = tuple(os.environ.get(name) for name in _IDENTITY_ENVIRONMENT)
    with _credential_lock:
        credential = _credentials.get(key)
        if credential is None:
            credential = _credentials[key] = default_credential()
        return credential


# POST actions that only read (a NIC's effective route table: docs/platform-notes.md 11.2): counted as reads.
_READ_ACTIONS = ("/effectiveroutetable",)


class CallCounter:
    """Thread-safe read/write counters, fed by `CountingPolicy`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads = 0
        self._writes = 0
        self._lro_paths: Counter[str] = Counter()

    def snapshot(self) -> ArmCalls:
        with self._lock:
            return ArmCalls(reads=self._reads, writes=self._writes)

    @contextmanager
    def long_running(self, url_path: str) -> Iterator[None]:
        """While our LRO on `url_path` runs, GETs of that path are polling, not reads."""
        self.lro_started(url_path)
        try:
            yield
        finally:
            self.lro_ended(url_path)

    def lro_started(self, url_path: str) -> None:
        """`long_running` for an operation followed from other threads: `lro_ended` when it ends."""
        with self._lock:
            self._lro_paths[url_path.rstrip("/").lower()] += 1

    def lro_ended(self, url_path: str) -> None:
        key = url_path.rstrip("/").lower()
        with self._lock:
            self._lro_paths[key] -= 1
            if self._lro_paths[key] <= 0:
                del self._lro_paths[key]

    def record(self, method: str, url: str) -> None:
        path = urlsplit(url).path
        method = method.upper()
        with self._lock:
            if method == "GET":
                if _POLL_PATH.search(path) or path.rstrip("/").lower() in self._lro_paths:
                    return
                self._reads += 1
            elif method == "POST" and path.rstrip("/").lower().endswith(_READ_ACTIONS):
                self._reads += 1
            elif method in {"PUT", "PATCH", "DELETE", "POST"}:
                self._writes += 1


class CountingPolicy(SansIOHTTPPolicy[Any, Any]):
    """Per-call policy (before RetryPolicy): one count per logical request."""

    def __init__(self, counter: CallCounter) -> None:
        super().__init__()
        self._counter = counter

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self._counter.record(request.http_request.method, request.http_request.url)


class DeadlineBox:
    """The reconcile's deadline as seen by the HTTP transport; set once per reconcile (`bind`).

    It also keeps, per thread (apply's lanes share one box; a sync pipeline runs in its caller's thread), the
    status and ARM error code of the last refused response: a Retry-After wait that would outlive the deadline
    then says what ARM answered (429 SubscriptionRequestsThrottled), not only that time ran out."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.deadline: Deadline | None = None
        self.sleep = sleep
        self._last = threading.local()

    def answered(self, status: int, code: str | None) -> None:
        """The response just received (a success clears what an earlier refusal left)."""
        self._last.refusal = (status, code) if status >= 400 else None

    def wait(self, seconds: float) -> None:
        refused = self.refusal(seconds)
        if refused is not None:
            raise refused
        self.sleep(seconds)

    def refusal(self, seconds: float) -> DeadlineExceeded | None:
        """The error a wait of `seconds` ends the run with when it does not fit the deadline, else None (a
        caller that waits without sleeping, remediation/azure/inflight.py, asks first)."""
        deadline = self.deadline
        if deadline is None or deadline.allows(seconds):
            return None
        refusal: tuple[int, str | None] | None = getattr(self._last, "refusal", None)
        said = ""
        if refusal is not None:
            said = f"ARM answered {refusal[0]}{' ' + refusal[1] if refusal[1] else ''} and "
        return DeadlineExceeded(
            f"{said}ARM asked to wait {seconds:.0f}s (Retry-After or LRO poll interval) but only "
            f"{deadline.remaining():.0f}s of the run's deadline are left: the run is retried later",
            status=refusal[0] if refusal is not None else None)


class RefusalPolicy(SansIOHTTPPolicy[Any, Any]):
    """Per-retry policy: tells the deadline box each attempt's status and, for a refusal, its ARM error code
    (`{"error": {"code": ...}}`, docs/arm-notes.md 3.5), so a wait it cannot afford names them."""

    def __init__(self, box: DeadlineBox) -> None:
        super().__init__()
        self._box = box

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        status = response.http_response.status_code
        self._box.answered(status, _error_code(response.http_response) if status >= 400 else None)


def _error_code(http_response: Any) -> str | None:
    try:
        error = json.loads(http_response.text()).get("error")
    except Exception:  # no JSON body (or a streamed one): the status alone is said
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None


class DeadlineTransport(RequestsTransport):
    """azure-core sleeps through `transport.sleep` for both its RetryPolicy (Retry-After, backoff) and LRO
    polling, so bounding this one method bounds every SDK-side wait by the reconcile's deadline
    (docs/architecture.md section 4): a wait longer than what is left ends the run as retryable."""

    def __init__(self, box: DeadlineBox, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._box = box

    def sleep(self, duration: float) -> None:
        self._box.wait(duration)


class ClientFactory:
    """One NetworkManagementClient / ContainerServiceClient per subscription, built on first use."""

    def __init__(self, settings: Settings, counter: CallCounter, credential: TokenCredential | None = None,
                 **client_kwargs: Any) -> None:
        self._settings = settings
        self._counter = counter
        # DefaultAzureCredential picks the Function app's managed identity (IDENTITY_ENDPOINT/HEADER). One
        # per process: it caches its token, so a reconcile does not fetch a new one.
        self._credential: TokenCredential = credential or shared_credential()
        self.deadline_box = DeadlineBox(client_kwargs.pop("sleep", time.sleep))
        self._client_kwargs = client_kwargs
        self._lock = threading.Lock()
        self._network: dict[str, NetworkManagementClient] = {}
        self._aks: dict[str, ContainerServiceClient] = {}

    def _common_kwargs(self, subscription: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "base_url": self._settings.arm_endpoint,
            "credential_scopes": credential_scopes(self._settings),
            "polling_interval": PRODUCTION_POLLING_INTERVAL_S,
            "per_call_policies": [CountingPolicy(self._counter)],
            # Per retry: every attempt, poll and final GET takes a token from ARM's buckets. Its waits go
            # through the deadline box too, so a refill longer than the run has left ends it as retryable.
            "per_retry_policies": [RatePacingPolicy(estimate_for(self._settings.arm_endpoint, subscription),
                                                    sleep=self.deadline_box.wait),
                                   RefusalPolicy(self.deadline_box)],
            "transport": DeadlineTransport(self.deadline_box),
        }
        kwargs.update(self._client_kwargs)
        return kwargs

    @property
    def polling_interval(self) -> float:
        """The fallback poll delay the clients were built with (a test may pass its own)."""
        return float(self._client_kwargs.get("polling_interval", PRODUCTION_POLLING_INTERVAL_S))

    def polling(self, resource_type: LroKind) -> TerminalStatusPolling:
        """A fresh polling method for ONE write of `resource_type` (polling.LroKind): polls
        to the terminal status, no final GET, the first poll after LRO_FIRST_POLL_SCALE times the type's
        typical duration (polling.py)."""
        first = TYPICAL_LRO_S[resource_type] * self._settings.lro_first_poll_scale
        return TerminalStatusPolling(self.polling_interval, first_poll_after_s=first)

    def network(self, subscription: str) -> NetworkManagementClient:
        key = subscription.lower()
        with self._lock:
            client = self._network.get(key)
            if client is None:
                client = NetworkManagementClient(self._credential, subscription, **self._common_kwargs(subscription))
                self._network[key] = client
            return client

    def aks(self, subscription: str) -> ContainerServiceClient:
        key = subscription.lower()
        with self._lock:
            client = self._aks.get(key)
            if client is None:
                client = ContainerServiceClient(self._credential, subscription, **self._common_kwargs(subscription))
                self._aks[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            for network in self._network.values():
                network.close()
            for aks in self._aks.values():
                aks.close()
            self._network.clear()
            self._aks.clear()
