"""DedupeMarkers.window_end against Azurite: what the worker's burst-cover check (intake.covering_sweep)
reads. A marker it cannot read is no marker, so the request runs: nothing is skipped on a failed read."""

from __future__ import annotations

import datetime as dt

from azure.data.tables import TableClient

from remediation.storage import DEDUPE_TABLE, DedupeMarkers
from tests.functions.helpers import Azurite

KEY = "scope-key"


def _markers(storage: Azurite, table: str = DEDUPE_TABLE, window_s: int = 30) -> DedupeMarkers:
    return DedupeMarkers(TableClient.from_connection_string(storage.connection_string(), table), window_s)


def test_a_claimed_marker_gives_its_request_and_window_end(storage: Azurite) -> None:
    markers = _markers(storage)
    before = dt.datetime.now(dt.UTC)
    assert markers.claim(KEY, "sweep-1", "scope") == (True, None)
    marker = markers.window_end(KEY)
    assert marker is not None
    request_id, ends = marker
    assert request_id == "sweep-1"
    assert before + dt.timedelta(seconds=29) < ends < dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)
    assert markers.pending_request(KEY) == "sweep-1"


def test_an_expired_marker_still_gives_its_window_end(storage: Azurite) -> None:
    markers = _markers(storage, window_s=0)
    markers.claim(KEY, "sweep-1", "scope")
    marker = markers.window_end(KEY)
    assert marker is not None and marker[0] == "sweep-1"
    assert markers.pending_request(KEY) is None  # not pending any more, but it did cover what came before


def test_no_table_and_no_marker_mean_none(storage: Azurite) -> None:
    assert _markers(storage, table="nosuchtable").window_end(KEY) is None  # the read fails: run the request
    markers = _markers(storage)
    markers.claim("other-key", "req-1", "cluster")
    assert markers.window_end(KEY) is None
