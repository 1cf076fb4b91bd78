"""AKS's create-time check of a userDefinedRouting cluster's subnet (registered through emulator/hooks.py).

AKS refuses a `PUT managedClusters` with `networkProfile.outboundType: userDefinedRouting` unless every node
subnet already has a route table with a `0.0.0.0/0` route to a virtual appliance or a VNet gateway; the check
runs before the create starts, so the PUT itself answers 400 and nothing is created. Once the route is
there, the create runs as the usual LRO. The error codes and messages are those public reports show
(docs/platform-notes.md 12):

- no route table on the subnet: `ExistingRouteTableNotAssociatedWithSubnet` (terraform logs quoted in
  Azure/AKS#1842 and the project's arm-notes 2.2);
- a table without 0.0.0.0/0: `RouteTableMissingDefaultRouteError` (MicrosoftDocs/azure-docs#108240: a default
  route learned from Virtual WAN does not count, only the table's own routes do);
- 0.0.0.0/0 -> Internet: `RouteTableInvalidNextHop` (hashicorp/terraform-provider-azurerm#8609, Azure/AKS#1875).

Checked on a create, and on an update that changes the outbound type to userDefinedRouting (AKS validates
the target outbound type of a migration the same way; an update of a cluster that already is
userDefinedRouting is not re-checked here: unconfirmed what AKS does then). A pool without `vnetSubnetID`
(an AKS-managed VNet) is not checked: unconfirmed.
"""

from __future__ import annotations

from typing import Any

from . import hooks
from . import resource_types as rt
from .errors import bad_request
from .resource_types import IdError, parse_id

_UDR = "userdefinedrouting"
_APPLIANCE_HOPS = {"virtualappliance", "virtualnetworkgateway"}


def _props(body: dict[str, Any] | None) -> dict[str, Any]:
    value = (body or {}).get("properties")
    return value if isinstance(value, dict) else {}


def _outbound(props: dict[str, Any]) -> str:
    network = props.get("networkProfile")
    return str((network or {}).get("outboundType") or "").lower() if isinstance(network, dict) else ""


def _subnet_ids(props: dict[str, Any]) -> list[str]:
    seen: dict[str, str] = {}
    for pool in props.get("agentPoolProfiles") or []:
        subnet = pool.get("vnetSubnetID") if isinstance(pool, dict) else None
        if isinstance(subnet, str) and subnet:
            seen.setdefault(subnet.lower(), subnet)
    return list(seen.values())


def _check_subnet(store: Any, subnet_id: str) -> None:
    try:
        subnet = store.get(parse_id(subnet_id))
    except IdError:
        return  # a malformed id is refused by other checks (or by AKS with its own message)
    if subnet is None:
        return  # not this check's answer: AKS reports a missing subnet differently
    table_ref = _props(subnet).get("routeTable")
    table_id = table_ref.get("id") if isinstance(table_ref, dict) else None
    if not isinstance(table_id, str):
        raise bad_request("ExistingRouteTableNotAssociatedWithSubnet",
                          f"An existing route table has not been associated with subnet {subnet_id}. Please "
                          "update the route table association")
    table = store.get(parse_id(table_id))
    routes = [r for r in _props(table).get("routes") or [] if isinstance(r, dict)]
    default = next((r for r in routes if str(_props(r).get("addressPrefix")) == "0.0.0.0/0"), None)
    if default is None:
        raise bad_request("RouteTableMissingDefaultRouteError",
                          f"Default route 0.0.0.0/0 missing from route table {table_id}")
    hop = str(_props(default).get("nextHopType") or "")
    if hop.lower() not in _APPLIANCE_HOPS:
        raise bad_request("RouteTableInvalidNextHop",
                          f"Default route 0.0.0.0/0 has a next hop of {hop} but only next hops of "
                          "VirtualAppliance or VirtualNetworkGateway are allowed. Please see "
                          "http://aka.ms/aks/outboundtype for more details")


def check_udr_subnets(store: Any, resource_id: str, props: dict[str, Any], parent: dict[str, Any] | None) -> None:
    """The validate hook of managedClusters: runs before the PUT is stored (emulator/store.py `_put_top`)."""
    if _outbound(props) != _UDR or getattr(store, "writing_foreign", False):
        # A foreign write is a state a test sets up (a cluster whose route was deleted after its create, one
        # that appears mid-run), not a call to AKS's API: not checked.
        return
    existing = store.get(parse_id(resource_id))
    if existing is not None and _outbound(_props(existing)) == _UDR:
        return
    for subnet_id in _subnet_ids(props):
        _check_subnet(store, subnet_id)


hooks.register(rt.CLUSTER, validate=check_udr_subnets)
