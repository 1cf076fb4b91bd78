"""Each AKS outbound type, what this tool plans for it (remediation/planning/outbound.py,
docs/platform-notes.md 12): the default route on the node subnet, and whether the egress reaches the firewall
(the egress rule)."""

from __future__ import annotations

import pytest

from remediation.core.model import DesiredSubnetRoutes, Severity, Skip
from remediation.planning import desired, egress
from tests.core import factories as f

NODE_TABLE = "rt-nodes"


def _routes(outbound_type: str, *, force: bool = False, default_there: bool = False,
            ) -> tuple[set[str], str | None, list[str]]:
    """(prefixes desired on the node subnet, the egress path, the notes) for an overlay cluster."""
    table = f.route_table(NODE_TABLE, [f.fw_route("rmd-default", "0.0.0.0/0")] if default_there else [],
                          [f.NODE_SUBNET], owned=True)
    cluster = f.cluster(outbound_type=outbound_type)
    snapshot = f.hub_spoke(aks=cluster, with_appgw=False, with_vpn=False, node_table=NODE_TABLE, tables=[table])
    settings = f.settings(force_default_route=force)
    result = desired.desired_cluster_routes(snapshot, cluster.id, settings)
    assert not isinstance(result, Skip)
    (node,) = [d for d in result if isinstance(d, DesiredSubnetRoutes) and d.subnet_id == f.NODE_SUBNET]
    notes = [r.message for r in node.reports if r.severity is Severity.NOTE]
    return {r.address_prefix for r in node.routes}, egress.egress_path(snapshot, cluster, settings), notes


# (outbound type, FORCE_DEFAULT_ROUTE, an owned 0.0.0.0/0 -> firewall already there,
#  default route desired, egress reaches the firewall)
CASES = [
    ("userDefinedRouting", False, False, True, True),
    ("loadBalancer", False, False, False, False),
    ("loadBalancer", False, True, False, True),  # the route there decides the rule; the sweep removes it
    ("loadBalancer", True, False, True, True),
    ("userAssignedNATGateway", False, False, False, False),
    ("userAssignedNATGateway", True, False, True, True),
    ("none", False, False, False, False),  # never added...
    ("none", False, True, True, True),  # ...and never removed: the network owns outbound
    ("block", False, True, False, False),  # AKS blocks egress: no route, no rule
    ("block", True, False, False, False),
]


@pytest.mark.parametrize(("outbound_type", "force", "there", "default", "firewalled"), CASES,
                         ids=[f"{c[0]}-force{c[1]}-there{c[2]}" for c in CASES])
def test_what_each_outbound_type_gets(outbound_type: str, force: bool, there: bool, default: bool,
                                      firewalled: bool) -> None:
    prefixes, path, notes = _routes(outbound_type, force=force, default_there=there)
    assert ("0.0.0.0/0" in prefixes) is default
    assert (path is not None) is firewalled
    assert notes == []


def test_an_unknown_outbound_type_is_treated_as_load_balancer_and_reported() -> None:
    prefixes, path, notes = _routes("someFutureType")
    assert "0.0.0.0/0" not in prefixes and path is None
    (note,) = notes
    assert "someFutureType" in note and "treated as loadBalancer" in note
