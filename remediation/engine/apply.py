"""Apply: execute a plan's writes through the ARM client. No azure imports here.

Order and parallelism follow the ARM lock domains (docs/arm-notes.md 0.8, 3.4): ARM serializes writes per
lock domain, so writes are serialized there and nowhere else.
- one lane per route table (a new table is ONE PUT carrying its routes; an existing one gets its routes one
  by one: routes share the table's lock), per firewall policy (its rule collection group writes) and per
  classic firewall (all its collection changes in ONE firewall PUT, since every classic change rewrites
  the whole firewall);
- one lane per VNet for subnet associations (subnets share the VNet's lock, held for each write). A VNet's
  lane starts as soon as the route tables ITS associations point at are done (an association must see the
  table and its routes provisioned), not after every table of the plan; VNets run in parallel with each
  other, and a VNet holds a thread only while one of its writes runs (`_VnetChain`).
Lanes run on one thread pool of `WRITE_LANES` threads (remediation/core/config.py), in dependency order
(remediation/engine/lanes.py: a VNet's chain is started when its tables' lanes have ended, so no pool thread
waits for another lane), and share no cache (the client is stateless); ARM's write bucket is paced by the
client (remediation/azure/pacing.py). Each write goes through `run_with_retries` bounded by the reconcile's
one Deadline; a failure becomes Outcome.FAILED ("<ArmCode>: message") and does not stop unrelated lanes.
Routes and associations of a route table whose creation failed are FAILED "skipped: dependency failed". Each
change's typed payload picks the write (`match`); nothing is decoded from ARM dicts here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any, Protocol

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.deadline import Deadline
from remediation.core.errors import ArmError, RemediationError, TransientError
from remediation.core.model import (
    OUTCOME_OF_ACTION,
    Action,
    Change,
    ChangeKind,
    ChangeOutcome,
    ClassicCollectionPayload,
    ObservedRuleCollectionGroup,
    Outcome,
    Route,
    RouteTablePayload,
    RuleCollection,
    RuleCollectionGroupPayload,
    SubnetAssociationPayload,
)
from remediation.engine.lanes import LaneSchedule
from remediation.engine.locks import Held, InProcessLocks, LockProvider, check_held
from remediation.engine.retry import run_with_retries
from remediation.planning import egress, rules

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 240.0
CLASSIC_SEPARATOR = "/networkrulecollections/"
CLASSIC_APPLICATION_SEPARATOR = "/applicationrulecollections/"  # egress application rules (classic firewalls)
DEPENDENCY_FAILED = "skipped: dependency failed"


class WriteArm(Protocol):
    """The writes apply needs (implemented by remediation.azure.arm.ArmClient)."""

    def create_route_table(self, route_table_id: str, table: RouteTablePayload) -> None: ...
    def put_route(self, route_table_id: str, route: Route) -> None: ...
    def delete_route(self, route_table_id: str, name: str) -> None: ...
    def set_subnet_route_table(self, subnet_id: str, route_table_id: str | None,
                               before: SubnetAssociationPayload | None = None) -> str | None:
        """Returns a warning when fields we did not change differ after the PUT (a concurrent writer).
        `before`: the plan's view of the subnet; a pre-read that differs is a conflict and nothing is written."""
        ...
    def put_rule_collection_group(self, policy_id: str, name: str, group: RuleCollectionGroupPayload,
                                  etag: str | None) -> ObservedRuleCollectionGroup | None:
        """Returns the group as ARM answered the PUT (None: not known, the verify reads it again)."""
        ...
    def delete_rule_collection_group(self, policy_id: str, name: str) -> None: ...
    def update_classic_collections(self, firewall_id: str, upserts: Sequence[RuleCollection],
                                   deletes: Sequence[str]) -> None: ...


class _Unsupported(RemediationError):
    code = "UnsupportedChange"


