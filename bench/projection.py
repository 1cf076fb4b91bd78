"""Project the product's converging sweep onto real Azure: Azure-seconds from its measured call log.

The emulator runs the sweep with instant operations (so a benchmark of hundreds of clusters takes minutes), and
its request log says what the product asked for and in which order. This module replays those writes with the
durations and limits of bench/floor.py's Assumptions and the write scheduling of `remediation/engine/apply.py`
as of this commit (the model must follow apply.py when it changes; `Schedule` names each choice).

Measured from the log (`calls_from_log`): the writes per route table (its create and route PUTs), per VNet
(its subnet associations) and to rule collection groups; the reads before the first routing write and after
the last one, and the concurrency they ran at (the union of their intervals over the sum of their durations: a
sequential reader pays every round trip); whether the group write started after the routing or beside it.

Assumed (bench/floor.py `Assumptions`, not measured here): the operations' durations (route table or route 2 s,
subnet 8 s, group 180 s, from the recorded traffic in docs/arm-notes.md 1.2), the request round trips (PUT
0.3 s, GET 0.1 s), and that an operation's end is seen when it ends (the product's first poll comes at once,
then after Retry-After: real polling adds up to one poll interval per write, as in the floor). ARM's
per-subscription write bucket (200, 10/s) bounds the routing from below (`bucket_s`).

The scheduling modelled (apply.py since issue 26's round 7, `Schedule()`):
- one thread pool of `lanes` threads; one lane per route table (its table PUT, then its route PUTs, each after
  the previous operation ended), submitted first, then the policy lane when the group is written in the same
  apply, then one chain per VNet for its subnet associations, started when the tables of its resource group are
  done; a VNet's subnet writes one after another (ARM's lock domain), each a fresh GET and the PUT;
- a write holds a lane for its request round trip only; its operation runs without a thread, and at most
  `operations_in_flight` operations run at once (a request waits, holding its lane, for a slot);
- tasks start in the order they became ready, on the first free thread (a FIFO pool).
`Schedule(write_holds_lane=True)` is the scheduling before round 7: a write held its lane for its whole
operation (the SDK's poller was waited on), and `vnet_lane_holds_thread` the one before issue 26's round 5.

Pure: takes records with `method`, `path`, `status`, `started_at` and `duration_s` (emulator.server.RequestRecord).
"""

from __future__ import annotations

import dataclasses
import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import POLL_PATH, is_graph_query
from bench.floor import ASSUMPTIONS, Assumptions

_SUBNET = re.compile(r"^(?P<vnet>.*/virtualnetworks/[^/]+)/subnets/[^/]+$")
_TABLE = re.compile(r"^(?P<table>.*/routetables/[^/]+)(?P<route>/routes/[^/]+)?$")
_GROUP = re.compile(r"/rulecollectiongroups/[^/]+$")
_WRITE = ("PUT", "PATCH", "DELETE", "POST")


@dataclass(frozen=True)
class Schedule:
    """The product's write scheduling choices the projection models (apply.py)."""

    lanes: int = 16  # WRITE_LANES
    operations_in_flight: int = 200  # OPERATIONS_IN_FLIGHT (remediation/core/config.py)
    write_holds_lane: bool = False  # True: a write holds its lane for its whole operation (before round 7)
    vnet_lane_holds_thread: bool = False  # with write_holds_lane: apply.py before `_VnetChain` (round 5)


@dataclass
class Calls:
    """What a sweep's log says, reduced to what takes time."""

    table_writes: dict[str, int] = field(default_factory=dict)  # table -> table + route writes
    subnet_writes: dict[str, int] = field(default_factory=dict)  # VNet -> subnet writes
    group_writes: int = 0
    other_writes: int = 0
    reads_before: int = 0  # GETs (not polls) before the first routing write
    reads_after: int = 0  # GETs after the last routing write (verify, the firewall part)
    read_concurrency: float = 1.0
    group_after_routing: bool = True


def _rg(resource_id: str) -> str:
    return resource_id.split("/providers/")[0]


def _concurrency(records: Sequence[Any]) -> float:
    intervals = sorted((r.started_at, r.started_at + max(r.duration_s, 1e-6)) for r in records)
    if not intervals:
        return 1.0
    union, end = 0.0, float("-inf")
    for start, stop in intervals:
        if stop > end:
            union += stop - max(start, end)
            end = stop
    return max(1.0, sum(b - a for a, b in intervals) / union) if union else 1.0


