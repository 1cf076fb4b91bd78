"""Pure: what each AKS outbound type needs from this tool (docs/platform-notes.md 12, with the sources).

`networkProfile.outboundType` decides where a cluster's Internet egress leaves, and so whether its node
subnets get `0.0.0.0/0 -> firewall` and whether its egress reaches the firewall (and needs an egress rule):

| outboundType           | VNet          | default route to the firewall             | egress rule            |
|------------------------|---------------|-------------------------------------------|------------------------|
| userDefinedRouting     | BYO           | required, before the create (prepared)    | yes                    |
| loadBalancer           | BYO / managed | no (FORCE_DEFAULT_ROUTE adds it)          | when the route is there|
| userAssignedNATGateway | BYO           | no (FORCE_DEFAULT_ROUTE adds it)          | when the route is there|
| managedNATGateway(V2)  | AKS-managed   | - (the cluster is skipped: managed VNet)  | -                      |
| none (network-isolated)| BYO / managed | kept as it is, never added nor removed    | when the route is there|
| block (preview)        | AKS-managed   | - (skipped); never a route, never a rule  | no                     |

An outbound type this table does not know is treated like loadBalancer (no default route added; the route
the subnet has decides the rule) and reported, so a new AKS value never removes rules or adds routes.

Public API: KNOWN, UDR, NONE, BLOCK, kind, default_route_reason, keeps_default_route, egress_blocked, note.
"""

from __future__ import annotations

from remediation.core.config import Settings
from remediation.core.model import ObservedCluster

UDR = "userdefinedrouting"
NONE = "none"
BLOCK = "block"
# Lower-case values AKS documents today (learn.microsoft.com aks/egress-outboundtype).
KNOWN = frozenset({"loadbalancer", UDR, "managednatgateway", "managednatgatewayv2", "userassignednatgateway",
                   NONE, BLOCK})


def kind(cluster: ObservedCluster) -> str:
    """The outbound type in lower case; an empty value is AKS's default, loadBalancer."""
    return (cluster.outbound_type or "loadBalancer").strip().lower()


def default_route_reason(cluster: ObservedCluster, settings: Settings) -> str | None:
    """Why the node subnets get 0.0.0.0/0 -> firewall, or None (then `keeps_default_route` may still keep one)."""
    outbound = kind(cluster)
    if outbound == UDR:
        return "outboundType userDefinedRouting"
    if outbound == BLOCK:
        return None  # AKS blocks Internet egress itself (NSG rules): nothing to route, whatever the setting
    if settings.force_default_route:
        return "FORCE_DEFAULT_ROUTE=true"
    return None


def keeps_default_route(cluster: ObservedCluster) -> bool:
    """`none` leaves outbound to the network (a firewall, Virtual WAN routing intent): a default route that is
    there may carry the cluster's egress, so it is neither added nor removed (docs/platform-notes.md 12)."""
    return kind(cluster) == NONE


def egress_blocked(cluster: ObservedCluster) -> bool:
    """`block`: AKS denies Internet egress, so the cluster gets no egress rule whatever the routes say."""
    return kind(cluster) == BLOCK


def note(cluster: ObservedCluster) -> str | None:
    """A line for the plan when the outbound type is not one AKS documents today (treated as loadBalancer)."""
    if kind(cluster) in KNOWN:
        return None
    return (f"outboundType {cluster.outbound_type!r} of cluster {cluster.name} is not a type this tool knows: "
            "treated as loadBalancer (no default route added; the route on the subnet decides the egress rule)")
