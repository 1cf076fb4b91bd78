"""intake.covering_sweep: which queued event requests a burst sweep covers (table-driven, no I/O)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pytest

from remediation.core.config import Settings, load_settings
from remediation.core.model import Target, TargetKind
from remediation.planning.intake import RemediationRequest, Trigger, covering_sweep, target_key

SUB = "00000000-0000-0000-0000-000000000000"
FIREWALL = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/fw-hub"
CLUSTER = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-1"
SWEEP = Target(TargetKind.SCOPE, f"/subscriptions/{SUB}")
WINDOW_S = 30
T0 = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)


class Markers:
    """The PendingMarkers contract with one marker, for the sweep, whose window ends at `ends`."""

    def __init__(self, sweep_id: str | None, ends: dt.datetime) -> None:
        self._sweep_id, self._ends = sweep_id, ends

    @property
    def window_s(self) -> int:
        return WINDOW_S

    def claim(self, key: str, request_id: str = "", kind: str = "") -> tuple[bool, str | None]:
        raise AssertionError("covering_sweep only reads")

    def release(self, key: str) -> None:
        raise AssertionError("covering_sweep only reads")

    def pending_count(self, kinds: Iterable[str]) -> int:
        raise AssertionError("not needed")

    def pending_request(self, key: str) -> str | None:
        raise AssertionError("not needed")

    def window_end(self, key: str) -> tuple[str, dt.datetime] | None:
        if self._sweep_id is None or key != target_key(SWEEP):
            return None
        return self._sweep_id, self._ends


def _request(kind: TargetKind = TargetKind.CLUSTER, trigger: Trigger = Trigger.EVENT,
             request_id: str = "req-1") -> RemediationRequest:
    target_id = FIREWALL if kind is TargetKind.FIREWALL else CLUSTER
    return RemediationRequest(target=Target(kind, target_id), trigger=trigger, request_id=request_id)


SETTINGS = load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL})
OFF = load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL,
                     "BURST_SWEEP_AFTER": "0"})
ENDS = T0 + dt.timedelta(seconds=WINDOW_S)


@pytest.mark.parametrize(("case", "request_", "enqueued_at", "markers", "settings", "expected"), [
    ("enqueued before the sweep's window ends: covered", _request(), T0, Markers("sweep-1", ENDS), SETTINGS,
     "sweep-1"),
    ("an App Gateway request too", _request(TargetKind.GATEWAY), T0, Markers("sweep-1", ENDS), SETTINGS,
     "sweep-1"),
    ("a redelivered request enqueued long before the sweep: still covered", _request(),
     T0 - dt.timedelta(hours=1), Markers("sweep-1", ENDS), SETTINGS, "sweep-1"),
    ("enqueued after the window ended: the sweep read before its event", _request(),
     ENDS + dt.timedelta(seconds=1), Markers("sweep-1", ENDS), SETTINGS, None),
    ("within the clock-skew margin of the window end: run it", _request(), ENDS - dt.timedelta(seconds=4),
     Markers("sweep-1", ENDS), SETTINGS, None),
    ("no sweep marker", _request(), T0, Markers(None, ENDS), SETTINGS, None),
    ("the marker is this request's own", _request(request_id="sweep-1"), T0, Markers("sweep-1", ENDS),
     SETTINGS, None),
    ("no insertion time (not from the queue host)", _request(), None, Markers("sweep-1", ENDS), SETTINGS, None),
    ("an HTTP request is the caller's explicit ask", _request(trigger=Trigger.HTTP), T0,
     Markers("sweep-1", ENDS), SETTINGS, None),
    ("a timer request", _request(trigger=Trigger.TIMER), T0, Markers("sweep-1", ENDS), SETTINGS, None),
    ("a firewall follow-up is not routing", _request(TargetKind.FIREWALL), T0, Markers("sweep-1", ENDS),
     SETTINGS, None),
    ("bursts off (BURST_SWEEP_AFTER=0)", _request(), T0, Markers("sweep-1", ENDS), OFF, None),
])
def test_covering_sweep(case: str, request_: RemediationRequest, enqueued_at: dt.datetime | None,
                        markers: Markers, settings: Settings, expected: str | None) -> None:
    assert covering_sweep(request_, enqueued_at, settings=settings, pending=markers, sweep=SWEEP) == expected, case
