"""Apply's lanes against the emulator's operation log (real LRO durations, scaled): ARM's lock domains are
serialized, everything else runs alongside; an association starts only after its own table is provisioned."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.core import ids
from remediation.core.config import ConfigError
from remediation.core.model import Action, Change, ChangeKind, Outcome, RouteTablePayload, SubnetAssociationPayload
from remediation.engine.apply import apply_changes

from .conftest import SPOKE, make_settings, seed

TAG = {"managed-by": "aks-egress-remediation"}
VNET = f"{SPOKE}/virtualNetworks/vnet-spoke"
VNET2 = f"{SPOKE}/virtualNetworks/vnet-spoke2"
RT_A = f"{SPOKE}/routeTables/rmd-a"
RT_B = f"{SPOKE}/routeTables/rmd-b"


def _two_vnets() -> dict[str, Any]:
    """The example seed plus a second spoke VNet with two subnets that have no route table."""
    document = seed()
    spoke = next(r for r in document["resources"] if r["id"].endswith("/vnet-spoke"))
    other = copy.deepcopy(spoke)
    other.update(name="vnet-spoke2", id=VNET2)
    other["properties"]["addressSpace"] = {"addressPrefixes": ["10.3.0.0/16"]}
    other["properties"]["subnets"] = [
        {"name": name, "id": f"{VNET2}/subnets/{name}", "properties": {"addressPrefix": prefix}}
        for name, prefix in (("snet-a1", "10.3.0.0/24"), ("snet-a2", "10.3.1.0/24"))]
    document["resources"].append(other)
    return document


def _change(kind: ChangeKind, address: str, after: Any) -> Change:
    return Change(Action.CREATE, kind, address, None, after, "test")


def _two_tables_four_subnets() -> list[Change]:
    """Two new tables, each associated with two subnets of its own VNet."""
    return [
        _change(ChangeKind.ROUTE_TABLE, RT_A, RouteTablePayload("westeurope", TAG)),
        _change(ChangeKind.ROUTE_TABLE, RT_B, RouteTablePayload("westeurope", TAG)),
        _change(ChangeKind.SUBNET_ROUTE_TABLE, f"{VNET2}/subnets/snet-a1", SubnetAssociationPayload(RT_A)),
        _change(ChangeKind.SUBNET_ROUTE_TABLE, f"{VNET2}/subnets/snet-a2", SubnetAssociationPayload(RT_A)),
        _change(ChangeKind.SUBNET_ROUTE_TABLE, f"{VNET}/subnets/snet-aks-pods", SubnetAssociationPayload(RT_B)),
        _change(ChangeKind.SUBNET_ROUTE_TABLE, f"{VNET}/subnets/snet-appgw", SubnetAssociationPayload(RT_B)),
    ]


def test_subnet_lanes_of_two_vnets_overlap_and_follow_their_own_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = Emulator(seed=_two_vnets(), time_factor=0.05).start()  # table 0.1 s, subnet 0.4 s
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    gateway = ArmClient(make_settings(emu))
    try:
        changes = _two_tables_four_subnets()
        outcomes = apply_changes(gateway, changes, settings=make_settings(emu, WRITE_LANES="8"))
        assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 6, [o.error for o in outcomes]
        ops = emu.operations
        tables = {ids.id_key(o.resource_id): o for o in ops if "/subnets/" not in o.resource_id}
        subnets = [o for o in ops if "/subnets/" in o.resource_id]
        assert len(subnets) == 4 and all(o.ended_at is not None for o in ops)
        for op in subnets:  # each association after its own table's operation ended
            table = RT_A if "vnet-spoke2" in op.resource_id else RT_B
            end = tables[ids.id_key(table)].ended_at
            assert end is not None and op.started_at >= end

        def overlap(a: Any, b: Any) -> bool:
            return bool(a.started_at < b.ended_at and b.started_at < a.ended_at)

        same = [(a, b) for i, a in enumerate(subnets) for b in subnets[i + 1:] if a.lock_domain == b.lock_domain]
        other = [(a, b) for i, a in enumerate(subnets) for b in subnets[i + 1:] if a.lock_domain != b.lock_domain]
        assert same and not any(overlap(a, b) for a, b in same)  # one VNet: one subnet PUT at a time
        assert any(overlap(a, b) for a, b in other)  # two VNets: at the same time
    finally:
        gateway.close()
        emu.stop()


def test_one_write_lane_runs_every_lane_in_dependency_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """WRITE_LANES=1: associations are listed BEFORE their tables here, and the one thread is never taken by
    a lane waiting for another (remediation/engine/lanes.py), so the plan completes in dependency order. (The
    lane is held only for each request since issue 26: operations overlap, tested below.)"""
    emu = Emulator(seed=_two_vnets(), time_factor=0.02).start()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    arm = ArmClient(make_settings(emu))
    try:
        changes = [
            _change(ChangeKind.SUBNET_ROUTE_TABLE, f"{VNET2}/subnets/snet-a1", SubnetAssociationPayload(RT_A)),
            _change(ChangeKind.SUBNET_ROUTE_TABLE, f"{VNET}/subnets/snet-aks-pods", SubnetAssociationPayload(RT_B)),
            _change(ChangeKind.ROUTE_TABLE, RT_B, RouteTablePayload("westeurope", TAG)),
            _change(ChangeKind.ROUTE_TABLE, RT_A, RouteTablePayload("westeurope", TAG)),
        ]
        outcomes = apply_changes(arm, changes, settings=make_settings(emu, WRITE_LANES="1"))
        assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 4, [o.error for o in outcomes]
        ops = emu.operations
        ends = {ids.id_key(o.resource_id): o.ended_at for o in ops if "/subnets/" not in o.resource_id}
        subnets = [o for o in ops if "/subnets/" in o.resource_id]
        assert len(subnets) == 2
        for op in subnets:
            table = RT_A if "vnet-spoke2" in op.resource_id else RT_B
            end = ends[ids.id_key(table)]
            assert end is not None and op.started_at >= end
    finally:
        arm.close()


def test_a_vnet_holds_no_thread_between_its_serialized_subnet_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread, two VNets of two subnets each: the VNets are under way at once (issue 26). A VNet lane that
    held its thread for all its writes would finish one VNet before the other began."""
    emu = Emulator(seed=_two_vnets(), time_factor=0.05).start()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    gateway = ArmClient(make_settings(emu))
    try:
        changes = _two_tables_four_subnets()
        outcomes = apply_changes(gateway, changes, settings=make_settings(emu, WRITE_LANES="1"))
        assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 6, [o.error for o in outcomes]
        subnets = sorted((o for o in emu.operations if "/subnets/" in o.resource_id), key=lambda o: o.started_at)
        vnets = ["vnet-spoke2" if "vnet-spoke2" in o.resource_id else "vnet-spoke" for o in subnets]
        by_vnet = {v: [o for o, w in zip(subnets, vnets, strict=True) if w == v] for v in set(vnets)}
        assert sorted(len(ops) for ops in by_vnet.values()) == [2, 2]
        first_starts = [min(o.started_at for o in ops) for ops in by_vnet.values()]
        last_ends = [max(o.ended_at or 0.0 for o in ops) for ops in by_vnet.values()]
        assert max(first_starts) < min(last_ends)  # both VNets under way at once, not one VNet after the other
        for ops in by_vnet.values():  # and each VNet's own subnet writes one after another (ARM's lock domain)
            assert ops[0].ended_at is not None and ops[0].ended_at <= ops[1].started_at
        ends = {ids.id_key(o.resource_id): o.ended_at for o in emu.operations if "/subnets/" not in o.resource_id}
        for op in subnets:  # still each after its own table
            end = ends[ids.id_key(RT_A if "vnet-spoke2" in op.resource_id else RT_B)]
            assert end is not None and op.started_at >= end
    finally:
        gateway.close()
        emu.stop()


@pytest.mark.parametrize("value", ["0", "65", "four", "-1", ""])
def test_write_lanes_is_validated_at_start_up(emu: Emulator, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(emu, WRITE_LANES=value if value else " ")
    assert "WRITE_LANES" in str(raised.value)
