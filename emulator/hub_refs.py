"""What the Network RP writes into a VNet when a hub resource names it (docs/platform-notes.md 13.3 of the project).

* **A firewall in AzureFirewallSubnet.** The subnet's read-only `ipConfigurations` lists the IP configurations
  that use it; for an `AZFW_VNet` firewall that is `<firewall id>/azureFirewallIpConfigurations/<name>` (the
  same back-reference a VPN gateway leaves in GatewaySubnet, and the id ARM names when it refuses to delete a
  subnet in use). Kept in step with every firewall write and delete.
* **A Virtual WAN hub connection.** A `hubVirtualNetworkConnections` child is a VNet peering under the hood: the
  spoke VNet shows a peering `RemoteVnetToHubPeering_<guid>` to the hub's managed VNet
  `/subscriptions/<Microsoft's>/resourceGroups/RG_<hub>_<guid>/providers/Microsoft.Network/virtualNetworks/
  HV_<hub>_<guid>`, which the customer cannot read (MicrosoftDocs/azure-docs#107338, Azure/arm-template-whatif
  #219 and #281). Here the guids and the subscription are derived from the hub's id, so they are stable. The
  peering is `Connected`, `allowVirtualNetworkAccess` true, `allowForwardedTraffic` false (as observed);
  `useRemoteGateways` false (*unconfirmed*). It appears with the connection and goes with it.

`refresh` runs after every write (Store._recompute); on a seed load (domain None) it completes what a seed left
out, the way route tables' `subnets` are completed: a seed that already holds the references loads unchanged.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import resource_types as rt
from .resource_types import id_key, parse_id

FIREWALL_SUBNET = "azurefirewallsubnet"
FIREWALL_IPCONFIG = "azureFirewallIpConfigurations"
HUB_PEERING_PREFIX = "RemoteVnetToHubPeering_"


def _props(body: dict[str, Any] | None) -> dict[str, Any]:
    props = body.get("properties") if isinstance(body, dict) else None
    return props if isinstance(props, dict) else {}


def refresh(docs: Any, domain: str | None) -> None:
    """Bring the back-references in line with the firewall or virtual hub a write touched (None: all of them)."""
    type_key = parse_id(domain).type_key if domain is not None else None
    if type_key in (None, rt.FIREWALL):
        firewalls = [domain] if domain is not None else [k for k, _ in docs.of_type(rt.FIREWALL)]
        _firewall_refs(docs, firewalls, only_missing=domain is None)
    if type_key in (None, rt.VIRTUAL_HUB):
        hubs = [domain] if domain is not None else [k for k, _ in docs.of_type(rt.VIRTUAL_HUB)]
        for hub in hubs:
            _hub_peerings(docs, hub, only_missing=domain is None)


# ------------------------------------------------------------------------------------------------ firewalls


def _wanted_refs(body: dict[str, Any] | None) -> dict[str, list[str]]:
    """Subnet key -> the ipConfiguration ids of this firewall that use it."""
    if body is None or _props(body).get("provisioningState") == "Deleting":
        return {}
    out: dict[str, list[str]] = {}
    for conf in _props(body).get("ipConfigurations") or []:
        if not isinstance(conf, dict):
            continue
        subnet = _props(conf).get("subnet")
        if isinstance(subnet, dict) and isinstance(subnet.get("id"), str) and conf.get("name"):
            out.setdefault(id_key(subnet["id"]), []).append(f"{body['id']}/{FIREWALL_IPCONFIG}/{conf['name']}")
    return out


def _firewall_refs(docs: Any, firewalls: list[str], *, only_missing: bool) -> None:
    wanted = {key: _wanted_refs(docs.get(key)) for key in firewalls}
    for _, vnet in docs.of_type(rt.VNET):
        for subnet in _props(vnet).get("subnets") or []:
            if not isinstance(subnet, dict) or str(subnet.get("name", "")).lower() != FIREWALL_SUBNET:
                continue
            key = id_key(str(subnet.get("id") or f"{vnet['id']}/subnets/{subnet.get('name')}"))
            configs = [c for c in _props(subnet).get("ipConfigurations") or [] if isinstance(c, dict)]
            if not only_missing:
                configs = [c for c in configs if not _of_any(c, wanted)]
            have = {id_key(str(c.get("id", ""))) for c in configs}
            for refs in wanted.values():
                configs += [{"id": ref} for ref in refs.get(key, ()) if id_key(ref) not in have]
            if configs:
                subnet.setdefault("properties", {})["ipConfigurations"] = configs
            else:
                _props(subnet).pop("ipConfigurations", None)


def _of_any(config: dict[str, Any], firewalls: dict[str, Any]) -> bool:
    ref = id_key(str(config.get("id", "")))
    return any(ref.startswith(f"{fw}/{FIREWALL_IPCONFIG.lower()}/") for fw in firewalls)


# ------------------------------------------------------------------------------------------------ vWAN hubs


def managed_hub_vnet(hub_id: str) -> str:
    """The id of the Microsoft-managed VNet behind a virtual hub, stable for a hub id."""
    seed = uuid.uuid5(uuid.NAMESPACE_URL, id_key(hub_id))
    name = parse_id(hub_id).name
    sub = uuid.uuid5(seed, "subscription")
    return (f"/subscriptions/{sub}/resourceGroups/RG_{name}_{uuid.uuid5(seed, 'group')}/providers/"
            f"Microsoft.Network/virtualNetworks/HV_{name}_{uuid.uuid5(seed, 'vnet')}")


def _hub_peerings(docs: Any, hub_key: str, *, only_missing: bool) -> None:
    hub = docs.get(hub_key)
    remote = id_key(managed_hub_vnet(hub["id"])) if hub is not None else None
    connected: dict[str, str] = {}  # spoke VNet key -> connection id
    for key in docs.keys_under(hub_key + "/", (rt.HUB_CONNECTION,)) if hub is not None else ():
        conn = docs[key]
        ref = _props(conn).get("remoteVirtualNetwork")
        if _props(conn).get("provisioningState") != "Deleting" and isinstance(ref, dict) and ref.get("id"):
            connected.setdefault(id_key(str(ref["id"])), str(conn["id"]))
    for key, vnet in docs.of_type(rt.VNET):
        props = vnet.setdefault("properties", {})
        peerings = [p for p in props.get("virtualNetworkPeerings") or [] if isinstance(p, dict)]
        mine = [p for p in peerings if _is_hub_peering(p, hub_key, remote)]
        if key in connected and not mine and hub is not None:
            props["virtualNetworkPeerings"] = [*peerings, _hub_peering(vnet["id"], hub["id"], connected[key])]
        elif key not in connected and mine and not only_missing:
            props["virtualNetworkPeerings"] = [p for p in peerings if p not in mine]


def _is_hub_peering(peering: dict[str, Any], hub_key: str, remote: str | None) -> bool:
    ref = _props(peering).get("remoteVirtualNetwork")
    target = id_key(str(ref.get("id"))) if isinstance(ref, dict) and ref.get("id") else None
    if remote is not None:
        return target == remote
    # The hub itself is gone: its managed VNet's id cannot be derived from a body, only from the hub id.
    return target is not None and target == id_key(managed_hub_vnet(hub_key))


def _hub_peering(vnet_id: str, hub_id: str, connection_id: str) -> dict[str, Any]:
    remote = managed_hub_vnet(hub_id)
    name = f"{HUB_PEERING_PREFIX}{uuid.uuid5(uuid.NAMESPACE_URL, id_key(connection_id))}"
    return {
        "name": name,
        "id": f"{vnet_id}/virtualNetworkPeerings/{name}",
        "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
        "properties": {
            "provisioningState": "Succeeded", "peeringState": "Connected", "peeringSyncLevel": "FullyInSync",
            "remoteVirtualNetwork": {"id": remote},
            "allowVirtualNetworkAccess": True, "allowForwardedTraffic": False, "allowGatewayTransit": False,
            "useRemoteGateways": False,
        },
    }
