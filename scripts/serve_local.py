"""`make serve`: the Function app on 127.0.0.1 through Microsoft's worker, without Azure Functions Core Tools.

What a local Functions host does for this app, in one process:
- HTTP functions at `http://127.0.0.1:PORT/api/<route>` (routes and methods as the app declares them; the
  auth level is not enforced, as Core Tools does not enforce it locally: loopback only);
- the Event Grid trigger at `/runtime/webhooks/eventgrid?functionName=on_resource_event`, where the host
  serves it: a POSTed array of events (Event Grid or CloudEvents schema) is delivered one event per
  invocation; the subscription validation handshake is answered as the host answers it;
- the queue triggers, polled from the storage account of their `connection` setting (Azurite with
  `UseDevelopmentStorage=true` or a connection string), base64 text as the host decodes it, deleted after a
  successful invocation, moved to `<queue>-poison` after 5 failed deliveries (the host's maxDequeueCount).
The timer (drift sweep) is not scheduled: run `aks-remediation sweep` or POST a scope target instead.

The worker is driven exactly as the tests drive it (tests/functions/worker_harness.py: FunctionRpc messages to
`azure_functions_runtime`), so this needs a clone with the dev tools installed (`make serve`).
Settings come from the environment, or `--settings local.settings.json` (its `Values`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_DEQUEUE = 5  # the host's queues.maxDequeueCount default
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"


def _route_pattern(route: str) -> re.Pattern[str]:
    """`remediations/{id}` -> a regex with a named group per parameter (`{*rest}` takes the rest)."""
    parts = []
    for piece in re.split(r"(\{[^}]+\})", route.strip("/")):
        if piece.startswith("{"):
            name = piece[1:-1].split(":")[0].split("?")[0]
            parts.append(f"(?P<{name.lstrip('*')}>.+)" if name.startswith("*") else f"(?P<{name}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("^/api/" + "".join(parts) + "/?$", re.IGNORECASE)


class Host:
    """The worker and what the host knows of each function; one invocation at a time (the worker's loop)."""

    def __init__(self) -> None:
        from tests.functions.worker_harness import Worker

        self.worker = Worker(ROOT).start()
        self.lock = threading.Lock()
        self.http_routes: list[tuple[str, frozenset[str], re.Pattern[str]]] = []
        self.event_grid: set[str] = set()
        self.queues: list[tuple[str, str, str]] = []  # (function, queue, connection setting)
        for name, fn in self.worker.functions.items():
            trigger = fn.trigger()
            if fn.trigger_type == "httpTrigger":
                methods = frozenset(m.upper() for m in trigger.get("methods") or ("GET", "POST"))
                self.http_routes.append((name, methods, _route_pattern(trigger.get("route") or name)))
            elif fn.trigger_type == "eventGridTrigger":
                self.event_grid.add(name)
            elif fn.trigger_type == "queueTrigger":
                queue = re.sub(r"%(\w+)%", lambda m: os.environ.get(m.group(1), ""), trigger["queueName"])
                self.queues.append((name, queue, trigger.get("connection") or "AzureWebJobsStorage"))

    def http(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
             body: bytes) -> tuple[int, dict[str, str], bytes]:
        for name, methods, pattern in self.http_routes:
            match = pattern.match(path)
            if match and method in methods:
                with self.lock:
                    result = self.worker.http(name, method, f"http://127.0.0.1{path}", body=body,
                                              route_params=match.groupdict(), headers=headers, query=query)
                return result.status_code, result.headers, result.body
        return 404, {"content-type": "application/json"}, b'{"error": {"code": "NotFound"}}'

    def events(self, function: str, body: bytes) -> tuple[int, bytes]:
        if function not in self.event_grid:
            return 404, json.dumps({"error": f"no Event Grid function {function!r}"}).encode()
        events = json.loads(body or b"[]")
        for event in events if isinstance(events, list) else [events]:
            if event.get("eventType") == VALIDATION:
                return 200, json.dumps({"validationResponse": event["data"]["validationCode"]}).encode()
            with self.lock:
                invocation = self.worker.event_grid(function, event)
            if not invocation.succeeded:  # Event Grid redelivers on an error answer
                return 500, invocation.exception_message.encode()
        return 200, b""

    def poll_queues_forever(self, stop: threading.Event) -> None:
        from azure.storage.queue import QueueClient, TextBase64DecodePolicy

        clients = []
        for function, queue, setting in self.queues:
            # The host falls back to the app's own storage account for a trigger without its own connection.
            connection = os.environ.get(setting) or os.environ.get("AzureWebJobsStorage", "")  # noqa: SIM112
            if connection == "UseDevelopmentStorage=true":
                connection = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFl"
                              "qUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                              "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;")
            if not connection:
                print(f"serve_local: {setting} is not set: queue trigger {function} is not polled", file=sys.stderr)
                continue
            client = QueueClient.from_connection_string(connection, queue,
                                                        message_decode_policy=TextBase64DecodePolicy())
            clients.append((function, client, connection, queue))
        while not stop.is_set():
            for function, client, connection, queue in clients:
                self._drain(function, client, connection, queue)
            stop.wait(0.5)

    def _drain(self, function: str, client: Any, connection: str, queue: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.queue import QueueClient, TextBase64EncodePolicy

        try:
            messages = list(client.receive_messages(messages_per_page=16, visibility_timeout=60))
        except ResourceNotFoundError:
            return  # the queue does not exist yet: nothing was ever sent
        for message in messages:
            if message.dequeue_count > MAX_DEQUEUE:
                poison = QueueClient.from_connection_string(connection, f"{queue}-poison",
                                                            message_encode_policy=TextBase64EncodePolicy())
                with contextlib.suppress(Exception):  # it exists already
                    poison.create_queue()
                poison.send_message(message.content)
                client.delete_message(message)
                continue
            with self.lock:
                invocation = self.worker.queue(function, message.content, message_id=message.id,
                                               dequeue_count=message.dequeue_count, pop_receipt=message.pop_receipt)
            if invocation.succeeded:
                client.delete_message(message)
            else:
                print(f"serve_local: {function} failed ({invocation.exception_message}); redelivered later",
                      file=sys.stderr)


def handler_for(host: Host) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in {"content-length", "transfer-encoding"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if url.path.rstrip("/").lower() == "/runtime/webhooks/eventgrid" and method == "POST":
                status, text = host.events(query.get("functionName", ""), body)
                self._answer(status, {"content-type": "application/json"}, text)
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._answer(*host.http(method, url.path, query, headers, body))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, format: str, *args: Any) -> None:  # one line per request on stderr
            print(f"serve_local: {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", file=sys.stderr)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve_local.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=7071, help="the port on 127.0.0.1 (Core Tools' default 7071)")
    parser.add_argument("--settings", help="a local.settings.json whose Values become the app settings")
    args = parser.parse_args(argv)
    if args.settings:
        values = json.loads(Path(args.settings).read_text(encoding="utf-8")).get("Values") or {}
        os.environ.update({str(k): str(v) for k, v in values.items()})
    host = Host()
    stop = threading.Event()
    threading.Thread(target=host.poll_queues_forever, args=(stop,), name="queues", daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(host))
    print(f"serve_local: http://127.0.0.1:{server.server_address[1]}/api/ "
          f"({', '.join(sorted(n for n, _, _ in host.http_routes))}); Event Grid: "
          f"/runtime/webhooks/eventgrid?functionName={', '.join(sorted(host.event_grid))}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        host.worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
