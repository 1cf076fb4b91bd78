"""Apply: execute a plan's writes through the gateway. No azure imports here.

Order and parallelism follow the ARM lock domains (arm-protocol.md 0.8, 3.4):
- phase 1, in parallel lanes: each route table (create, then its routes one by one), each firewall policy
  (its rule collection group writes) and each classic firewall (all its collection changes in ONE firewall
  PUT, since every classic change rewrites the whole firewall);
- phase 2, after phase 1: subnet associations, one lane per VNet (subnets share the VNet's lock), because an
  association must see the route table and its routes provisioned.
Writes inside a lane are serialized; lanes run on a small thread pool. Each write goes through
`run_with_retries`; a failure becomes Outcome.FAILED ("<ArmCode>: message") and does not stop unrelated lanes.
Routes and associations of a route table whose creation failed are FAILED "skipped: dependency failed".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol

from remediation import ids
from remediation.config import Settings
from remediation.errors import ArmError, RemediationError, TransientError
from remediation.locks import InProcessLocks, LockProvider
from remediation.model import (
    OUTCOME_OF_ACTION,
    Action,
    Change,
    ChangeKind,
    ChangeOutcome,
    ObservedRouteTable,
    Outcome,
    Route,
    RuleCollection,
)
from remediation.retry import run_with_retries

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 240.0
MAX_PARALLEL_WRITES = 4
CLASSIC_SEPARATOR = "/networkrulecollections/"
CLASSIC_APPLICATION_SEPARATOR = "/applicationrulecollections/"  # egress application rules (classic firewalls)
DEPENDENCY_FAILED = "skipped: dependency failed"


class WriteGateway(Protocol):
    """The writes apply needs (implemented by remediation.azure.gateway.ArmGateway)."""

    def create_route_table(self, route_table_id: str, location: str,
                           tags: Mapping[str, str]) -> ObservedRouteTable: ...
    def put_route(self, route_table_id: str, route: Route) -> Route: ...
    def delete_route(self, route_table_id: str, name: str) -> None: ...
    def set_subnet_route_table(self, subnet_id: str, route_table_id: str | None) -> None: ...
    def put_rule_collection_group(self, policy_id: str, name: str, priority: int,
                                  rule_collections_arm: Sequence[Mapping[str, Any]]) -> None: ...
    def delete_rule_collection_group(self, policy_id: str, name: str) -> None: ...
    def update_classic_collections(self, firewall_id: str,
                                   upserts: Sequence[Mapping[str, Any] | RuleCollection],
                                   deletes: Sequence[str]) -> None: ...


class _Unsupported(RemediationError):
    code = "UnsupportedChange"


def _props(after: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`after` in ARM names, with or without the `properties` wrapper."""
    if not after:
        return {}
    inner = after.get("properties")
    if isinstance(inner, Mapping):
        return {**{k: v for k, v in after.items() if k != "properties"}, **inner}
    return after


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
    def __init__(self, gateway: WriteGateway, settings: Settings, deadline: float,
                 sleep: Callable[[float], None], locks: LockProvider) -> None:
        self.gateway = gateway
        self.settings = settings
        self.deadline = deadline
        self.sleep = sleep
        self.locks = locks
        self.outcomes: dict[int, ChangeOutcome] = {}
        self.failed_tables: set[str] = set()

    def retried(self, describe: str, fn: Callable[[], Any]) -> None:
        remaining = max(0.0, self.deadline - time.monotonic())
        run_with_retries(fn, deadline_s=remaining, describe=describe, sleep=self.sleep)

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
            self.outcomes[index] = ChangeOutcome(change, OUTCOME_OF_ACTION[change.action])

    def attempt(self, index: int, change: Change, fn: Callable[[], Any]) -> bool:
        try:
            self.retried(f"{change.action.value} {change.kind.value} {change.address}", fn)
        except (RemediationError, ValueError) as exc:
            self.record(index, change, exc)
            return False
        self.record(index, change)
        return True

    # ------------------------------------------------------------------------------------- lanes

    def route_table_lane(self, table_key: str, items: list[tuple[int, Change]]) -> None:
        if any(change.kind is ChangeKind.ROUTE_TABLE for _, change in items):
            # Creating a table is check-then-PUT, and a table PUT replaces its routes (arm-protocol.md 2.1):
            # two instances that both saw no table would let the later, empty PUT wipe the routes the first
            # one wrote. One holder per table (across instances) makes the second see the table and keep it.
            with self.locks.hold("route-table:" + table_key):
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

    def subnet_lane(self, items: list[tuple[int, Change]]) -> None:
        for index, change in items:
            table = self.association_target(change)
            if table is not None and ids.id_key(table) in self.failed_tables:
                self.record(index, change, skipped=True)
            else:
                write = partial(self.gateway.set_subnet_route_table, change.address, table)
                self.attempt(index, change, write)

    def policy_lane(self, items: list[tuple[int, Change]]) -> None:
        for index, change in items:
            self.attempt(index, change, partial(self.write_group, change))

    def classic_lane(self, firewall_id: str, items: list[tuple[int, Change]]) -> None:
        """All classic collection changes of one firewall in one PUT: the outcome is shared."""
        upserts: list[Mapping[str, Any] | RuleCollection] = []
        deletes: list[str] = []
        try:
            for _, change in items:
                _, name = _classic_parts(change.address)
                if change.action is Action.DELETE:
                    deletes.append(name)
                elif change.after is not None:
                    upserts.append({"name": name, **dict(change.after)} if "name" not in change.after
                                   else change.after)
                else:
                    raise _Unsupported(f"{change.address}: {change.action.value} without 'after'")
            self.retried(f"update classic collections of {firewall_id}",
                         lambda: self.gateway.update_classic_collections(firewall_id, upserts, deletes))
        except (RemediationError, ValueError) as exc:
            for index, change in items:
                self.record(index, change, exc)
            return
        for index, change in items:
            self.record(index, change)

    # ------------------------------------------------------------------------------------- single writes

    def write_route_table(self, change: Change) -> None:
        if change.action is Action.DELETE:
            raise _Unsupported(f"{change.address}: deleting route tables is not part of the runbook")
        props = _props(change.after)
        location = str(props.get("location") or "")
        if not location:
            raise _Unsupported(f"{change.address}: a route table change needs 'location' in 'after'")
        tags = props.get("tags")
        if not isinstance(tags, Mapping):
            key, value = self.settings.ownership_tag
            tags = {key: value}
        self.gateway.create_route_table(change.address, location, {str(k): str(v) for k, v in tags.items()})

    def write_route(self, change: Change) -> None:
        table_id = _parent(change.address)
        name = ids.parse_resource_id(change.address).name
        if change.action is Action.DELETE:
            self.gateway.delete_route(table_id, name)
            return
        props = _props(change.after)
        route = Route(
            name=name,
            address_prefix=str(props["addressPrefix"]),
            next_hop_type=str(props["nextHopType"]),
            next_hop_ip_address=props.get("nextHopIpAddress") or None,
        )
        self.gateway.put_route(table_id, route)

    @staticmethod
    def association_target(change: Change) -> str | None:
        if change.action is Action.DELETE:
            return None
        props = _props(change.after)
        table = props.get("routeTable")
        if isinstance(table, Mapping):
            return str(table["id"]) if table.get("id") else None
        value = props.get("routeTableId", table)
        return str(value) if value else None

    def write_group(self, change: Change) -> None:
        rid = ids.parse_resource_id(change.address)
        policy_id = _parent(change.address)
        if change.action is Action.DELETE:
            self.gateway.delete_rule_collection_group(policy_id, rid.name)
            return
        props = _props(change.after)
        priority = int(props.get("priority") or self.settings.rule_collection_group_priority)
        collections = list(props.get("ruleCollections") or [])
        self.gateway.put_rule_collection_group(policy_id, rid.name, priority, collections)


