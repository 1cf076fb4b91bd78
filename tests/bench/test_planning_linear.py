"""Planning stays linear in the fleet (issue 26, goal 3), checked by a count that machine load cannot blur.

`bench/planning_cpu.py` times planning in CPU seconds, which a shared machine makes noisy. Here the work is the
number of Python function calls the planning of a converged fleet makes (deterministic for a given fleet): per
cluster it must not grow with the fleet. The fleet has one cluster per VNet, so the hub VNet holds one peering
per spoke: a lookup that scans the hub's peerings for each spoke (as the path model did before the peerings were
indexed) makes the count per cluster grow with the number of spokes, about 1.25x from 40 to 160 spokes.
"""

from __future__ import annotations

from bench import planning_cpu


def test_planning_work_per_cluster_does_not_grow_with_the_fleet() -> None:
    small, large = 40, 200
    per_small = planning_cpu.calls(small, subnets_per_vnet=2) / small
    per_large = planning_cpu.calls(large, subnets_per_vnet=2) / large
    assert per_large <= 1.1 * per_small, (per_small, per_large)
