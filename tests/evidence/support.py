"""Shared helpers of the robustness evidence: ids, a fast harness around the real Reconciler, and the
safety invariants checked against the emulator's state (never against the sequence of calls)."""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from azure.identity import DefaultAzureCredential

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.azure.clients import CallCounter, ClientFactory
from remediation.core import config
from remediation.core.model import ChangeOutcome, Outcome, ReconcileResult, Target
from remediation.engine.apply import DEPENDENCY_FAILED
from remediation.engine.locks import LockProvider
from remediation.engine.reconciler import Reconciler

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"
HUB = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
SPOKE = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network"
AKS = f"/subscriptions/{SUB}/resourcegroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters"
FIREWALL_ID = f"{HUB}/azureFirewalls/fw-hub"
POLICY_ID = f"{HUB}/firewallPolicies/fwpol-hub"
BASELINE_RCG = f"{POLICY_ID}/ruleCollectionGroups/platform-baseline"
OWNED_RCG_NAME = "rmd-aks-runbook"
OWNED_PREFIX = "rmd-"
RT_NODES = f"{SPOKE}/routeTables/rt-spoke-nodes"
VNET_SPOKE = f"{SPOKE}/virtualNetworks/vnet-spoke"
CLUSTER_CNI = f"{AKS}/aks-cni"
CLUSTER_OVERLAY = f"{AKS}/aks-overlay"

WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE", "POST"})
_VOLATILE = frozenset({"etag", "provisioningState", "resourceGuid", "size"})
_CODES = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:, [A-Za-z][A-Za-z0-9]*)*): ")


def examples(ci: int) -> Any:
    """max_examples for an expensive property: `ci` under the ci profile, 10x under `long`."""
    from hypothesis import settings

    profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if profile == "fast":  # make test-fast (tests/conftest.py)
        return settings(max_examples=min(ci, 20))
    return settings(max_examples=ci if profile == "ci" else ci * 10)


def seed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    return data


SEED = seed()


def settings_env(emu: Emulator, **extra: str) -> dict[str, str]:
    return {
        "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
        "FIREWALL_ID": FIREWALL_ID,
        "ARM_ENDPOINT": emu.base_url,
        "REMEDIATION_MODE": "enforce",
        **extra,
    }


def no_sleep(_: float) -> None:
    """tenacity's backoff, not waited for (stop_before_deadline still counts it)."""


class Harness:
    """Settings, one credential and gateways with short azure-core backoff, for one emulator."""

    def __init__(self, emu: Emulator, **extra: str) -> None:
        self.emu = emu
        self.settings = config.load_settings(settings_env(emu, **extra))
        # One credential: DefaultAzureCredential -> the emulator's managed-identity endpoint, token cached.
        self.credential = DefaultAzureCredential()
        self._gateways: list[ArmClient] = []
        self._lock = threading.Lock()
        self._baselines: dict[str, dict[str, Any]] = {}

    def arm(self) -> ArmClient:
        # azure-core keeps its own retries (429/5xx/connection errors); only its backoff is shortened.
        # The LRO fallback poll interval (5 s in production, used when a poll carries no Retry-After) too.
        clients = ClientFactory(self.settings, CallCounter(), self.credential,
                                retry_backoff_factor=0.01, retry_backoff_max=0.05, polling_interval=0.05,
                                # The client-side token-bucket pacing (remediation/azure/pacing.py) would make
                                # hundreds of back-to-back reconciles wait for refills; it is not under test here.
                                per_retry_policies=[])
        gw = ArmClient(self.settings, clients=clients)
        with self._lock:
            self._gateways.append(gw)
        return gw

    def reconciler(self, *, locks: LockProvider | None = None, sleep: Callable[[float], None] = no_sleep,
                   retry_deadline_s: float = 240.0) -> Reconciler:
        return Reconciler(self.settings, arm_factory=self.arm, locks=locks,
                          retry_deadline_s=retry_deadline_s, sleep=sleep)

    def close_gateways(self) -> None:
        with self._lock:
            gateways, self._gateways = self._gateways, []
        for gw in gateways:
            gw.close()

    def close(self) -> None:
        self.close_gateways()
        self.credential.close()

    def baseline(self, target: Target) -> dict[str, Any]:
        """The state a fault-free reconcile of `target` reaches from the seed (computed once)."""
        key = str(target)
        if key not in self._baselines:
            reset(self.emu)
            result = self.reconciler().reconcile_combined(target, dry_run=False)
            assert result.converged, f"fault-free reconcile of {target} did not converge: {result.outcomes}"
            self._baselines[key] = state(self.emu.dump())
            reset(self.emu)
        return self._baselines[key]


def reset(emu: Emulator, document: Mapping[str, Any] | None = None) -> None:
    emu.faults.clear()
    emu.load_seed(copy.deepcopy(dict(document or SEED)), replace=True)
    emu.clear_log()


def arm_writes(emu: Emulator, path: str = "") -> list[Any]:
    """Write requests the emulator received (fault-answered and dropped ones included)."""
    pattern = re.compile(path, re.IGNORECASE)
    return [r for r in emu.request_log
            if r.method in WRITE_METHODS and not r.path.startswith("/_emulator") and pattern.search(r.path)]


