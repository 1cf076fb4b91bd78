"""Fleet inventory through Azure Resource Graph (ARG): the only module that talks to the ARG SDK.

With `INVENTORY=resource-graph` (docs/arm-notes.md section 7) the LISTS of a fleet observation (clusters, VNets
with their subnets, route tables, App Gateways, VPN gateways) come from ARG queries instead of per-scope ARM
list calls; every single-resource GET and the read right before a write stay on ARM. An ARG row carries `id`,
`name`, `type`, `location`, `tags` and `properties`, the same camelCase `properties` as an ARM GET body, so the
rows go through the same converters (remediation/azure/convert.py) as ARM list items.

The protocol, and what makes a result incomplete (invariant 1 of docs/architecture.md: never "nothing there"):
- Subscriptions are queried in batches of MAX_SUBSCRIPTIONS_PER_QUERY (the issue asks for fewer than 300;
  ARG's documented limit is 1000). Resource-group scopes are one query per subscription, filtered by group.
- Paging: a page with `$skipToken` is followed by the same query with that token until no token comes back.
  `resultTruncated` without a token, a page whose `data` is not a list, or fewer rows than `totalRecords`
  is an incomplete result.
- ARG silently leaves out a subscription the caller cannot read (or that does not exist). Each query
  therefore also returns the subscription rows (for resource-group scopes: the group rows) of
  `ResourceContainers`; a requested subscription or group without its row makes the result incomplete, as a
  404 list does on ARM. Reading those rows takes `Microsoft.Resources/subscriptions/read` and
  `.../resourceGroups/read` (SPOKE_ACTIONS in remediation/core/operations.py).
- Quota: ARG meters queries per user in a window (15 per 5 s by default) and reports what is left in
  `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`. When nothing is left the next query waits
  for the reset, bounded by the run's deadline (the wait goes through the same `DeadlineBox` as every SDK
  wait, remediation/azure/clients.py), instead of collecting 429s. A 429 that still comes (another client of
  the same user) is retried by azure-core after its Retry-After, again bounded by the deadline (POST is
  not retried by default: the client allows it, as a query is read-only).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy

from remediation.azure.clients import CallCounter, DeadlineBox, DeadlineTransport, credential_scopes
from remediation.azure.errors import classify
from remediation.core.config import Settings
from remediation.core.errors import TerminalError

log = logging.getLogger(__name__)

API_VERSION = "2021-03-01"
MAX_SUBSCRIPTIONS_PER_QUERY = 250  # below the 300 (ARG itself accepts up to 1000)
PAGE_ROWS = 1000  # ARG's largest `$top`
QUOTA_REMAINING = "x-ms-user-quota-remaining"
QUOTA_RESETS_AFTER = "x-ms-user-quota-resets-after"
MAX_QUOTA_WAIT_S = 60.0  # a reset further away than this is not believed; the deadline bounds it anyway

SUBSCRIPTION_TYPE = "microsoft.resources/subscriptions"
RESOURCE_GROUP_TYPE = "microsoft.resources/subscriptions/resourcegroups"
_CONTAINER_TYPES = frozenset({SUBSCRIPTION_TYPE, RESOURCE_GROUP_TYPE})
_COLUMNS = "id, name, type, location, tags, properties"


class IncompleteListError(TerminalError):
    """A list in scope failed or its scope does not exist: the run knows nothing about what is there."""


# ----------------------------------------------------------------------------------------- queries (pure)

def _kql_list(values: Sequence[str]) -> str:
    for value in values:
        if "'" in value or "\\" in value:  # ARM names cannot hold these; refuse rather than escape
            raise ValueError(f"{value!r} cannot be quoted in a Resource Graph query")
    return ", ".join(f"'{v}'" for v in values)


def resources_query(arm_type: str, resource_groups: Sequence[str] = ()) -> str:
    """The one query shape the product sends (emulator/resource_graph.py answers exactly this): the rows of
    one resource type, optionally in named resource groups, plus the container rows that prove the scope was
    read, ordered by id so that pages follow each other."""
    resources = f"Resources | where type =~ {_kql_list([arm_type.lower()])}"
    containers = f"ResourceContainers | where type =~ '{SUBSCRIPTION_TYPE}'"
    if resource_groups:
        groups = _kql_list(resource_groups)
        resources += f" | where resourceGroup in~ ({groups})"
        containers += f" or (type =~ '{RESOURCE_GROUP_TYPE}' and resourceGroup in~ ({groups}))"
    return (f"{resources} | project {_COLUMNS} | union ({containers} | project {_COLUMNS}) "
            "| order by id asc")


@dataclass(frozen=True)
class Batch:
    """The subscriptions of one query; `resource_groups` only for a single subscription scoped by group."""

    subscriptions: tuple[str, ...]
    resource_groups: tuple[str, ...] = ()


def batches(scopes: Sequence[tuple[str, str | None]], size: int = MAX_SUBSCRIPTIONS_PER_QUERY) -> list[Batch]:
    """Whole subscriptions in batches of `size`; each subscription scoped by resource groups on its own."""
    if size < 1:
        raise ValueError("batch size must be >= 1")
    whole: dict[str, str] = {}
    groups: dict[str, tuple[str, list[str]]] = {}
    for sub, rg in scopes:
        if rg is None:
            whole.setdefault(sub.lower(), sub)
        else:
            groups.setdefault(sub.lower(), (sub, []))[1].append(rg)
    subs = list(whole.values())
    out = [Batch(tuple(subs[i:i + size])) for i in range(0, len(subs), size)]
    out += [Batch((sub,), tuple(dict.fromkeys(rgs))) for key, (sub, rgs) in groups.items() if key not in whole]
    return out


def parse_resets_after(text: str | None) -> float | None:
    """`hh:mm:ss` (optionally with a fraction) in seconds; None when absent or not that shape."""
    if not text:
        return None
    parts = text.strip().split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


# ----------------------------------------------------------------------------------------- quota

class QuotaWindow:
    """What ARG said is left of the user's query quota, and until when. One per endpoint in a process, since
    the quota is per user and the process has one identity (`quota_for`)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._resets_at = 0.0

    def reserve(self) -> float:
        """Take one query from the window; return how long to wait first (0 when the quota allows it now)."""
        with self._lock:
            now = self._clock()
            if self._remaining is None or now >= self._resets_at:
                self._remaining = None  # a new window: ARG tells us its size with the next answer
                return 0.0
            if self._remaining > 0:
                self._remaining -= 1  # count it now, so that concurrent queries see each other
                return 0.0
            # Every caller until the reset waits for it (the count stays 0); after it a new window starts.
            return min(MAX_QUOTA_WAIT_S, self._resets_at - now)

    def observe(self, remaining: int, resets_after_s: float) -> None:
        with self._lock:
            now = self._clock()
            resets_at = now + resets_after_s
            # Concurrent answers arrive out of order: keep the lower count of the same window.
            if self._remaining is None or now >= self._resets_at or remaining < self._remaining:
                self._remaining = remaining
            self._resets_at = resets_at


