"""LRO polling that stops at the terminal status: no final GET of the resource after a PUT.

`begin_create_or_update(...).result()` with the SDK's ARMPolling costs 1 PUT + the status polls + 1 final
GET of the resource (docs/arm-notes.md §1.2 step 3). The Network RP answers the PUT itself with the
resource body (the target state, `provisioningState: Updating`) and an `Azure-AsyncOperation` URL whose
terminal status tells the outcome. None of our writes needs the resource as it is after the operation:
the outcome is the status, and the one caller that inspects the body (the subnet association) compares
what ARM accepted from the PUT. So the final GET is a read of the budget for nothing (§3.3).

`TerminalStatusPolling` is ARMPolling with one change: for a PUT/PATCH polled through its async-operation
URL there is no final GET, and the result is deserialized from the PUT's own answer. Everything else is
ARMPolling's: the Retry-After pacing, `Failed`/`Canceled` raising HttpResponseError
from the terminal status body (so remediation/azure/errors.py classifies it as before), Location and
body polling, and its sleeps going through the transport (the deadline-aware one in clients.py).

When the first poll is made: azure-core polls once at once, before any delay (docs/arm-notes.md 1.2), and
ignores a Retry-After on the PUT's answer (a Network PUT sends none). A write that takes a few seconds
then costs two polls: the first says InProgress. `first_poll_after_s` waits before that first poll, for
the operation's typical duration (`TYPICAL_LRO_S`, from the recorded traffic in docs/arm-notes.md 1.2,
times LRO_FIRST_POLL_SCALE): a write that is done by then costs one poll. 0 keeps azure-core's timing.

Followed without a thread (issue 26): azure-core's LROPoller polls in a thread of its own per operation, which
sleeps through every wait. `Handoff` goes to `begin_*` instead: the poller sees a finished operation and starts
no thread, and its `result()` is the initialized `TerminalStatusPolling`, which remediation/azure/inflight.py
steps through (`poll_step`, one status request each; `next_poll_after`) from its timer. The requests, their
order and their waits are those of `run`; only who waits differs.
"""

from __future__ import annotations

from typing import Any, Literal

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.polling import PollingMethod
from azure.core.polling.base_polling import (
    BadResponse,
    BadStatus,
    OperationFailed,
    _failed,
    _raise_if_bad_http_status_and_method,
)
from azure.mgmt.core.polling.arm_polling import (
    ARMPolling,
    AzureAsyncOperationPolling,
    BodyContentPolling,
    LocationPolling,
    StatusCheckPolling,
)

_WRITES_WITH_BODY = frozenset({"PUT", "PATCH"})

# Typical durations of our writes' operations, in seconds (docs/arm-notes.md 1.2, recorded traffic): a route
# table or route PUT/DELETE was Succeeded at its first poll, 2-3 s after the request; a subnet PUT and a rule
# collection group PUT were InProgress at once and Succeeded at the next poll, about 11 s later (a group
# behind a firewall can take minutes, §2.3: its later polls follow Retry-After or the polling interval).
LroKind = Literal["routeTables", "routes", "subnets", "ruleCollectionGroups", "azureFirewalls"]
TYPICAL_LRO_S: dict[LroKind, float] = {
    "routeTables": 2.0,
    "routes": 2.0,
    "subnets": 8.0,
    "ruleCollectionGroups": 10.0,
    "azureFirewalls": 10.0,
}


def _method(response: PipelineResponse[Any, Any]) -> str:
    request = response.http_response.request
    return str(request.method).upper() if request is not None else ""


class _AsyncOperationWithoutFinalGet(AzureAsyncOperationPolling[Any, Any]):
    """Azure-AsyncOperation polling whose success needs no GET of the resource for a PUT/PATCH."""

    def get_final_get_url(self, pipeline_response: PipelineResponse[Any, Any]) -> str | None:
        # `_request` is the initial request (set by set_initial_status); pipeline_response is the last poll.
        if str(self._request.method).upper() in _WRITES_WITH_BODY:
            return None
        return super().get_final_get_url(pipeline_response)


class TerminalStatusPolling(ARMPolling):
    """One instance per LRO (polling methods keep the operation's state)."""

    def __init__(self, timeout: float, *, first_poll_after_s: float = 0.0, **operation_config: Any) -> None:
        super().__init__(timeout, lro_algorithms=[
            _AsyncOperationWithoutFinalGet(), LocationPolling(), BodyContentPolling(), StatusCheckPolling()],
            **operation_config)
        self._first_poll_after_s = first_poll_after_s
        self._polled = False

    def update_status(self) -> None:
        # azure-core's _poll calls this at once for the first poll, then after each delay.
        if not self._polled:
            self._polled = True
            if self._first_poll_after_s > 0:
                self._sleep(self._first_poll_after_s)
        super().update_status()

    def resource(self) -> Any:
        # After async-operation polling the latest response is the status body ({"status": "Succeeded"});
        # the resource is in the PUT's answer. Location and body polling end on the resource: unchanged.
        if isinstance(self._operation, _AsyncOperationWithoutFinalGet) and (
                _method(self._initial_response) in _WRITES_WITH_BODY):
            return self._parse_resource(self._initial_response)
        return super().resource()


    # ------------------------------------------------------------------ stepping (remediation/azure/inflight.py)

    @property
    def first_poll_after_s(self) -> float:
        return self._first_poll_after_s

    def poll_step(self) -> None:
        """One status request of `run` (and, once terminal, its final GET where the algorithm needs one),
        without its waits; raises as `run` does (LROBasePolling.run, ._poll): a Failed or Canceled operation,
        a bad status or a bad body become HttpResponseError."""
        self._polled = True  # the first wait is the follower's (first_poll_after_s)
        try:
            super().update_status()
            if not self.finished():
                return
            if _failed(self.status()):
                raise OperationFailed("Operation failed or canceled")
            final_get_url = self._operation.get_final_get_url(self._pipeline_response)
            if final_get_url:
                self._pipeline_response = self.request_status(final_get_url)
                _raise_if_bad_http_status_and_method(self._pipeline_response.http_response)
        except BadStatus as err:
            self._status = "Failed"
            raise HttpResponseError(response=self._pipeline_response.http_response, error=err) from err
        except BadResponse as err:
            self._status = "Failed"
            raise HttpResponseError(response=self._pipeline_response.http_response, message=str(err),
                                    error=err) from err
        except OperationFailed as err:
            raise HttpResponseError(response=self._pipeline_response.http_response, error=err) from err

    def next_poll_after(self) -> float:
        """The wait before the next poll: the last answer's Retry-After, else the polling interval (as `run`)."""
        return float(self._extract_delay())


class Handoff(PollingMethod[TerminalStatusPolling]):
    """The polling method `begin_*` gets when the operation is followed elsewhere: it initializes `inner` with
    the request's answer (raising as azure-core does on a bad one) and reports the poller finished, so
    LROPoller starts no thread; `LROPoller.result()` then returns `inner`, ready to be stepped."""

    def __init__(self, inner: TerminalStatusPolling) -> None:
        self.inner = inner

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        self.inner.initialize(client, initial_response, deserialization_callback)

    def run(self) -> None:
        return None

    def status(self) -> str:
        return str(self.inner.status())

    def finished(self) -> bool:
        return True

    def resource(self) -> TerminalStatusPolling:
        return self.inner
