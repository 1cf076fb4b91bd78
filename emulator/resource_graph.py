"""Azure Resource Graph: `POST /providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`.

Answers exactly the query shape the product sends (documented in emulator/README.md, "Resource Graph"), from
the store, so the rows are the store's resources as an ARM GET returns them, projected to ARG's columns:

    Resources | where type =~ '<type>' [| where resourceGroup in~ ('<rg>', ...)]
    | project id, name, type, location, tags, properties
    | union (ResourceContainers | where type =~ 'microsoft.resources/subscriptions'
             [or (type =~ 'microsoft.resources/subscriptions/resourcegroups' and resourceGroup in~ (...))]
             | project id, name, type, location, tags, properties)
    | order by id asc

Any other query is 400 InvalidQuery. As real ARG does, a subscription the emulator does not know is left out
silently (no error, no container row); `type` is lower case in the rows, as ARG reports it.

Protocol: `options.$top` (at most 1000) rows per page, `$skipToken` to continue (opaque; bound to the query
and the subscriptions), `totalRecords`, `count`, `resultTruncated`, `data` as an object array. Quota per user
(here: per emulator) in fixed windows, default 15 queries per 5 s (ARG's documented default):
`x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after` (hh:mm:ss) on every answer, and 429
RateLimiting with Retry-After once the window's budget is spent. Configure with `configure(emu, ...)`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ArmError

PATH = "/providers/microsoft.resourcegraph/resources"
API_VERSIONS = frozenset({"2021-03-01", "2022-10-01", "2024-04-01"})
DEFAULT_BUDGET = 15
DEFAULT_WINDOW_S = 5.0
MAX_TOP = 1000
DEFAULT_TOP = 100  # ARG's page size when $top is not given
SUBSCRIPTION_TYPE = "microsoft.resources/subscriptions"
RESOURCE_GROUP_TYPE = "microsoft.resources/subscriptions/resourcegroups"
_COLUMNS = ("id", "name", "type", "location", "tags", "properties")

_NAMES = r"(?:'[^']*'(?:, ?)?)+"  # a KQL list of quoted names: 'a', 'b'
_QUERY = re.compile(
    r"^Resources \| where type =~ '(?P<type>[^']+)'"
    rf"(?: \| where resourceGroup in~ \((?P<groups>{_NAMES})\))?"
    r" \| project id, name, type, location, tags, properties"
    rf" \| union \(ResourceContainers \| where type =~ '{SUBSCRIPTION_TYPE}'"
    rf"(?: or \(type =~ '{RESOURCE_GROUP_TYPE}' and resourceGroup in~ \((?P<cgroups>{_NAMES})\)\))?"
    r" \| project id, name, type, location, tags, properties\) \| order by id asc$"
)


@dataclass
class GraphQuota:
    """Fixed windows of `budget` queries per `window_s` seconds; `truncate` makes every answer end with
    `resultTruncated: true` and no token (a failure mode of real ARG on queries without `id`)."""

    budget: int = DEFAULT_BUDGET
    window_s: float = DEFAULT_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    truncate: bool = False
    # Ids (lower case) the index has not caught up with yet: ARG answers as if they did not exist, while ARM
    # has them (the lag of docs/arm-notes.md section 7.2).
    not_indexed: frozenset[str] = frozenset()
    _started: float | None = None
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self) -> tuple[dict[str, str], int | None]:
        """Quota headers for this query, and the Retry-After when the window's budget is already spent."""
        with self._lock:
            now = self.clock()
            if self._started is None or now >= self._started + self.window_s:
                self._started, self._used = now, 0
            left_s = self._started + self.window_s - now
            if self._used >= self.budget:
                return _headers(0, left_s), max(1, math.ceil(left_s))
            self._used += 1
            return _headers(self.budget - self._used, left_s), None


