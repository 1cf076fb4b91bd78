"""Observe what the egress profiles need, on top of the firewall pass's snapshot. No azure imports here.

Called at the end of `observe.observe_firewall` (one line there). It reads, through the gateway:
- the route tables of node subnets whose default route decides whether a cluster's egress passes the
  firewall (`egress.tables_to_read`), from the scope's route table listing, which the fleet pass reuses;
- with EGRESS_PROFILE=aks-endpoints: each firewalled cluster's outboundNetworkDependenciesEndpoints, and the
  policy's dnsSettings (FQDNs in network rules need the DNS proxy: docs/egress.md).
A failed endpoint or policy read is kept as a reason, not raised: that cluster falls back to aks-required and
FQDN network rules are not written (remediation/planning/egress.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.model import EgressObservation, EndpointList, ObservedRouteTable, Snapshot
from remediation.planning import egress


class EgressReadArm(Protocol):
    """The reads used here (implemented by remediation.azure.arm.ArmClient)."""

    def get_route_table(self, route_table_id: str) -> ObservedRouteTable | None: ...
    def list_route_tables(self) -> list[ObservedRouteTable]: ...
    def get_outbound_endpoints(self, cluster_id: str) -> EndpointList: ...
    def get_policy_dns_proxy(self, policy_id: str) -> tuple[bool | None, str | None]: ...


def observe_egress(arm: EgressReadArm, snapshot: Snapshot, settings: Settings) -> Snapshot:
    tables = dict(snapshot.route_tables)
    wanted = [t for t in egress.tables_to_read(snapshot, settings) if ids.id_key(t) not in tables]
    absent = set(snapshot.absent)
    if wanted:
        listed = {ids.id_key(t.id): t for t in arm.list_route_tables()}
        for table_id in wanted:
            key = ids.id_key(table_id)
            table = listed.get(key) or arm.get_route_table(table_id)
            if table is None:
                absent.add(key)
            else:
                tables[key] = table
    snapshot = replace(snapshot, route_tables=tables, absent=frozenset(absent))
    wants_fqdns = settings.egress_profile == "custom" and bool(settings.egress_destination_fqdns)
    if settings.egress_profile != "aks-endpoints" and not wants_fqdns:
        return snapshot
    endpoints = {ids.id_key(c): arm.get_outbound_endpoints(c)
                 for c in egress.clusters_needing_endpoints(snapshot, settings)}
    proxy: bool | None = None
    proxy_error: str | None = None
    firewall = snapshot.firewall
    if firewall is not None and firewall.policy_id and (endpoints or wants_fqdns):
        proxy, proxy_error = arm.get_policy_dns_proxy(firewall.policy_id)
    return replace(snapshot, egress=EgressObservation(endpoints, proxy, proxy_error))
