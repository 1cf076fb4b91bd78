"""Turn azure-core exceptions into the project's TransientError / TerminalError, by ARM error CODE.

The HTTP status alone is not enough: an LRO whose operation ended Failed or Canceled surfaces as an
`HttpResponseError` with `status_code == 200` (the status of the poll response), and the reason is only in
`e.error.code` / `e.error.details[*].code` (docs/arm-notes.md 0.5, 1.1). azure-core has already retried
408/429/5xx and anything with Retry-After by the time we see an exception, so a 429/5xx here means
"still failing after azure-core's own attempts" (docs/architecture.md section 4).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from remediation.core.deadline import RunEnds
from remediation.core.errors import ArmError, TerminalError, TransientError

# ARM/Network RP codes that mean "the resource (or its lock domain) was busy: try again later"
# (docs/arm-notes.md 1.1 and 3.4). Compared case-insensitively.
TRANSIENT_CODES: frozenset[str] = frozenset(
    code.lower()
    for code in (
        "AnotherOperationInProgress",
        "RetryableError",
        "RetryableErrorDueToAnotherOperation",
        "ReferencedResourceNotProvisioned",
        "FirewallPolicyUpdateNotAllowedWhenUpdatingOrDeleting",
        # A group delete while another write on the policy runs (docs/arm-notes.md 2.4).
        "FirewallPolicyRuleCollectionGroupDeleteNotAllowedWhenUpdatingOrDeleting",
        # An older write superseded by a newer one on the same lock domain ends Canceled with this detail.
        "CanceledAndSupersededDueToAnotherOperation",
        # If-Match lost a race: re-read, then write again (docs/arm-notes.md 3.2).
        "PreconditionFailed",
        # Throttling that outlived azure-core's 4 attempts.
        "TooManyRequests",
        "SubscriptionRequestsThrottled",
    )
)

# Statuses azure-core retries itself (docs/arm-notes.md 1.1); seeing one here means its retries ran out.
_TRANSIENT_STATUS = frozenset({408, 412, 429, 500, 502, 503, 504})


def error_codes(exc: HttpResponseError) -> tuple[str, ...]:
    """The top-level ARM error code followed by every detail code (recursively), in order."""
    codes: list[str] = []

    def visit(node: object) -> None:
        code = getattr(node, "code", None)
        if isinstance(code, str) and code:
            codes.append(code)
        details: Iterable[object] = getattr(node, "details", None) or ()
        for detail in details:
            visit(detail)

    if exc.error is not None:
        visit(exc.error)
    if not codes:
        codes.extend(_failed_operation_codes(exc))
    return tuple(codes)


def _policy_operation_body(exc: HttpResponseError) -> dict[str, object]:
    """The raw status body of a firewall-policy operation poll, or {} when it is not one (or not JSON)."""
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else None
    except Exception:  # not JSON: no body to read
        return {}
    return body if isinstance(body, dict) else {}


def _failed_operation_codes(exc: HttpResponseError) -> list[str]:
    """The code of a failed firewall-policy operation. That service answers the status poll with
    `{"Status": "Failed", "Error": {"Code": ..., "Message": ...}}` (capitalised keys; docs/arm-notes.md §6);
    azure-core reads only `status`, so it raises "No status found in body" with no
    error parsed, and the code is only in the raw poll response."""
    error = _policy_operation_body(exc).get("Error")
    code = error.get("Code") if isinstance(error, dict) else None
    return [code] if isinstance(code, str) and code else []


def policy_operation_canceled(exc: HttpResponseError) -> bool:
    """A firewall-policy operation that ended `{"Status": "Canceled", "Error": {"Code": "Canceled"}}`.

    Unlike the Network RP's `status`/`error` body, the policy service's capitalised body carries no
    `CanceledAndSupersededDueToAnotherOperation` detail (docs/arm-notes.md §3.4, §6). The project never cancels
    an operation itself, so a Canceled one was superseded by another write on the policy's lock domain, and
    is retried exactly like a superseded route PUT."""
    status = _policy_operation_body(exc).get("Status")
    return isinstance(status, str) and status.lower() == "canceled"


def classify(exc: Exception, *, target: str | None, operation: str) -> ArmError:
    """The project error for an SDK exception raised while doing `operation` on `target`."""
    if isinstance(exc, ArmError):
        return exc
    if isinstance(exc, ServiceRequestError):
        unreachable = unreachable_endpoint(exc, target=target, operation=operation)
        if unreachable is not None:
            return unreachable
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        # The connection failed or dropped after azure-core's connect/read retries.
        return TransientError(
            f"{operation} {target}: connection failed: {exc}",
            arm_code=type(exc).__name__,
            status=None,
            target=target,
        )
    if isinstance(exc, HttpResponseError):
        codes = error_codes(exc)
        status = exc.status_code
        code = codes[0] if codes else (f"Http{status}" if status else "UnknownError")
        message = (exc.error.message if exc.error is not None else None) or exc.reason or ""
        if status == 412 and not codes:
            code = "PreconditionFailed"
        superseded = exc.error is None and policy_operation_canceled(exc)
        transient = superseded or any(c.lower() in TRANSIENT_CODES for c in codes) or (
            status is not None and (status in _TRANSIENT_STATUS or status >= 506)
        )
        # Prefer the detail code that made it transient (e.g. Canceled -> CanceledAndSuperseded...) in text.
        shown = ", ".join(dict.fromkeys(codes)) or code
        if superseded:
            message = "the firewall-policy operation ended Canceled (superseded by another write on the policy)"
        text = f"{shown}: {operation} {target}: {message}".rstrip(": ")
        error_class = TransientError if transient else TerminalError
        return error_class(text, arm_code=code, status=status, target=target)
    return TerminalError(
        f"{type(exc).__name__}: {operation} {target}: {exc}", arm_code=type(exc).__name__, status=None,
        target=target,
    )


class AssociationChangedError(TerminalError):
    """A subnet's route table changed between the plan's read and the pre-read of our write: someone else
    associated it. A conflict, never swapped: nothing is written and the next run plans from what is there."""


class TableNotRemovableError(TerminalError):
    """`sweep --destroy` re-read a route table just before deleting it and found it is not an owned, empty one
    (no ownership tag, a route or a subnet left): nothing is deleted (remediation/azure/arm.py)."""


class StalePlanError(RunEnds):
    """A write built from the plan met 412 PreconditionFailed: the resource changed since the plan read it.
    Not re-sent (the body would undo the other writer); the run ends retryable and the next one re-plans."""


# How a connection that never reached ARM failed, by the class names in the exception chain (requests and
# urllib3 wrap the socket/ssl error; azure-core wraps them in ServiceRequestError). Nothing here is ARM
# saying "try again": a refused port, an unknown host or an untrusted certificate stays so until someone
# fixes ARM_ENDPOINT, the network or REQUESTS_CA_BUNDLE, so these end the run (terminal) instead of being
# retried until the deadline.
_UNREACHABLE: tuple[tuple[str, frozenset[str], str], ...] = (
    ("TlsCertificateNotTrusted", frozenset({"SSLCertVerificationError"}),
     "its TLS certificate is not trusted"),
    ("NameResolutionFailed", frozenset({"NameResolutionError", "gaierror"}), "the host name does not resolve"),
    ("ConnectionRefused", frozenset({"ConnectionRefusedError"}), "the connection was refused"),
)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it wraps (causes, contexts, azure-core's inner_exception, urllib3's reason,
    requests' args), each once."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo and len(seen) < 32:
        node = todo.pop()
        if not isinstance(node, BaseException) or any(node is s for s in seen):
            continue
        seen.append(node)
        todo.extend((node.__cause__, node.__context__, getattr(node, "inner_exception", None),
                     getattr(node, "reason", None), *node.args))
    return seen


def _requested_endpoint(chain: list[BaseException]) -> str | None:
    """scheme://host[:port] of the request that failed: requests keeps the PreparedRequest on its error,
    urllib3 the connection on a connect/resolution error."""
    for node in chain:
        url = getattr(getattr(node, "request", None), "url", None)
        if isinstance(url, str) and "://" in url:
            scheme, rest = url.split("://", 1)
            return f"{scheme}://{rest.split('/', 1)[0]}"
        conn = node.__dict__.get("conn")
        host = getattr(conn, "host", None)
        if isinstance(host, str) and host:
            scheme = "https" if "HTTPS" in type(conn).__name__ else "http"
            port = getattr(conn, "port", None)
            default = {"https": 443, "http": 80}[scheme]
            return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")
    return None


def unreachable_endpoint(exc: Exception, *, target: str | None, operation: str) -> TerminalError | None:
    """A one-line TerminalError when the request never reached ARM because the connection was refused, the
    name did not resolve or the certificate was not trusted; None for anything else (a dropped or timed-out
    connection stays transient)."""
    chain = _chain(exc)
    names = {cls.__name__ for node in chain for cls in type(node).__mro__}
    for code, markers, why in _UNREACHABLE:
        if names & markers:
            endpoint = _requested_endpoint(chain) or "the ARM endpoint"
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or "not set (the system CAs)"
            return TerminalError(
                f"{code}: cannot reach {endpoint} ({operation} {target}): {why}; check ARM_ENDPOINT and "
                f"REQUESTS_CA_BUNDLE (now {bundle}); not retried",
                arm_code=code, status=None, target=target)
    return None


def is_not_found(exc: Exception) -> bool:
    return isinstance(exc, HttpResponseError) and exc.status_code == 404
