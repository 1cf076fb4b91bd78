"""Drive `function_app.py` through Microsoft's Python worker, the way the Functions host does.

From Python 3.13 the host runs a Python app on the PyPI package `azure-functions-runtime` (docs/platform-notes.md
section 10). Its `handle_event` module takes the FunctionRpc `StreamingMessage`s the host sends over gRPC:

1. `worker_init_request`: the worker imports `function_app.py` and indexes its decorators;
2. `functions_metadata_request`: it reports each function with its bindings (what the host binds triggers to);
3. `function_load_request`: once per function id, as the host does before the first invocation;
4. `invocation_request`: the trigger's payload as `TypedData` (http, json, string, ...) plus trigger metadata;
   the worker converts it with azure-functions' converters, calls the function and answers with the return
   value (the HTTP response) and a status.

This module plays the host's side of that exchange in-process (no gRPC, no .NET host: neither is installable
here), with the generated message classes in `tests/functions/protos`. The payload shapes follow what the host
sends for each trigger (see the builders below); nothing of the app is imitated.

The worker keeps its function registry in module globals and the app can be indexed once per process
(`FunctionApp.get_functions()` refuses a second indexing), so one `Worker` serves a whole test session
(`worker()` below).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure_functions_runtime as runtime
from azure_functions_runtime import handle_event

from tests.functions import protos

ROOT = Path(__file__).resolve().parents[2]
HOST_VERSION = "4.1040.0"  # what a current Functions host reports; the worker only logs it

# Capabilities a current host announces in WorkerInitRequest.
HOST_CAPABILITIES = {"RpcHttpBodyOnly": "true", "RawHttpBodyBytes": "true", "TypedDataCollection": "true",
                     "RpcHttpTriggerMetadataRemoved": "true"}


@dataclass(frozen=True)
class WorkerRequest:
    """What the host-facing part of the worker hands to `handle_event`: the message and the protos module."""

    name: str
    request: Any  # protos.StreamingMessage
    properties: dict[str, Any]


class WorkerError(AssertionError):
    """The worker answered a host request with a failure status."""


@dataclass(frozen=True)
class IndexedFunction:
    """One function as the worker reported it in FunctionMetadataResponse."""

    metadata: Any  # protos.RpcFunctionMetadata

    @property
    def name(self) -> str:
        return str(self.metadata.name)

    @property
    def function_id(self) -> str:
        return str(self.metadata.function_id)

    def raw_bindings(self) -> list[dict[str, Any]]:
        """The bindings' JSON, as the host reads it to create the trigger listeners."""
        return [json.loads(raw) for raw in self.metadata.raw_bindings]

    def trigger(self) -> dict[str, Any]:
        (binding,) = [b for b in self.raw_bindings() if str(b["type"]).endswith("Trigger")]
        return binding

    @property
    def trigger_type(self) -> str:
        return str(self.trigger()["type"])

    @property
    def trigger_name(self) -> str:
        return str(self.trigger()["name"])

    # The two methods of azure.functions' Function that tests written before the harness use.
    def get_raw_bindings(self) -> list[str]:
        return [str(raw) for raw in self.metadata.raw_bindings]

    def get_user_function(self) -> Callable[..., Any]:
        info = handle_event._functions.get_function(self.function_id)
        return info.func


@dataclass(frozen=True)
class HttpResult:
    status_code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Invocation:
    """The worker's InvocationResponse, decoded."""

    response: Any  # protos.InvocationResponse

    @property
    def succeeded(self) -> bool:
        return bool(self.response.result.status == protos.StatusResult.Success)

    @property
    def exception_message(self) -> str:
        """`<exception class name>: <message>`, as the worker serializes a function's exception."""
        return str(self.response.result.exception.message)

    @property
    def exception_type(self) -> str:
        return self.exception_message.partition(":")[0]

    @property
    def stack_trace(self) -> str:
        return str(self.response.result.exception.stack_trace)

    def raise_for_status(self) -> Invocation:
        if not self.succeeded:
            raise WorkerError(f"invocation failed: {self.exception_message}\n{self.stack_trace}")
        return self

    def http(self) -> HttpResult:
        self.raise_for_status()
        value = self.response.return_value
        assert value.WhichOneof("data") == "http", value
        body = value.http.body
        kind = body.WhichOneof("data")
        raw = body.bytes if kind == "bytes" else body.string.encode() if kind == "string" else b""
        return HttpResult(int(value.http.status_code), dict(value.http.headers), raw)


