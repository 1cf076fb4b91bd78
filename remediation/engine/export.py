"""`export`: the estate in REMEDIATION_SCOPE as an emulator seed (`{"resources": [ARM GET bodies]}`), so that
`--emulator-seed FILE` previews the plan for one's own estate before any write right is granted. Reads only
(reader rights are enough): lists and GETs, never a write.

What is read, so that a plan on the export equals the plan on the live estate:
- every cluster, VNet (its subnets and peerings come inline), route table, App Gateway, Azure Firewall and
  firewall policy in scope, one list per type (Resource Graph where the client lists from it, else ARM);
- what observation reads outside the scope lists: the firewall FIREWALL_ID names and its policy (the hub is
  often in another subscription), every rule collection group of each policy, the VNets the clusters' pools,
  the firewall and the peerings point at, the route tables the exported subnets use, and the VPN gateways
  their GatewaySubnets name (ARM has no subscription-wide list of virtualNetworkGateways). A reference that
  answers 404 is left out, as observation finds it missing.
vWAN virtualHubs and hubVirtualNetworkConnections are not exported: the emulator does not serve them, and a
seed naming them is refused (emulator/resource_types.py).

Bodies are kept as ARM returns them (etags, provisioningState and resourceGuid included: the emulator loads
its own dumps and real GET bodies alike); only the keys a Resource Graph row carries beside the ARM body
(`resourceGroup`, `subscriptionId`, `tenantId`) are dropped, as the emulator's own seed reader drops them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from remediation.azure.arm import ArmClient
from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.deadline import DEFAULT_RUN_BUDGET_S, Deadline
from remediation.engine.retry import run_with_retries

SEED_TYPES = (ids.CLUSTER, ids.VNET, ids.ROUTE_TABLE, ids.APP_GATEWAY, ids.FIREWALL, ids.FIREWALL_POLICY)
_GRAPH_ONLY_KEYS = frozenset({"resourceGroup", "subscriptionId", "tenantId"})


def _props(body: Mapping[str, Any] | None) -> Mapping[str, Any]:
    value = (body or {}).get("properties")
    return value if isinstance(value, Mapping) else {}


def _ref(value: Any) -> str | None:
    return str(value["id"]) if isinstance(value, Mapping) and isinstance(value.get("id"), str) else None


def _vnet_of(resource_id: str | None) -> str | None:
    """The VNet id of a subnet id (or of anything under a VNet), else None."""
    if not resource_id or "/subnets/" not in resource_id.lower():
        return None
    return resource_id[:resource_id.lower().index("/subnets/")]


def _cluster_vnets(cluster: Mapping[str, Any]) -> Iterator[str | None]:
    for pool in _props(cluster).get("agentPoolProfiles") or []:
        if isinstance(pool, Mapping):
            yield _vnet_of(pool.get("vnetSubnetID"))
            yield _vnet_of(pool.get("podSubnetID"))


def _firewall_vnets(firewall: Mapping[str, Any]) -> Iterator[str | None]:
    for config in _props(firewall).get("ipConfigurations") or []:
        yield _vnet_of(_ref(_props(config).get("subnet")))


def _subnets(vnet: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from (s for s in _props(vnet).get("subnets") or [] if isinstance(s, Mapping))


def _peered_vnets(vnet: Mapping[str, Any]) -> Iterator[str | None]:
    for peering in _props(vnet).get("virtualNetworkPeerings") or []:
        yield _ref(_props(peering).get("remoteVirtualNetwork"))


def _gateways(vnet: Mapping[str, Any]) -> Iterator[str]:
    """The virtualNetworkGateways a GatewaySubnet's ipConfigurations name (`<gateway id>/ipConfigurations/x`)."""
    for subnet in _subnets(vnet):
        if str(subnet.get("name", "")).lower() != "gatewaysubnet":
            continue
        for config in _props(subnet).get("ipConfigurations") or []:
            ref = _ref(config) or ""
            if "/providers/microsoft.network/virtualnetworkgateways/" in ref.lower():
                yield ref[:ref.lower().index("/ipconfigurations/")] if "/ipconfigurations/" in ref.lower() else ref


