"""Azure Virtual Network Manager co-existence (#21 item 6), end to end: the real SDK against the emulator seeded with
an AVNM-managed route table and AVNM-made peerings shaped as ARM shows them (tests/reconciler/data/avnm-managed.json
names the source of each part). Nothing AVNM manages is written; what its table already provides is reported as
provided; its peerings carry the path like any peering."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import CNI, HUB, NODE_SUBNET, VNET, Seed, arm_writes, props, seed_item

DATA = json.loads((Path(__file__).parent / "data" / "avnm-managed.json").read_text(encoding="utf-8"))
AVNM_TABLE = DATA["routeTable"]["id"]
HUB_VNET = f"{HUB}/virtualNetworks/vnet-hub"


def _rename_peering(vnet: dict[str, Any], name: str) -> None:
    (side,) = vnet["properties"]["virtualNetworkPeerings"]
    side["id"] = side["id"].rsplit("/", 1)[0] + "/" + name
    side["name"] = name


def avnm_managed(seed: Seed) -> None:
    """AVNM's hub-and-spoke configuration made the peerings; its routing configuration put the node subnet on the
    table it manages (ManagedOnly: a new table in its managed resource group)."""
    seed["resources"].append(copy.deepcopy(DATA["routeTable"]))
    for subnet in seed_item(seed, VNET)["properties"]["subnets"]:
        if subnet["id"].lower() == NODE_SUBNET.lower():
            subnet["properties"]["routeTable"] = {"id": AVNM_TABLE}
    _rename_peering(seed_item(seed, VNET), DATA["peeringNames"]["spoke"])
    _rename_peering(seed_item(seed, HUB_VNET), DATA["peeringNames"]["hub"])


def _messages(result: Any) -> list[tuple[str, bool]]:
    return [(c.message, c.blocking) for c in result.plan.conflicts]


def test_nothing_avnm_manages_is_written_and_what_it_provides_is_reported(world: WorldFactory) -> None:
    w = world(avnm_managed)
    before = json.dumps(w.emu.get(AVNM_TABLE), sort_keys=True)
    assert props(w.emu, AVNM_TABLE)["subnets"][0]["id"].lower() == NODE_SUBNET.lower()
    result = w.sweep()
    assert result.error is None
    writes = [x.lower() for x in arm_writes(w.emu)]
    assert not [x for x in writes if "avnm_managed" in x or "snet-aks-nodes" in x or "virtualnetworkpeerings" in x]
    assert json.dumps(w.emu.get(AVNM_TABLE), sort_keys=True) == before
    assert props(w.emu, VNET)["subnets"][0]["properties"]["routeTable"]["id"] == AVNM_TABLE  # not re-associated
    messages = _messages(result)
    provided = [m for m, blocking in messages if "10.2.0.0/16" in m and "provided by Azure Virtual Network Manager"
                in m and not blocking]
    assert provided, messages
    elsewhere = [m for m, blocking in messages if "placeholder-rule-appgw sends 10.1.4.0/24 to VirtualAppliance "
                 "10.0.1.99" in m and blocking]
    assert elsewhere, messages
    # The AVNM peerings are real peerings: the cluster is behind the hub firewall, its other subnets are routed.
    behind = {b.cluster_id.lower(): b for b in result.plan.behind}
    assert "created by Azure Virtual Network Manager" in (behind[CNI.lower()].via or "")
    assert any("snet-aks-pods" in x for x in writes)
    w.reset_log()
    again = w.sweep()
    assert again.error is None and arm_writes(w.emu) == []


def test_a_cluster_event_reads_the_avnm_table_and_writes_nothing_to_it(world: WorldFactory) -> None:
    """The same through a cluster target (an Event Grid event names the cluster): the table it references is read
    by its id, wherever AVNM keeps it, and judged the same way."""
    w = world(avnm_managed)
    result = w.run(CNI)
    assert result.error is None
    writes = [x.lower() for x in arm_writes(w.emu)]
    assert writes and not [x for x in writes if "avnm_managed" in x or "snet-aks-nodes" in x]
    assert any("provided by Azure Virtual Network Manager" in m for m, blocking in _messages(result) if not blocking)
