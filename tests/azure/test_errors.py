"""Error classification and retries against injected ARM faults."""

from __future__ import annotations

import time

import pytest

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.core.config import Settings
from remediation.core.deadline import Deadline, DeadlineExceeded
from remediation.core.errors import TerminalError, TransientError
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    NetworkRule,
    Outcome,
    Payload,
    Route,
    RouteTablePayload,
    RuleCollection,
    RuleCollectionGroupPayload,
    SubnetAssociationPayload,
)
from remediation.engine.apply import DEPENDENCY_FAILED, apply_changes
from remediation.engine.retry import run_with_retries

from .conftest import HUB, SPOKE, make_emulator, make_settings, no_sleep

TABLE = f"{SPOKE}/routeTables/rt-spoke-nodes"
NODES = f"{SPOKE}/virtualNetworks/vnet-spoke/subnets/snet-aks-nodes"
HOP = Route("rmd-x", "10.9.0.0/16", "VirtualAppliance", "10.0.1.4")
TAG = {"managed-by": "aks-egress-remediation"}
ROUTE = Route("rmd-appgw", "10.1.4.0/24", "VirtualAppliance", "10.0.1.4")


def test_conflict_is_transient_then_retried(emu: Emulator, arm: ArmClient) -> None:
    emu.faults.add("PUT", r"/routes/rmd-appgw", kind="conflict", count=2)
    with pytest.raises(TransientError) as raised:
        arm.put_route(TABLE, ROUTE)
    assert raised.value.arm_code == "AnotherOperationInProgress"
    sleeps: list[float] = []
    run_with_retries(lambda: arm.put_route(TABLE, ROUTE), deadline_s=300, describe="put route",
                     sleep=sleeps.append)
    assert len(sleeps) == 1 and 2.0 <= sleeps[0] <= 60.0
    assert any(r["name"] == "rmd-appgw" for r in emu.get(TABLE)["properties"]["routes"])  # type: ignore[index]


def test_lro_failed_with_terminal_code(emu: Emulator, arm: ArmClient) -> None:
    emu.faults.add("PUT", r"/routes/rmd-appgw", kind="lro_failed", code="InvalidRouteNextHop",
                   message="bad next hop")
    calls = 0

    def attempt() -> None:
        nonlocal calls
        calls += 1
        arm.put_route(TABLE, ROUTE)

    with pytest.raises(TerminalError) as raised:
        run_with_retries(attempt, deadline_s=300, describe="put route", sleep=no_sleep)
    assert calls == 1  # terminal: never retried
    assert raised.value.arm_code == "InvalidRouteNextHop"
    assert "InvalidRouteNextHop" in str(raised.value) and "rmd-appgw" in str(raised.value)


def test_lro_canceled_superseded_is_transient(emu: Emulator, arm: ArmClient) -> None:
    emu.faults.add("PUT", r"/routes/rmd-appgw", kind="lro_canceled")
    with pytest.raises(TransientError) as raised:
        arm.put_route(TABLE, ROUTE)
    assert "CanceledAndSupersededDueToAnotherOperation" in str(raised.value)


def test_retries_stop_at_the_deadline(emu: Emulator, arm: ArmClient) -> None:
    emu.faults.add("PUT", r"/routes/rmd-appgw", kind="conflict", count=100)
    sleeps: list[float] = []
    with pytest.raises(TransientError):
        run_with_retries(lambda: arm.put_route(TABLE, ROUTE), deadline_s=30, describe="put route",
                         sleep=sleeps.append)
    assert sleeps and sum(sleeps) < 30


def test_dropped_connection_is_transient(emu: Emulator, arm: ArmClient) -> None:
    emu.faults.add("GET", r"/routeTables/rt-spoke-nodes$", kind="drop", count=10)
    with pytest.raises(TransientError):
        arm.get_route_table(TABLE)


def test_apply_records_failures_and_skips_dependents(emu: Emulator, arm: ArmClient,
                                                    settings: Settings) -> None:
    new_table = f"{SPOKE}/routeTables/rmd-broken"
    emu.faults.add("PUT", r"/routeTables/rmd-broken$", kind="lro_failed", code="RouteTableQuotaExceeded")
    emu.faults.add("PUT", r"/routes/rmd-ok", kind="conflict", count=1)

    def change(kind: ChangeKind, address: str, after: Payload) -> Change:
        return Change(Action.CREATE, kind, address, None, after, "test")

    outcomes = apply_changes(arm, [
        change(ChangeKind.ROUTE_TABLE, new_table, RouteTablePayload("westeurope", TAG)),
        change(ChangeKind.ROUTE, f"{new_table}/routes/rmd-x",
               HOP),
        change(ChangeKind.SUBNET_ROUTE_TABLE, NODES, SubnetAssociationPayload(new_table)),
        change(ChangeKind.ROUTE, f"{TABLE}/routes/rmd-ok",
               HOP),
    ], settings=settings, sleep=no_sleep)
    assert [o.outcome for o in outcomes] == [Outcome.FAILED, Outcome.FAILED, Outcome.FAILED, Outcome.CREATED]
    assert outcomes[0].error is not None and outcomes[0].error.startswith("RouteTableQuotaExceeded: ")
    assert outcomes[1].error == DEPENDENCY_FAILED and outcomes[2].error == DEPENDENCY_FAILED
    assert emu.get(new_table) is None


