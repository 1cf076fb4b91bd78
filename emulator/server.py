"""HTTP handling: routes ARM REST paths to the store and writes ARM-shaped responses."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

from . import effective_support, egress_support, hooks, resource_graph
from . import resource_types as rt
from . import resources as rm
from .errors import ArmError, resource_group_not_found
from .faults import Faults
from .lro import Operation, OperationRecord
from .resource_types import CHILD_SEGMENT, TYPES, ResourceId
from .store import Store
from .throttle import RateLimiter

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int  # 0 when the connection was dropped
    duration_s: float
    started_at: float
    fault: str | None = None


class Served(Protocol):
    """What the HTTP handler needs from the emulator it serves (emulator.Emulator is one); the handler does
    not import the facade, so the facade can import the handler."""

    store: Store
    faults: Faults
    limiter: RateLimiter
    page_size: int
    tenant_id: str

    @property
    def base_url(self) -> str: ...

    @property
    def request_log(self) -> list[RequestRecord]: ...

    @property
    def operations(self) -> list[OperationRecord]: ...

    def dump(self) -> dict[str, Any]: ...

    def load_seed(self, seed: dict[str, Any], *, replace: bool = False) -> None: ...

    def clear_log(self) -> None: ...

    def _request_started(self) -> None: ...

    def _log_request(self, record: RequestRecord, *, in_flight: bool = True) -> None: ...


class _Dropped(Exception):
    """The connection is closed without an answer."""


class ArmHandler(BaseHTTPRequestHandler):
    """One request on the HTTPS ARM endpoint.  `emu` is set on a per-emulator subclass."""

    emu: Served
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    # ------------------------------------------------------------------ plumbing
    def _handle(self, method: str) -> None:
        started_at = time.time()
        t0 = time.monotonic()
        url = urlsplit(self.path)
        path = url.path
        query = {k.lower(): v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self._extra: dict[str, str] = {}
        status = 0
        fault_name: str | None = None
        # An ARM request counts as in flight until it is logged (paired with _log_request below), so a log
        # read or clear waits for it; a control request does not, or a GET of /_emulator/log would wait for
        # itself.
        in_flight = not path.lower().startswith("/_emulator")
        if in_flight:
            self.emu._request_started()
        try:
            status, fault_name = self._dispatch(method, path, query, raw)
        except _Dropped:
            status, fault_name = 0, "drop"
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        finally:
            self.emu._log_request(
                RequestRecord(method, path, status, time.monotonic() - t0, started_at, fault_name),
                in_flight=in_flight,
            )

    def _dispatch(self, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, str | None]:
        emu = self.emu
        if path.lower().startswith("/_emulator"):
            return self._control(method, path, raw), None
        for hook in emu.faults.take_hooks(method, path):
            assert hook.callback is not None
            hook.callback(emu)
        delay = emu.faults.take(method, path, ("delay",))
        if delay is not None:
            time.sleep(float(delay.params.get("seconds", 1.0)))
        fault = emu.faults.take(method, path, ("throttle", "status", "drop", "conflict"))
        auth = self.headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return self._error(
                ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                )
            ), None
        subscription = _subscription_of(path)
        if subscription:
            headers, retry = emu.limiter.charge(subscription, method)
            self._extra.update(headers)
            if retry is not None:
                return self._error(
                    ArmError(
                        429,
                        "SubscriptionRequestsThrottled",
                        f"Number of '{_kind_word(method)}' requests for subscription '{subscription}' actor "
                        f"'{uuid.uuid4()}' exceeded. Please try again after '{retry}' seconds after the "
                        "additional tokens are available. Refer to https://aka.ms/arm-throttling",
                        headers={"Retry-After": str(retry)},
                    )
                ), "token_bucket"
        if fault is not None:
            return self._fault_answer(fault.kind, fault.params), fault.kind
        outcome = None
        lro_fault = emu.faults.take(method, path, ("lro_failed", "lro_canceled"))
        if lro_fault is not None:
            outcome = _lro_outcome(lro_fault.kind, lro_fault.params)
        try:
            return self._route(method, path, query, raw, outcome), (lro_fault.kind if lro_fault else None)
        except ArmError as err:
            return self._error(err), None

    def _fault_answer(self, kind: str, params: dict[str, Any]) -> int:
        if kind == "drop":
            raise _Dropped()
        if kind == "throttle":
            retry = int(params.get("retry_after", 1))
            return self._error(
                ArmError(
                    429,
                    str(params.get("code", "SubscriptionRequestsThrottled")),
                    params.get("message", f"The request is being throttled. Retry after {retry} seconds."),
                    headers={"Retry-After": str(retry)},
                )
            )
        if kind == "conflict":
            return self._error(
                ArmError(
                    409,
                    "AnotherOperationInProgress",
                    params.get("message", "Another operation on this or dependent resource is in progress."),
                )
            )
        status = int(params.get("status", 500))
        headers = {"Retry-After": str(params["retry_after"])} if "retry_after" in params else {}
        return self._error(
            ArmError(
                status,
                str(params.get("code", "InternalServerError")),
                str(params.get("message", "An error occurred.")),
                headers=headers,
            )
        )

    def _send(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, pretty: bool = False
    ) -> int:
        if body is None:
            data = b""
        elif pretty:
            # The Network RP pretty-prints with CRLF and 2-space indent [REC].
            data = json.dumps(body, indent=2).replace("\n", "\r\n").encode()
        else:
            data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        correlation = self.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        request_id = str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = {
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
            "Expires": "-1",
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
            "X-Content-Type-Options": "nosniff",
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": correlation,
            "x-ms-routing-request-id": f"WESTEUROPE:{stamp}:{request_id}",
        }
        if body is not None:
            base["Content-Type"] = JSON_TYPE
        base.update(self._extra)
        base.update(headers or {})
        for name, value in base.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
        return status

    def _send_raw(self, status: int, data: bytes) -> int:
        """A JSON answer whose bytes are given (e.g. the literal `null` body)."""
        self.send_response(status)
        for name, value in {"Cache-Control": "no-cache", "Content-Type": JSON_TYPE, **self._extra}.items():
            self.send_header(name, value)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def _delete_result_headers(self, op: Operation) -> dict[str, str]:
        headers = {
            "Location": self._op_url(op, op.results_segment),
            "Azure-AsyncOperation": self._op_url(op, op.operations_segment),
        }
        spec = TYPES.get(_rid(op).type_key)
        if spec is not None and spec.async_notification:
            headers["Azure-AsyncNotification"] = "Enabled"
        return headers

    def _error(self, err: ArmError) -> int:
        return self._send(err.status, err.body(), err.headers)

    # ------------------------------------------------------------------ control endpoint
    def _control(self, method: str, path: str, raw: bytes) -> int:
        emu = self.emu
        what = path.lower().rstrip("/")[len("/_emulator") :]
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return self._send(400, {"error": {"code": "InvalidJson", "message": "body is not JSON"}})
        egress = egress_support.control(emu, method, what, payload)
        if egress is not None:
            return self._send(*egress)
        if what == "/faults" and method == "POST":
            items = payload if isinstance(payload, list) else [payload]
            try:
                for item in items:
                    params = dict(item)
                    emu.faults.add(
                        params.pop("method", None),
                        params.pop("path", ".*"),
                        params.pop("kind", "status"),
                        int(params.pop("count", 1)),
                        **params,
                    )
            except (ValueError, TypeError) as exc:
                return self._send(400, {"error": {"code": "InvalidFault", "message": str(exc)}})
            return self._send(200, {"faults": emu.faults.pending()})
        if what == "/faults" and method == "GET":
            return self._send(200, {"faults": emu.faults.pending()})
        if what == "/reset-faults" and method == "POST":
            emu.faults.clear()
            return self._send(200, {"faults": []})
        if what == "/log" and method == "GET":
            return self._send(200, {"requests": [r.__dict__ for r in emu.request_log]})
        if what == "/log" and method == "DELETE":
            emu.clear_log()
            return self._send(204)
        if what == "/operations" and method == "GET":
            return self._send(200, {"operations": [r.__dict__ for r in emu.operations]})
        if what == "/state" and method == "GET":
            return self._send(200, emu.dump())
        if what == "/state" and method in ("PUT", "POST"):
            try:
                emu.load_seed(payload, replace=method == "PUT")
            except ValueError as exc:
                return self._send(400, {"error": {"code": "SeedError", "message": str(exc)}})
            return self._send(200, {"resources": len(emu.dump()["resources"])})
        return self._send(404, {"error": {"code": "NotFound", "message": f"no control endpoint {path}"}})

    # ------------------------------------------------------------------ ARM routes
    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        outcome: tuple[str, dict[str, Any] | None] | None,
    ) -> int:
        emu = self.emu
        api_version = query.get("api-version", "")
        if not api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        parts = [p for p in path.split("/") if p]
        low = [p.lower() for p in parts]
        if (effective := effective_support.answer(emu, method, parts, low)) is not None:  # NIC effective routes
            return self._send(*effective)
        if resource_graph.is_graph_call(method, low):  # Azure Resource Graph (emulator/resource_graph.py)
            return self._send(*resource_graph.answer(emu, raw, api_version))
        answered = self._resources_route(method, path, parts, low, query, raw, api_version)
        if answered is not None:
            return answered
        if len(parts) < 2 or low[0] != "subscriptions":
            raise _no_route(path)
        sub = parts[1]
        # /subscriptions/{s}/providers/{ns}/locations/{loc}/operations|operationResults/{id}
        if (
            len(parts) == 8
            and low[2] == "providers"
            and low[4] == "locations"
            and low[6] in ("operations", "operationresults", "nfvoperations", "nfvoperationresults")
            and method == "GET"
        ):
            return self._operation(parts[7], low[6].endswith("operationresults"), api_version)
        # /subscriptions/{s}/providers/{ns}/{type}: list across the subscription
        if len(parts) == 5 and low[2] == "providers" and method == "GET":
            type_key = f"{low[3]}/{low[4]}"
            _require_type(type_key, parts[3], parts[4], api_version)
            return self._list_top(sub, None, type_key, query)
        if len(parts) < 4 or low[2] != "resourcegroups":
            raise _no_route(path)
        rg = parts[3]
        if not emu.store.group_exists(sub, rg):
            raise resource_group_not_found(rg)
        if method == "PUT" and emu.store.group_deleting(sub, rg):
            raise rm.group_being_deleted(rg)
        if len(parts) < 7 or low[4] != "providers":
            raise _no_route(path)
        if len(parts) == 7 and method == "GET":
            type_key = f"{low[5]}/{low[6]}"
            _require_type(type_key, parts[5], parts[6], api_version)
            return self._list_top(sub, rg, type_key, query)
        egress = egress_support.route_get(emu, parts) if method == "GET" else None
        if egress is not None:
            return self._send(200, egress)
        if len(parts) == 9 and method == "GET":
            parent = ResourceId(sub, rg, parts[5], ((parts[6], parts[7]),))
            child_key = f"{parent.type_key}/{low[8]}"
            _require_type(parent.type_key, parts[5], parts[6], api_version)
            if child_key not in TYPES:
                # A GET-only view of the resource, registered per type (hooks.register_subresource_get).
                reader = hooks.subresource_get(parent.type_key, parts[8])
                if reader is None:
                    raise _no_route(path)
                emu.store.require(parent)
                return self._send(200, reader(emu.store, parent, api_version))
            return self._list(emu.store.list_children(parent, child_key), query)
        if len(parts) not in (8, 10):
            raise _no_route(path)
        segments = tuple((parts[i], parts[i + 1]) for i in range(6, len(parts), 2))
        rid = ResourceId(sub, rg, parts[5], segments)
        if rid.type_key not in TYPES:
            _require_type(rid.top().type_key, parts[5], parts[6], api_version)
            raise _no_route(path)
        spec = TYPES[rid.type_key]
        pretty = spec.namespace == "Microsoft.Network"
        if method == "GET":
            body = emu.store.require(rid)
            etag = body.get(spec.etag_key)
            return self._send(200, body, {"ETag": etag} if isinstance(etag, str) else None, pretty=pretty)
        if method == "PUT":
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized.",
                ) from None
            if spec.parent_key is None and payload is not None:
                pass
            egress_support.validate_put(emu, rid, payload)
            result = emu.store.put(
                rid,
                payload if isinstance(payload, dict) else {},
                api_version=api_version,
                if_match=self.headers.get("If-Match"),
                if_none_match=self.headers.get("If-None-Match"),
                outcome=outcome,
            )
            assert result.operation is not None
            headers = {"Azure-AsyncOperation": self._op_url(result.operation, result.operation.operations_segment)}
            if spec.async_notification:
                headers["Azure-AsyncNotification"] = "Enabled"
            return self._send(result.status, result.body, headers, pretty=pretty)
        if method == "DELETE":
            result = emu.store.delete(
                rid, api_version=api_version, if_match=self.headers.get("If-Match"), outcome=outcome
            )
            if result.operation is None:
                return self._send(result.status)
            op = result.operation
            headers = {
                "Location": self._op_url(op, op.results_segment),
                "Azure-AsyncOperation": self._op_url(op, op.operations_segment),
            }
            if spec.async_notification:
                headers["Azure-AsyncNotification"] = "Enabled"
            headers.update(_retry_headers(op, initial=True))
            return self._send(202, result.body, headers, pretty=pretty)
        raise ArmError(
            405,
            "MethodNotAllowed",
            f"The method '{method}' is not supported by the emulator for {spec.type_name}.",
        )

    def _resources_route(
        self,
        method: str,
        path: str,
        parts: list[str],
        low: list[str],
        query: dict[str, str],
        raw: bytes,
        api_version: str,
    ) -> int | None:
        """Microsoft.Resources (resources.py): tenants, subscriptions, resource groups, providers."""
        store = self.emu.store
        n = len(parts)
        if n == 1 and low[0] == "tenants" and method == "GET":
            return self._send(200, {"value": [rm.tenant_body(self.emu.tenant_id)]})
        if n == 0 or low[0] != "subscriptions":
            return None
        if n == 1 and method == "GET":
            subs = [rm.subscription_body(s, self.emu.tenant_id, d) for s, d in store.subscription_list()]
            return self._list(subs, query)
        sub = parts[1]
        if n == 2 and method == "GET":
            for known, display in store.subscription_list():
                if known.lower() == sub.lower():
                    return self._send(200, rm.subscription_body(known, self.emu.tenant_id, display))
            raise rm.subscription_not_found(sub)
        if n == 3 and low[2] == "resourcegroups" and method == "GET":
            return self._list(store.group_list(sub), query)
        if n == 3 and low[2] == "resources" and method == "GET":
            return self._list(rm.apply_filter(store.group_resources(sub, None), query.get("$filter")), query)
        if n == 3 and low[2] == "providers" and method == "GET":
            return self._list([rm.provider_body(sub, ns) for ns in rm.provider_namespaces()], query)
        if n == 4 and low[2] == "providers" and method == "GET":
            return self._send(200, rm.provider_body(sub, parts[3]))
        if n == 5 and low[2] == "providers" and low[4] == "register" and method == "POST":
            return self._send(200, rm.provider_body(sub, parts[3]))
        if n == 4 and low[2] == "operationresults" and method == "GET":
            return self._group_operation(parts[3])
        if n == 5 and low[2] == "resourcegroups" and low[4] == "resources" and method == "GET":
            if not store.group_exists(sub, parts[3]):
                raise resource_group_not_found(parts[3])
            return self._list(rm.apply_filter(store.group_resources(sub, parts[3]), query.get("$filter")), query)
        if n != 4 or low[2] != "resourcegroups":
            return None
        rg = parts[3]
        if method in ("GET", "HEAD"):
            group = store.group(sub, rg)
            if group is None:
                if method == "HEAD":
                    return self._send(404)
                raise resource_group_not_found(rg)
            return self._send(204) if method == "HEAD" else self._send(200, group)
        if method in ("PUT", "PATCH"):
            payload = _json_object(raw)
            if method == "PUT":
                status, group = store.put_group(sub, rg, payload)
                return self._send(status, group)
            return self._send(200, store.patch_group(sub, rg, payload))
        if method == "DELETE":
            op = store.delete_group(sub, rg, api_version)
            headers = {"Location": self._group_op_url(op)}
            headers.update(_retry_headers(op, initial=True))
            return self._send(202, None, headers)
        return None

    def _group_op_url(self, op: Operation) -> str:
        return (
            f"{self.emu.base_url}/subscriptions/{op.subscription}/operationresults/{op.op_id}"
            f"?api-version={quote(op.api_version)}"
        )

    def _group_operation(self, op_id: str) -> int:
        """A resource group delete's Location: 202 while it runs, then 200 with no body."""
        op = self.emu.store.operation(op_id)
        if op is None or op.kind != "group-delete":
            raise ArmError(404, "NotFound", f"Operation {op_id} not found.")
        if op.status == "InProgress":
            headers = {"Location": self._group_op_url(op)}
            headers.update(_retry_headers(op))
            return self._send(202, None, headers)
        return self._send(200)

    def _op_url(self, op: Operation, kind: str) -> str:
        return (
            f"{self.emu.base_url}/subscriptions/{op.subscription}/providers/{op.namespace}/locations/"
            f"{op.location}/{kind}/{op.op_id}?api-version={quote(op.api_version)}"
        )

    def _operation(self, op_id: str, results: bool, api_version: str) -> int:
        op = self.emu.store.operation(op_id)
        if op is None:
            raise ArmError(404, "NotFound", f"Operation {op_id} not found.")
        if results:
            # RPC async-api-reference: the Location URI answers 202 while running, then the result.
            if op.status == "InProgress":
                headers = {"Location": self._op_url(op, op.results_segment)}
                headers.update(_retry_headers(op))
                return self._send(202, None, headers)
            if op.status == "Succeeded" and op.method == "DELETE" and op.results_segment == "nfvOperationResults":
                # [REC test_azure_firewall_policy.yaml 72]: 200 with the JSON body `null`.
                return self._send_raw(200, b"null")
            if op.status == "Succeeded":
                if op.method == "DELETE":
                    # [REC test_azure_firewall.yaml 12]: 204, still naming the operation.
                    return self._send(204, None, self._delete_result_headers(op))
                return self._send(200, self.emu.store.get(_rid(op)))
            err = op.error or {"code": op.status, "message": f"Operation {op.status.lower()}."}
            return self._send(400, {"error": err})
        headers = _retry_headers(op) if op.status == "InProgress" else {}
        return self._send(200, op.status_body(), headers, pretty=op.namespace == "Microsoft.Network")

    def _list_top(self, sub: str, rg: str | None, type_key: str, query: dict[str, str]) -> int:
        """A top-level list: the store copies only this page (emulator cost)."""
        skip = _skip_token(query)
        page, more = self.emu.store.list_top_page(sub, rg, type_key, skip, self.emu.page_size)
        return self._list_answer(page, more, skip, query)

    def _list(self, items: list[dict[str, Any]], query: dict[str, str]) -> int:
        size = self.emu.page_size
        skip = _skip_token(query)
        return self._list_answer(items[skip : skip + size], skip + size < len(items), skip, query)

    def _list_answer(self, page: list[dict[str, Any]], more: bool, skip: int, query: dict[str, str]) -> int:
        size = self.emu.page_size
        body: dict[str, Any] = {"value": page}
        if more:
            url = urlsplit(self.path)
            params = [f"{k}={quote(v, safe='')}" for k, v in query.items() if k != "$skiptoken"]
            params.append(f"$skiptoken={skip + size}")
            body["nextLink"] = f"{self.emu.base_url}{url.path}?{'&'.join(params)}"
        return self._send(200, body)