class _Estate:
    """The bodies read so far by id_key, in the order read; each reference is read at most once."""

    def __init__(self, arm: ArmClient, read: Callable[[Callable[[], Any], str], Any]) -> None:
        self.arm = arm
        self.read = read
        self.bodies: dict[str, dict[str, Any]] = {}
        self.missing: set[str] = set()

    def add(self, bodies: Iterable[dict[str, Any]]) -> None:
        for body in bodies:
            self.bodies.setdefault(ids.id_key(str(body["id"])), {
                k: v for k, v in body.items() if k not in _GRAPH_ONLY_KEYS})

    def of_type(self, arm_type: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies.values()
                if str(b.get("type", "")).lower() == arm_type.lower()]

    def ensure(self, arm_type: str, refs: Iterable[str | None]) -> None:
        for ref in refs:
            if not ref or ids.id_key(ref) in self.bodies or ids.id_key(ref) in self.missing:
                continue
            body = self.read(partial(self.arm.raw_get, arm_type, ref), f"get {ref}")
            if body is None:
                self.missing.add(ids.id_key(ref))
            else:
                self.add([body])


def _read_references(estate: _Estate, settings: Settings) -> None:
    estate.ensure(ids.FIREWALL, list(settings.firewalls))
    firewalls = estate.of_type(ids.FIREWALL)
    estate.ensure(ids.FIREWALL_POLICY, [_ref(_props(f).get("firewallPolicy")) for f in firewalls])
    # A secured vWAN hub (an AZFW_Hub firewall names it): the hub, its WAN, its VNet connections and routing intent,
    # which the path model reads (remediation/planning/paths.py).
    estate.ensure(ids.VIRTUAL_HUB, [_ref(_props(f).get("virtualHub")) for f in firewalls])
    for hub in estate.of_type(ids.VIRTUAL_HUB):
        estate.ensure(ids.VIRTUAL_WAN, [_ref(_props(hub).get("virtualWan"))])
        for child in ("hubVirtualNetworkConnections", "routingIntent"):
            estate.add(estate.read(partial(estate.arm.raw_hub_children, str(hub["id"]), child),
                                   f"list {child} of {hub['id']}"))
    estate.ensure(ids.VNET, [_ref(_props(c).get("remoteVirtualNetwork"))
                             for c in estate.of_type(f"{ids.VIRTUAL_HUB}/hubVirtualNetworkConnections")])
    estate.ensure(ids.VNET, [v for c in estate.of_type(ids.CLUSTER) for v in _cluster_vnets(c)])
    estate.ensure(ids.VNET, [v for f in firewalls for v in _firewall_vnets(f)])
    estate.ensure(ids.VNET, [v for n in estate.of_type(ids.VNET) for v in _peered_vnets(n)])
    vnets = estate.of_type(ids.VNET)
    estate.ensure(ids.ROUTE_TABLE, [_ref(_props(s).get("routeTable")) for v in vnets for s in _subnets(v)])
    estate.ensure(ids.VPN_GATEWAY, [g for v in vnets for g in _gateways(v)])
    for policy in estate.of_type(ids.FIREWALL_POLICY):
        estate.add(estate.read(partial(estate.arm.raw_rule_collection_groups, str(policy["id"])),
                               f"list rule collection groups of {policy['id']}"))


def export_estate(settings: Settings, *, arm_factory: Callable[[], ArmClient] | None = None,
                  budget_s: float = DEFAULT_RUN_BUDGET_S,
                  sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The seed document of the estate in scope; a failed list or read raises (an export with a hole in it
    would show a plan for an estate that does not exist)."""
    deadline = Deadline.after(budget_s)
    arm = (arm_factory or (lambda: ArmClient(settings)))()
    arm.bind_deadline(deadline)

    def read(fn: Callable[[], Any], describe: str) -> Any:
        return run_with_retries(fn, deadline=deadline, describe=describe, sleep=sleep)

    try:
        estate = _Estate(arm, read)
        for arm_type in SEED_TYPES:
            estate.add(read(partial(arm.raw_list, arm_type), f"list {arm_type}"))
        _read_references(estate, settings)
    finally:
        arm.close()
    return {"resources": list(estate.bodies.values())}
