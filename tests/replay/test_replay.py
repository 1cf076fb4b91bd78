"""Replay of recorded real-ARM traffic against the served emulator (replay.py; recordings/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from replay import FileScore, _json, compare, load, recordings, replay_file

MIN_SCORE = 0.95


@pytest.mark.parametrize("recording", recordings(), ids=lambda p: p.stem)
def test_recording_replays_against_the_emulator(recording: Path) -> None:
    score: FileScore = replay_file(recording)
    print(score.summary())
    failed = [o for o in score.outcomes if o.verdict == "fail"]
    detail = "\n".join(f"  #{o.index} {o.method} {o.path}: {'; '.join(o.problems)}" for o in failed)
    assert score.scored, f"{recording.name}: nothing scorable"
    assert score.score >= MIN_SCORE, f"{score.summary()}\n{detail}"


def test_all_eight_recordings_are_replayed() -> None:
    assert len(recordings()) == 8


def _answer(status: int, body: bytes, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers)
    return response


def test_the_comparison_catches_what_real_arm_would_not_answer() -> None:
    """The replay can fail: the recorded RCG PUT compared with answers that differ from it in one way each."""
    recorded = load(next(p for p in recordings() if p.name == "test_azure_firewall_policy.yaml"))[12]["response"]

    body = _json(recorded["body"]["string"])
    good_headers = {k: (v[0] if isinstance(v, list) else v) for k, v in recorded["headers"].items()}
    raw = recorded["body"]["string"].encode()
    assert compare(recorded, body, _answer(201, raw, good_headers), in_world=lambda _: True) == []
    weak = raw.replace(b'"etag": "', b'"etag": "W/\\"')
    assert any("etag style" in p for p in compare(recorded, body, _answer(201, weak, good_headers),
                                                   in_world=lambda _: True))
    classic = dict(good_headers, **{"azure-asyncoperation": good_headers["azure-asyncoperation"].replace(
        "/nfvOperations/", "/operations/"), "Azure-AsyncNotification": "Enabled"})
    problems = compare(recorded, body, _answer(201, raw, classic), in_world=lambda _: True)
    assert any("nfvoperations" in p for p in problems) and any("azure-asyncnotification" in p for p in problems)
    reads_only = {k: v for k, v in good_headers.items() if "ratelimit" not in k}
    reads_only["x-ms-ratelimit-remaining-subscription-reads"] = "249"
    assert any("subscription-writes missing" in p
               for p in compare(recorded, body, _answer(201, raw, reads_only), in_world=lambda _: True))
    assert any(p.startswith("status") for p in compare(recorded, body, _answer(200, raw, good_headers),
                                                        in_world=lambda _: True))
