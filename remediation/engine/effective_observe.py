"""Observe what the effective-route checks of `status` need, on top of its fleet snapshot. No azure imports here.

Called at the end of `observe._with_egress` (one line there), which only the views that judge routes and rules
together use (`status`, the sweep's verify read). It lists the load balancers of the node resource group of each
cluster whose default route goes to the firewall (remediation/planning/asymmetric.py): one list per such cluster,
none for the others. A failed list is kept as the reason the check could not be made, never raised: a status
read does not fail because a node resource group is not readable (the identity may hold Reader on the spoke
only; docs/platform-notes.md, "Asymmetric routing").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, runtime_checkable

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.errors import ArmError
from remediation.core.model import FrontendRead, PublicFrontend, Snapshot
from remediation.planning import asymmetric, compliance


@runtime_checkable
class EffectiveReadArm(Protocol):
    """The reads used here (implemented by remediation.azure.arm.ArmClient)."""

    def list_public_frontends(self, subscription: str, resource_group: str) -> tuple[PublicFrontend, ...]: ...


def observe_effective(arm: object, snapshot: Snapshot, settings: Settings) -> Snapshot:
    """`arm` is observe's reader; one without `list_public_frontends` (a test double of observe.ReadArm that
    predates this check) reads nothing here and the snapshot says so by having no entry."""
    if not isinstance(arm, EffectiveReadArm):
        return snapshot
    found: dict[str, FrontendRead] = {}
    for key, cluster in sorted(snapshot.clusters.items()):
        if not cluster.node_resource_group:
            continue
        if asymmetric.default_to_firewall(compliance.cluster_flows(snapshot, settings, cluster.id)) is None:
            continue
        subscription = ids.parse_resource_id(cluster.id).subscription
        try:
            found[key] = FrontendRead(arm.list_public_frontends(subscription, cluster.node_resource_group))
        except ArmError as exc:
            found[key] = FrontendRead(error=f"load balancers of node resource group {cluster.node_resource_group} "
                                            f"not read ({exc.arm_code}: {exc})")
    return replace(snapshot, public_frontends=found)