def _headers(remaining: int, left_s: float) -> dict[str, str]:
    whole = max(0, math.ceil(left_s))
    return {"x-ms-user-quota-remaining": str(remaining),
            "x-ms-user-quota-resets-after": f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"}


_quotas: weakref.WeakKeyDictionary[Any, GraphQuota] = weakref.WeakKeyDictionary()
_quotas_lock = threading.Lock()


def configure(emu: Any, *, budget: int = DEFAULT_BUDGET, window_s: float = DEFAULT_WINDOW_S,
              clock: Callable[[], float] | None = None, truncate: bool = False,
              not_indexed: Iterable[str] = ()) -> GraphQuota:
    """Set the emulator's Resource Graph quota (and the truncation and index-lag faults); returns it."""
    if budget < 1 or window_s <= 0:
        raise ValueError("budget must be >= 1 and window_s > 0")
    quota = GraphQuota(budget, window_s, clock or time.monotonic, truncate,
                       frozenset(i.lower() for i in not_indexed))
    with _quotas_lock:
        _quotas[emu] = quota
    return quota


def quota_of(emu: Any) -> GraphQuota:
    with _quotas_lock:
        quota = _quotas.get(emu)
        if quota is None:
            quota = _quotas[emu] = GraphQuota()
        return quota


def is_graph_call(method: str, low_parts: list[str]) -> bool:
    return method == "POST" and "/" + "/".join(low_parts) == PATH


def answer(emu: Any, raw: bytes, api_version: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of one query."""
    headers, retry = quota_of(emu).charge()
    if retry is not None:
        raise ArmError(429, "RateLimiting", "Please provide below info when asking for support: timestamp = "
                       f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}. Client application has been "
                       "throttled and should not attempt to repeat the request until an amount of time has "
                       "elapsed.", headers={**headers, "Retry-After": str(retry)})
    if api_version not in API_VERSIONS:
        raise ArmError(400, "InvalidApiVersionParameter",
                       f"The api-version '{api_version}' is invalid. The supported versions are "
                       f"'{', '.join(sorted(API_VERSIONS))}'.", headers=headers)
    try:
        request = json.loads(raw) if raw else {}
    except ValueError:
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                       "deserialized.", headers=headers) from None
    if not isinstance(request, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be an object.", headers=headers)
    subscriptions = [str(s) for s in request.get("subscriptions") or []]
    query = " ".join(str(request.get("query") or "").split())
    options = request.get("options") or {}
    match = _QUERY.match(query)
    if match is None:
        raise _invalid_query(headers, "the emulator answers only the query shape in emulator/resource_graph.py")
    if not subscriptions:
        raise _invalid_query(headers, "the emulator needs `subscriptions` (no tenant-wide queries)")
    if len(subscriptions) > 1000:
        raise _invalid_query(headers, "at most 1000 subscriptions per query")
    if options.get("resultFormat", "objectArray") != "objectArray":
        raise _invalid_query(headers, "the emulator answers resultFormat objectArray only")
    top = int(options.get("$top") or DEFAULT_TOP)
    if not 1 <= top <= MAX_TOP:
        raise _invalid_query(headers, f"$top must be 1..{MAX_TOP}")
    rows = _rows(emu, subscriptions, match.group("type"), _names(match.group("groups")),
                 _names(match.group("cgroups")))
    binding = hashlib.sha256(json.dumps([query, sorted(s.lower() for s in subscriptions)]).encode()).hexdigest()
    skip = _skip_of(options.get("$skipToken"), binding, headers)
    page = rows[skip:skip + top]
    body: dict[str, Any] = {"totalRecords": len(rows), "count": len(page), "data": page, "facets": [],
                            "resultTruncated": "false"}
    if skip + top < len(rows):
        if quota_of(emu).truncate:
            body["resultTruncated"] = "true"
        else:
            body["$skipToken"] = base64.b64encode(json.dumps({"b": binding, "o": skip + top}).encode()).decode()
    return 200, body, headers


def _invalid_query(headers: dict[str, str], why: str) -> ArmError:
    return ArmError(400, "BadRequest", "Please provide below info when asking for support: the query is invalid.",
                    headers=headers,
                    details=[{"code": "InvalidQuery", "message": f"Query is invalid ({why}). Please refer to the "
                              "documentation for the Azure Resource Graph service and fix the error before "
                              "retrying."}])


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.lower() for n in re.findall(r"'([^']*)'", text)]


def _skip_of(token: Any, binding: str, headers: dict[str, str]) -> int:
    if not token:
        return 0
    try:
        decoded = json.loads(base64.b64decode(str(token)))
        if decoded["b"] != binding:
            raise ValueError("token of another query")
        return int(decoded["o"])
    except (ValueError, KeyError, TypeError):
        raise _invalid_query(headers, "$skipToken does not belong to this query and these subscriptions") from None


def _project(body: dict[str, Any]) -> dict[str, Any]:
    row = {k: body.get(k) for k in _COLUMNS}
    row["type"] = str(body.get("type") or "").lower()
    row["tags"] = body.get("tags") or {}
    row["properties"] = body.get("properties") or {}
    return row


def _rows(emu: Any, subscriptions: list[str], type_key: str, groups: list[str] | None,
          container_groups: list[str] | None) -> list[dict[str, Any]]:
    store = emu.store
    rows: list[dict[str, Any]] = []
    for sub in dict.fromkeys(s.lower() for s in subscriptions):
        if not store.subscription_known(sub):
            continue  # ARG leaves out what the caller cannot see, without an error
        name = next((s for s, _ in store.subscription_list() if s.lower() == sub), sub)
        rows.append({"id": f"/subscriptions/{name}", "name": name, "type": SUBSCRIPTION_TYPE, "location": None,
                     "tags": {}, "properties": {}})
        for group in store.group_list(name):
            if container_groups is not None and str(group.get("name", "")).lower() in container_groups:
                rows.append(_project({**group, "type": RESOURCE_GROUP_TYPE}))
        lagging = quota_of(emu).not_indexed
        for body in store.list_top(name, None, type_key.lower()):
            if groups is not None and _group_of(str(body.get("id", ""))) not in groups:
                continue
            if str(body.get("id", "")).lower() in lagging:
                continue
            rows.append(_project(body))
    rows.sort(key=lambda r: str(r["id"]).lower())
    return rows


def _group_of(resource_id: str) -> str:
    parts = [p.lower() for p in resource_id.split("/") if p]
    return parts[3] if len(parts) > 3 and parts[2] == "resourcegroups" else ""
