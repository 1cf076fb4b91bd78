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
client (remediation/azure/pacing.py).

A write holds a lane only for its request (issue 26): `WriteArm.begin_*` sends it (with the read before it,
where the write has one) and returns the future of the operation's end, which the client follows without a
thread per operation and at most OPERATIONS_IN_FLIGHT at once (remediation/azure/inflight.py). The rest runs
when the operation ends: the outcome is recorded, the next write of the lane (a table's routes, a VNet's next
subnet, a policy's next group) is submitted to the pool (`lanes.Chain`), dependent lanes start. A lock a write
needs (`vnet:`, `route-table:`) is held until its operation has ended. Each write is retried under the policy
of remediation/engine/retry.py (`Attempts`: TransientError, never RunEnds, bounded by the reconcile's one
Deadline), each attempt's request on a lane and the backoff on a timer (or through an injected `sleep`); a
failure becomes Outcome.FAILED ("<ArmCode>: message") and does not stop unrelated lanes.
Routes and associations of a route table whose creation failed are FAILED "skipped: dependency failed". Each
change's typed payload picks the write (`match`); nothing is decoded from ARM dicts here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from remediation.core.timer import Timer
from remediation.engine.lanes import Chain, LaneSchedule
from remediation.engine.locks import Held, InProcessLocks, LockProvider, check_held
from remediation.engine.retry import Attempts
from remediation.planning import egress, rules

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 240.0
CLASSIC_SEPARATOR = "/networkrulecollections/"
CLASSIC_APPLICATION_SEPARATOR = "/applicationrulecollections/"  # egress application rules (classic firewalls)
DEPENDENCY_FAILED = "skipped: dependency failed"


class WriteArm(Protocol):
    """The writes apply needs (implemented by remediation.azure.arm.ArmClient). Each sends its request in the
    caller's thread and returns the future of its operation's end (its value, or the error that ended it)."""

    def begin_create_route_table(self, route_table_id: str, table: RouteTablePayload) -> Future[None]: ...
    def begin_put_route(self, route_table_id: str, route: Route) -> Future[None]: ...
    def begin_delete_route(self, route_table_id: str, name: str) -> Future[None]: ...
    def begin_set_subnet_route_table(self, subnet_id: str, route_table_id: str | None,
                                     before: SubnetAssociationPayload | None = None) -> Future[str | None]:
        """Its value is a warning when fields we did not change differ after the PUT (a concurrent writer).
        `before`: the plan's view of the subnet; a pre-read that differs is a conflict and nothing is written."""
        ...
    def begin_put_rule_collection_group(self, policy_id: str, name: str, group: RuleCollectionGroupPayload,
                                        etag: str | None) -> Future[ObservedRuleCollectionGroup | None]:
        """Its value is the group as ARM answered the PUT (None: not known, the verify reads it again)."""
        ...
    def begin_delete_rule_collection_group(self, policy_id: str, name: str) -> Future[None]: ...
    def begin_update_classic_collections(self, firewall_id: str, upserts: Sequence[RuleCollection],
                                         deletes: Sequence[str]) -> Future[None]: ...


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
    def __init__(self, arm: WriteArm, settings: Settings, deadline: Deadline, sleep: Callable[[float], None],
                 locks: LockProvider, held: Held | None, pool: ThreadPoolExecutor, timer: Timer) -> None:
        self.arm = arm
        self.settings = settings
        self.deadline = deadline
        self.sleep = sleep
        self.locks = locks
        self.held = held  # the firewall lease, when the caller holds one: checked before each write
        self.pool = pool
        self.timer = timer
        self.outcomes: dict[int, ChangeOutcome] = {}
        self.warnings: dict[int, str] = {}
        self.answers: dict[int, ObservedRuleCollectionGroup] = {}
        self.failed_tables: set[str] = set()

    # ------------------------------------------------------------------------------------- attempts

    def started(self, describe: str, begin: Callable[[], Future[Any]]) -> Future[Any]:
        """`begin` (one write's request, in this thread: a lane) and its retries; the future of the value of
        the attempt that succeeded, or of the error that ended the last one. Each attempt checks the deadline
        and the held lease first: a write whose lease was lost (or whose time ran out) is not sent."""
        out: Future[Any] = Future()
        attempts = Attempts(deadline=self.deadline, describe=describe)

        def attempt() -> None:
            try:
                self.deadline.check(describe)
                check_held(self.held, describe)
                pending = begin()
            except BaseException as exc:
                failed(exc)
                return
            pending.add_done_callback(ended)

        def ended(pending: Future[Any]) -> None:
            error = pending.exception()
            if error is None:
                out.set_result(pending.result())
            else:
                failed(error)

        def failed(error: BaseException) -> None:
            wait = attempts.backoff(error) if isinstance(error, Exception) else None
            if wait is None:
                out.set_exception(error)
            else:
                self.later(wait, attempt)

        attempt()
        return out

    def later(self, seconds: float, attempt: Callable[[], None]) -> None:
        """The next attempt after a backoff, its request on a lane. The wait is the timer's, so no thread waits
        for it; a caller that injected its own `sleep` (a test's clock) has it called instead."""
        if self.sleep is time.sleep:
            self.timer.after(seconds, partial(self.submit, attempt))
        else:
            self.sleep(seconds)
            self.submit(attempt)

    def submit(self, task: Callable[[], None]) -> None:
        self.pool.submit(task)  # RuntimeError only after shutdown, i.e. once apply_changes is raising

    def attempt(self, index: int, change: Change, begin: Callable[[], Future[Any]]) -> Future[bool]:
        """One change's write (see `started`); the future ends once its outcome is recorded, True when it
        succeeded. An error that is not an ARM or input error ends it with that error (apply re-raises it)."""
        done: Future[bool] = Future()

        def ended(result: Future[Any]) -> None:
            error = result.exception()
            if error is None:
                value = result.result()
                if isinstance(value, str):
                    self.warnings[index] = value
                elif isinstance(value, ObservedRuleCollectionGroup):
                    self.answers[index] = value
                self.record(index, change)
                done.set_result(True)
            elif isinstance(error, RemediationError | ValueError):
                self.record(index, change, error)
                done.set_result(False)
            else:
                done.set_exception(error)

        self.started(f"{change.action.value} {change.kind.value} {change.address}", begin).add_done_callback(ended)
        return done

    def record(self, index: int, change: Change, error: BaseException | None = None, *,
               skipped: bool = False) -> None:
        if skipped:
            self.outcomes[index] = ChangeOutcome(change, Outcome.FAILED, DEPENDENCY_FAILED)
        elif isinstance(error, Exception):
            text = _error_text(error)
            log.warning("%s %s %s failed: %s", change.action.value, change.kind.value, change.address, text)
            self.outcomes[index] = ChangeOutcome(change, Outcome.FAILED, text,
                                                 retryable=isinstance(error, TransientError))
        else:
            self.outcomes[index] = ChangeOutcome(change, OUTCOME_OF_ACTION[change.action],
                                                 warning=self.warnings.get(index), answer=self.answers.get(index))

    def holding(self, name: str, step: Callable[[], Future[Any] | None]) -> Future[Any] | None:
        """`step` with the lock `name` held until what it started has ended (a write's operation included). The
        future returned ends once the lock is released, with what releasing it raised if it did (a blob lease
        lost meanwhile, remediation/storage/lease_lock.py: the run ends retryable, as a `with` would)."""
        hold = self.locks.hold(name, self.deadline)
        hold.__enter__()
        try:
            pending = step()
        except BaseException as exc:
            if not hold.__exit__(type(exc), exc, exc.__traceback__):
                raise
            return None
        if pending is None:
            hold.__exit__(None, None, None)
            return None
        released: Future[Any] = Future()

        def release(ended: Future[Any]) -> None:
            try:
                hold.__exit__(None, None, None)
            except BaseException as exc:
                released.set_exception(exc)
                return
            error = ended.exception()
            if error is not None:
                released.set_exception(error)
            else:
                released.set_result(ended.result())

        pending.add_done_callback(release)
        return released

    # ------------------------------------------------------------------------------------- lanes

    def route_table_lane(self, table_key: str, items: list[tuple[int, Change]]) -> Future[Any] | None:
        chain = Chain(self.pool, [partial(self.table_step, table_key, index, change) for index, change in items])
        if any(change.kind is ChangeKind.ROUTE_TABLE for _, change in items):
            # Creating a table is check-then-PUT, and a table PUT replaces its routes (docs/arm-notes.md 2.1):
            # two instances that both saw no table would let the later, empty PUT wipe the routes the first
            # one wrote. One holder per table (across instances) makes the second see the table and keep it.
            return self.holding("route-table:" + table_key, chain.start)
        return chain.start()

    def table_step(self, table_key: str, index: int, change: Change) -> Future[bool] | None:
        """A table's creation, then its routes one by one (routes share the table's lock domain)."""
        if change.kind is ChangeKind.ROUTE_TABLE:
            done = self.attempt(index, change, partial(self.write_route_table, change))
            # Added before the chain's own callback, so the table's routes see the failure.
            done.add_done_callback(lambda ok: self.failed_tables.add(table_key) if ok.exception() is None
                                   and not ok.result() else None)
            return done
        if table_key in self.failed_tables:
            self.record(index, change, skipped=True)
            return None
        return self.attempt(index, change, partial(self.write_route, change))

    def subnet_write(self, vnet_key: str, index: int, change: Change) -> Future[bool] | None:
        """One association. Subnets share their VNet's lock domain: parallel subnet PUTs in one VNet get 409
        AnotherOperationInProgress, so one holder per VNet across every writer, for each write and until its
        operation has ended."""
        table = self.association_target(change)
        if table is not None and ids.id_key(table) in self.failed_tables:
            self.record(index, change, skipped=True)
            return None
        # The plan's `before` goes with the write: an association made by someone after the plan read the
        # subnet is a conflict there, never replaced (the association is never swapped).
        before = change.old if isinstance(change.old, SubnetAssociationPayload) else None
        write = partial(self.arm.begin_set_subnet_route_table, change.address, table, before)
        return self.holding("vnet:" + vnet_key, partial(self.attempt, index, change, write))

    def policy_lane(self, items: list[tuple[int, Change]]) -> Future[None]:
        """One group write at a time per policy (ARM refuses parallel ones): the shards that receive rules
        first, then those that lose rules, then deletes (the plan's order, remediation/planning/firewall.py,
        kept here whatever order the changes come in). A write that takes rules out of a shard (an update
        that loses rules, or a delete) only follows writes that all succeeded: the shard may hold the only
        copy of rules whose new home was not written, and writing it would leave them in no shard at all."""
        failed_ranks: set[int] = set()

        def step(index: int, change: Change) -> Future[bool] | None:
            rank = _group_write_rank(change)
            # A losing shard waits on every gaining one; a delete, as before, on every write before it.
            if (rank == 1 and 0 in failed_ranks) or (rank == 2 and failed_ranks):
                self.record(index, change, skipped=True)
                return None
            done = self.attempt(index, change, partial(self.write_group, change))
            done.add_done_callback(lambda ok: failed_ranks.add(rank) if ok.exception() is None
                                   and not ok.result() else None)
            return done

        ordered = sorted(items, key=lambda item: _group_write_rank(item[1]))
        return Chain(self.pool, [partial(step, index, change) for index, change in ordered]).start()

    def classic_lane(self, firewall_id: str, items: list[tuple[int, Change]]) -> Future[None] | None:
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
        except (RemediationError, ValueError) as exc:
            for index, change in items:
                self.record(index, change, exc)
            return None
        done: Future[None] = Future()

        def ended(result: Future[Any]) -> None:
            error = result.exception()
            if error is not None and not isinstance(error, RemediationError | ValueError):
                done.set_exception(error)
                return
            for index, change in items:
                self.record(index, change, error)
            done.set_result(None)

        self.started(f"update classic collections of {firewall_id}",
                     lambda: self.arm.begin_update_classic_collections(firewall_id, upserts, deletes)
                     ).add_done_callback(ended)
        return done

    # ------------------------------------------------------------------------------------- single writes

    def write_route_table(self, change: Change) -> Future[None]:
        match change.action, change.new:
            case Action.DELETE, _:
                raise _Unsupported(f"{change.address}: deleting route tables is not part of the runbook")
            case _, RouteTablePayload() as table:
                return self.arm.begin_create_route_table(change.address, table)
            case _:
                raise _Unsupported(f"{change.address}: a route table change needs a RouteTablePayload")

    def write_route(self, change: Change) -> Future[None]:
        table_id = _parent(change.address)
        name = ids.parse_resource_id(change.address).name
        match change.action, change.new:
            case Action.DELETE, _:
                return self.arm.begin_delete_route(table_id, name)
            case _, Route() as route:
                # The address names the route written (an owned route under an older name keeps it).
                return self.arm.begin_put_route(table_id, Route(name, route.address_prefix, route.next_hop_type,
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

    def write_group(self, change: Change) -> Future[Any]:
        rid = ids.parse_resource_id(change.address)
        policy_id = _parent(change.address)
        match change.action, change.new:
            case Action.DELETE, _:
                return self.arm.begin_delete_rule_collection_group(policy_id, rid.name)
            case _, RuleCollectionGroupPayload() as group:
                return self.arm.begin_put_rule_collection_group(policy_id, rid.name, group, change.etag)
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
    the lanes run at once (default: the WRITE_LANES setting). `sleep`: how a retry's backoff is waited when
    a caller brings its own (a test's clock); by default the backoff holds no thread."""
    tables, vnets, policies, firewalls, early = _lanes_of(changes)
    timer = Timer("apply-backoff")
    try:
        with ThreadPoolExecutor(max_workers=max_workers or settings.write_lanes, thread_name_prefix="apply") as pool:
            run = _Run(arm, settings, deadline or Deadline.after(deadline_s), sleep, locks or InProcessLocks(), held,
                       pool, timer)
            for index, outcome in early.items():
                if outcome is None:
                    run.record(index, changes[index])
                else:
                    run.record(index, changes[index], outcome)
            schedule = LaneSchedule(pool)
            table_lanes = {key: schedule.add(partial(run.route_table_lane, key, items))
                           for key, items in tables.items()}
            lanes: list[Future[None]] = [*table_lanes.values()]
            lanes += [schedule.add(partial(run.policy_lane, items)) for items in policies.values()]
            lanes += [schedule.add(partial(run.classic_lane, fw, items)) for fw, items in firewalls.values()]
            # A VNet's chain is started when the table lanes its associations point at have ended (remediation/
            # engine/lanes.py): no pool thread waits for another lane. After a table lane that raised something
            # unexpected it is not started, and apply_changes re-raises that lane's error below. Once started, a
            # VNet's associations run as a chain, one pool task per write's request: its subnet writes are
            # serialized by ARM, and between them (and while ARM runs each) it holds no thread, so more VNets
            # than threads share the threads instead of queueing behind whole VNets (issue 26).
            for key, items in vnets.items():
                chain = Chain(pool, [partial(run.subnet_write, key, index, change) for index, change in items])
                lanes.append(schedule.add(chain.start, after=[table_lanes[t] for t in _tables_of(items, table_lanes)]))
            schedule.wait()  # every lane ends before the first error is re-raised: they are independent
            for future in lanes:
                future.result()
    finally:
        timer.close()
    return tuple(run.outcomes[i] for i in range(len(changes)))


_Items = dict[str, list[tuple[int, Change]]]
_Firewalls = dict[str, tuple[str, list[tuple[int, Change]]]]


def _lanes_of(changes: Sequence[Change]) -> tuple[_Items, _Items, _Items, _Firewalls, dict[int, Exception | None]]:
    """The changes by lock domain (route table, VNet, policy, classic firewall), in plan order; `early`: the
    outcomes known without a write (None: a NOOP, UNCHANGED; an error: a change apply cannot make)."""
    tables: _Items = {}
    vnets: _Items = {}
    policies: _Items = {}
    firewalls: _Firewalls = {}
    early: dict[int, Exception | None] = {}
    for index, change in enumerate(changes):
        if change.action is Action.NOOP:
            early[index] = None
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
            early[index] = exc
    for items in tables.values():
        # The table's creation first, then its routes, in plan order.
        items.sort(key=lambda item: (item[1].kind is not ChangeKind.ROUTE_TABLE, item[0]))
    return tables, vnets, policies, firewalls, early


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
