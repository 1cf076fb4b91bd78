"""The App Service managed-identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER).

azure-identity 1.27 hands App Service to msal's ManagedIdentityClient, which sends
GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=... with header X-IDENTITY-HEADER and needs
`access_token` and `expires_on` (epoch seconds) in the JSON answer (msal/managed_identity.py
_obtain_token_on_app_service).  App Service serves it over plain HTTP on loopback, and so do we.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

TOKEN_PATH = "/msi/token"
TOKEN_LIFETIME_S = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(resource: str, *, principal_id: str, tenant_id: str, client_id: str, expires_on: int) -> str:
    """An opaque JWT-shaped token (unsigned) whose payload carries the principal's object id."""
    header = {"typ": "JWT", "alg": "RS256", "kid": "emulator"}
    now = int(time.time())
    payload = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": expires_on,
        "oid": principal_id,
        "sub": principal_id,
        "tid": tenant_id,
        "appid": client_id,
        "idtyp": "app",
    }
    return ".".join(
        (_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(secrets.token_bytes(32)))
    )


def decode_claims(token: str) -> dict[str, Any]:
    """Claims of a token minted by make_token ({} when it is not one)."""
    try:
        part = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


class IdentityServer:
    """Plain-HTTP token endpoint on 127.0.0.1, like App Service's local identity endpoint."""

    def __init__(self, *, secret: str, principal_id: str, tenant_id: str, client_id: str) -> None:
        self.secret = secret
        self.principal_id = principal_id
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.tokens_issued = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{TOKEN_PATH}"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "Kestrel"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

            def do_GET(self) -> None:
                status, body = owner.answer(self.path, self.headers.get("X-IDENTITY-HEADER"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="emulator-identity", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, path: str, header: str | None) -> tuple[int, dict[str, Any]]:
        url = urlsplit(path)
        if url.path.rstrip("/").lower() != TOKEN_PATH:
            return 404, {"statusCode": 404, "message": "Not found"}
        if header != self.secret:
            return 401, {"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER missing or wrong"}
        query = parse_qs(url.query)
        resource = (query.get("resource") or [""])[0]
        if not resource:
            return 400, {"statusCode": 400, "message": "resource query parameter is required"}
        expires_on = int(time.time()) + TOKEN_LIFETIME_S
        self.tokens_issued += 1
        token = make_token(
            resource,
            principal_id=self.principal_id,
            tenant_id=self.tenant_id,
            client_id=self.client_id,
            expires_on=expires_on,
        )
        return 200, {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": self.client_id,
        }