def _skip_token(query: dict[str, str]) -> int:
    try:
        return int(query.get("$skiptoken", "0"))
    except ValueError:
        raise ArmError(400, "InvalidSkipToken", "The $skiptoken is not valid.") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        ) from None
    return payload if isinstance(payload, dict) else {}


def _rid(op: Operation) -> ResourceId:
    return rt.parse_id(op.resource_id)


def _retry_headers(op: Operation, initial: bool = False) -> dict[str, str]:
    """Poll pacing.  azure-core's get_retry_after() reads `Retry-After` first and only falls back to
    `retry-after-ms` when Retry-After is absent (azure/core/pipeline/policies/_utils.py), so a sub-second
    wait is expressed with retry-after-ms alone; otherwise both, Retry-After in whole seconds as ARM sends it.
    """
    remaining = op.remaining()
    ms = max(20, int(remaining * 1000) + 20)  # never 0: a falsy delay falls back to the 30 s default
    if remaining >= 1.0 or initial:
        return {"Retry-After": str(max(1, math.ceil(remaining))), "retry-after-ms": str(ms)}
    return {"retry-after-ms": str(ms)}


def _lro_outcome(kind: str, params: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    if kind == "lro_canceled":
        return "Canceled", {
            "code": "Canceled",
            "message": str(params.get("message", "Operation was canceled.")),
            "details": [
                {
                    "code": "CanceledAndSupersededDueToAnotherOperation",
                    "message": "Operation was canceled and superseded by operation "
                    f"PutOperation ({uuid.uuid4()}).",
                }
            ],
        }
    return "Failed", {
        "code": str(params.get("code", "InternalServerError")),
        "message": str(params.get("message", "An error occurred.")),
        "details": [],
    }


def _subscription_of(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1]
    return None


def _kind_word(method: str) -> str:
    return {"GET": "read", "DELETE": "delete"}.get(method, "write")


def _no_route(path: str) -> ArmError:
    return ArmError(404, "NotFound", f"No HTTP resource was found that matches the request URI '{path}'.")


def _require_type(type_key: str, namespace: str, type_name: str, api_version: str) -> None:
    if type_key not in TYPES:
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type '{type_name}' could not be found in the namespace '{namespace}' "
            f"for api version '{api_version}'.",
        )


__all__ = ["CHILD_SEGMENT", "ArmHandler", "RequestRecord"]
