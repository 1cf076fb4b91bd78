"""`remediate` (POST /api/remediations), `remediation_status` (GET /api/remediations/{id}) and `compliance`
(GET /api/compliance).

POST body: {"target": "<ARM id>", "dryRun": true|false}.
  400 invalid JSON / id / unsupported type; 403 outside REMEDIATION_SCOPE (decided without any ARM call);
  dry run -> 200 with the plan JSON, computed now (a plan only reads, well inside the 230 s HTTP limit);
  404 when a dry run's target does not exist; 422 `TargetSkipped` when the named target fails a runbook
  prerequisite (kubenet, v1 gateway, ...), with the reason and the plan (the CLI's exit 3);
  apply -> 202, `Location: <base>/api/remediations/<requestId>`, {"requestId", "status": "queued"}: a
  firewall update takes minutes, so the work goes through the queue and the caller polls the status.
REMEDIATION_MODE=report refuses an apply request: 409 `ReportMode`, nothing queued (the CLI's `apply` exits 1
the same way); a dry run is answered as usual, with header `X-Remediation-Mode: report`.
GET /api/remediations/{id} adds `targetSkipped` (the reason, or null) beside the stored result.
GET /api/compliance: every cluster in scope as compliant / non-compliant / skipped / conflicted, read now;
the document of remediation/views/render_status.py (the same as `python -m remediation status --output json`).
Every error is JSON {"error": {"code", "message"}}; a stack trace never leaves the process.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from remediation.core import ids
from remediation.core.errors import (
    ConfigError,
    InvalidResourceIdError,
    OutOfScopeError,
    TargetNotFoundError,
    TerminalError,
    TransientError,
    UnsupportedTargetError,
)
from remediation.core.model import Target
from remediation.core.telemetry import log_action
from remediation.planning import intake
from remediation.planning.intake import RemediationRequest, Trigger
from remediation.storage import RunState
from remediation.storage.audit import valid_request_id
from remediation.triggers.http_auth import HTTP_AUTH
from remediation.triggers.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)

bp = func.Blueprint()

_JSON = "application/json"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=_JSON, headers=headers)


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> func.HttpResponse:
    return _json(status, {"error": {"code": code, "message": message}}, headers)


@bp.function_name("remediate")
@bp.route(route="remediations", methods=[func.HttpMethod.POST], auth_level=HTTP_AUTH)
def remediate(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _remediate(req)
    except ConfigError as exc:
        return error_response(500, exc.code, str(exc))
    except Exception:
        log.exception("remediate failed unexpectedly")
        return error_response(500, "InternalError", "unexpected error; the function log has the details")


@bp.function_name("remediation_status")
@bp.route(route="remediations/{id}", methods=[func.HttpMethod.GET], auth_level=HTTP_AUTH)
def remediation_status(req: func.HttpRequest) -> func.HttpResponse:
    request_id = req.route_params.get("id", "")
    try:
        if not valid_request_id(request_id):
            return error_response(400, "InvalidRequestId", "a request id is 1-64 letters, digits or '-'")
        store = get_runtime().status
        status = store.get(request_id)
        covering = _covering_run(store, status)
    except ConfigError as exc:
        return error_response(500, exc.code, str(exc))
    except Exception:
        log.exception("remediation_status failed unexpectedly")
        return error_response(500, "InternalError", "unexpected error; the function log has the details")
    if status is None:
        return error_response(404, "RequestNotFound", f"no remediation request {request_id}")
    document = {**status, "targetSkipped": _skip_reason(status.get("result"), status.get("target"))}
    if covering is not None:
        document["coveringRun"] = covering
    return _json(200, document)


def _covering_run(store: Any, status: dict[str, Any] | None) -> dict[str, Any] | None:
    """A request a burst sweep covered did not run (its result names the sweep, `coveredBy`): its outcome is
    the sweep's, so the sweep's state is shown with it, read now. Otherwise a sweep that failed for good
    would leave the covered request looking done."""
    result = status.get("result") if status else None
    sweep_id = result.get("coveredBy") if isinstance(result, dict) else None
    if not isinstance(sweep_id, str):
        return None
    sweep = store.get(sweep_id)
    if sweep is None:
        return {"requestId": sweep_id, "status": None, "converged": None, "error": "no status stored"}
    sweep_result = sweep.get("result") if isinstance(sweep.get("result"), dict) else {}
    return {"requestId": sweep_id, "status": sweep.get("status"), "converged": sweep_result.get("converged"),
            "error": sweep.get("error")}


@bp.function_name("compliance")
@bp.route(route="compliance", methods=[func.HttpMethod.GET], auth_level=func.AuthLevel.FUNCTION)
def compliance(req: func.HttpRequest) -> func.HttpResponse:
    from remediation.engine.status import scope_compliance
    from remediation.views.render_status import to_json

    try:
        report = scope_compliance(get_runtime().reconciler)
    except ConfigError as exc:
        return error_response(500, exc.code, str(exc))
    except TransientError as exc:
        return error_response(503, exc.arm_code or "Transient", str(exc), {"Retry-After": "30"})
    except TerminalError as exc:
        return error_response(502, exc.arm_code or "ArmError", str(exc))
    except Exception:
        log.exception("compliance failed unexpectedly")
        return error_response(500, "InternalError", "unexpected error; the function log has the details")
    return _json(200, to_json(report))


def _skip_reason(result: Any, target_id: Any) -> str | None:
    """The reason the named target was skipped, from a result document's `skipped` list, or None."""
    if not isinstance(result, dict) or not isinstance(target_id, str):
        return None
    for skip in result.get("skipped") or []:
        if isinstance(skip, dict) and ids.same_id(str(skip.get("target")), target_id):
            return str(skip.get("reason"))
    return None