# ------------------------------------------------------------------------------------------- state


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if k not in _VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def state(dump: Mapping[str, Any]) -> dict[str, Any]:
    """A comparable projection: routes per table, subnet properties, rule collection groups."""
    tables: dict[str, list[tuple[str, str, str, str]]] = {}
    table_tags: dict[str, dict[str, str]] = {}
    subnets: dict[str, Any] = {}
    vnets: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    for item in dump["resources"]:
        rid = str(item["id"]).lower()
        props = item.get("properties") or {}
        if "/providers/microsoft.network/routetables/" in rid and "/routes/" not in rid:
            name = str(item["name"]).lower()
            tables[name] = sorted(
                (str(r["name"]).lower(), str(r["properties"].get("addressPrefix", "")).lower(),
                 str(r["properties"].get("nextHopType", "")).lower(),
                 str(r["properties"].get("nextHopIpAddress") or ""))
                for r in props.get("routes") or [])
            table_tags[name] = dict(item.get("tags") or {})
        elif "/providers/microsoft.network/virtualnetworks/" in rid and "/subnets/" not in rid:
            vnets[str(item["name"]).lower()] = _clean(
                {k: v for k, v in props.items() if k not in {"subnets"}})
            for subnet in props.get("subnets") or []:
                sp = dict(subnet.get("properties") or {})
                table = sp.pop("routeTable", None)
                sp["routeTable"] = str(table["id"]).lower() if isinstance(table, dict) and table.get("id") else None
                subnets[f"{item['name']}/{subnet['name']}".lower()] = _clean(sp)
        elif "/rulecollectiongroups/" in rid:
            groups[str(item["name"]).lower()] = _clean(props)
    return {"tables": tables, "tableTags": table_tags, "subnets": subnets, "vnets": vnets, "groups": groups}


SEED_STATE = state(SEED)


def safety_violations(current: Mapping[str, Any], seed_state: Mapping[str, Any] = SEED_STATE) -> list[str]:
    """Everything the safety rules forbid (docs/architecture.md section 3), as readable lines."""
    problems: list[str] = []
    # Foreign routes: every seeded route is still there with the same destination and next hop.
    for table, routes in seed_state["tables"].items():
        now = {r[0]: r for r in current["tables"].get(table, [])}
        if table not in current["tables"]:
            problems.append(f"route table {table} disappeared")
        for route in routes:
            if now.get(route[0]) != route:
                problems.append(f"foreign route {table}/{route[0]} changed: {route} -> {now.get(route[0])}")
    for table, routes in current["tables"].items():
        prefixes = [r[1] for r in routes]
        dupes = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if dupes:
            problems.append(f"route table {table} holds prefix(es) {dupes} more than once")
        if table not in seed_state["tables"] and not table.startswith(OWNED_PREFIX):
            problems.append(f"unexpected route table {table}")
    # Foreign rule collection groups are untouched; ours has no duplicates.
    for group, props in seed_state["groups"].items():
        if current["groups"].get(group) != props:
            problems.append(f"foreign rule collection group {group} changed")
    for group, props in current["groups"].items():
        if group not in seed_state["groups"] and group != OWNED_RCG_NAME:
            problems.append(f"unexpected rule collection group {group}")
        collections = props.get("ruleCollections") or []
        names = [str(c.get("name", "")).lower() for c in collections]
        if len(names) != len(set(names)):
            problems.append(f"group {group} has duplicate rule collection names {names}")
        for collection in collections:
            rules = collection.get("rules") or []
            rule_names = [str(r.get("name", "")).lower() for r in rules]
            bodies = [json.dumps({k: v for k, v in r.items() if k != "name"}, sort_keys=True) for r in rules]
            if len(rule_names) != len(set(rule_names)) or len(bodies) != len(set(bodies)):
                problems.append(f"group {group} collection {collection.get('name')} has duplicate rules")
    # Subnets: every property but the route table is as seeded; an association is only ever added.
    for key, props in seed_state["subnets"].items():
        now = current["subnets"].get(key)
        if now is None:
            problems.append(f"subnet {key} disappeared")
            continue
        before_rest = {k: v for k, v in props.items() if k != "routeTable"}
        now_rest = {k: v for k, v in now.items() if k != "routeTable"}
        if before_rest != now_rest:
            problems.append(f"subnet {key} properties changed: {before_rest} -> {now_rest}")
        if props["routeTable"] is not None and now["routeTable"] != props["routeTable"]:
            problems.append(f"subnet {key} lost its route table {props['routeTable']} -> {now['routeTable']}")
        if props["routeTable"] is None and now["routeTable"] is not None \
                and not _name(now["routeTable"]).startswith(OWNED_PREFIX):
            problems.append(f"subnet {key} associated with a foreign table {now['routeTable']}")
    for vnet, props in seed_state["vnets"].items():
        if current["vnets"].get(vnet) != props:
            problems.append(f"VNet {vnet} properties changed")
    return problems


# ------------------------------------------------------------------------------------------- outcomes


def error_codes(text: str | None) -> tuple[str, ...]:
    """The ARM codes a failed outcome's text starts with ("Code[, Detail]: ...")."""
    if text == DEPENDENCY_FAILED:
        return ()
    match = _CODES.match(text or "")
    return tuple(match.group(1).split(", ")) if match else ()


def failed(result: ReconcileResult) -> list[ChangeOutcome]:
    return [o for o in result.outcomes if o.outcome is Outcome.FAILED]


def describe(result: ReconcileResult) -> str:
    lines = [f"converged={result.converged} error={result.error}"]
    lines += [f"  {o.outcome.value} {o.change.kind.value} {_name(o.change.address)}: {o.error or ''}"
              for o in result.outcomes]
    return "\n".join(lines)


def names(items: Iterable[Any]) -> list[str]:
    return [_name(str(i)) for i in items]

