"""Orchestration: observe -> desire -> plan -> approve -> apply -> verify, with retries, leases and status."""