def _remediate(req: func.HttpRequest) -> func.HttpResponse:
    try:
        body = req.get_json()
    except ValueError:
        return error_response(400, "InvalidJson",
                              'the body must be JSON: {"target": "<resource id>", "dryRun": true|false}')
    if not isinstance(body, dict):
        return error_response(400, "InvalidJson", "the body must be a JSON object")
    target_id = body.get("target")
    if not isinstance(target_id, str) or not target_id.strip():
        return error_response(400, InvalidResourceIdError.code, "'target' must be an ARM resource id string")
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        return error_response(400, "InvalidInput", "'dryRun' must be true or false")
    runtime = get_runtime()
    try:
        target = runtime.reconciler.resolve(target_id.strip())
    except OutOfScopeError as exc:
        return error_response(403, exc.code, str(exc))
    except (InvalidResourceIdError, UnsupportedTargetError) as exc:
        return error_response(400, exc.code, str(exc))
    if dry_run:
        return _plan_now(runtime, target)
    if runtime.report_mode:
        return error_response(409, "ReportMode", "REMEDIATION_MODE=report: an apply request would write and report "
                              "mode writes nothing; send \"dryRun\": true for the plan, or set "
                              "REMEDIATION_MODE=enforce", {"X-Remediation-Mode": "report"})
    return _enqueue(runtime, req, target)


def _plan_now(runtime: Runtime, target: Target) -> func.HttpResponse:
    from remediation.views.render import to_json

    try:
        # The whole plan, as the CLI shows it: the target and the firewall follow-up it would queue. Showing
        # the routing alone would hide the rule changes an apply goes on to make.
        result = runtime.reconciler.reconcile_combined(target, dry_run=True, require_exists=True)
    except TargetNotFoundError as exc:
        return error_response(404, exc.code, str(exc))
    except TransientError as exc:
        return error_response(503, exc.arm_code or "Transient", str(exc), {"Retry-After": "30"})
    except TerminalError as exc:
        return error_response(502, exc.arm_code or "ArmError", str(exc))
    headers = {"X-Remediation-Mode": runtime.settings.mode.value}
    log_action(log, logging.INFO, "planned %s on request: %d changes", target, len(result.plan.writes),
               target=target.id, action="plan", trigger=Trigger.HTTP.value)
    document = to_json(result)
    reason = _skip_reason(document, target.id)
    if reason is not None:
        return _json(422, {"error": {"code": "TargetSkipped", "message": f"{target.id}: {reason}"},
                           "plan": document}, headers)
    return _json(200, document, headers)


def _enqueue(runtime: Runtime, req: func.HttpRequest, target: Target) -> func.HttpResponse:
    request = RemediationRequest(target=target, trigger=Trigger.HTTP, request_id=intake.new_request_id(),
                                 dry_run=False,
                                 correlation_id=req.headers.get("x-ms-client-request-id") or None)
    try:
        # Status first: a caller polling right after the 202 must find the request.
        runtime.status.set(request.request_id, RunState.QUEUED, target=target.id, trigger=Trigger.HTTP.value,
                           dry_run=False, attempt=0)
        runtime.queue.send(request)
    except TransientError as exc:
        return error_response(503, "QueueUnavailable", str(exc), {"Retry-After": "30"})
    parts = urlsplit(req.url)
    location = f"{parts.scheme}://{parts.netloc}/api/remediations/{request.request_id}"
    log_action(log, logging.INFO, "enqueued %s on request %s", target, request.request_id, target=target.id,
               correlation_id=request.correlation_id, action="enqueue", requestId=request.request_id,
               trigger=Trigger.HTTP.value)
    return _json(202, {"requestId": request.request_id, "status": RunState.QUEUED.value, "target": target.id},
                 {"Location": location, "Retry-After": "10"})