def calls_from_log(log: Iterable[Any]) -> Calls:
    records = [r for r in log if r.status not in (0, 429) and not is_graph_query(r)]
    calls = Calls()
    routing_times: list[float] = []
    group_times: list[float] = []
    for r in records:
        if r.method not in _WRITE:
            continue
        path = r.path.split("?")[0].rstrip("/").lower()
        if m := _SUBNET.match(path):
            calls.subnet_writes[m["vnet"]] = calls.subnet_writes.get(m["vnet"], 0) + 1
            routing_times.append(r.started_at)
        elif m := _TABLE.match(path):
            calls.table_writes[m["table"]] = calls.table_writes.get(m["table"], 0) + 1
            routing_times.append(r.started_at)
        elif _GROUP.search(path):
            calls.group_writes += 1
            group_times.append(r.started_at)
        else:
            calls.other_writes += 1
    first = min(routing_times, default=float("inf"))
    last = max(routing_times, default=float("-inf"))
    reads = [r for r in records if r.method == "GET" and not POLL_PATH.search(r.path)
             and not _SUBNET.match(r.path.split("?")[0].rstrip("/").lower())]  # fresh subnet GETs: in the lanes
    calls.reads_before = sum(1 for r in reads if r.started_at < first)
    calls.reads_after = sum(1 for r in reads if r.started_at > last)
    calls.read_concurrency = round(_concurrency(reads), 2)
    calls.group_after_routing = not group_times or min(group_times) > last
    return calls


def _routing_apply(calls: Calls, schedule: Schedule, a: Assumptions, with_group: bool) -> float:
    """The routing apply's wall time on the pool when a write holds its lane for its whole operation (apply.py
    before round 7): a small discrete-event run of a FIFO pool (tasks start in the order they became ready, on
    the first free thread)."""
    subnet_step = a.get_rtt_s + a.put_rtt_s + a.subnet_s
    threads = [0.0] * schedule.lanes
    heapq.heapify(threads)
    pending: list[tuple[float, int, str, Any]] = []  # (ready at, order, kind, payload)
    order = iter(range(1 << 30))
    table_done: dict[str, float] = {}
    for table, count in calls.table_writes.items():
        heapq.heappush(pending, (0.0, next(order), "table", (table, count)))
    if with_group:
        heapq.heappush(pending, (0.0, next(order), "group", calls.group_writes))
    for vnet, count in calls.subnet_writes.items():
        heapq.heappush(pending, (0.0, next(order), "vnet", (vnet, count)))
    end = 0.0
    while pending:
        free = heapq.heappop(threads)
        if pending[0][0] > free:  # nothing ready yet: this thread idles until something is
            heapq.heappush(threads, pending[0][0])
            continue
        _, _, kind, payload = heapq.heappop(pending)
        if kind == "table":
            table, count = payload
            table_done[table] = done = free + count * (a.put_rtt_s + a.route_table_s)
        elif kind == "group":
            done = free + payload * (a.put_rtt_s + a.group_s)
        elif kind == "vnet":  # waits for its tables (submitted first, so they have all started by now)
            vnet, count = payload
            ready = max([free, *(t for table, t in table_done.items() if _rg(table) == _rg(vnet))])
            if schedule.vnet_lane_holds_thread:
                done = ready + count * subnet_step
            else:  # the chain: one task per subnet write, the next ready when this one ends
                done = ready
                heapq.heappush(pending, (ready, next(order), "subnet", (count, 1)))
        else:  # one subnet write of a chain
            count, position = payload
            done = free + subnet_step
            if position < count:
                heapq.heappush(pending, (done, next(order), "subnet", (count, position + 1)))
        heapq.heappush(threads, done)
        end = max(end, done)
    return end


@dataclass
class _Lane:
    """A chain of writes one after another: each request takes `rtt` on a thread, then its operation `op_s`."""

    kind: str
    key: str
    count: int
    rtt: float
    op_s: float
    done: int = 0


def _request_lanes_apply(calls: Calls, schedule: Schedule, a: Assumptions, with_group: bool) -> float:
    """The routing apply's wall time when a write holds a thread only for its request: a discrete-event run of
    a FIFO pool of `lanes` threads and `operations_in_flight` slots (a slot is taken when the request starts,
    waiting on the thread while none is free, and given back when the operation ends)."""
    threads = [0.0] * schedule.lanes
    slots = [0.0] * schedule.operations_in_flight
    pending: list[tuple[float, int, int]] = []  # (ready at, order, lane)
    order = iter(range(1 << 30))
    lanes: list[_Lane] = []
    tables_left: dict[str, int] = {}  # resource group -> its table lanes not done yet
    tables_done: dict[str, float] = {}
    vnets_of: dict[str, list[int]] = {}
    for table, count in calls.table_writes.items():
        lanes.append(_Lane("table", _rg(table), count, a.put_rtt_s, a.route_table_s))
        tables_left[_rg(table)] = tables_left.get(_rg(table), 0) + 1
    if with_group and calls.group_writes:
        lanes.append(_Lane("group", "", calls.group_writes, a.put_rtt_s, a.group_s))
    for vnet, count in calls.subnet_writes.items():
        lanes.append(_Lane("vnet", _rg(vnet), count, a.get_rtt_s + a.put_rtt_s, a.subnet_s))
    for number, lane in enumerate(lanes):
        if lane.count and (lane.kind != "vnet" or not tables_left.get(lane.key)):
            heapq.heappush(pending, (0.0, next(order), number))
        elif lane.kind == "vnet":
            vnets_of.setdefault(lane.key, []).append(number)
    end = 0.0
    while pending:
        free = heapq.heappop(threads)
        if pending[0][0] > free:  # nothing ready yet: this thread idles until something is
            heapq.heappush(threads, pending[0][0])
            continue
        _, _, number = heapq.heappop(pending)
        lane = lanes[number]
        request = max(free, heapq.heappop(slots))
        heapq.heappush(threads, request + lane.rtt)
        ended = request + lane.rtt + lane.op_s
        heapq.heappush(slots, ended)
        lane.done += 1
        if lane.done < lane.count:
            heapq.heappush(pending, (ended, next(order), number))
            continue
        end = max(end, ended)
        if lane.kind == "table":  # the VNets of its resource group start when all its tables are done
            tables_done[lane.key] = max(tables_done.get(lane.key, 0.0), ended)
            tables_left[lane.key] -= 1
            if tables_left[lane.key] == 0:
                for waiting in vnets_of.pop(lane.key, []):
                    heapq.heappush(pending, (tables_done[lane.key], next(order), waiting))
    return end


