"""The slim write path, counted from the emulator's request log: one create-only PUT for a new table with its
routes, no GET before it, no final GET after an LRO; the safe path on 412; failures and deadlines as before."""

from __future__ import annotations

import time

import pytest

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.core.deadline import Deadline, DeadlineExceeded
from remediation.core.errors import TerminalError
from remediation.core.model import Route, RouteTablePayload

from .conftest import SPOKE, make_emulator, make_settings

TAG = {"managed-by": "aks-egress-remediation"}
NEW = f"{SPOKE}/routeTables/rmd-new"
CUSTOMER = f"{SPOKE}/routeTables/rt-spoke-nodes"  # seeded with the foreign route to-onprem (192.168.0.0/16)
NODES = f"{SPOKE}/virtualNetworks/vnet-spoke/subnets/snet-aks-nodes"
ROUTES = (Route("rmd-default", "0.0.0.0/0", "VirtualAppliance", "10.0.1.4"),
          Route("rmd-spoke", "10.2.0.0/16", "VirtualAppliance", "10.0.1.4"))


def _log(emu: Emulator) -> list[tuple[str, str, int]]:
    return [(r.method, r.path.lower(), r.status) for r in emu.request_log]


def _is_poll(path: str) -> bool:
    return "/operations/" in path or "/nfvoperations/" in path or "/operationresults/" in path


def test_a_new_table_is_one_create_only_put_with_its_routes(emu: Emulator, arm: ArmClient) -> None:
    emu.clear_log()
    arm.create_route_table(NEW, RouteTablePayload("westeurope", TAG, routes=ROUTES))
    log = _log(emu)
    assert [(m, s) for m, p, s in log if not _is_poll(p)] == [("PUT", 201)]  # no GET before, none after
    assert [m for m, p, _ in log if _is_poll(p)] and all(m == "GET" for m, p, _ in log if _is_poll(p))
    body = emu.get(NEW)
    assert body is not None and body["tags"] == TAG
    assert [(r["name"], r["properties"]["addressPrefix"]) for r in body["properties"]["routes"]] == [
        ("rmd-default", "0.0.0.0/0"), ("rmd-spoke", "10.2.0.0/16")]
    assert arm.arm_calls.writes == 1 and arm.arm_calls.reads == 0


def test_a_table_that_appeared_since_the_plan_is_never_replaced(emu: Emulator, arm: ArmClient) -> None:
    """412 on the create-only PUT: read it, merge the tags, add only the routes that are missing by name and
    by prefix through the child endpoint. The foreign route stays; a prefix it holds is not written."""
    emu.clear_log()
    taken = Route("rmd-onprem", "192.168.0.0/16", "VirtualAppliance", "10.0.1.4")  # to-onprem holds it
    arm.create_route_table(CUSTOMER, RouteTablePayload("westeurope", TAG, routes=(*ROUTES, taken)))
    body = emu.get(CUSTOMER)
    assert body is not None
    routes = {r["name"]: r["properties"]["addressPrefix"] for r in body["properties"]["routes"]}
    assert routes == {"to-onprem": "192.168.0.0/16", "rmd-default": "0.0.0.0/0", "rmd-spoke": "10.2.0.0/16"}
    assert body["tags"]["owner"] == "network-team" and body["tags"]["managed-by"] == TAG["managed-by"]
    writes = [(m, p.rsplit("/", 2)[-2:], s) for m, p, s in _log(emu) if m == "PUT"]
    assert writes[0][2] == 412  # the create-only PUT was refused; nothing was replaced
    assert [w[1] for w in writes[2:]] == [["routes", "rmd-default"], ["routes", "rmd-spoke"]]


def test_no_final_get_after_a_subnet_put(emu: Emulator, arm: ArmClient) -> None:
    arm.create_route_table(NEW, RouteTablePayload("westeurope", TAG, routes=ROUTES))
    emu.clear_log()
    assert arm.set_subnet_route_table(NODES, NEW) is None  # the PUT's answer matches the pre-read
    resource = [(m, s) for m, p, s in _log(emu) if not _is_poll(p)]
    assert resource == [("GET", 200), ("PUT", 200)]  # the fresh read before the PUT, and the PUT
    after = emu.get(NODES)
    assert after is not None and after["properties"]["routeTable"]["id"].lower() == NEW.lower()


def test_a_failed_operation_still_raises_its_arm_code(emu: Emulator, arm: ArmClient) -> None:
    emu.faults.add("PUT", r"/routeTables/rmd-new$", kind="lro_failed", code="RouteTableQuotaExceeded")
    with pytest.raises(TerminalError) as raised:
        arm.create_route_table(NEW, RouteTablePayload("westeurope", TAG, routes=ROUTES))
    assert raised.value.arm_code == "RouteTableQuotaExceeded"
    assert emu.get(NEW) is None  # rolled back


def test_polls_are_bounded_by_the_run_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real LRO durations (a table takes 2 s): the poll wait ARM asks for does not fit in a 1 s deadline, so
    the write ends as retryable instead of sleeping past it (remediation/azure/clients.py DeadlineBox)."""
    emu = make_emulator(monkeypatch, time_factor=1.0)
    gateway = ArmClient(make_settings(emu))
    try:
        gateway.bind_deadline(Deadline.after(1.0))
        with pytest.raises(DeadlineExceeded):
            gateway.create_route_table(NEW, RouteTablePayload("westeurope", TAG, routes=ROUTES))
    finally:
        gateway.close()
        emu.stop()


@pytest.mark.parametrize(("scale", "polls"), [
    # azure-core's own timing: the first poll at once finds the 0.4 s operation InProgress, a second one
    # (after the Retry-After the poll answer carries) finds it Succeeded.
    ("0", 2),
    # The first poll after 0.25 x the table's typical 2 s: the operation is done by then, one poll.
    ("0.25", 1),
])
def test_the_first_poll_waits_for_the_typical_duration(monkeypatch: pytest.MonkeyPatch, scale: str,
                                                       polls: int) -> None:
    emu = make_emulator(monkeypatch, time_factor=1.0, lro_seconds={"Microsoft.Network/routeTables": 0.4})
    gateway = ArmClient(make_settings(emu, LRO_FIRST_POLL_SCALE=scale))
    try:
        gateway.create_route_table(NEW, RouteTablePayload("westeurope", TAG, routes=ROUTES))
        log = _log(emu)
        assert [(m, s) for m, p, s in log if not _is_poll(p)] == [("PUT", 201)]
        assert [s for m, p, s in log if _is_poll(p)] == [200] * polls
        body = emu.get(NEW)
        assert body is not None and body["properties"]["provisioningState"] == "Succeeded"
    finally:
        gateway.close()
        emu.stop()


def test_the_wait_before_the_first_poll_is_bounded_by_the_run_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """At scale 1 a table's first poll waits 2 s; with 0.5 s left the write ends as retryable at once instead
    of sleeping past the deadline (the wait goes through the transport's deadline box, clients.py)."""
    emu = make_emulator(monkeypatch, time_factor=1.0)
    gateway = ArmClient(make_settings(emu, LRO_FIRST_POLL_SCALE="1"))
    try:
        gateway.bind_deadline(Deadline.after(0.5))
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            gateway.create_route_table(NEW, RouteTablePayload("westeurope", TAG, routes=ROUTES))
        assert time.monotonic() - started < 1.5  # it did not sleep the 2 s out
        assert not [r for r in emu.request_log if _is_poll(r.path.lower())]  # and never polled
    finally:
        gateway.close()
        emu.stop()