def apply_changes(
    gateway: WriteGateway,
    changes: Sequence[Change],
    *,
    settings: Settings,
    deadline_s: float = DEFAULT_DEADLINE_S,
    sleep: Callable[[float], None] = time.sleep,
    max_workers: int = MAX_PARALLEL_WRITES,
    locks: LockProvider | None = None,
) -> tuple[ChangeOutcome, ...]:
    """Execute the writes of `changes` (NOOPs are UNCHANGED without a call); outcomes in `changes` order.

    `deadline_s` bounds the whole apply including retries (keep it under the Function timeout)."""
    run = _Run(gateway, settings, time.monotonic() + deadline_s, sleep, locks or InProcessLocks())
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

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="apply") as pool:
        phase1 = [pool.submit(run.route_table_lane, key, items) for key, items in tables.items()]
        phase1 += [pool.submit(run.policy_lane, items) for items in policies.values()]
        phase1 += [pool.submit(run.classic_lane, fw, items) for fw, items in firewalls.values()]
        table_lanes = phase1[: len(tables)]
        for future in table_lanes:
            future.result()
        phase2 = [pool.submit(run.subnet_lane, items) for items in vnets.values()]
        for future in [*phase1, *phase2]:
            future.result()
    return tuple(run.outcomes[i] for i in range(len(changes)))
