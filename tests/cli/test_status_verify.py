"""`status --verify`: ARM's effective route table of a node NIC (the emulator answers it from its model) confirms
the computed routes, and shows what the computation cannot see: routes a VPN gateway learned (BGP propagation)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator import Emulator
from tests.cli.conftest import Run
from tests.reconciler.helpers import OVERLAY, OVERLAY_SUBNET, OVERLAY_TABLE, Seed, arm_writes, seed_item, start_emulator

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
HUB_VNET = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
SPOKE_VNET = f"{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/virtualNetworks/vnet-spoke"
VPN_GATEWAY = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworkGateways/vpngw-hub"
NODE_RG = f"{SUB}/resourceGroups/MC_rg-spoke_aks-overlay_westeurope"
NIC = f"{NODE_RG}/providers/Microsoft.Network/networkInterfaces/aks-nodepool1-vm0-nic"
ONPREM = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/localNetworkGateways/onprem"
CONNECTION = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/connections/hub-to-onprem"


def _peered(seed: Seed) -> None:
    """The spoke peered with the hub, using the hub's VPN gateway (gateway transit)."""
    spoke = seed_item(seed, SPOKE_VNET)
    spoke["properties"]["virtualNetworkPeerings"] = [{
        "name": "to-hub", "id": f"{SPOKE_VNET}/virtualNetworkPeerings/to-hub",
        "properties": {"peeringState": "Connected", "remoteVirtualNetwork": {"id": HUB_VNET},
                       "useRemoteGateways": True, "allowVirtualNetworkAccess": True, "allowForwardedTraffic": True,
                       "remoteAddressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}]


@pytest.fixture
def peered(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emu = start_emulator(monkeypatch, _peered)
    monkeypatch.setenv("ARM_ENDPOINT", emu.base_url)
    try:
        yield emu
    finally:
        emu.stop()


def _status(cli: Run, settings: str, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli("status", "--settings", settings, "--output", "json", "--detailed-exitcode", *extra)
    assert code in (0, 2), err
    document: dict[str, Any] = json.loads(out)
    return code, document


def _overlay(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["clusters"] if c["id"].lower() == OVERLAY.lower())


def _advertise(emu: Emulator, *prefixes: str) -> None:
    emu.put_foreign(ONPREM, {"location": "westeurope", "properties": {
        "gatewayIpAddress": "203.0.113.10", "localNetworkAddressSpace": {"addressPrefixes": list(prefixes)}}})
    emu.put_foreign(CONNECTION, {"location": "westeurope", "properties": {
        "connectionType": "IPsec", "virtualNetworkGateway1": {"id": VPN_GATEWAY},
        "localNetworkGateway2": {"id": ONPREM}}})


def test_verify_confirms_and_catches_a_gateway_route(cli: Run, peered: Emulator,
                                                     settings: Callable[..., str]) -> None:
    path = settings()
    assert cli("sweep", "--apply", "--auto-approve", "--settings", path)[0] == 0
    swept = len(arm_writes(peered))
    peered.put_foreign(NIC, {"location": "westeurope", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": OVERLAY_SUBNET}, "privateIPAddress": "10.1.5.4"}}]}})
    code, document = _status(cli, path, "--verify")
    overlay = _overlay(document)
    assert code == 0 and overlay["state"] == "compliant" and overlay["verification"] == []
    assert document["armCalls"]["writes"] == 0  # the effectiveRouteTable POST only reads
    assert any(r.path.lower().endswith("/effectiveroutetable") for r in peered.request_log)

    # A default route advertised by the gateway loses to our user default route (same prefix: user > BGP) ...
    _advertise(peered, "0.0.0.0/0")
    assert _status(cli, path, "--verify")[0] == 0
    # ... the two halves win, and only ARM's table shows them.
    _advertise(peered, "0.0.0.0/1", "128.0.0.0/1")
    assert _status(cli, path)[0] == 0  # without --verify the computation cannot see learned routes
    code, document = _status(cli, path, "--verify")
    overlay = _overlay(document)
    assert code == 2 and overlay["state"] == "non-compliant"
    (line,) = [b for b in overlay["bypasses"] if "-> internet" in b]
    assert "BGP route 0.0.0.0/1 -> VirtualNetworkGateway 10.0.2.30" in line
    assert "BGP route 128.0.0.0/1 -> VirtualNetworkGateway 10.0.2.30" in line
    assert any("ARM VirtualNetworkGateway 10.0.2.30 [bypass], computed VirtualAppliance 10.0.1.4 [firewall]" in v
               for v in overlay["verification"]), overlay["verification"]
    # status writes nothing (the effectiveRouteTable POST is a read-only action, and counted as one)
    assert [w for w in arm_writes(peered)[swept:] if not w.lower().endswith("/effectiveroutetable")] == []

    # Propagation off on the overlay's (owned) route table: the gateway's routes no longer reach the subnet.
    table = peered.get(OVERLAY_TABLE)
    assert table is not None
    table["properties"]["disableBgpRoutePropagation"] = True
    peered.put_foreign(OVERLAY_TABLE, {"location": table["location"], "tags": table.get("tags", {}),
                                       "properties": {k: table["properties"][k] for k in
                                                      ("routes", "disableBgpRoutePropagation")}})
    code, document = _status(cli, path, "--verify")
    assert code == 0 and _overlay(document)["state"] == "compliant"


def test_verify_says_why_a_subnet_was_not_verified(cli: Run, peered: Emulator,
                                                   settings: Callable[..., str]) -> None:
    path = settings()
    assert cli("sweep", "--apply", "--auto-approve", "--settings", path)[0] == 0
    code, document = _status(cli, path, "--verify")
    overlay = _overlay(document)
    assert code == 0 and overlay["state"] == "compliant"
    (line,) = overlay["verification"]
    assert line.startswith("snet-aks-overlay: not verified on ARM: no standalone NIC of this subnet in node "
                           "resource group MC_rg-spoke_aks-overlay_westeurope")
