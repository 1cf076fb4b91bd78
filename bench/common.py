"""Shared set-up: an emulator with a seed, the process environment pointing at it, settings and a Reconciler."""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulator import Emulator  # noqa: E402
from remediation.core.config import Settings, load_settings  # noqa: E402
from remediation.engine.locks import InProcessLocks, LockProvider  # noqa: E402
from remediation.engine.reconciler import Reconciler  # noqa: E402

# LRO status polls: /subscriptions/{s}/providers/{ns}/locations/{l}/operations[Results]/{id}
POLL_PATH = re.compile(r"/providers/[^/]+/locations/[^/]+/(operations|operationresults)/", re.IGNORECASE)
RCG_PUT = re.compile(r"/ruleCollectionGroups/[^/]+$", re.IGNORECASE)
# Resource Graph queries are POSTs that change nothing: never counted as writes.
GRAPH_QUERY_PATH = "/providers/microsoft.resourcegraph/resources"


def is_graph_query(record: Any) -> bool:
    return bool(record.method == "POST" and record.path.lower().rstrip("/") == GRAPH_QUERY_PATH)


class BenchFailure(Exception):
    """Something is broken (not converged, an unexpected error): `python -m bench` exits non-zero."""


@dataclass
class Harness:
    emu: Emulator
    settings: Settings
    reconciler: Reconciler


@contextmanager
def harness(seed: dict[str, Any], settings: dict[str, str], *, locks: LockProvider | None = None,
            **emulator_kwargs: Any) -> Iterator[Harness]:
    with Emulator(seed=seed, **emulator_kwargs) as emu:
        saved = {k: os.environ.get(k) for k in emu.env()}
        os.environ.update(emu.env())  # DefaultAzureCredential and TLS read these, as in production
        try:
            # The deployed LRO_FIRST_POLL_SCALE is 1 (infra/main.bicep): real time. The emulator runs every
            # operation at time_factor x its real duration, so the product's first-poll waits are scaled alike.
            deployed_timing = {"LRO_FIRST_POLL_SCALE": str(emulator_kwargs.get("time_factor", 0.0))}
            loaded = load_settings({**deployed_timing, **settings, **emu.env()})
            yield Harness(emu, loaded, Reconciler(loaded, locks=locks or InProcessLocks()))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def resource_type(path: str) -> str:
    """'routeTables', 'virtualNetworks (list)', 'LRO poll', ... for a request path (no query string)."""
    if POLL_PATH.search(path):
        return "LRO status poll"
    parts = [p for p in path.strip("/").split("/") if p]
    if "providers" not in [p.lower() for p in parts]:
        return "resource group"
    last = max(i for i, p in enumerate(parts) if p.lower() == "providers")
    tail = parts[last + 2:]  # after providers/{namespace}
    if len(tail) % 2 == 1:
        return f"{'/'.join(tail[::2])} (list)"
    return "/".join(tail[::2])


def count_requests(records: Sequence[Any], method: str = "GET", *, polls: bool = False) -> Counter[str]:
    """Requests per path (LRO status polls left out unless polls=True)."""
    return Counter(r.path.lower() for r in records
                   if r.method == method and (polls or not POLL_PATH.search(r.path)))


def status_count(records: Sequence[Any], status: int) -> int:
    return sum(1 for r in records if r.status == status)