class QuotaPolicy(SansIOHTTPPolicy[Any, Any]):
    """Per retry: waits when the window is used up, learns from each answer's quota headers."""

    def __init__(self, window: QuotaWindow, sleep: Callable[[float], None]) -> None:
        super().__init__()
        self._window = window
        self._sleep = sleep

    def on_request(self, request: PipelineRequest[Any]) -> None:
        wait = self._window.reserve()
        if wait > 0:
            log.info("Resource Graph quota used up: waiting %.2f s for the window to reset", wait)
            self._sleep(wait)

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        headers = response.http_response.headers
        remaining = (headers.get(QUOTA_REMAINING) or "").strip()
        resets = parse_resets_after(headers.get(QUOTA_RESETS_AFTER))
        if remaining.isdigit() and resets is not None:
            self._window.observe(int(remaining), resets)


class PageCountingPolicy(SansIOHTTPPolicy[Any, Any]):
    """Per call: an ARG page is a list page, counted as a read (an ARG POST changes nothing)."""

    def __init__(self, counter: CallCounter) -> None:
        super().__init__()
        self._counter = counter

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self._counter.record("GET", request.http_request.url)


_windows: dict[str, QuotaWindow] = {}
_windows_lock = threading.Lock()


def quota_for(endpoint: str) -> QuotaWindow:
    key = endpoint.rstrip("/").lower()
    with _windows_lock:
        window = _windows.get(key)
        if window is None:
            window = _windows[key] = QuotaWindow()
        return window


# ----------------------------------------------------------------------------------------- the inventory

