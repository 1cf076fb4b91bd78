"""The linear paths of a fleet's planning (issue 26) decide exactly what the quadratic ones decided: the App Gateway
index of the table guards, the settle check of a verify, and the cached id and prefix parsing."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core import ids, net
from remediation.core.errors import InvalidResourceIdError
from remediation.core.model import Action, Change, ChangeKind
from remediation.engine.reconciler import _unsettled
from remediation.planning import guards
from tests.core import factories as f

NODES = f.subnet(f.NODE_SUBNET, f.NODE_PREFIX)
APPGW = f.subnet(f.APPGW_SUBNET, f.APPGW_PREFIX)
OTHER_RG = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-other/providers/Microsoft.Network"


@pytest.mark.parametrize("gateways", [
    (),
    (f.appgw(),),
    (f.appgw(), f.appgw(id=f"{OTHER_RG}/applicationGateways/elsewhere",
                        subnet_id=f"{OTHER_RG}/virtualNetworks/v/subnets/s")),
    # a v1 gateway is left out, a v2 one kept
    (f.appgw(sku_name="Standard_Medium", sku_tier="Standard"), f.appgw(id=f"{OTHER_RG}/applicationGateways/b")),
    (f.appgw(network_isolated=True),),
    (f.appgw(subnet_id=None),),
])
def test_the_indexed_gateways_give_the_table_use_of_every_gateway(gateways: tuple) -> None:
    subnets = {s.id.lower(): s for s in (NODES, APPGW)}
    table = f.table_id("rt")
    use = guards.TableUse.of(table, [NODES.id, APPGW.id.upper()], subnets, gateways)
    # What the plan did before: every gateway sorted and filtered for this table.
    on_table = {ids.id_key(NODES.id), ids.id_key(APPGW.id)}
    expected = tuple(g for g in sorted(gateways, key=lambda g: ids.id_key(g.id))
                     if g.subnet_id and ids.id_key(g.subnet_id) in on_table and g.sku_tier.lower().endswith("_v2")
                     and not g.network_isolated)
    assert use.non_isolated_v2_gateways == expected
    indexed = guards.TableUse.of_indexed(table, [NODES.id], subnets, guards.gateways_by_subnet(gateways))
    assert indexed.non_isolated_v2_gateways == ()  # the gateways' subnet is not on this table


def _change(address: str, kind: ChangeKind = ChangeKind.ROUTE) -> Change:
    return Change(Action.CREATE, kind, address, None, None, "test")


@pytest.mark.parametrize(("address", "unsettled"), [
    (f"{f.table_id('rt')}/routes/r1", True),  # a route of the table: the table is touched
    (f.table_id("rt").upper(), True),  # the table itself, any casing
    (f"{f.table_id('rt2')}/routes/r1", False),  # another table's route
    (f"{f.table_id('rt')}x/routes/r1", False),  # a table whose name only starts the same
    (f"{f.table_id('rt').upper()}/ROUTES/R1", True),  # a route of the table, any casing
    (f"{f.table_id('rt')}/routes/routes", True),  # a route named like the segment
])
def test_a_table_is_unsettled_when_a_change_touches_it_or_its_routes(address: str, unsettled: bool) -> None:
    table = f.route_table("rt", owned=True, provisioning_state="Updating")
    snapshot = f.snapshot(subnets=[NODES], tables=[table, f.route_table("rt2", owned=True)])
    assert bool(_unsettled(snapshot, [_change(address)])) is unsettled


def test_parsed_ids_are_shared_and_invalid_ones_still_raise() -> None:
    text = f"{OTHER_RG}/routeTables/rt-cache"
    assert ids.parse_resource_id(text) is ids.parse_resource_id(text)
    assert ids.id_key(text.upper()) == ids.id_key(text) == text.lower()
    for _ in range(2):
        with pytest.raises(InvalidResourceIdError):
            ids.parse_resource_id("/subscriptions/x/resourceGroups")
    rid = ids.parse_resource_id(text)
    assert rid.key == str(rid).lower() and dataclasses.replace(rid, names=("other",)).key.endswith("/other")


def test_cached_prefix_parsing_keeps_its_answers() -> None:
    assert net.canonical_prefix("10.1.4.7/24") == "10.1.4.0/24"
    assert net.canonical_prefix(" not a prefix ") == "not a prefix"
    assert net.address("10.0.0.4") == net.address("10.0.0.4") and net.address(None) is None
    assert net.sorted_prefixes(["10.10.0.0/16", "10.2.0.0/16", "10.2.0.0/16"]) == ("10.2.0.0/16", "10.10.0.0/16")


def test_a_subnet_whose_id_holds_a_routes_segment_is_still_checked() -> None:
    # Only a route change's address is cut at its last "/routes/" (its table); a subnet in a resource group named
    # "routes" is keyed whole, as before.
    subnet_id = f.NODE_SUBNET.replace(f.RG, f.RG.rsplit("/", 1)[0] + "/routes")
    assert "/routes/" in subnet_id
    subnet = dataclasses.replace(f.subnet(subnet_id, f.NODE_PREFIX), provisioning_state="Updating")
    snapshot = f.snapshot(subnets=[subnet])
    assert _unsettled(snapshot, [_change(subnet_id.upper(), ChangeKind.SUBNET_ROUTE_TABLE)])
    assert not _unsettled(snapshot, [_change(f"{f.table_id('rt')}/routes/r1")])
