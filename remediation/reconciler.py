"""The one orchestrator: reconcile(target) = observe -> desire -> plan -> apply -> verify.

Level-triggered (ARCHITECTURE.md section 2): a trigger only names a target; the state is always re-read
from ARM. Dry run walks the same path and skips only the writes. The firewall's owned rule collection
group is computed from every cluster in scope inside the firewall lock, so a burst of cluster events
coalesces: the first run writes the complete group and the others find nothing to change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from remediation import desired, ids, observe, plan
from remediation.apply import apply_changes
from remediation.azure.gateway import ArmGateway
from remediation.config import Mode, Settings
from remediation.errors import OutOfScopeError, TargetNotFoundError, UnsupportedTargetError
from remediation.locks import InProcessLocks, LockProvider
from remediation.model import (
    Action,
    ArmCalls,
    Change,
    ChangeOutcome,
    Conflict,
    DesiredSubnetRoutes,
    Outcome,
    Plan,
    ReconcileResult,
    Skip,
    Snapshot,
    Target,
    TargetKind,
)
from remediation.retry import run_with_retries

log = logging.getLogger(__name__)

_TARGET_KINDS: tuple[tuple[str, TargetKind], ...] = (
    (ids.CLUSTER, TargetKind.CLUSTER),
    (ids.AGENT_POOL, TargetKind.CLUSTER),
    (ids.APP_GATEWAY, TargetKind.GATEWAY),
    (ids.FIREWALL, TargetKind.FIREWALL),
    (ids.FIREWALL_POLICY, TargetKind.FIREWALL),
    (ids.RULE_COLLECTION_GROUP, TargetKind.FIREWALL),
    (ids.VNET, TargetKind.NETWORK),
    (ids.SUBNET, TargetKind.NETWORK),
    (ids.ROUTE_TABLE, TargetKind.NETWORK),
    (ids.ROUTE, TargetKind.NETWORK),
    (ids.VPN_GATEWAY, TargetKind.SCOPE),
)


@dataclass(frozen=True)
class _Pass:
    """One observe-desire-plan pass: the changes to make and what was reported alongside."""

    changes: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    skipped: tuple[Skip, ...] = ()


_Step = Callable[[ArmGateway], _Pass]
Approve = Callable[[Plan], bool]


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        *,
        gateway_factory: Callable[[], ArmGateway] | None = None,
        locks: LockProvider | None = None,
        retry_deadline_s: float = 240.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """gateway_factory builds a fresh gateway per reconcile, so read caches and call counters start
        empty; locks defaults to in-process locks (the Function app passes blob leases shared by all
        instances); sleep is how retries wait."""
        self.settings = settings
        self._gateway_factory = gateway_factory or (lambda: ArmGateway(settings))
        self._locks: LockProvider = locks or InProcessLocks()
        self._retry_deadline_s = retry_deadline_s
        self._sleep = sleep  # how retries wait (tenacity's sleep)

    # ------------------------------------------------------------------------------------ targets

    def resolve(self, resource_id: str) -> Target:
        """Map a caller's id to a target without any ARM call; bad ids raise RemediationInputError."""
        rid = ids.parse_resource_id(resource_id)
        if rid.namespace is None:
            raise UnsupportedTargetError(
                f"{resource_id} is a subscription or resource group; name a cluster, App Gateway, firewall, "
                "VNet, subnet or route table (use 'sweep' for a whole scope)")
        kind = next((k for t, k in _TARGET_KINDS if rid.is_type(t)), None)
        if kind is None:
            raise UnsupportedTargetError(f"{rid.resource_type} is not a resource type this tool reconciles")
        if not self.settings.in_scope(str(rid)):
            raise OutOfScopeError(f"{resource_id} is outside REMEDIATION_SCOPE")
        if rid.is_type(ids.AGENT_POOL):
            parent = rid.parent
            assert parent is not None  # an agent pool id always has its cluster as parent
            return Target(TargetKind.CLUSTER, str(parent))
        if kind is TargetKind.SCOPE:
            # A VPN gateway's P2S pool feeds egress routes and the P2S rule of every cluster in scope.
            return self.scope_target()
        if kind is TargetKind.FIREWALL:
            # Every firewall-side id maps to the one configured firewall: its group is computed whole.
            return Target(TargetKind.FIREWALL, self.settings.firewall_id)
        return Target(kind, str(rid))

    def subnet_target(self, subnet_id: str) -> Target:
        rid = ids.parse_typed(subnet_id, ids.SUBNET)
        if not self.settings.in_scope(str(rid)):
            raise OutOfScopeError(f"{subnet_id} is outside REMEDIATION_SCOPE")
        return Target(TargetKind.SUBNET, str(rid))

    def scope_target(self) -> Target:
        return Target(TargetKind.SCOPE, ",".join(str(s) for s in self.settings.scope))

    def sweep_targets(self) -> list[Target]:
        """One fleet target: list calls per scope cost the same for 1 or 1000 clusters (bench/)."""
        return [self.scope_target()]

    # ------------------------------------------------------------------------------------ reconcile

    def reconcile(self, target: Target, *, dry_run: bool, require_exists: bool = False,
                  approve: Approve | None = None) -> ReconcileResult:
        """Plan and, unless dry run or REMEDIATION_MODE=report, apply, then verify.

        Failed writes are outcomes, not exceptions. A missing cluster or gateway triggers the clean-up
        pass (owned routes and rules that no cluster needs any more), unless require_exists is set, when
        TargetNotFoundError is raised (the HTTP re-run answers 404). `approve` is called with the whole
        plan after planning and before any write; False ends the run with zero writes and an error.
        """
        dry_run = dry_run or self.settings.mode is Mode.REPORT
        started = time.monotonic()
        routing, with_firewall = self._passes(target, require_exists)
        # One gateway, so one read cache, for the whole reconcile: the routing and firewall passes share
        # the firewall, VPN gateways and lists they both need (bench/: reads per converged cluster).
        gateway = self._gateway_factory()
        passes: list[_Pass] = []
        outcomes: list[ChangeOutcome] = []
        converged: bool | None = None
        error: str | None = None
        try:
            if dry_run:
                if routing is not None:
                    passes.append(self._observe(routing, gateway))
                if with_firewall:
                    passes.append(self._observe(self._firewall_pass, gateway))
            else:
                passes, outcomes, error = self._plan_and_apply(gateway, routing, with_firewall,
                                                               _approval(str(target), approve))
                if error is None or outcomes:
                    converged = self._verify(gateway, routing, with_firewall, outcomes)
        finally:
            calls = gateway.arm_calls
            gateway.close()
        plan_ = plan.build_plan(
            str(target),
            [c for p in passes for c in p.changes],
            [c for p in passes for c in p.conflicts],
            _unique_skips([s for p in passes for s in p.skipped]),
        )
        result = ReconcileResult(
            target=str(target), dry_run=dry_run, plan=plan_, outcomes=tuple(outcomes), arm_calls=calls,
            converged=converged, error=error)
        log.info(
            "reconciled %s: %s, %d writes planned, %d conflicts, %d skipped, converged=%s, %d reads, "
            "%d writes in %.2fs", target, "dry run" if dry_run else "applied", len(plan_.writes),
            len(plan_.conflicts), len(plan_.skipped), converged, calls.reads, calls.writes,
            time.monotonic() - started,
            extra={"target": target.id, "action": "reconcile", "dryRun": dry_run})
        return result

    def _plan_and_apply(self, gateway: ArmGateway, routing: _Step | None, with_firewall: bool,
                        approve: Callable[[Sequence[_Pass]], bool] | None = None,
                        ) -> tuple[list[_Pass], list[ChangeOutcome], str | None]:
        """Routing writes and the firewall write run side by side: they touch different parents, and a
        firewall policy write takes minutes, so serializing them would add the routing chain to it."""
        passes: list[_Pass] = []
        routing_pass = self._observe(routing, gateway) if routing is not None else None
        approved_firewall: tuple[Change, ...] | None = None
        if approve is not None:
            # The whole plan is shown before any write starts; the firewall part is planned again inside
            # the lock below and written only if it is still exactly what was approved.
            preview = [p for p in (routing_pass,) if p is not None]
            if with_firewall:
                preview.append(self._observe(self._firewall_pass, gateway))
                approved_firewall = preview[-1].changes
            if not approve(preview):
                writes = sum(c.action is not Action.NOOP for p in preview for c in p.changes)
                return preview, [], f"not approved: {writes} planned write(s), none made"
        firewall_outcomes: tuple[ChangeOutcome, ...] = ()
        error: str | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="routing-writes") as pool:
            routing_writes = (pool.submit(self._apply, gateway, routing_pass.changes)
                              if routing_pass is not None else None)
            if routing_pass is not None:
                passes.append(routing_pass)
            if with_firewall:
                # One writer per firewall across all instances. The owned group is first read here, inside
                # the lock, so the write is computed from what the previous holder left.
                with self._locks.hold("firewall:" + ids.id_key(self.settings.firewall_id)):
                    # The group is computed from every cluster in scope: a cluster list taken before the
                    # lock could miss one that another instance has just written rules for, and our write
                    # would remove them. So the lists are taken again here, like the group itself.
                    if approved_firewall is None:
                        gateway.forget_listings()
                    else:
                        gateway.clear_cache()  # the approved group was read before the lock: read it again
                    firewall_pass = self._observe(self._firewall_pass, gateway)
                    if approved_firewall is None or approved_firewall == firewall_pass.changes:
                        firewall_outcomes = self._apply(gateway, firewall_pass.changes)
                    else:
                        error = "the firewall changed after the plan was approved: its part was not written"
                passes.append(firewall_pass)
            routing_outcomes = routing_writes.result() if routing_writes is not None else ()
        return passes, [*routing_outcomes, *firewall_outcomes], error

    def _verify(self, gateway: ArmGateway, routing: _Step | None, with_firewall: bool,
                outcomes: Sequence[ChangeOutcome]) -> bool:
        """Converged = nothing failed and a fresh read plans no more writes. When nothing was written, the
        state just read is the state, so no second read is needed."""
        if any(o.outcome is Outcome.FAILED for o in outcomes):
            return False
        if all(o.outcome is Outcome.UNCHANGED for o in outcomes):
            return True
        gateway.clear_cache()
        remaining = list(self._observe(routing, gateway).changes) if routing is not None else []
        if with_firewall:
            remaining.extend(self._observe(self._firewall_pass, gateway).changes)
        return not any(c.action is not Action.NOOP for c in remaining)

    def _observe(self, step: _Step, gateway: ArmGateway) -> _Pass:
        """A pass only reads, so a read that is still throttled or busy after azure-core's own retries
        (arm-protocol.md 1.1) can simply be tried again (ARCHITECTURE.md 4)."""
        return run_with_retries(lambda: step(gateway), deadline_s=self._retry_deadline_s,
                                describe="observe", sleep=self._sleep)

    def _apply(self, gateway: ArmGateway, changes: Sequence[Change]) -> tuple[ChangeOutcome, ...]:
        return apply_changes(gateway, changes, settings=self.settings, deadline_s=self._retry_deadline_s,
                             sleep=self._sleep, locks=self._locks)

    def observe_scope(self) -> tuple[Snapshot, ArmCalls]:
        """Read-only: every cluster in scope with its network, the firewall and its owned group (status)."""
        gateway = self._gateway_factory()
        try:
            snapshot = run_with_retries(lambda: observe.observe_fleet(gateway, self.settings),
                                        deadline_s=self._retry_deadline_s, describe="observe", sleep=self._sleep)
        finally:
            calls = gateway.arm_calls
            gateway.close()
        return snapshot, calls

    # ------------------------------------------------------------------------------------ passes

    def _passes(self, target: Target, require_exists: bool) -> tuple[_Step | None, bool]:
        """The routing pass a target needs (or None) and whether the firewall pass follows."""
        if target.kind is TargetKind.CLUSTER:
            return (lambda gw: self._cluster_pass(gw, target.id, require_exists)), True
        if target.kind is TargetKind.GATEWAY:
            return (lambda gw: self._gateway_pass(gw, target.id, require_exists)), True
        if target.kind is TargetKind.SUBNET:
            return (lambda gw: self._subnet_pass(gw, target.id)), False
        if target.kind is TargetKind.FIREWALL:
            return None, True
        # NETWORK and SCOPE: which clusters a VNet, subnet or route table affects is only known from the
        # whole picture, and deletes are only safe with it, so both run the fleet pass with pruning.
        return self._fleet_pass, True

    def _cluster_pass(self, gateway: ArmGateway, cluster_id: str, require_exists: bool) -> _Pass:
        snapshot = observe.observe_cluster(gateway, cluster_id, self.settings)
        if ids.id_key(cluster_id) in snapshot.absent:
            if require_exists:
                raise TargetNotFoundError(f"cluster {cluster_id} was not found")
            cleanup = self._fleet_pass(gateway)
            note = Skip(cluster_id, "cluster not found: removing owned routes that no cluster in scope needs")
            return _Pass(cleanup.changes, cleanup.conflicts, (note, *cleanup.skipped))
        wanted = desired.desired_cluster_routes(snapshot, cluster_id, self.settings)
        if isinstance(wanted, Skip):
            return _Pass(skipped=(wanted,))
        changes, conflicts = plan.plan_routes(snapshot, wanted, self.settings, prune=False)
        return _Pass(tuple(changes), tuple(conflicts))

    def _gateway_pass(self, gateway: ArmGateway, gateway_id: str, require_exists: bool) -> _Pass:
        """The clusters behind an App Gateway, planned from ONE fleet observation: list calls cost the same
        for any number of clusters, and no VPN gateway list or VNet is read once per cluster."""
        snapshot = observe.observe_fleet(gateway, self.settings)
        users = sorted((c for c in snapshot.clusters.values() if ids.same_id(c.ingress_gateway_id, gateway_id)),
                       key=lambda c: ids.id_key(c.id))
        if not users:
            if require_exists and ids.id_key(gateway_id) not in snapshot.app_gateways:
                raise TargetNotFoundError(f"application gateway {gateway_id} was not found")
            # A gateway no cluster uses (or a deleted one): the fleet plan prunes its subnet's routes.
            return self._fleet_plan(snapshot)
        wanted: list[DesiredSubnetRoutes] = []
        skipped: list[Skip] = []
        for cluster in users:
            result = desired.desired_cluster_routes(snapshot, cluster.id, self.settings)
            if isinstance(result, Skip):
                skipped.append(result)
            else:
                wanted.extend(result)
        changes, conflicts = plan.plan_routes(
            snapshot, desired.merge_subnet_routes(wanted), self.settings, prune=False)
        return _Pass(tuple(changes), tuple(conflicts), tuple(skipped))

    def _subnet_pass(self, gateway: ArmGateway, subnet_id: str) -> _Pass:
        snapshot = observe.observe_subnet(gateway, subnet_id, self.settings)
        if ids.id_key(subnet_id) in snapshot.absent:
            raise TargetNotFoundError(f"subnet {subnet_id} was not found")
        wanted = desired.desired_prepared_subnet(snapshot, subnet_id, self.settings)
        if isinstance(wanted, Skip):
            return _Pass(skipped=(wanted,))
        changes, conflicts = plan.plan_routes(snapshot, (wanted,), self.settings, prune=False)
        return _Pass(tuple(changes), tuple(conflicts))

    def _fleet_pass(self, gateway: ArmGateway) -> _Pass:
        return self._fleet_plan(observe.observe_fleet(gateway, self.settings))

    def _fleet_plan(self, snapshot: Snapshot) -> _Pass:
        wanted: list[DesiredSubnetRoutes] = []
        skipped: list[Skip] = []
        for cluster_key in sorted(snapshot.clusters):
            cluster = snapshot.clusters[cluster_key]
            result = desired.desired_cluster_routes(snapshot, cluster.id, self.settings)
            if isinstance(result, Skip):
                skipped.append(result)
            else:
                wanted.extend(result)
        wanted.extend(self._prepared_subnets(snapshot, wanted))
        changes, conflicts = plan.plan_routes(
            snapshot, desired.merge_subnet_routes(wanted), self.settings, prune=True)
        return _Pass(tuple(changes), tuple(conflicts), tuple(skipped))

    def _prepared_subnets(self, snapshot: Snapshot,
                          covered: Sequence[DesiredSubnetRoutes]) -> list[DesiredSubnetRoutes]:
        """Subnets prepared for a userDefinedRouting cluster stay prepared while no cluster uses them.

        AKS refuses to create such a cluster unless the subnet already routes 0.0.0.0/0 to the appliance
        (domain-notes 3.2.1), so an owned default route with no cluster behind it is kept, not pruned.
        """
        covered_keys = {ids.id_key(d.subnet_id) for d in covered}
        default_name = desired.route_name(self.settings, "default", "0.0.0.0/0").lower()
        prepared: list[DesiredSubnetRoutes] = []
        for subnet_key, subnet in sorted(snapshot.subnets.items()):
            if subnet_key in covered_keys or subnet.route_table_id is None:
                continue
            table = snapshot.route_tables.get(ids.id_key(subnet.route_table_id))
            if table is None:
                continue
            if any(r.name.lower() == default_name for r in table.routes):
                wanted = desired.desired_prepared_subnet(snapshot, subnet.id, self.settings)
                if not isinstance(wanted, Skip):
                    prepared.append(wanted)
        return prepared

    def _firewall_pass(self, gateway: ArmGateway) -> _Pass:
        snapshot = observe.observe_firewall(gateway, self.settings)
        if snapshot.firewall is None:
            return _Pass(skipped=(Skip(self.settings.firewall_id, "firewall not found: no rules written"),))
        collections, skipped = desired.desired_rule_collections(snapshot, self.settings)
        changes, conflicts = plan.plan_firewall_checked(snapshot, collections, self.settings)
        return _Pass(changes, conflicts, tuple(skipped))


def _approval(target: str, approve: Approve | None) -> Callable[[Sequence[_Pass]], bool] | None:
    """The caller's approve(Plan), applied to the passes planned before any write."""
    if approve is None:
        return None
    return lambda passes: approve(plan.build_plan(
        target, [c for p in passes for c in p.changes], [c for p in passes for c in p.conflicts],
        _unique_skips([s for p in passes for s in p.skipped])))


def _unique_skips(skips: Sequence[Skip]) -> list[Skip]:
    """The routing pass and the firewall pass both report a cluster that fails a prerequisite."""
    seen: set[str] = set()
    unique: list[Skip] = []
    for skip in skips:
        if ids.id_key(skip.target) not in seen:
            seen.add(ids.id_key(skip.target))
            unique.append(skip)
    return unique
