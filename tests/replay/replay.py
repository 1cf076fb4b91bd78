"""Replay recorded real-ARM traffic (vcr-style YAML, see recordings/SOURCES.md) against the served emulator.

Every interaction is sent, in order, to a fresh emulator over HTTPS, and the answer is compared with what ARM
answered: the status code, the key body fields, the LRO headers and the throttle headers. What the emulator
does not model is skipped and counted, never faked:

* a request for a resource type the emulator does not serve (public IPs, deployments, SQL, location-scoped
  lists), and the polls of such a write (their operation URL was never mapped);
* a read of a resource that an unmodelled write created (an ARM template deployment creates the application
  gateway in test_network_ag_probe.yaml): its recorded body is loaded as seed, the way the resource groups
  the recorded tests' preparers made outside the recording are seeded, and that read is not scored.

Time follows the recording: the emulator runs on a manual clock with its default operation durations, frozen
while the recording shows an operation still running, and moved on to the end of whatever runs when the
recording shows a terminal state (a Succeeded poll, a resource read back as Succeeded, an operationResults
answer). Operation URLs are the emulator's own: each recorded Azure-AsyncOperation/Location URL is mapped to
the one the emulator answered for the same request.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from emulator import Emulator
from emulator.resource_types import TYPES

RECORDINGS = Path(__file__).parent / "recordings"
ARM = "https://management.azure.com"
LRO_HEADERS = ("azure-asyncoperation", "location", "azure-asyncnotification")
RATE_PREFIX = "x-ms-ratelimit-remaining-"
# Token-bucket sizes (docs/arm-notes.md §6): a recorded value at or below the size is from the token-bucket era
# and is compared with a tolerance; a larger one is the older hourly limit (1199, 14999), checked by name only.
BUCKETS = {"subscription-reads": 250, "subscription-writes": 200, "subscription-deletes": 200,
           "subscription-global-reads": 3750, "subscription-global-writes": 3000,
           "subscription-global-deletes": 3000}
TOLERANCE = 0.05  # of the bucket size: the replay sends in milliseconds what ARM saw over minutes
# The 2020 recording (test_sql_mi_tdebyok.yaml) has no Azure-AsyncNotification on child and update PUTs; the
# 2023 recordings have it on every Network PUT and DELETE. The emulator follows the newer platform, so an extra
# notification header is not held against a recording older than this year (a missing one always is).
NOTIFICATION_SINCE = 2023
_OPERATION = re.compile(r"/(nfv)?operations/|/(nfv)?operationresults/", re.IGNORECASE)
_TERMINAL = {"succeeded", "failed", "canceled"}


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Outcome:
    index: int
    method: str
    path: str
    verdict: str  # "pass", "fail", "skipped", "seeded"
    problems: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class FileScore:
    name: str
    outcomes: list[Outcome]

    @property
    def scored(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict in ("pass", "fail")]

    @property
    def score(self) -> float:
        scored = self.scored
        return sum(o.verdict == "pass" for o in scored) / len(scored) if scored else 1.0

    def summary(self) -> str:
        counts = Counter(o.verdict for o in self.outcomes)
        return (f"{self.name}: {counts['pass']}/{len(self.scored)} scorable interactions match "
                f"({self.score:.1%}); skipped (unmodelled) {counts['skipped']}, seeded {counts['seeded']}")


def load(path: Path) -> list[dict[str, Any]]:
    interactions: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
    return interactions


def _headers(response: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): (v[0] if isinstance(v, list) else v) for k, v in response["headers"].items()}


def _json(text: str | bytes | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _modelled(path: str) -> bool:
    """Whether the emulator models what this ARM path addresses (no query string)."""
    parts = [p for p in path.split("/") if p]
    low = [p.lower() for p in parts]
    if len(parts) <= 2 or low[0] != "subscriptions":
        return True  # /subscriptions, /subscriptions/{s}, /tenants
    if low[2] in ("resourcegroups", "resources", "operationresults") and "providers" not in low:
        return True
    if "providers" not in low:
        return False
    at = low.index("providers")
    tail = low[at + 1:]
    if len(tail) >= 2 and tail[1] == "locations":
        return len(tail) == 5 and tail[3] in ("operations", "operationresults", "nfvoperations",
                                             "nfvoperationresults")
    if len(tail) < 2:
        return True  # the providers list / one provider
    # [ns, type, name, child type, child name, ...]: the types sit at the odd positions.
    return "/".join([tail[0], *tail[1::2]]) in TYPES


def _filter_type(query: str) -> str | None:
    match = re.search(r"resourceType%20eq%20%27([^%]+)%2F([^%]+)%27", query)
    return f"{match.group(1)}/{match.group(2)}".lower() if match else None


def _groups(interactions: list[dict[str, Any]]) -> dict[str, str]:
    """Resource groups the recorded test's preparer made (name -> location): from a recorded RG read, else
    from the location of the first body written into the group."""
    found: dict[str, str] = {}
    for it in interactions:
        path = urlsplit(it["request"]["uri"]).path
        match = re.match(r"^/subscriptions/[^/]+/resourcegroups/([^/]+)", path, re.IGNORECASE)
        if not match:
            continue
        name = match.group(1)
        body = _json(it["response"]["body"].get("string"))
        if path.rstrip("/").count("/") == 4 and isinstance(body, dict) and body.get("location"):
            found.setdefault(name, body["location"])
        request_body = _json(it["request"].get("body"))
        if isinstance(request_body, dict) and isinstance(request_body.get("location"), str):
            found.setdefault(name, request_body["location"])
    return found


class Replayer:
    """Replays one recording against one emulator."""

    def __init__(self, interactions: list[dict[str, Any]]) -> None:
        self.interactions = interactions
        self.clock = ManualClock()
        subscription = "00000000-0000-0000-0000-000000000000"
        groups = [
            {"id": f"/subscriptions/{subscription}/resourceGroups/{name}",
             "type": "Microsoft.Resources/resourceGroups", "name": name, "location": location}
            for name, location in _groups(interactions).items()
        ]
        self.emu = Emulator({"resources": groups, "subscriptions": [subscription]}, time_factor=1.0,
                            clock=self.clock)
        self.urls: dict[str, str] = {}  # recorded operation path (lower) -> emulator URL
        self.skipped_write = False

    def run(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self.emu, requests.Session() as session:
            session.verify = self.emu.ca_bundle
            for index, it in enumerate(self.interactions):
                outcomes.append(self._one(session, index, it))
        return outcomes

    # ------------------------------------------------------------------ one interaction
    def _one(self, session: requests.Session, index: int, it: dict[str, Any]) -> Outcome:
        request, recorded = it["request"], it["response"]
        method = request["method"].upper()
        url = urlsplit(request["uri"])
        path = url.path
        outcome = Outcome(index, method, path, "pass")
        is_operation = bool(_OPERATION.search(path))
        filtered = _filter_type(url.query)
        if not _modelled(path) or (filtered is not None and filtered not in TYPES):
            if method != "GET":
                self.skipped_write = True
            return Outcome(index, method, path, "skipped", reason="resource type not modelled")
        target = f"{self.emu.base_url}{path}" + (f"?{url.query}" if url.query else "")
        if is_operation:
            mapped = self.urls.get(path.lower())
            if mapped is None:
                return Outcome(index, method, path, "skipped", reason="operation of an unmodelled write")
            target = mapped
        recorded_body = _json(recorded["body"].get("string"))
        if (method == "GET" and not is_operation and recorded["status"]["code"] == 200 and self.skipped_write
                and self._seed_if_missing(path, recorded_body)):
            return Outcome(index, method, path, "seeded", reason="created by an unmodelled write")
        if self._recording_shows_done(is_operation, recorded, recorded_body):
            self._finish_running()
        body = request.get("body")
        headers = {"Authorization": "Bearer replay", "Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        answer = session.request(method, target, data=body.encode() if isinstance(body, str) else body,
                                 headers=headers, timeout=30, verify=self.emu.ca_bundle)
        self._map_operation_urls(recorded, answer)
        outcome.problems = compare(recorded, recorded_body, answer, in_world=self._in_world)
        if method == "PUT":
            outcome.problems += compare_defaults(_json(body) if isinstance(body, str) else None, recorded_body,
                                                 _json(answer.content))
        outcome.verdict = "fail" if outcome.problems else "pass"
        return outcome

    def _in_world(self, resource_id: str) -> bool:
        """Whether a listed resource belongs to what this replay modelled (its resource groups, its types)."""
        groups = {g.lower() for g in _groups(self.interactions)}
        parts = resource_id.split("/")
        return len(parts) > 4 and parts[4].lower() in groups and _modelled(resource_id)

    def _seed_if_missing(self, path: str, body: Any) -> bool:
        if not isinstance(body, dict) or "id" not in body or "providers" not in path.lower():
            return False
        if self.emu.get(path) is not None:
            return False
        self.emu.load_seed({"resources": [body]})
        return True

    @staticmethod
    def _recording_shows_done(is_operation: bool, recorded: dict[str, Any], body: Any) -> bool:
        if is_operation:
            if recorded["status"]["code"] in (200, 204) and not isinstance(body, dict):
                return True  # operationResults: the final answer
            status = body.get("status") or body.get("Status") if isinstance(body, dict) else None
            return str(status).lower() in _TERMINAL
        state = (body.get("properties") or {}).get("provisioningState") if isinstance(body, dict) else None
        return str(state).lower() in _TERMINAL

    def _finish_running(self) -> None:
        while (ends := self.emu.store.next_completion()) is not None:
            self.clock.now = max(self.clock.now, ends) + 0.001
            self.emu.store.tick()

    def _map_operation_urls(self, recorded: dict[str, Any], answer: requests.Response) -> None:
        rec = _headers(recorded)
        for name in ("azure-asyncoperation", "location"):
            if name in rec and answer.headers.get(name):
                self.urls[urlsplit(rec[name]).path.lower()] = answer.headers[name]


# ---------------------------------------------------------------------- comparison
def compare(recorded: dict[str, Any], recorded_body: Any, answer: requests.Response,
            *, in_world: Any) -> list[str]:
    problems: list[str] = []
    want = recorded["status"]["code"]
    if answer.status_code != want:
        problems.append(f"status {answer.status_code} != {want}")
    problems += _compare_body(recorded_body, _json(answer.content), in_world)
    problems += _compare_lro(_headers(recorded), answer.headers, year=_year(recorded))
    problems += _compare_rate(_headers(recorded), answer.headers)
    return problems


def _compare_body(want: Any, got: Any, in_world: Any) -> list[str]:
    if not isinstance(want, dict):
        return [] if not isinstance(got, dict) or want is None else ["body expected empty/null"]
    if not isinstance(got, dict):
        return ["body missing"]
    problems: list[str] = []
    if "error" in want:
        if (got.get("error") or {}).get("code") != want["error"].get("code"):
            problems.append(f"error.code {(got.get('error') or {}).get('code')!r} != {want['error'].get('code')!r}")
        return problems
    if "status" in want or "Status" in want:  # an operation status: its name/id is the operation's own
        for key in ("status", "Status"):
            if key in want and got.get(key) != want[key]:
                problems.append(f"{key} {got.get(key)!r} != {want[key]!r}")
        return problems
    if "value" in want and isinstance(want["value"], list):
        wanted = sorted(str(v.get("name")).lower() for v in want["value"]
                        if isinstance(v, dict) and in_world(str(v.get("id", ""))))
        listed = sorted(str(v.get("name")).lower() for v in got.get("value") or [] if isinstance(v, dict))
        if wanted != listed:
            problems.append(f"listed {listed} != {wanted}")
        return problems
    for key in ("name", "type"):
        if key in want and str(got.get(key, "")).lower() != str(want[key]).lower():
            problems.append(f"{key} {got.get(key)!r} != {want[key]!r}")
    if "location" in want and _loc(got.get("location")) != _loc(want["location"]):
        problems.append(f"location {got.get('location')!r} != {want['location']!r}")
    want_state = (want.get("properties") or {}).get("provisioningState")
    got_state = (got.get("properties") or {}).get("provisioningState")
    if want_state is not None and got_state != want_state:
        problems.append(f"provisioningState {got_state!r} != {want_state!r}")
    problems += _compare_properties(want.get("properties"), got.get("properties"))
    for key in ("etag", "eTag"):
        if isinstance(want.get(key), str):
            if not isinstance(got.get(key), str):
                problems.append(f"{key} missing")
            elif want[key].startswith('W/"') != got[key].startswith('W/"'):
                problems.append(f"{key} style {got[key]!r} vs {want[key]!r}")
    return problems


# Properties whose value the product depends on, compared when the recorded body has them.
KEY_PROPERTIES = ("addressPrefix", "nextHopType", "nextHopIpAddress", "priority", "disableBgpRoutePropagation")
CHILD_LISTS = ("subnets", "routes", "ruleCollections", "serviceEndpoints", "agentPoolProfiles")


def _compare_properties(want: Any, got: Any) -> list[str]:
    if not isinstance(want, dict):
        return []
    got = got if isinstance(got, dict) else {}
    problems = [f"properties.{k} {got.get(k)!r} != {want[k]!r}" for k in KEY_PROPERTIES
                if k in want and got.get(k) != want[k]]
    for key in CHILD_LISTS:
        if isinstance(want.get(key), list):
            wanted = [_child_name(c) for c in want[key]]
            listed = [_child_name(c) for c in got.get(key) or []]
            if sorted(wanted) != sorted(listed):
                problems.append(f"properties.{key} {listed} != {wanted}")
    if key_present(want, "routeTable") != key_present(got, "routeTable"):
        problems.append("properties.routeTable association differs")
    if isinstance(want.get("subnets"), list):  # a VNet: each subnet's route table association
        for sub in want["subnets"]:
            mine: dict[str, Any] = next(
                (g for g in got.get("subnets") or [] if _child_name(g) == _child_name(sub)), {})
            if key_present(sub.get("properties"), "routeTable") != key_present(mine.get("properties"), "routeTable"):
                problems.append(f"subnet {_child_name(sub)} routeTable association differs")
    return problems


# The types whose server-side defaults the emulator fills in (emulator/resource_types.py `defaults`), and the
# properties the RP fills that are not defaults but per-resource values (ids, sizes, states).
DEFAULTED_TYPES = frozenset({"microsoft.network/azurefirewalls", "microsoft.network/firewallpolicies",
                             "microsoft.network/firewallpolicies/rulecollectiongroups",
                             "microsoft.network/virtualnetworkgateways", "microsoft.network/virtualnetworks",
                             "microsoft.network/routetables"})
_NOT_DEFAULTS = frozenset({"provisioningState", "resourceGuid", "size"})


def compare_defaults(sent: Any, want: Any, got: Any) -> list[str]:
    """What the RP filled in when the PUT left it out (a property of the recorded answer absent from the
    recorded request), for the types the emulator fills defaults for: the emulator's answer must carry the
    same value. Only scalars and empty lists/objects are compared (non-empty ones hold per-resource ids)."""
    if not (isinstance(want, dict) and str(want.get("type", "")).lower() in DEFAULTED_TYPES):
        return []
    sent_props = (sent or {}).get("properties") if isinstance(sent, dict) else None
    got_props = (got or {}).get("properties") if isinstance(got, dict) else None
    return [f"default properties.{path} {value_got!r} != {value!r}"
            for path, value in _filled(sent_props, want.get("properties"))
            if (value_got := _at(got_props, path)) != value]


def _filled(sent: Any, answered: Any, prefix: str = "") -> list[tuple[str, Any]]:
    sent = sent if isinstance(sent, dict) else {}
    out: list[tuple[str, Any]] = []
    for key, value in (answered or {}).items():
        if key in _NOT_DEFAULTS:
            continue
        if key not in sent:
            if not isinstance(value, dict | list) or not value:
                out.append((prefix + key, value))
        elif isinstance(value, dict) and isinstance(sent.get(key), dict):
            out += _filled(sent[key], value, f"{prefix}{key}.")
    return out


def _at(props: Any, path: str) -> Any:
    for part in path.split("."):
        props = props.get(part) if isinstance(props, dict) else None
    return props


def key_present(props: Any, key: str) -> bool:
    return isinstance(props, dict) and props.get(key) is not None


def _child_name(child: Any) -> str:
    if not isinstance(child, dict):
        return str(child)
    return str(child.get("name") or child.get("service") or "").lower()


def _loc(value: Any) -> str:
    return str(value or "").replace(" ", "").lower()


def _segment(url: str) -> str:
    parts = urlsplit(url).path.lower().split("/")
    return parts[-2] if len(parts) >= 2 else ""


def _year(recorded: dict[str, Any]) -> int:
    match = re.search(r"\b(20\d\d)\b", _headers(recorded).get("date", ""))
    return int(match.group(1)) if match else 0


def _compare_lro(want: dict[str, str], got: Any, *, year: int) -> list[str]:
    problems: list[str] = []
    for name in LRO_HEADERS:
        has = got.get(name) is not None
        if name == "azure-asyncnotification" and has and name not in want and year < NOTIFICATION_SINCE:
            continue  # older platform behaviour, see NOTIFICATION_SINCE
        if (name in want) != has:
            problems.append(f"header {name} {'missing' if name in want else 'unexpected'}")
        elif name in want and name != "azure-asyncnotification" and _segment(want[name]) != _segment(got[name]):
            problems.append(f"header {name} under {_segment(got[name])!r}, ARM: {_segment(want[name])!r}")
    return problems


def _compare_rate(want: dict[str, str], got: Any) -> list[str]:
    problems: list[str] = []
    for name, value in want.items():
        if not name.startswith(RATE_PREFIX):
            continue
        sent = got.get(name)
        if sent is None:
            problems.append(f"header {name} missing")
            continue
        size = BUCKETS.get(name[len(RATE_PREFIX):])
        if (size is not None and value.isdigit() and int(value) < size and sent.isdigit()
                and abs(int(sent) - int(value)) > TOLERANCE * size):
            problems.append(f"header {name} {sent} far from ARM's {value}")
    return problems


def replay_file(path: Path) -> FileScore:
    return FileScore(path.name, Replayer(load(path)).run())


def recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*.yaml"))
