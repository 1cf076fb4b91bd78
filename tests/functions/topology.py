"""Seeds derived from examples/private-network.json for the concurrency and idempotency tests.

The example holds one Azure CNI cluster (aks-cni). `many_cni_clusters` clones it N times into the same spoke
VNet, each clone with its own node subnet (and that subnet's own route table), all sharing the hub firewall and
its policy fwpol-hub, so the only ARM lock domain the clusters' reconciles have in common is the policy's.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.functions.helpers import AKS, HUB, ROOT, SPOKE

POLICY_ID = f"{HUB}/firewallPolicies/fwpol-hub"
VNET_ID = f"{SPOKE}/virtualNetworks/vnet-spoke"
TEMPLATE_CLUSTER = "aks-cni"
EXAMPLE_CLUSTERS = ("aks-cni", "aks-overlay", "aks-kubenet")


def example_seed() -> dict[str, Any]:
    return dict(json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8")))


def _find(resources: list[dict[str, Any]], resource_id: str) -> dict[str, Any]:
    return next(r for r in resources if r["id"].lower() == resource_id.lower())


def cluster_id(name: str) -> str:
    return f"{AKS}/{name}"


def node_subnet_id(index: int) -> str:
    return f"{VNET_ID}/subnets/snet-aks-{index}"


def route_table_id(index: int) -> str:
    return f"{SPOKE}/routeTables/rt-aks-{index}"


def many_cni_clusters(count: int, *, ingress: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The example with its clusters replaced by `count` clones of aks-cni (`aks-cni-1`...).

    Clone i: node subnet snet-aks-i (10.1.(16+i).0/24) with its own pre-existing route table rt-aks-i, no pod
    subnet (flat Azure CNI, pods take node-subnet IPs). `ingress=False` drops the AGIC add-on, so no cluster
    writes to a route table another cluster writes to; the firewall policy is the one shared writer domain.
    Returns (seed, cluster ids).
    """
    seed = example_seed()
    resources: list[dict[str, Any]] = seed["resources"]
    template = _find(resources, cluster_id(TEMPLATE_CLUSTER))
    table_template = _find(resources, f"{SPOKE}/routeTables/rt-spoke-nodes")
    vnet = _find(resources, VNET_ID)
    subnet_template = next(s for s in vnet["properties"]["subnets"] if s["name"] == "snet-aks-nodes")
    resources[:] = [r for r in resources
                    if r["id"].lower() not in {cluster_id(n).lower() for n in EXAMPLE_CLUSTERS}]
    ids: list[str] = []
    for index in range(1, count + 1):
        name = f"{TEMPLATE_CLUSTER}-{index}"
        table = copy.deepcopy(table_template)
        table.update(name=f"rt-aks-{index}", id=route_table_id(index))
        table.pop("etag", None)
        table["properties"]["routes"] = []
        table["properties"]["subnets"] = []  # derived from the subnet association on load
        resources.append(table)

        subnet = copy.deepcopy(subnet_template)
        subnet.update(name=f"snet-aks-{index}", id=node_subnet_id(index))
        subnet.pop("etag", None)
        subnet["properties"]["addressPrefix"] = f"10.1.{16 + index}.0/24"
        subnet["properties"]["routeTable"] = {"id": route_table_id(index)}
        vnet["properties"]["subnets"].append(subnet)

        cluster = copy.deepcopy(template)
        cluster.update(name=name, id=cluster_id(name))
        cluster.pop("eTag", None)
        props = cluster["properties"]
        props["dnsPrefix"] = f"{name}-dns"
        props["nodeResourceGroup"] = f"MC_rg-spoke_{name}_westeurope"
        for key in ("privateFQDN", "azurePortalFQDN"):
            props[key] = props[key].replace(TEMPLATE_CLUSTER, name)
        for pool in props["agentPoolProfiles"]:
            pool.pop("eTag", None)
            pool.pop("podSubnetID", None)
            pool.pop("podIPAllocationMode", None)
            pool["vnetSubnetID"] = node_subnet_id(index)
        if not ingress:
            props["addonProfiles"].pop("ingressApplicationGateway", None)
        resources.append(cluster)
        ids.append(cluster["id"])
    return seed, ids


def single_cni_cluster() -> dict[str, Any]:
    """The example with aks-cni as its only cluster (AGIC add-on, pod subnet and all).

    With one cluster, a cluster target and a fleet target (VNet, subnet, route table events) have the same
    desired state, so the end states of different event sequences are comparable resource by resource.
    """
    seed = example_seed()
    others = {cluster_id(n).lower() for n in EXAMPLE_CLUSTERS if n != TEMPLATE_CLUSTER}
    seed["resources"] = [r for r in seed["resources"] if r["id"].lower() not in others]
    return seed


def without_etags(value: Any) -> Any:
    """A dump with etags and minted GUIDs removed: what two equal end states still share."""
    if isinstance(value, dict):
        return {k: without_etags(v) for k, v in value.items() if k not in ("etag", "eTag", "resourceGuid")}
    if isinstance(value, list):
        return [without_etags(v) for v in value]
    return value


def state_by_id(dump: dict[str, Any]) -> dict[str, Any]:
    """emu.dump() keyed by lower-case id, without etags."""
    return {r["id"].lower(): without_etags(r) for r in dump["resources"]}
