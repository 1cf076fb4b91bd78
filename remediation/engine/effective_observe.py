"""Observe what the effective-route checks of `status` need, on top of its fleet snapshot. No azure imports here.

Called at the end of `observe._with_egress` (one line there), which the views that judge routes and rules
together use (`status`, the sweep's verify read); it reads only inside `wanted()`, which `status` sets. It lists
the load balancers of the node resource group of each cluster whose default route goes to the firewall
(remediation/planning/asymmetric.py): one list per such cluster, none for the others; with VERIFY_EFFECTIVE_ROUTES
(`status --verify`) also ARM's effective route table of one NIC per node subnet (`_verify`). A failed read is kept
as the reason the check could not be made, never raised: a status read does not fail because a node resource group
is not readable (the identity may hold Reader on the spoke only; docs/platform-notes.md 11.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Protocol, runtime_checkable

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.errors import ArmError
from remediation.core.model import (
    FrontendRead,
    NicEffectiveRoutes,
    ObservedEffectiveRoute,
    PublicFrontend,
    Snapshot,
)
from remediation.planning import asymmetric, compliance


@runtime_checkable
class EffectiveReadArm(Protocol):
    """The reads used here (implemented by remediation.azure.arm.ArmClient)."""

    def list_public_frontends(self, subscription: str, resource_group: str) -> tuple[PublicFrontend, ...]: ...
    def list_nics(self, subscription: str, resource_group: str) -> list[tuple[str, tuple[str, ...]]]: ...
    def get_effective_routes(self, nic_id: str) -> tuple[ObservedEffectiveRoute, ...]: ...


# Set by `status` (remediation/engine/status.py) around its observation: the sweep's own verify read passes through
# the same observe function and must not pay these reads (it never shows them).
_WANTED: ContextVar[bool] = ContextVar("effective_reads_wanted", default=False)


@contextmanager
def wanted() -> Iterator[None]:
    """Within this block, `observe_effective` reads (the observation of `status`)."""
    token = _WANTED.set(True)
    try:
        yield
    finally:
        _WANTED.reset(token)


def observe_effective(arm: object, snapshot: Snapshot, settings: Settings) -> Snapshot:
    """Outside `wanted()` nothing is read. `arm` is observe's reader; one without these reads (a test double of
    observe.ReadArm) reads nothing here and the snapshot says so by having no entry."""
    if not _WANTED.get() or not isinstance(arm, EffectiveReadArm):
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
    snapshot = replace(snapshot, public_frontends=found)
    return _verify(arm, snapshot) if settings.verify_effective_routes else snapshot


def _verify(arm: EffectiveReadArm, snapshot: Snapshot) -> Snapshot:
    """VERIFY_EFFECTIVE_ROUTES / `status --verify`: for each node subnet of a cluster, ARM's effective route table of
    one standalone NIC of that subnet in the cluster's node resource group (one list per node resource group, one
    effectiveRouteTable action per subnet). App Gateway subnets are not verified: the gateway's instances have no
    NIC that ARM exposes."""
    found: dict[str, NicEffectiveRoutes] = {}
    for cluster in sorted(snapshot.clusters.values(), key=lambda c: ids.id_key(c.id)):
        subnets = [s for s in cluster.node_subnet_ids if ids.id_key(s) not in found]
        if not subnets or not cluster.node_resource_group:
            continue
        subscription = ids.parse_resource_id(cluster.id).subscription
        try:
            nics = arm.list_nics(subscription, cluster.node_resource_group)
        except ArmError as exc:
            found.update({ids.id_key(s): NicEffectiveRoutes(None, error=f"NICs of node resource group "
                                                                       f"{cluster.node_resource_group} not read "
                                                                       f"({exc.arm_code})") for s in subnets})
            continue
        for subnet in subnets:
            found[ids.id_key(subnet)] = _nic_routes(arm, subnet, nics, cluster.node_resource_group)
    return replace(snapshot, effective_routes=found)


def _nic_routes(arm: EffectiveReadArm, subnet: str, nics: list[tuple[str, tuple[str, ...]]],
                node_resource_group: str) -> NicEffectiveRoutes:
    nic = next((n for n, subnet_ids in sorted(nics) if any(ids.same_id(s, subnet) for s in subnet_ids)), None)
    if nic is None:
        return NicEffectiveRoutes(None, error=f"no standalone NIC of this subnet in node resource group "
                                              f"{node_resource_group} (VMSS node pools have no effective-route "
                                              "operation: docs/platform-notes.md 11.2)")
    try:
        return NicEffectiveRoutes(nic, arm.get_effective_routes(nic))
    except ArmError as exc:
        return NicEffectiveRoutes(nic, error=f"effective routes of NIC {nic.rsplit('/', 1)[-1]} not read "
                                             f"({exc.arm_code}: {exc})")
