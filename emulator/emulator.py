"""The Emulator facade: HTTPS ARM endpoint + managed-identity endpoint + state, in one object."""

from __future__ import annotations

import secrets
import shutil
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

# egress_support and effective_support register their per-type hooks (emulator/hooks.py) when imported.
from . import effective_support, egress_support  # noqa: F401
from .errors import ArmError
from .faults import Faults
from .identity import IdentityServer
from .limits import Limits
from .lro import OperationRecord
from .resource_types import TYPES, parse_id
from .server import ArmHandler, RequestRecord
from .store import Store
from .throttle import RateLimiter

DEFAULT_PRINCIPAL_ID = "11111111-1111-1111-1111-111111111111"
DEFAULT_TENANT_ID = "72f988bf-0000-0000-0000-000000000000"
DEFAULT_CLIENT_ID = "22222222-2222-2222-2222-222222222222"


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops its connection (a test's fault injection, a timeout, the SDK closing a pool)
        # is normal traffic for a server, not a traceback on stderr; anything else still is.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class Emulator:
    """A local ARM endpoint for the real azure-mgmt-* SDK clients.  See emulator/README.md."""

    def __init__(
        self,
        seed: dict[str, Any] | None = None,
        *,
        port: int = 0,
        time_factor: float = 0.0,
        lro_seconds: dict[str, float] | None = None,
        strict_if_match: bool = False,
        token_buckets: bool = False,
        conflict_mode: str = "409",
        page_size: int = 50,
        principal_id: str = DEFAULT_PRINCIPAL_ID,
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        clock: Callable[[], float] = time.monotonic,
        limits: dict[str, int] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.port = port
        self.page_size = page_size
        self.store = Store(
            lro_seconds=dict(lro_seconds or {}),
            time_factor=time_factor,
            conflict_mode=conflict_mode,
            strict_if_match=strict_if_match,
            clock=clock,
            limits=Limits.from_settings(limits),
        )
        self.tenant_id = tenant_id
        self.faults = Faults()
        self.limiter = RateLimiter(enforce=token_buckets, clock=clock)
        self._log: list[RequestRecord] = []
        # A handler records its request after the response bytes have gone out, so a client can see the
        # answer before the record exists; readers wait (bounded) for requests still being handled.
        self._log_lock = threading.Condition()
        self._in_flight = 0
        self.identity_header = secrets.token_hex(16)
        self.identity = IdentityServer(
            secret=self.identity_header, principal_id=principal_id, tenant_id=tenant_id, client_id=client_id
        )
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: str | None = None
        self._ca_path: str | None = None
        if seed is not None:
            self.store.load(seed)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self._tmp = tempfile.mkdtemp(prefix="arm-emulator-")
        ca_path = Path(self._tmp) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        self._ca_path = str(ca_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        handler = type("BoundArmHandler", (ArmHandler,), {"emu": self})
        server = _TLSServer(("127.0.0.1", self.port), handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.identity.start()
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="arm-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.identity.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ connection details
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_bundle(self) -> str:
        if self._ca_path is None:
            raise RuntimeError("emulator not started")
        return self._ca_path

    @property
    def identity_endpoint(self) -> str:
        return self.identity.endpoint

    def env(self) -> dict[str, str]:
        """Environment for the product (and DefaultAzureCredential) to talk to this emulator."""
        return {
            "ARM_ENDPOINT": self.base_url,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
        }

    # ------------------------------------------------------------------ state
    def load_seed(self, seed: dict[str, Any], *, replace: bool = False) -> None:
        """Add (or with replace=True, replace everything with) the resources of a seed document."""
        self.store.load(seed, replace=replace)

    def dump(self) -> dict[str, Any]:
        return self.store.dump()

    def get(self, resource_id: str) -> dict[str, Any] | None:
        """The resource as an ARM GET returns it, or None (case-insensitive id)."""
        return self.store.get(parse_id(resource_id))

    def put_foreign(self, resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change state as another writer would have (no LRO, provisioningState Succeeded, new etag)."""
        rid = parse_id(resource_id)
        if rid.type_key not in TYPES:
            raise ValueError(f"unsupported resource type in {resource_id}")
        with self.store.lock:
            self.store.ensure_group(rid.subscription, rid.resource_group, body.get("location"))
            result = self.store.put(rid, body, api_version="foreign", foreign=True)
        assert result.body is not None
        return result.body

    def delete_foreign(self, resource_id: str) -> None:
        """Delete as another writer would have (immediately).  ArmError for e.g. an in-use route table."""
        self.store.delete(parse_id(resource_id), api_version="foreign", foreign=True)

    @property
    def operations(self) -> list[OperationRecord]:
        with self.store.lock:
            self.store.tick()
            return list(self.store.records)

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._log_lock:
            self._log_lock.wait_for(lambda: self._in_flight == 0, timeout=5.0)
            return list(self._log)

    def clear_log(self) -> None:
        # A request is logged after its response is sent (server.py `_handle`): the client may already have
        # moved on, so a clear that does not wait for it would keep the previous pass's last request.
        with self._log_lock:
            self._log_lock.wait_for(lambda: self._in_flight == 0, timeout=5.0)
            self._log.clear()
        with self.store.lock:
            self.store.records.clear()

    def _request_started(self) -> None:
        with self._log_lock:
            self._in_flight += 1

    def _log_request(self, record: RequestRecord, *, in_flight: bool = True) -> None:
        with self._log_lock:
            self._log.append(record)
            if in_flight:
                self._in_flight -= 1
            self._log_lock.notify_all()

    def add_subscription(self, subscription_id: str, display_name: str | None = None) -> None:
        """Make a subscription known (listed by GET /subscriptions; resource groups can be created in it)."""
        self.store.add_subscription(subscription_id, display_name)


__all__ = ["ArmError", "Emulator"]