class Worker:
    """azure_functions_runtime loaded with one function app directory, spoken to in FunctionRpc messages."""

    def __init__(self, app_dir: Path = ROOT) -> None:
        self.app_dir = app_dir
        self._loop = asyncio.new_event_loop()
        self.init_response: Any = None
        self.functions: dict[str, IndexedFunction] = {}

    # ------------------------------------------------------------------ host -> worker, as at start-up

    def start(self) -> Worker:
        if str(self.app_dir) not in sys.path:  # the host starts the worker with the app directory on sys.path
            sys.path.insert(0, str(self.app_dir))
        runtime.start_threadpool_executor()
        self.init_response = self._send("worker_init_request", protos.StreamingMessage(
            request_id=_new_id(), worker_init_request=protos.WorkerInitRequest(
                host_version=HOST_VERSION, capabilities=HOST_CAPABILITIES, worker_directory=str(self.app_dir),
                function_app_directory=str(self.app_dir))))
        metadata = self._send("functions_metadata_request", protos.StreamingMessage(
            request_id=_new_id(), functions_metadata_request=protos.FunctionsMetadataRequest(
                function_app_directory=str(self.app_dir))))
        if metadata.use_default_metadata_indexing:
            raise WorkerError("the worker found no v2-model functions (it asked for function.json indexing)")
        self.functions = {str(m.name): IndexedFunction(m) for m in metadata.function_metadata_results}
        for fn in self.functions.values():
            self._send("function_load_request", protos.StreamingMessage(
                request_id=_new_id(), function_load_request=protos.FunctionLoadRequest(
                    function_id=fn.function_id, metadata=fn.metadata)))
        return self

    def close(self) -> None:
        runtime.stop_threadpool_executor()
        self._loop.close()

    def user_function(self, name: str) -> Callable[..., Any]:
        """The Python function the worker registered under `name` (for tests that build the SDK objects)."""
        return self.functions[name].get_user_function()

    # ------------------------------------------------------------------ invocations

    def invoke(self, name: str, payload: Any, *, trigger_metadata: Mapping[str, Any] | None = None) -> Invocation:
        """Invoke `name` with the trigger payload `payload` (a protos.TypedData)."""
        fn = self.functions[name]
        response = self._send("invocation_request", protos.StreamingMessage(
            request_id=_new_id(), invocation_request=protos.InvocationRequest(
                invocation_id=_new_id(), function_id=fn.function_id,
                input_data=[protos.ParameterBinding(name=fn.trigger_name, data=payload)],
                trigger_metadata=dict(trigger_metadata or {}),
                trace_context=protos.RpcTraceContext(
                    trace_parent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"),
                retry_context=protos.RetryContext(retry_count=0, max_retry_count=0))))
        return Invocation(response)

    def http(self, name: str, method: str, url: str, *, body: bytes | str = b"",
             route_params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
             query: Mapping[str, str] | None = None) -> HttpResult:
        raw = body.encode() if isinstance(body, str) else body
        request = protos.RpcHttp(method=method, url=url,
                                 headers=dict(headers or {"content-type": "application/json"}),
                                 body=protos.TypedData(bytes=raw), rawBody=protos.TypedData(bytes=raw),
                                 params=dict(route_params or {}), query=dict(query or {}))
        return self.invoke(name, protos.TypedData(http=request)).http()

    def queue(self, name: str, body: str, *, message_id: str = "msg-1", dequeue_count: int = 1,
              pop_receipt: str = "pop-1", now: dt.datetime | None = None) -> Invocation:
        """A Storage queue message as the host delivers it: the decoded text and the message's metadata."""
        at = now or dt.datetime.now(dt.UTC)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        metadata = {
            "Id": protos.TypedData(string=message_id),
            "DequeueCount": protos.TypedData(json=str(dequeue_count)),
            "PopReceipt": protos.TypedData(string=pop_receipt),
            "InsertionTime": protos.TypedData(json=json.dumps(stamp)),
            "ExpirationTime": protos.TypedData(json=json.dumps(
                (at + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S+00:00"))),
            "NextVisibleTime": protos.TypedData(json=json.dumps(
                (at + dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S+00:00"))),
        }
        return self.invoke(name, protos.TypedData(string=body), trigger_metadata=metadata)

    def timer(self, name: str, *, past_due: bool = False) -> Invocation:
        """A timer tick: the host sends the schedule status as JSON."""
        info = {"Schedule": {"AdjustForDST": True}, "IsPastDue": past_due,
                "ScheduleStatus": {"Last": "2026-01-10T10:00:00+00:00", "Next": "2026-01-10T10:30:00+00:00",
                                   "LastUpdated": "2026-01-10T10:00:00+00:00"}}
        return self.invoke(name, protos.TypedData(json=json.dumps(info)))

    def event_grid(self, name: str, event: Mapping[str, Any]) -> Invocation:
        """One Event Grid delivery: the host passes each event of the batch as its own JSON document."""
        return self.invoke(name, protos.TypedData(json=json.dumps(event)))

    # ------------------------------------------------------------------ plumbing

    def _send(self, name: str, message: Any) -> Any:
        handler: Callable[[WorkerRequest], Coroutine[Any, Any, Any]] = getattr(handle_event, name)
        request = WorkerRequest(name=name, request=message, properties={"host": "127.0.0.1", "protos": protos})
        response = self._loop.run_until_complete(handler(request))
        if name != "invocation_request" and response.result.status != protos.StatusResult.Success:
            raise WorkerError(f"{name} failed: {response.result.exception.message}")
        return response


def _new_id() -> str:
    return str(uuid.uuid4())


_worker: Worker | None = None


def worker() -> Worker:
    """The process's one worker, started on first use (indexing happens once per process)."""
    global _worker
    if _worker is None:
        _worker = Worker().start()
    return _worker


def close_worker() -> None:
    """Stop the worker's thread pool at the end of the session (if a test started it)."""
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None