def _parent(resource_id: str) -> str:
    parent = ids.parse_resource_id(resource_id).parent
    return str(parent) if parent is not None else resource_id


def _classic_parts(address: str) -> tuple[str, str]:
    app = address.lower().rfind(CLASSIC_APPLICATION_SEPARATOR)
    if app >= 0:  # named "applicationRuleCollections/<name>" for the gateway (remediation/azure/egress_reads.py)
        return address[:app], "applicationRuleCollections/" + address[app + len(CLASSIC_APPLICATION_SEPARATOR):]
    index = address.lower().rfind(CLASSIC_SEPARATOR)
    if index < 0:
        raise _Unsupported(f"{address} is not '<firewall id>/networkRuleCollections/<name>'")
    return address[:index], address[index + len(CLASSIC_SEPARATOR):]


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ArmError):
        text = str(exc)
        code = exc.arm_code or "ArmError"
        return text if text.startswith(code) else f"{code}: {text}"
    code = getattr(exc, "code", None) or type(exc).__name__
    return f"{code}: {exc}"


class _Run:
    def __init__(self, arm: WriteArm, settings: Settings, deadline: Deadline,
                 sleep: Callable[[float], None], locks: LockProvider, held: Held | None) -> None:
        self.arm = arm
        self.settings = settings
        self.deadline = deadline
        self.sleep = sleep
        self.locks = locks
        self.held = held  # the firewall lease, when the caller holds one: checked before each write
        self.outcomes: dict[int, ChangeOutcome] = {}
        self.warnings: dict[int, str] = {}
        self.answers: dict[int, ObservedRuleCollectionGroup] = {}
        self.failed_tables: set[str] = set()

    def retried(self, describe: str, fn: Callable[[], Any]) -> Any:
        def guarded() -> Any:
            # Checked before every attempt: a write whose lease was lost (or whose time ran out) is not sent.
            self.deadline.check(describe)
            check_held(self.held, describe)
            return fn()

        return run_with_retries(guarded, deadline=self.deadline, describe=describe, sleep=self.sleep)

    def record(self, index: int, change: Change, error: Exception | None = None, *,
               skipped: bool = False) -> None:
        if skipped:
            self.outcomes[index] = ChangeOutcome(change, Outcome.FAILED, DEPENDENCY_FAILED)
        elif error is not None:
            text = _error_text(error)
            log.warning("%s %s %s failed: %s", change.action.value, change.kind.value, change.address, text)
            self.outcomes[index] = ChangeOutcome(change, Outcome.FAILED, text,
                                                 retryable=isinstance(error, TransientError))
        else:
            self.outcomes[index] = ChangeOutcome(change, OUTCOME_OF_ACTION[change.action],
                                                 warning=self.warnings.get(index), answer=self.answers.get(index))

    def attempt(self, index: int, change: Change, fn: Callable[[], Any]) -> bool:
        try:
            warning = self.retried(f"{change.action.value} {change.kind.value} {change.address}", fn)
        except (RemediationError, ValueError) as exc:
            self.record(index, change, exc)
            return False
        if isinstance(warning, str):
            self.warnings[index] = warning
        elif isinstance(warning, ObservedRuleCollectionGroup):
            self.answers[index] = warning
        self.record(index, change)
        return True

    # ------------------------------------------------------------------------------------- lanes

    def route_table_lane(self, table_key: str, items: list[tuple[int, Change]]) -> None:
        if any(change.kind is ChangeKind.ROUTE_TABLE for _, change in items):
            # Creating a table is check-then-PUT, and a table PUT replaces its routes (docs/arm-notes.md 2.1):
            # two instances that both saw no table would let the later, empty PUT wipe the routes the first
            # one wrote. One holder per table (across instances) makes the second see the table and keep it.
            with self.locks.hold("route-table:" + table_key, self.deadline):
                self._route_table_lane(table_key, items)
        else:
            self._route_table_lane(table_key, items)

    def _route_table_lane(self, table_key: str, items: list[tuple[int, Change]]) -> None:
        for index, change in items:
            if change.kind is ChangeKind.ROUTE_TABLE:
                if not self.attempt(index, change, partial(self.write_route_table, change)):
                    self.failed_tables.add(table_key)
            elif table_key in self.failed_tables:
                self.record(index, change, skipped=True)
            else:
                self.attempt(index, change, partial(self.write_route, change))

    def subnet_write(self, vnet_key: str, index: int, change: Change) -> None:
        """One association. Subnets share their VNet's lock domain: parallel subnet PUTs in one VNet get 409
        AnotherOperationInProgress, so one holder per VNet across every writer, for each write."""
        table = self.association_target(change)
        if table is not None and ids.id_key(table) in self.failed_tables:
            self.record(index, change, skipped=True)
            return
        with self.locks.hold("vnet:" + vnet_key, self.deadline):
            # The plan's `before` goes with the write: an association made by someone after the plan read the
            # subnet is a conflict there, never replaced (the association is never swapped).
            before = change.old if isinstance(change.old, SubnetAssociationPayload) else None
            self.attempt(index, change, partial(self.arm.set_subnet_route_table, change.address, table, before))

    def policy_lane(self, items: list[tuple[int, Change]]) -> None:
        """One group write at a time per policy (ARM refuses parallel ones): the shards that receive rules
        first, then those that lose rules, then deletes (the plan's order, remediation/planning/firewall.py,
        kept here whatever order the changes come in). A write that takes rules out of a shard (an update
        that loses rules, or a delete) only follows writes that all succeeded: the shard may hold the only
        copy of rules whose new home was not written, and writing it would leave them in no shard at all."""
        failed_ranks: set[int] = set()
        for index, change in sorted(items, key=lambda item: _group_write_rank(item[1])):
            rank = _group_write_rank(change)
            # A losing shard waits on every gaining one; a delete, as before, on every write before it.
            if (rank == 1 and 0 in failed_ranks) or (rank == 2 and failed_ranks):
                self.record(index, change, skipped=True)
                continue
            if not self.attempt(index, change, partial(self.write_group, change)):
                failed_ranks.add(rank)

    def classic_lane(self, firewall_id: str, items: list[tuple[int, Change]]) -> None:
        """All classic collection changes of one firewall in one PUT: the outcome is shared."""
        upserts: list[RuleCollection] = []
        deletes: list[str] = []
        try:
            for _, change in items:
                _, name = _classic_parts(change.address)
                match change.action, change.new:
                    case Action.DELETE, _:
                        deletes.append(name)
                    case _, ClassicCollectionPayload(collection=collection):
                        upserts.append(collection)
                    case _:
                        raise _Unsupported(f"{change.address}: {change.action.value} without a classic payload")
            self.retried(f"update classic collections of {firewall_id}",
                         lambda: self.arm.update_classic_collections(firewall_id, upserts, deletes))
        except (RemediationError, ValueError) as exc:
            for index, change in items:
                self.record(index, change, exc)
            return
        for index, change in items:
            self.record(index, change)

    # ------------------------------------------------------------------------------------- single writes

    def write_route_table(self, change: Change) -> None:
        match change.action, change.new:
            case Action.DELETE, _:
                raise _Unsupported(f"{change.address}: deleting route tables is not part of the runbook")
            case _, RouteTablePayload() as table:
                self.arm.create_route_table(change.address, table)
            case _:
                raise _Unsupported(f"{change.address}: a route table change needs a RouteTablePayload")

    def write_route(self, change: Change) -> None:
        table_id = _parent(change.address)
        name = ids.parse_resource_id(change.address).name
        match change.action, change.new:
            case Action.DELETE, _:
                self.arm.delete_route(table_id, name)
            case _, Route() as route:
                # The address names the route written (an owned route under an older name keeps it).
                self.arm.put_route(table_id, Route(name, route.address_prefix, route.next_hop_type,
                                                       route.next_hop_ip_address))
            case _:
                raise _Unsupported(f"{change.address}: a route change needs a Route payload")

    @staticmethod
    def association_target(change: Change) -> str | None:
        if change.action is Action.DELETE:
            return None
        match change.new:
            case SubnetAssociationPayload(route_table_id=table):
                return table
        raise _Unsupported(f"{change.address}: an association change needs a SubnetAssociationPayload")

    def write_group(self, change: Change) -> ObservedRuleCollectionGroup | None:
        rid = ids.parse_resource_id(change.address)
        policy_id = _parent(change.address)
        match change.action, change.new:
            case Action.DELETE, _:
                self.arm.delete_rule_collection_group(policy_id, rid.name)
                return None
            case _, RuleCollectionGroupPayload() as group:
                return self.arm.put_rule_collection_group(policy_id, rid.name, group, change.etag)
            case _:
                raise _Unsupported(f"{change.address}: a group change needs a RuleCollectionGroupPayload")


