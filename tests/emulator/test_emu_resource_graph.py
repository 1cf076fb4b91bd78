"""The emulator's Resource Graph endpoint (emulator/resource_graph.py) over raw HTTPS: the query shape it
answers, paging, the scope rows, the quota headers and 429, and what it refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from emu_helpers import SUB

from emulator import Emulator
from emulator import resource_graph as graph

URL = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
QUERY = ("Resources | where type =~ '{t}' | project id, name, type, location, tags, properties "
         "| union (ResourceContainers | where type =~ 'microsoft.resources/subscriptions' "
         "| project id, name, type, location, tags, properties) | order by id asc")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _post(emu: Emulator, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{emu.base_url}{URL}", json=body, headers={"Authorization": "Bearer t"},
                         verify=emu.ca_bundle, timeout=30)


def _query(kind: str = "microsoft.network/virtualnetworks", subs: list[str] | None = None,
           options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"subscriptions": subs or [SUB], "query": QUERY.format(t=kind),
            "options": {"resultFormat": "objectArray", **(options or {})}}


def test_rows_are_the_store_projected_plus_the_subscription_row(emu: Emulator) -> None:
    answer = _post(emu, _query())
    assert answer.status_code == 200
    body = answer.json()
    kinds = sorted({row["type"] for row in body["data"]})
    assert kinds == ["microsoft.network/virtualnetworks", "microsoft.resources/subscriptions"]
    vnet = next(r for r in body["data"] if r["type"] == "microsoft.network/virtualnetworks")
    assert set(vnet) == {"id", "name", "type", "location", "tags", "properties"}
    stored = emu.get(vnet["id"])
    assert stored is not None and vnet["properties"] == stored["properties"]  # as an ARM GET returns them
    assert body["totalRecords"] == body["count"] == len(body["data"]) and body["resultTruncated"] == "false"
    assert "$skipToken" not in body


def test_pages_follow_the_skip_token_and_a_foreign_token_is_refused(emu: Emulator) -> None:
    whole = _post(emu, _query()).json()["data"]
    first = _post(emu, _query(options={"$top": 1})).json()
    assert first["count"] == 1 and first["totalRecords"] == len(whole)
    rows, token = list(first["data"]), first.get("$skipToken")
    while token:
        page = _post(emu, _query(options={"$top": 1, "$skipToken": token})).json()
        rows += page["data"]
        token = page.get("$skipToken")
    assert rows == whole
    other = _post(emu, _query("microsoft.network/routetables", options={"$skipToken": first["$skipToken"]}))
    assert other.status_code == 400 and other.json()["error"]["details"][0]["code"] == "InvalidQuery"


def test_an_unknown_subscription_is_left_out_silently(emu: Emulator) -> None:
    body = _post(emu, _query(subs=[SUB, "99999999-9999-9999-9999-999999999999"])).json()
    subs = [r["id"] for r in body["data"] if r["type"] == "microsoft.resources/subscriptions"]
    assert subs == [f"/subscriptions/{SUB}"]


def test_other_queries_are_invalid(emu: Emulator) -> None:
    for body in ({"subscriptions": [SUB], "query": "Resources | take 5"},
                 {"query": QUERY.format(t="microsoft.network/virtualnetworks")},
                 _query(options={"resultFormat": "table"})):
        answer = _post(emu, body)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["details"][0]["code"] == "InvalidQuery"


def test_quota_headers_and_429_after_the_budget(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    clock = Clock()
    graph.configure(emu, budget=2, window_s=5.0, clock=clock)
    first, second, third = (_post(emu, _query()) for _ in range(3))
    assert (first.headers["x-ms-user-quota-remaining"], second.headers["x-ms-user-quota-remaining"]) == ("1", "0")
    assert first.headers["x-ms-user-quota-resets-after"] == "00:00:05"
    assert third.status_code == 429 and third.json()["error"]["code"] == "RateLimiting"
    assert third.headers["Retry-After"] == "5" and third.headers["x-ms-user-quota-remaining"] == "0"
    clock.now = 5.0
    assert _post(emu, _query()).status_code == 200
    posts = [r for r in emu.request_log if r.method == "POST"]
    assert [r.status for r in posts] == [200, 200, 429, 200]
