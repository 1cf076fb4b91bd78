"""Shared ids and helpers for the reconciler and CLI tests (the example topology, examples/private-network.json).

Everything runs against the local ARM emulator over HTTPS with the real SDK clients; assertions read the
resulting ARM state back with `emu.get(id)` and the emulator's request log, never the call sequence.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from remediation.core import config

ROOT = Path(__file__).resolve().parents[2]
SEED_PATH = ROOT / "examples" / "private-network.json"
SETTINGS_PATH = ROOT / "examples" / "private-network.settings.json"

SUB = "00000000-0000-0000-0000-000000000000"
HUB = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
SPOKE = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network"
AKS = f"/subscriptions/{SUB}/resourcegroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters"
CNI = f"{AKS}/aks-cni"
OVERLAY = f"{AKS}/aks-overlay"
KUBENET = f"{AKS}/aks-kubenet"
FIREWALL = f"{HUB}/azureFirewalls/fw-hub"
POLICY = f"{HUB}/firewallPolicies/fwpol-hub"
OWNED_RCG = f"{POLICY}/ruleCollectionGroups/rmd-aks-runbook"
FOREIGN_RCG = f"{POLICY}/ruleCollectionGroups/platform-baseline"
VNET = f"{SPOKE}/virtualNetworks/vnet-spoke"
NODE_SUBNET = f"{VNET}/subnets/snet-aks-nodes"
POD_SUBNET = f"{VNET}/subnets/snet-aks-pods"
APPGW_SUBNET = f"{VNET}/subnets/snet-appgw"
OVERLAY_SUBNET = f"{VNET}/subnets/snet-aks-overlay"
KUBENET_SUBNET = f"{VNET}/subnets/snet-aks-kubenet"
APP_GATEWAY = f"{SPOKE}/applicationGateways/agw-spoke"
CUSTOMER_TABLE = f"{SPOKE}/routeTables/rt-spoke-nodes"
FOREIGN_ROUTE = f"{CUSTOMER_TABLE}/routes/to-onprem"
POD_TABLE = f"{SPOKE}/routeTables/rmd-vnet-spoke-snet-aks-pods"
APPGW_TABLE = f"{SPOKE}/routeTables/rmd-vnet-spoke-snet-appgw"
OVERLAY_TABLE = f"{SPOKE}/routeTables/rmd-vnet-spoke-snet-aks-overlay"
KUBENET_TABLE = f"{SPOKE}/routeTables/rmd-vnet-spoke-snet-aks-kubenet"
FIREWALL_IP = "10.0.1.4"
WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})

BASE_SETTINGS = {
    "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
    "FIREWALL_ID": FIREWALL,
    "REMEDIATION_MODE": "enforce",
    "SPOKE_PREFIXES": "10.2.0.0/16",
}

Seed = dict[str, Any]


def load_seed() -> Seed:
    seed: Seed = json.loads(SEED_PATH.read_text(encoding="utf-8"))
    return seed


def seed_item(seed: Seed, resource_id: str) -> dict[str, Any]:
    """The seed's resource with that id (case-insensitive), to edit a copy of the example topology."""
    for item in seed["resources"]:
        if str(item["id"]).lower() == resource_id.lower():
            return item
    raise KeyError(resource_id)


def start_emulator(monkeypatch: pytest.MonkeyPatch, mutate: Callable[[Seed], None] | None = None) -> Emulator:
    """The emulator seeded with (a mutated copy of) the example; process env points the SDK credential at it."""
    seed = copy.deepcopy(load_seed())
    if mutate is not None:
        mutate(seed)
    emu = Emulator(seed=seed, time_factor=0.0).start()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
        monkeypatch.delenv(key, raising=False)
    return emu


def settings_for(emu: Emulator, **extra: str) -> config.Settings:
    return config.load_settings({**BASE_SETTINGS, "ARM_ENDPOINT": emu.base_url, **extra})


def arm_writes(emu: Emulator) -> list[str]:
    """Every write the emulator received (ARM paths; the control endpoint is not ARM)."""
    return [f"{r.method} {r.path}" for r in emu.request_log
            if r.method in WRITE_METHODS and not r.path.startswith("/_emulator")]


def props(emu: Emulator, resource_id: str) -> dict[str, Any]:
    body = emu.get(resource_id)
    assert body is not None, f"{resource_id} is missing"
    value = body["properties"]
    assert isinstance(value, dict)
    return value


def route_props(emu: Emulator, table_id: str, name: str) -> dict[str, Any] | None:
    body = emu.get(f"{table_id}/routes/{name}")
    return None if body is None else dict(body["properties"])


def route_names(emu: Emulator, table_id: str) -> set[str]:
    body = emu.get(table_id)
    assert body is not None, f"{table_id} is missing"
    return {r["name"] for r in body["properties"].get("routes", [])}


def canonical(value: Any) -> str:
    """Byte-comparable form of a resource's properties (provisioningState dropped: it is ARM's, not data)."""
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k != "provisioningState"}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    return json.dumps(strip(value), sort_keys=True)


def appliance(prefix: str, ip: str = FIREWALL_IP) -> dict[str, str]:
    return {"addressPrefix": prefix, "nextHopType": "VirtualAppliance", "nextHopIpAddress": ip}


# The estate of issue #21 (examples/estate.json: two VNet hubs, one secured vWAN hub, five spokes).
ESTATE_PATH = ROOT / "examples" / "estate.json"


def estate_net(rg: str, kind: str, name: str) -> str:
    """The id of a Microsoft.Network resource of the estate."""
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}"


def estate_cluster(spoke: str) -> str:
    """The id of the cluster in the estate's spoke `spoke`."""
    return (f"/subscriptions/{SUB}/resourceGroups/rg-{spoke}/providers/Microsoft.ContainerService/"
            f"managedClusters/aks-{spoke}")


def estate_seed() -> dict[str, Any]:
    """A fresh copy of the estate seed."""
    seed: dict[str, Any] = json.loads(ESTATE_PATH.read_text(encoding="utf-8"))
    return seed
