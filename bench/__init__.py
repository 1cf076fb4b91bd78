"""Benchmarks of ARM cost, latency and burst coalescing against the local ARM emulator (docs/BENCHMARKS.md).

`python -m bench [--quick]` runs them all. Modules: converged (1), sweep (2), latency (3), burst (4),
imports (5); topology generates an N-cluster hub-and-spoke seed; common holds the shared harness.
"""