class ResourceGraphInventory:
    """Lists of one resource type across the configured scope, as ARM-shaped bodies."""

    def __init__(self, settings: Settings, credential: TokenCredential, counter: CallCounter, box: DeadlineBox,
                 scopes: Sequence[tuple[str, str | None]], *, window: QuotaWindow | None = None,
                 batch_size: int = MAX_SUBSCRIPTIONS_PER_QUERY, page_rows: int = PAGE_ROWS) -> None:
        from azure.mgmt.resourcegraph import ResourceGraphClient  # only a resource-graph run loads it

        self._batches = batches(scopes, batch_size)
        self._page_rows = page_rows
        self._client = ResourceGraphClient(
            credential, base_url=settings.arm_endpoint, credential_scopes=credential_scopes(settings),
            per_call_policies=[PageCountingPolicy(counter)],
            per_retry_policies=[QuotaPolicy(window or quota_for(settings.arm_endpoint), box.wait)],
            transport=DeadlineTransport(box),
            # A query changes nothing, so its POST may be re-sent: azure-core then retries a 429 after its
            # Retry-After (and 5xx with backoff), each wait bounded by the deadline like every SDK wait.
            retry_on_methods=frozenset({"POST"}))

    @property
    def query_batches(self) -> tuple[Batch, ...]:
        return tuple(self._batches)

    def close(self) -> None:
        self._client.close()

    def list_type(self, arm_type: str, what: str) -> list[dict[str, Any]]:
        """Every row of `arm_type` in scope, or IncompleteListError / a classified error."""
        rows: list[dict[str, Any]] = []
        for batch in self._batches:
            rows.extend(self._query(batch, arm_type, what))
        return rows

    def _query(self, batch: Batch, arm_type: str, what: str) -> list[dict[str, Any]]:
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        query = resources_query(arm_type, batch.resource_groups)
        where = ", ".join(batch.subscriptions) + (f" (groups {', '.join(batch.resource_groups)})"
                                                  if batch.resource_groups else "")
        operation = f"Resource Graph query of {what}"
        rows: list[dict[str, Any]] = []
        containers: list[Mapping[str, Any]] = []
        token: str | None = None
        received = 0
        total: int | None = None
        while True:
            options = QueryRequestOptions(skip_token=token, top=self._page_rows, result_format="objectArray")
            try:
                page = self._client.resources(QueryRequest(subscriptions=list(batch.subscriptions), query=query,
                                                           options=options))
            except Exception as exc:
                raise classify(exc, target=where, operation=operation) from exc
            data = page.data
            if not isinstance(data, list):
                raise IncompleteListError(f"{operation} in {where}: the answer carried no row list",
                                          arm_code="IncompleteResult", status=None, target=where)
            total = page.total_records if total is None else total
            received += len(data)
            for row in data:
                if not isinstance(row, Mapping):
                    continue
                if str(row.get("type", "")).lower() in _CONTAINER_TYPES:
                    containers.append(row)
                else:
                    rows.append(dict(row))
            token = page.skip_token
            if token:
                continue
            if str(page.result_truncated).lower() == "true":
                raise IncompleteListError(
                    f"{operation} in {where}: the result was truncated without a $skipToken; nothing is "
                    "planned or deleted on an incomplete picture", arm_code="ResultTruncated", status=None,
                    target=where)
            break
        if total is not None and received < total:
            raise IncompleteListError(f"{operation} in {where}: {received} of {total} rows arrived",
                                      arm_code="IncompleteResult", status=None, target=where)
        _require_scope(batch, containers, operation)
        return rows


def _require_scope(batch: Batch, containers: Sequence[Mapping[str, Any]], operation: str) -> None:
    """Every subscription (and group) of the batch must have its container row: ARG leaves out what the
    caller cannot read, which on ARM would have been a 404 list."""
    seen_subs: set[str] = set()
    seen_groups: set[str] = set()
    for row in containers:
        parts = [p.lower() for p in str(row.get("id", "")).split("/") if p]
        if len(parts) >= 2 and parts[0] == "subscriptions":
            if len(parts) == 2:
                seen_subs.add(parts[1])
            elif len(parts) == 4 and parts[2] == "resourcegroups":
                seen_groups.add(parts[3])
    # A resource-group scope is proven by its group rows alone: an identity assigned only on the groups
    # cannot read the subscription object, so its row would be missing without anything being unread.
    missing = [] if batch.resource_groups else [s for s in batch.subscriptions if s.lower() not in seen_subs]
    missing += [f"{batch.subscriptions[0]}/resourceGroups/{g}" for g in batch.resource_groups
                if g.lower() not in seen_groups]
    if missing:
        raise IncompleteListError(
            f"SubscriptionNotFound: {operation}: Resource Graph returned nothing for {', '.join(missing)} "
            "(not found, or not readable by this identity); nothing is planned or deleted on an incomplete "
            "picture (check REMEDIATION_SCOPE and the identity's Reader role)",
            arm_code="SubscriptionNotFound", status=404, target=missing[0])
