"""Replay of recorded real-ARM traffic against the served emulator (replay.py; recordings/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from replay import FileScore, _json, compare, compare_defaults, load, recordings, replay_file

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


def test_every_server_side_default_the_recordings_show_is_filled() -> None:
    """What the RP fills in when a PUT leaves it out (an Azure Firewall's sku.name AZFW_VNet, a policy's
    threatIntelMode Alert, a VPN gateway's vpnGatewayGeneration and enableBgp, a group's ruleCollections, a
    VNet's enableDdosProtection...) comes back from the emulator as the recordings show it (#24 item 20)."""
    missing = [f"{p.name} #{o.index}: {problem}" for p in recordings() for o in replay_file(p).outcomes
               for problem in o.problems if problem.startswith("default ")]
    assert missing == [], "\n".join(missing)


def test_the_defaults_comparison_can_fail() -> None:
    it = load(next(p for p in recordings() if p.name == "test_azure_firewall.yaml"))[1]
    sent, want = _json(it["request"]["body"]), _json(it["response"]["body"]["string"])
    assert compare_defaults(sent, want, want) == []
    without = {**want, "properties": {k: v for k, v in want["properties"].items() if k != "natRuleCollections"}}
    without["properties"]["sku"] = {"tier": "Standard"}
    problems = compare_defaults(sent, want, without)
    assert any("sku.name" in p for p in problems) and any("natRuleCollections" in p for p in problems)
