"""Pure: what Azure Virtual Network Manager (AVNM) manages, told from what ARM returns, and how the planner treats
a subnet whose route table AVNM manages (docs/platform-notes.md 13, "Azure Virtual Network Manager").

Markers (each with its public source in the docs):
- a route table in the resource group `AVNM_Managed_ResourceGroup_<subscriptionId>`: where AVNM's UDR management
  (`routeTableUsageMode: ManagedOnly`, the default) creates the route tables it associates with the subnets of a
  routing configuration's network groups. Confirmed by Microsoft's docs and SDK tests;
- a route table named `AVNM_Managed_<32 hex digits>`: the name those tables were seen with (one public export);
  unconfirmed as a rule, so it is treated the same safe way (never written), and the reason says so;
- a peering named `ANM_...`: the name AVNM's hub-and-spoke connectivity configurations gave the peerings they
  created (one public export); the peering body has no property that says so (REST spec). The tool never writes
  any peering, so this marker only adds words to the reports: an AVNM peering is a real peering and counts
  for the path model like any other.

Not recognisable: routes AVNM appends to a customer's own table (`routeTableUsageMode: UseExisting`; their names
are not documented), and connected groups (direct connectivity creates no peering resource at all). Such routes
are foreign routes like any other (never written, reported when in the way); a VNet in a connected group only has
"no path" to the firewall, as before.

Never written: a subnet whose table AVNM manages keeps that table (no association to an owned table), and no
route is written to it. Each route the subnet needs is reported: provided (NOTE) when the AVNM table already
holds its prefix with the same next hop, else a conflict (the AVNM routing configuration is where it is fixed).

Public API: MANAGED_RESOURCE_GROUP_PREFIX, MANAGED_TABLE_PREFIX, PEERING_PREFIX, managed_table_reason,
is_managed_peering, route_reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from remediation.core import ids
from remediation.core.model import ChangeKind, Conflict, ObservedPeering, ObservedRouteTable, Route, Severity
from remediation.core.net import canonical_prefix

MANAGED_RESOURCE_GROUP_PREFIX = "AVNM_Managed_ResourceGroup_"
MANAGED_TABLE_PREFIX = "AVNM_Managed_"
PEERING_PREFIX = "ANM_"
_MANAGED_TABLE_NAME = re.compile(r"^avnm_managed_[0-9a-f]{32}$")
AVNM = "Azure Virtual Network Manager"


def managed_table_reason(table_id: str, name: str | None = None) -> str | None:
    """Why this route table is AVNM's (the marker found), or None. ARM ids compare case-insensitively."""
    try:
        rid = ids.parse_resource_id(table_id)
    except ValueError:
        return None
    group = rid.resource_group or ""
    if group.lower().startswith(MANAGED_RESOURCE_GROUP_PREFIX.lower()):
        return f"it is in {group}, the resource group where {AVNM} keeps the route tables it creates"
    table_name = (name or rid.name or "").lower()
    if _MANAGED_TABLE_NAME.match(table_name):
        return (f"it is named like the route tables {AVNM} creates ({MANAGED_TABLE_PREFIX}<id>; a name marker "
                "not confirmed by Microsoft, treated as managed to be safe)")
    return None


def is_managed_peering(peering: ObservedPeering) -> bool:
    """The peering carries the name AVNM's hub-and-spoke configurations give the peerings they create."""
    return peering.name.upper().startswith(PEERING_PREFIX)


def _same_target(a: Route, b: Route) -> bool:
    return (canonical_prefix(a.address_prefix) == canonical_prefix(b.address_prefix)
            and a.next_hop_type.lower() == b.next_hop_type.lower()
            and (a.next_hop_ip_address or "").strip() == (b.next_hop_ip_address or "").strip())


def _hop(route: Route) -> str:
    return f"{route.next_hop_type} {route.next_hop_ip_address}" if route.next_hop_ip_address else route.next_hop_type


def route_reports(subnet_id: str, subnet_name: str, table: ObservedRouteTable, reason: str,
                  wanted: Iterable[Route]) -> list[Conflict]:
    """What happens to the routes a subnet on an AVNM-managed table needs: nothing is written; each route is
    reported as provided by AVNM (same prefix, same next hop in the table), or as a conflict (the table sends the
    prefix elsewhere, or lacks it). Plus one note that the subnet is skipped, so a subnet that needs nothing is
    still reported."""
    by_prefix: dict[str, Route] = {}
    for route in table.routes:
        by_prefix.setdefault(canonical_prefix(route.address_prefix), route)
    where = f"route table {table.name} of subnet {subnet_name} is managed by {AVNM} ({reason})"
    out = [Conflict(ChangeKind.SUBNET_ROUTE_TABLE, subnet_id,
                    f"{where}: skipped, nothing is written to it and the subnet is not re-associated", Severity.NOTE)]
    for route in wanted:
        prefix = canonical_prefix(route.address_prefix)
        address = f"{table.id}/routes/{route.name}"
        held = by_prefix.get(prefix)
        if held is not None and _same_target(held, route):
            out.append(Conflict(ChangeKind.ROUTE, f"{table.id}/routes/{held.name}",
                                f"{prefix} -> {_hop(route)} provided by {AVNM} (route {held.name} of route table "
                                f"{table.name}): not written", Severity.NOTE))
        elif held is not None:
            out.append(Conflict(ChangeKind.ROUTE, f"{table.id}/routes/{held.name}",
                                f"{AVNM} route {held.name} sends {prefix} to {_hop(held)}; desired {route.name} -> "
                                f"{_hop(route)}; {where}: never written, fix the AVNM routing configuration"))
        else:
            out.append(Conflict(ChangeKind.ROUTE, address,
                                f"{prefix} -> {_hop(route)} is needed but {where} and holds no route for it: never "
                                "written, add it to the AVNM routing configuration"))
    return out