def apply_changes(
    arm: WriteArm,
    changes: Sequence[Change],
    *,
    settings: Settings,
    deadline: Deadline | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
    sleep: Callable[[float], None] = time.sleep,
    max_workers: int | None = None,
    locks: LockProvider | None = None,
    held: Held | None = None,
) -> tuple[ChangeOutcome, ...]:
    """Execute the writes of `changes` (NOOPs are UNCHANGED without a call); outcomes in `changes` order.

    `deadline` (the reconcile's one deadline; else `deadline_s` from now) bounds the whole apply including
    retries and lock waits. `held`: a lock the caller holds, checked before every write. `max_workers`:
    the lanes run at once (default: the WRITE_LANES setting)."""
    run = _Run(arm, settings, deadline or Deadline.after(deadline_s), sleep, locks or InProcessLocks(), held)
    tables: dict[str, list[tuple[int, Change]]] = {}
    vnets: dict[str, list[tuple[int, Change]]] = {}
    policies: dict[str, list[tuple[int, Change]]] = {}
    firewalls: dict[str, tuple[str, list[tuple[int, Change]]]] = {}
    for index, change in enumerate(changes):
        if change.action is Action.NOOP:
            run.record(index, change)
            continue
        try:
            if change.kind is ChangeKind.ROUTE_TABLE:
                tables.setdefault(ids.id_key(change.address), []).append((index, change))
            elif change.kind is ChangeKind.ROUTE:
                tables.setdefault(ids.id_key(_parent(change.address)), []).append((index, change))
            elif change.kind is ChangeKind.SUBNET_ROUTE_TABLE:
                vnets.setdefault(ids.id_key(_parent(change.address)), []).append((index, change))
            elif change.kind is ChangeKind.RULE_COLLECTION_GROUP:
                policies.setdefault(ids.id_key(_parent(change.address)), []).append((index, change))
            elif change.kind in (ChangeKind.CLASSIC_RULE_COLLECTION, ChangeKind.CLASSIC_APPLICATION_RULE_COLLECTION):
                firewall_id, _ = _classic_parts(change.address)
                firewalls.setdefault(ids.id_key(firewall_id), (firewall_id, []))[1].append((index, change))
            else:
                raise _Unsupported(f"unknown change kind {change.kind}")
        except (RemediationError, ValueError) as exc:
            run.record(index, change, exc)
    for items in tables.values():
        # The table's creation first, then its routes, in plan order.
        items.sort(key=lambda item: (item[1].kind is not ChangeKind.ROUTE_TABLE, item[0]))

    with ThreadPoolExecutor(max_workers=max_workers or settings.write_lanes, thread_name_prefix="apply") as pool:
        schedule = LaneSchedule(pool)
        table_lanes = {key: schedule.add(partial(run.route_table_lane, key, items)) for key, items in tables.items()}
        lanes: list[Future[None]] = [*table_lanes.values()]
        lanes += [schedule.add(partial(run.policy_lane, items)) for items in policies.values()]
        lanes += [schedule.add(partial(run.classic_lane, fw, items)) for fw, items in firewalls.values()]
        # A VNet's chain is started when the table lanes its associations point at have ended (remediation/
        # engine/lanes.py): no pool thread waits for another lane. After a table lane that raised something
        # unexpected it is not started, and apply_changes re-raises that lane's error below. Once started, a
        # VNet's associations run as a chain, one pool task per write: its subnet writes are serialized by ARM,
        # and between them it holds no thread, so more VNets than threads share the threads round-robin instead
        # of queueing behind whole VNets (issue 26: 21 VNets on 16 lanes took two VNet-lengths).
        chains = [_VnetChain(pool, partial(run.subnet_write, key), items) for key, items in vnets.items()]
        lanes += [schedule.add(chain.start, after=[table_lanes[t] for t in _tables_of(chain.items, table_lanes)])
                  for chain in chains]
        schedule.wait()
        started = [chain.done for chain in chains if chain.started]
        wait(started)  # every lane and chain ends before the first error is re-raised: they are independent
        for future in [*lanes, *started]:
            future.result()
    return tuple(run.outcomes[i] for i in range(len(changes)))


