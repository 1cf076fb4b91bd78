"""Issue 26's goals: the product against the physical floor (bench/floor.py), not against its own design.

- A converging sweep of 1,000 clusters across 21 subscriptions: <= 1.5 x the floor, in one 480 s run.
- 10,000 clusters in 100 subscriptions: <= 2 x the floor; a sweep that needs more than one run continues from
  where it stopped (through the queue).
- Pure planning CPU: <= 0.5 s at N = 1,000; a converged 10,000-cluster sweep <= 15 CPU-s (bench/planning_cpu.py).
- Reads per converged cluster event flat (<= 1.2 x) from 10 to 1,000 VNets with one cluster per VNet, and from
  one hub to four (each with a P2S VPN gateway).
- One new cluster, event to converged (the whole chain, follow-ups included): <= 1.2 x its floor.

The sweeps of 1,000 and 10,000 clusters are projected (bench/projection.py) from the call log of the largest
sweep measured in the emulator, its writes per cluster carried to the larger fleet's VNets; fleets of more than
300 clusters are not run in the emulator on this shared machine. The one-cluster-per-VNet reads are measured at
10 and 300 VNets and carried linearly to 1,000.
"""

from __future__ import annotations

from typing import Any

from bench import continuation, floor, minimum, projection, topology
from bench.fleet_cost import RULES
from bench.goals import Bound, Figure, Goal

SWEEPS = ((1000, 21, 1.5), (10_000, 100, 2.0))  # clusters, subscriptions, goal x floor
ONE_PER_VNET_SIZES = (10, 300)
ONE_PER_VNET_GOAL = 1000
HUBS = (1, 4)  # hubs with a P2S VPN gateway each, in a fleet of HUB_FLEET clusters
HUB_FLEET = 10
FIREWALLS = (1, 2, 3)  # configured firewalls of the estate (bench/estate_reads.py)
PLANNING_SIZES = (1000, 10_000)
PLANNING_GOALS = {1000: 0.5, 10_000: 15.0}


def _fleet_shape(n: int, subscriptions: int) -> tuple[minimum.Topology, dict[str, int], dict[str, str]]:
    topo = minimum.Topology.from_dump(topology.generate(n, subscriptions=subscriptions).seed)
    per_vnet: dict[str, int] = {}
    for cluster in topo.of_type(minimum.CLUSTER):
        for subnet in minimum.node_subnet_ids(cluster):
            vnet = topo.subnet_vnet[subnet]
            per_vnet[vnet] = per_vnet.get(vnet, 0) + 1
    return topo, per_vnet, {v: v.split("/providers/")[0] for v in per_vnet}


def measure(sizes: dict[str, Any]) -> dict[str, Any]:
    """The floors, and the product's sweeps projected from the largest measured sweep's call log."""
    if not sizes:
        return {"skipped": "no sweep measured"}
    measured_n = max(int(n) for n in sizes)
    calls = projection.Calls(**sizes[str(measured_n)]["sweep"]["calls"])
    topo, _, _ = _fleet_shape(measured_n, 1)
    out: dict[str, Any] = {"from_sweep_of": measured_n, "measured": {
        "floor": floor.floor(topo, RULES), "projection": projection.project(calls)}}
    for n, subscriptions, _ in SWEEPS:
        topo, per_vnet, rgs = _fleet_shape(n, subscriptions)
        scaled = projection.scaled(calls, measured_n, per_vnet, rgs, n)
        out[f"{n}x{subscriptions}"] = {"floor": floor.floor(topo, RULES), "projection": projection.project(scaled)}
    return out


def goals() -> list[Goal]:
    out: list[Goal] = []
    for n, subs, times in SWEEPS:
        out.append(Goal(f"sweep_azure_s@{n}x{subs}", Bound.TIMES_MINIMUM, times,
                        text=f"issue 26: converging sweep <= {times:g} x the physical floor"))
    out += [Goal("sweep_runs@1000x21", Bound.AT_MOST, 1, text="issue 26 item 1: in one run"),
            Goal("sweep_continues@10000x100", Bound.IS_TRUE, text="issue 26 item 2: continues, never restarts")]
    out += [Goal(f"planning_cpu@{n}", Bound.AT_MOST, limit, text="issue 26 item 3: planning CPU linear")
            for n, limit in PLANNING_GOALS.items()]
    out += [Goal(f"event_gets_1pv@{n}", Bound.TIMES_FIGURE, 1.2, f"event_gets_1pv@{ONE_PER_VNET_SIZES[0]}",
                 "issue 26 item 4: flat with one cluster per VNet")
            for n in (*ONE_PER_VNET_SIZES[1:], ONE_PER_VNET_GOAL)]
    out += [Goal(f"event_gets_hubs@{h}", Bound.TIMES_FIGURE, 1.2, f"event_gets_hubs@{HUBS[0]}",
                 "issue 26 item 4: flat in the number of hubs") for h in HUBS[1:]]
    out += [Goal(f"event_gets_firewalls@{n}", Bound.TIMES_FIGURE, 1.2, f"event_gets_firewalls@{FIREWALLS[0]}",
                 "issue 21 / 26 item 4: flat in the number of configured firewalls (FIREWALL_IDS)")
            for n in FIREWALLS[1:]]
    out.append(Goal("chain_azure_s", Bound.TIMES_MINIMUM, 1.2, text="issue 26 item 5: whole chain <= 1.2 x floor"))
    return out


