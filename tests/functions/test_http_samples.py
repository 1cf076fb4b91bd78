"""The samples for running the app locally stay true: examples/http/*.http and scripts/post_events.py.

Each request of the `.http` files is sent through Microsoft's worker (tests/functions/worker_harness.py) to
the function whose route and method it names, against the emulator and Azurite; its status must be the one
its title promises. The event poster is run as a process against a loopback server that plays the host's
Event Grid webhook: it hands each event of a delivery to the worker, as the host does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.functions.helpers import ROOT, Azurite, queued_count
from tests.functions.worker_harness import HttpResult, Worker, worker

SAMPLES = sorted((ROOT / "examples" / "http").glob("*.http"))


@dataclass
class SampleRequest:
    title: str
    method: str
    url: str
    name: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def expected_status(self) -> int:
        match = re.search(r"\((\d{3})\b", self.title)
        assert match, f"title {self.title!r} names no expected status"
        return int(match.group(1))


_VARIABLE = re.compile(r"@(\w+)\s*=\s*(.*)$")
_NAME = re.compile(r"#\s*@name\s+(\w+)")
_REQUEST = re.compile(r"(GET|POST|PUT|DELETE|PATCH)\s+(\S+)")


def parse_http_file(path: Path) -> tuple[dict[str, str], list[SampleRequest]]:
    """The subset of the REST Client format the samples use: @variables, ### titles, # @name, headers, body."""
    variables: dict[str, str] = {}
    requests: list[SampleRequest] = []
    for index, chunk in enumerate(path.read_text(encoding="utf-8").split("\n###")):
        lines = chunk.splitlines()
        title = lines.pop(0).strip() if index else ""  # the text before the first ### is the preamble
        name: str | None = None
        current: SampleRequest | None = None
        body: list[str] | None = None
        for line in lines:
            if current is None:
                if match := _VARIABLE.match(line):
                    variables[match.group(1)] = match.group(2).strip()
                elif match := _NAME.match(line):
                    name = match.group(1)
                elif match := _REQUEST.match(line):
                    current = SampleRequest(title, match.group(1), match.group(2), name=name)
            elif body is None:
                if line.strip():
                    key, _, value = line.partition(":")
                    current.headers[key.strip()] = value.strip()
                else:
                    body = []
            else:
                body.append(line)
        if current is not None:
            current.body = "\n".join(body or []).strip()
            requests.append(current)
    return variables, requests


def _substitute(text: str, variables: dict[str, str], responses: dict[str, HttpResult]) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression in variables:
            return _substitute(variables[expression], variables, responses)
        name, _, path = expression.partition(".response.body.$.")
        return str(responses[name].json()[path])

    return re.sub(r"{{\s*([^}]+?)\s*}}", value, text)


def _function_for(w: Worker, method: str, path: str) -> tuple[str, dict[str, str]]:
    """The HTTP function whose route template matches `/api/<route>` for `method`, with its route values."""
    for fn in w.functions.values():
        trigger = fn.trigger()
        if fn.trigger_type != "httpTrigger" or method not in trigger.get("methods", [method]):
            continue
        pattern = re.sub(r"{(\w+)[^}]*}", r"(?P<\1>[^/]+)", str(trigger.get("route") or fn.name))
        if match := re.fullmatch(f"/api/{pattern}", path):
            return fn.name, match.groupdict()
    raise AssertionError(f"no function of the app serves {method} {path}")


def test_there_are_http_samples() -> None:
    assert SAMPLES


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_http_sample_gets_the_status_its_title_says(sample: Path, arm: Any, storage: Azurite) -> None:
    w = worker()
    variables, requests = parse_http_file(sample)
    assert requests, f"{sample} holds no request"
    responses: dict[str, HttpResult] = {}
    for request in requests:
        url = urllib.parse.urlsplit(_substitute(request.url, variables, responses))
        name, route_params = _function_for(w, request.method, url.path)
        response = w.http(name, request.method, urllib.parse.urlunsplit(url),
                          body=_substitute(request.body, variables, responses), route_params=route_params,
                          headers={k.lower(): v for k, v in request.headers.items()},
                          query=dict(urllib.parse.parse_qsl(url.query)))
        assert response.status_code == request.expected_status, (request.title, response)
        if request.name:
            responses[request.name] = response


# ------------------------------------------------------------------------------------ events to the webhook


class _Webhook(BaseHTTPRequestHandler):
    """The host's Event Grid endpoint, reduced to what a delivery needs: one invocation per event."""

    invocations: list[tuple[str, bool]] = []

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        function = dict(urllib.parse.parse_qsl(url.query)).get("functionName", "")
        ok = (url.path.lower() == "/runtime/webhooks/eventgrid" and function in worker().functions
              and self.headers.get("aeg-event-type") == "Notification")
        events = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))) if ok else []
        for event in events:
            invocation = worker().event_grid(function, event)
            self.invocations.append((function, invocation.succeeded))
            ok = ok and invocation.succeeded
        self.send_response(200 if ok and isinstance(events, list) else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Webhook.invocations = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_post_events_delivers_every_example_event_to_the_event_grid_function(
        webhook: str, app_env: Any, storage: Azurite) -> None:
    worker()  # started in this process before the script posts
    files = sorted((ROOT / "examples" / "events").glob("*.json"))
    assert len(files) >= 2  # one per schema: Event Grid and CloudEvents 1.0
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "post_events.py"), *map(str, files),
                           "--url", webhook], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _Webhook.invocations == [("on_resource_event", True)] * len(files)
    assert queued_count(storage) == len(files)  # each example names a different target