def _group_write_rank(change: Change) -> int:
    """0: a group write that removes no rule (it creates a shard or only adds to one); 1: an update that takes
    rules out; 2: a delete. Stable sort keeps the plan's order within each rank."""
    if change.action is Action.DELETE:
        return 2
    old, new = change.old, change.new
    if isinstance(old, RuleCollectionGroupPayload) and isinstance(new, RuleCollectionGroupPayload):
        return 1 if _placed_rules(old) - _placed_rules(new) else 0
    return 0


def _placed_rules(group: RuleCollectionGroupPayload) -> set[tuple[Any, ...]]:
    """Each rule of the group with the collection it sits in, in the plan's canonical rule form."""
    placed: set[tuple[Any, ...]] = set()
    for collection in group.rule_collections:
        name = collection.name.lower()
        placed |= {(name, rules.canon_rule(rule)) for rule in collection.rules}
        placed |= {(name, item) for item in egress.canon_application_rules(collection)}
    return placed


def _tables_of(items: Sequence[tuple[int, Change]], planned: Mapping[str, object]) -> list[str]:
    """The planned route tables the associations of one VNet point at (their lanes must finish first)."""
    keys: set[str] = set()
    for _, change in items:
        if isinstance(change.new, SubnetAssociationPayload) and change.new.route_table_id is not None:
            key = ids.id_key(change.new.route_table_id)
            if key in planned:
                keys.add(key)
    return sorted(keys)


class _VnetChain:
    """One VNet's associations as a chain of pool tasks: each write, when it ends, submits the next (in plan
    order), so the VNet holds a thread only while one of its writes runs. `done` ends when the last write has,
    or with what a write raised unexpectedly; `started` says whether `start` ran (it is not when a table lane
    before it raised)."""

    def __init__(self, pool: ThreadPoolExecutor, write: Callable[[int, Change], None],
                 items: Sequence[tuple[int, Change]]) -> None:
        self.pool, self.write, self.items = pool, write, list(items)
        self.done: Future[None] = Future()
        self.started = False

    def start(self) -> None:
        self.started = True
        self._next(0)

    def _next(self, position: int) -> None:
        if position >= len(self.items):
            self.done.set_result(None)
            return
        try:
            self.pool.submit(self._step, position)
        except RuntimeError as exc:  # the pool shut down: apply_changes is already raising something else
            self.done.set_exception(exc)

    def _step(self, position: int) -> None:
        try:
            self.write(*self.items[position])
        except BaseException as exc:  # unexpected (attempt records ARM failures): stop the chain, re-raised by apply
            self.done.set_exception(exc)
            return
        self._next(position + 1)