def _sweep_figures(phys: dict[str, Any]) -> list[Figure]:
    out: list[Figure] = []
    measured_n = phys["from_sweep_of"]
    m = phys["measured"]
    out.append(Figure(f"sweep_projected_s@{measured_n}", f"converging sweep, N={measured_n} (1 subscription): "
                      "projected from its log", m["projection"]["azure_s"], m["floor"]["floor_s"], unit="Azure-s"))
    for n, subs, _ in SWEEPS:
        key = f"{n}x{subs}"
        p, f = phys[key]["projection"], phys[key]["floor"]
        out.append(Figure(f"sweep_azure_s@{key}", f"converging sweep, N={n:,} in {subs} subscriptions: projected "
                          f"from the N={measured_n} log", p["azure_s"], f["floor_s"], unit="Azure-s"))
        out.append(Figure(f"sweep_runs@{key}", f"N={n:,}: 480 s runs needed", p["runs_of_480_s"]))
    return out


def _continues(phys: dict[str, Any], measured: dict[str, Any] | None) -> Figure:
    """One run needs no continuation. Otherwise the continuation is measured on a small fleet with a short run
    budget (bench/continuation.py): the same queue worker continues a sweep of any size, one run at a time."""
    runs = phys["10000x100"]["projection"]["runs_of_480_s"]
    label = "10,000 clusters: continues where it stopped (measured on a short budget), or needs one run"
    if runs <= 1:
        return Figure("sweep_continues@10000x100", label, 1.0)
    if not measured or measured.get("skipped"):
        return Figure("sweep_continues@10000x100", label, None,
                      skipped=measured.get("skipped") if measured else None)
    return Figure("sweep_continues@10000x100", label, float(continuation.chain_ok(measured)))


def _skipped(keys: list[str], reason: str) -> list[Figure]:
    return [Figure(k, k, None, skipped=reason) for k in keys]


def _firewall_figures(runs: dict[str, Any]) -> list[Figure]:
    """The estate's converged event with 1, 2 and 3 configured firewalls (bench/estate_reads.py)."""
    if runs.get("skipped"):
        return _skipped([f"event_gets_firewalls@{n}" for n in FIREWALLS], runs["skipped"])
    return [Figure(f"event_gets_firewalls@{n}", f"GETs of a converged cluster event, estate with {n} configured "
                   "firewall(s)", run["gets"]) for n, run in sorted(((int(k), v) for k, v in runs.items()))]


def figures(results: dict[str, Any]) -> list[Figure]:
    out: list[Figure] = []
    phys = results.get("physical")
    if phys and phys.get("skipped"):
        out += _skipped([*(f"sweep_azure_s@{n}x{s}" for n, s, _ in SWEEPS), "sweep_runs@1000x21",
                         "sweep_continues@10000x100"], phys["skipped"])
    elif phys:
        out += _sweep_figures(phys)
        out.append(_continues(phys, results.get("continuation")))
    planning = results.get("planning") or {}
    for n in PLANNING_SIZES:
        run = planning.get(str(n))
        if planning.get("skipped"):
            out.append(Figure(f"planning_cpu@{n}", f"planning CPU, N={n:,}", None, skipped=planning["skipped"]))
        elif run:
            out.append(Figure(f"planning_cpu@{n}", f"pure planning CPU of a converged sweep, N={n:,}",
                              run["planning_cpu_s"], unit="CPU-s"))
    one = results.get("one_per_vnet") or {}
    if one.get("skipped"):
        out += _skipped([f"event_gets_1pv@{n}" for n in (*ONE_PER_VNET_SIZES, ONE_PER_VNET_GOAL)], one["skipped"])
        one = {}
    gets = {int(n): run["event"]["gets_per_event"] for n, run in one.items()}
    for n, value in sorted(gets.items()):
        out.append(Figure(f"event_gets_1pv@{n}", f"GETs per converged cluster event, {n} VNets of one cluster",
                          value, one[str(n)]["event"]["gets_minimum_per_event"]))
    if len(gets) >= 2:
        (n1, g1), (n2, g2) = sorted(gets.items())[:1][0], sorted(gets.items())[-1]
        projected = g2 + (g2 - g1) * (ONE_PER_VNET_GOAL - n2) / (n2 - n1)
        out.append(Figure(f"event_gets_1pv@{ONE_PER_VNET_GOAL}", f"the same, {ONE_PER_VNET_GOAL:,} VNets "
                          f"(carried linearly from {n1} and {n2})", round(projected, 2)))
    hubs = results.get("hubs") or {}
    if hubs.get("skipped"):
        out += _skipped([f"event_gets_hubs@{h}" for h in HUBS], hubs["skipped"])
    else:
        out += [Figure(f"event_gets_hubs@{h}", f"GETs per converged cluster event, {h} hub(s), N={HUB_FLEET}",
                       run["event"]["gets_per_event"], run["event"]["gets_minimum_per_event"])
                for h, run in sorted(((int(k), v) for k, v in hubs.items()), key=lambda kv: kv[0])]
    out += _firewall_figures(results.get("firewalls") or {})
    chain = results.get("chain")
    if chain and chain.get("skipped"):
        out += _skipped(["chain_azure_s"], chain["skipped"])
    elif chain:
        out.append(Figure("chain_azure_s", "one new cluster, event to converged (whole chain, follow-ups queued)",
                          chain["azure_s"], chain["floor_s"], unit="Azure-s"))
    return out