def test_foreign_change_between_get_and_put_survives(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = make_emulator(monkeypatch, strict_if_match=True)
    try:
        nsg = f"{SPOKE}/networkSecurityGroups/nsg-foreign"

        def foreign_write(emulator: Emulator) -> None:
            body = emulator.get(NODES)
            assert body is not None
            body["properties"]["networkSecurityGroup"] = {"id": nsg}
            emulator.put_foreign(NODES, body)

        # Runs once, just before our first subnet PUT: after our GET, so that PUT carries a stale etag.
        emu.faults.before("PUT", r"/subnets/snet-aks-nodes$", foreign_write)
        gateway = ArmClient(make_settings(emu))
        new_table = f"{SPOKE}/routeTables/rmd-rt"
        gateway.create_route_table(new_table, RouteTablePayload("westeurope", TAG))
        gateway.set_subnet_route_table(NODES, new_table)
        body = emu.get(NODES)
        assert body is not None
        assert body["properties"]["networkSecurityGroup"]["id"].lower() == nsg.lower()
        assert body["properties"]["routeTable"]["id"].lower() == new_table.lower()
        statuses = [r.status for r in emu.request_log if r.method == "PUT" and "/subnets/" in r.path]
        assert statuses[0] == 412 and statuses[-1] in (200, 201)
        gateway.close()
    finally:
        emu.stop()


POLICY = f"{HUB}/firewallPolicies/fwpol-hub"


def test_policy_group_put_canceled_is_superseded_and_retried(emu: Emulator, arm: ArmClient) -> None:
    """The firewall-policy service polls a superseded group PUT to `{"Status":"Canceled","Error":{"Code":
    "Canceled"}}` with no Superseded detail (docs/arm-notes.md §6): transient, retried like a route PUT."""
    emu.faults.add("PUT", r"/ruleCollectionGroups/rmd-aks-runbook$", kind="lro_canceled")
    group = RuleCollectionGroupPayload(250, (RuleCollection("rmd-egress", 260, "Allow", (
        NetworkRule("aks-udp-1194", ("UDP",), ("10.1.0.0/22",), ("AzureCloud.westeurope",), ("1194",)),)),))
    calls = 0

    def attempt() -> object:
        nonlocal calls
        calls += 1
        return arm.put_rule_collection_group(POLICY, "rmd-aks-runbook", group, None)

    with pytest.raises(TransientError) as raised:
        attempt()
    assert raised.value.arm_code == "Canceled" and "superseded" in str(raised.value)
    polls = [r for r in emu.request_log if "nfvOperations" in r.path]
    assert polls, "the PUT was polled on the firewall-policy operation URL"
    emu.faults.add("PUT", r"/ruleCollectionGroups/rmd-aks-runbook$", kind="lro_canceled")
    sleeps: list[float] = []
    run_with_retries(attempt, deadline_s=300, describe="put group", sleep=sleeps.append)
    assert calls == 3 and len(sleeps) == 1
    assert emu.get(f"{POLICY}/ruleCollectionGroups/rmd-aks-runbook") is not None


def test_deadline_after_a_long_retry_after_keeps_arm_status_and_code(emu: Emulator, arm: ArmClient) -> None:
    """ARM throttles with a Retry-After longer than the run has left: the run ends retryable at once, and
    the message still says what ARM answered (429 SubscriptionRequestsThrottled), not only the wait."""
    emu.faults.add("GET", r"/routeTables/rt-spoke-nodes$", kind="throttle", retry_after=300)
    arm.bind_deadline(Deadline.after(20.0))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as raised:
        arm.get_route_table(TABLE)
    assert time.monotonic() - started < 10
    text = str(raised.value)
    assert "429" in text and "SubscriptionRequestsThrottled" in text and "300s" in text, text
    assert raised.value.status == 429 and raised.value.arm_code == "DeadlineExceeded"
    # A success on the same thread clears what the refusal left: a later wait names no stale 429.
    assert arm.get_route_table(TABLE) is not None


def _unreachable(monkeypatch: pytest.MonkeyPatch, emu: Emulator, endpoint: str) -> tuple[TerminalError, float]:
    settings = make_settings(emu, ARM_ENDPOINT=endpoint)
    arm = ArmClient(settings)
    calls = 0

    def attempt() -> object:
        nonlocal calls
        calls += 1
        return arm.get_route_table(TABLE)

    started = time.monotonic()
    try:
        with pytest.raises(TerminalError) as raised:
            run_with_retries(attempt, deadline_s=480, describe="get route table", sleep=no_sleep)
    finally:
        arm.close()
    assert calls == 1  # not "transient": tenacity never retried it
    return raised.value, time.monotonic() - started


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_ends_at_once_naming_the_endpoint(monkeypatch: pytest.MonkeyPatch,
                                                             emu: Emulator) -> None:
    endpoint = f"https://127.0.0.1:{_free_port()}"
    error, took = _unreachable(monkeypatch, emu, endpoint)
    assert error.arm_code == "ConnectionRefused" and took < 15
    text = str(error)
    assert "\n" not in text and endpoint in text and "ARM_ENDPOINT" in text
    assert f"REQUESTS_CA_BUNDLE (now {emu.ca_bundle})" in text


def test_untrusted_certificate_ends_at_once_naming_the_ca_bundle(monkeypatch: pytest.MonkeyPatch,
                                                                 emu: Emulator) -> None:
    other = Emulator(seed={"resources": []}, time_factor=0.0).start()  # its own CA, not in the bundle
    endpoint = other.base_url
    try:
        error, took = _unreachable(monkeypatch, emu, endpoint)
        assert not other.request_log  # nothing reached it
    finally:
        other.stop()
    assert error.arm_code == "TlsCertificateNotTrusted" and took < 15
    assert endpoint in str(error) and "REQUESTS_CA_BUNDLE" in str(error) and "\n" not in str(error)


def test_unknown_host_ends_at_once(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> None:
    error, took = _unreachable(monkeypatch, emu, "https://arm.invalid")
    assert error.arm_code == "NameResolutionFailed" and took < 30
    assert "https://arm.invalid" in str(error)


def test_a_412_on_a_group_put_is_not_resent_with_the_stale_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where If-Match is enforced, a group written by someone after the plan read it answers 412. The plan's
    body is not re-sent with a fresh etag (that would drop their rule): the run ends retryable and the next
    one re-plans from a fresh read (#24 item 13)."""
    emu = make_emulator(monkeypatch, strict_if_match=True)
    gateway = ArmClient(make_settings(emu))
    try:
        rcg = f"{POLICY}/ruleCollectionGroups/rmd-aks-runbook"
        mine = RuleCollection("rmd-egress", 260, "Allow", (
            NetworkRule("aks-udp-1194", ("UDP",), ("10.1.0.0/22",), ("AzureCloud.westeurope",), ("1194",)),))
        gateway.put_rule_collection_group(POLICY, "rmd-aks-runbook", RuleCollectionGroupPayload(250, (mine,)))
        read = gateway.get_rule_collection_group(POLICY, "rmd-aks-runbook")
        assert read is not None and read.etag

        def foreign_write(emulator: Emulator) -> None:
            body = emulator.get(rcg)
            assert body is not None
            body["properties"]["ruleCollections"].append({
                "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "theirs", "priority": 300,
                "action": {"type": "Allow"}, "rules": []})
            emulator.put_foreign(rcg, body)

        emu.faults.before("PUT", r"/ruleCollectionGroups/rmd-aks-runbook$", foreign_write)
        emu.clear_log()
        change = Change(Action.UPDATE, ChangeKind.RULE_COLLECTION_GROUP, rcg,
                        RuleCollectionGroupPayload(250, (mine,)), RuleCollectionGroupPayload(251, (mine,)), "test",
                        etag=read.etag)
        sleeps: list[float] = []
        (outcome,) = apply_changes(gateway, [change], settings=make_settings(emu), sleep=sleeps.append)
        assert outcome.outcome is Outcome.FAILED and outcome.retryable
        assert outcome.error is not None and outcome.error.startswith("PreconditionFailed")
        puts = [r.status for r in emu.request_log if r.method == "PUT"]
        assert puts == [412] and sleeps == []  # sent once, never re-sent with a fresh etag
        body = emu.get(rcg)
        assert body is not None and "theirs" in [c["name"] for c in body["properties"]["ruleCollections"]]
    finally:
        gateway.close()
        emu.stop()
