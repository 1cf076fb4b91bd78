"""The prepared subnets against the emulator, through the real SDK (remediation/planning/prepare.py): a sweep
prepares a marked subnet, keeps it while the marker stands, and un-prepares it when its name leaves the tag and
no cluster uses it; a loadBalancer cluster that comes to a marked subnet is refused, and what was prepared stays
until the name leaves the tag."""

from __future__ import annotations

import copy
from typing import Any

from remediation.core.model import Action
from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import AKS, CNI, SPOKE, VNET, Seed, props, seed_item

SUBNET = f"{VNET}/subnets/snet-aks-next"
TABLE = f"{SPOKE}/routeTables/rmd-vnet-spoke-snet-aks-next"


def _with_marked_subnet(seed: Seed) -> None:
    vnet = seed_item(seed, VNET)
    vnet["tags"] = {"aks-egress-prepare": "snet-aks-next"}
    vnet["properties"]["subnets"].append({"name": "snet-aks-next", "id": SUBNET,
                                          "properties": {"addressPrefix": "10.1.16.0/24"}})


def _retag(emu: Any, value: str) -> None:
    vnet = copy.deepcopy(emu.get(VNET))
    vnet["tags"] = {"aks-egress-prepare": value}
    emu.put_foreign(VNET, vnet)


def _route_names(emu: Any) -> set[str]:
    return {r["name"] for r in (emu.get(TABLE) or {}).get("properties", {}).get("routes", [])}


def test_a_sweep_prepares_keeps_and_unprepares_a_marked_subnet(world: WorldFactory) -> None:
    w = world(_with_marked_subnet)
    first = w.run_target(w.reconciler.scope_target())
    assert first.converged is True
    assert props(w.emu, SUBNET)["routeTable"]["id"].lower() == TABLE.lower()
    assert "rmd-default" in _route_names(w.emu)

    again = w.run_target(w.reconciler.scope_target(), dry_run=True)
    assert not again.plan.has_changes  # kept: nothing to add, nothing to remove

    _retag(w.emu, "some-other-subnet")
    removed = w.run_target(w.reconciler.scope_target())
    assert removed.converged is True
    deletes = [c.address for c in removed.plan.changes if c.action is Action.DELETE]
    assert deletes and all(a.lower().startswith(TABLE.lower() + "/routes/") for a in deletes)
    assert _route_names(w.emu) == set()  # emptied; the owned table itself is never deleted automatically
    assert any("some-other-subnet" in c.message for c in removed.plan.notes)


def test_a_load_balancer_cluster_in_a_marked_subnet_is_refused_and_the_prepared_route_stays(
        world: WorldFactory) -> None:
    w = world(_with_marked_subnet)
    assert w.run_target(w.reconciler.scope_target()).converged is True
    cluster: dict[str, Any] = copy.deepcopy(w.emu.get(CNI) or {})
    cluster.pop("id", None)
    cluster["properties"]["addonProfiles"] = {}
    for pool in cluster["properties"]["agentPoolProfiles"]:
        pool["vnetSubnetID"] = SUBNET
        pool.pop("podSubnetID", None)
    w.emu.put_foreign(f"{AKS}/aks-lb-next", cluster)

    swept = w.run_target(w.reconciler.scope_target())
    (refusal,) = [c for c in swept.plan.blocking_conflicts if c.address.lower() == SUBNET.lower()]
    assert "outboundType loadBalancer" in refusal.message and swept.converged is False
    assert "rmd-default" in _route_names(w.emu), "the marker stands: what it prepared stays"

    _retag(w.emu, "")
    released = w.run_target(w.reconciler.scope_target())
    assert f"{TABLE}/routes/rmd-default".lower() in {c.address.lower() for c in released.plan.changes
                                                     if c.action is Action.DELETE}
    assert "rmd-default" not in _route_names(w.emu)