def _subscription(resource_id: str) -> str:
    parts = resource_id.lower().split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "subscriptions" else ""


def _bucket_s(calls: Calls, a: Assumptions) -> float:
    """The least time ARM's per-subscription buckets allow the routing writes: the busiest subscription's writes
    beyond the write burst at the refill rate, and its reads the same way (one fresh GET per subnet write and
    at least one status poll per write)."""
    writes: dict[str, int] = {}
    reads: dict[str, int] = {}
    for table, count in calls.table_writes.items():
        writes[_subscription(table)] = writes.get(_subscription(table), 0) + count
        reads[_subscription(table)] = reads.get(_subscription(table), 0) + count
    for vnet, count in calls.subnet_writes.items():
        writes[_subscription(vnet)] = writes.get(_subscription(vnet), 0) + count
        reads[_subscription(vnet)] = reads.get(_subscription(vnet), 0) + 2 * count
    wait = [max(0.0, (n - a.write_bucket) / a.write_refill_per_s) for n in writes.values()]
    wait += [max(0.0, (n - a.read_bucket) / a.read_refill_per_s) for n in reads.values()]
    return max(wait, default=0.0)


def project(calls: Calls, schedule: Schedule = Schedule(), a: Assumptions = ASSUMPTIONS) -> dict[str, Any]:
    """Azure-seconds of the sweep, in its phases."""
    reads_before = calls.reads_before * a.get_rtt_s / calls.read_concurrency
    reads_after = calls.reads_after * a.get_rtt_s / calls.read_concurrency
    beside = not calls.group_after_routing
    if schedule.write_holds_lane:
        routing = _routing_apply(calls, schedule, a, with_group=beside)
    else:
        routing = max(_request_lanes_apply(calls, schedule, a, with_group=beside), _bucket_s(calls, a))
    group = 0.0 if beside else calls.group_writes * (a.put_rtt_s + a.group_s)
    total = reads_before + routing + reads_after + group
    return {
        "azure_s": round(total, 1),
        "phases_s": {"reads before the first write": round(reads_before, 1),
                     "routing apply" + (" with the group beside it" if beside else ""): round(routing, 1),
                     "reads after the routing (verify, firewall read)": round(reads_after, 1),
                     "group write after the routing": round(group, 1)},
        "runs_of_480_s": -(-total // a.run_budget_s) if total else 0,
        "tables": len(calls.table_writes), "table_and_route_writes": sum(calls.table_writes.values()),
        "vnets": len(calls.subnet_writes), "subnet_writes": sum(calls.subnet_writes.values()),
        "group_writes": calls.group_writes, "reads_before": calls.reads_before, "reads_after": calls.reads_after,
        "read_concurrency": calls.read_concurrency, "group_after_routing": calls.group_after_routing,
        "schedule": dataclasses.asdict(schedule), "bucket_s": round(_bucket_s(calls, a), 1),
    }


def scaled(measured: Calls, measured_clusters: int, clusters_per_vnet: dict[str, int], rg_of_vnet: dict[str, str],
           target_clusters: int) -> Calls:
    """The cost model for a fleet too large for the emulator here: the measured sweep's writes per cluster of a
    VNet (tables per subnet written, subnet writes per cluster) carried to the target fleet's VNets, and its
    reads scaled linearly with the clusters (list pages grow with the fleet; conservative for fixed reads)."""
    per_cluster_tables = sum(1 for _ in measured.table_writes) / max(1, measured_clusters)
    per_cluster_table_writes = sum(measured.table_writes.values()) / max(1, len(measured.table_writes))
    per_cluster_subnets = sum(measured.subnet_writes.values()) / max(1, measured_clusters)
    out = Calls(group_writes=measured.group_writes, read_concurrency=measured.read_concurrency,
                group_after_routing=measured.group_after_routing)
    for vnet, clusters in clusters_per_vnet.items():
        rg = rg_of_vnet[vnet]
        for t in range(round(clusters * per_cluster_tables)):
            out.table_writes[f"{rg}/providers/microsoft.network/routetables/t{t}"] = round(per_cluster_table_writes)
        out.subnet_writes[vnet] = round(clusters * per_cluster_subnets)
    ratio = target_clusters / max(1, measured_clusters)
    out.reads_before = round(measured.reads_before * ratio)
    out.reads_after = round(measured.reads_after * ratio)
    return out
