"""Benchmarks against the local ARM emulator (docs/BENCHMARKS.md).

`python -m bench.check [--full]` (`make bench-check`): the fleet-scale figures against independent minima
(minimum), measured by fleet_cost and cold_import, judged by goals; exits 1 when a goal is missed.
`python -m bench [--quick]`: the older figures, without goals: converged (1), sweep (2), latency (3),
burst (4), imports (5). topology generates an N-cluster hub-and-spoke seed; common holds the shared harness.
"""
