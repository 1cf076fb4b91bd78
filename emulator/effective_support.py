"""The NIC effective route table, answered from the emulator's own model.

`POST {nic}/effectiveRouteTable` answers 200 with `{"value": [...], "nextLink": null}` at once (the REST reference
lists 200 as well as 202 + polling; the emulator takes the synchronous branch). Each row has the shape
`az network nic show-effective-route-table` shows: `source` (Default | User | VirtualNetworkGateway), `state`
(Active, or Invalid for a route another with the same prefix overrides: user > gateway > default), `addressPrefix`
[...], `nextHopType`, `nextHopIpAddress` [...], `name`, `disableBgpRoutePropagation`, `hasBgpOverride`.

What the emulator models: the NIC's subnet's route table (user routes), its VNet's address space (VnetLocal),
Connected peerings (VNetPeering, remote address space), `0.0.0.0/0` Internet and the reserved ranges (None); and
gateway routes, unless the table disables propagation: for each VPN gateway in the VNet (or in a peer used with
`useRemoteGateways`), the address space of every local network gateway a connection links it to, next hop the
gateway's BGP peering address. Not modelled: service and private endpoints, Route Server, ExpressRoute.

Hook (server.py): `answer` before the ARM routing.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Protocol

from . import hooks
from . import resource_types as rt
from .errors import resource_not_found
from .resource_types import ResourceId, parse_id

RESERVED = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
_RANK = {"User": 0, "VirtualNetworkGateway": 1, "Default": 2}


class Emulator(Protocol):
    store: Any


def _effective_route_table(store: Any, rid: ResourceId, api_version: str, body: Any) -> dict[str, Any]:
    """POST {nic}/effectiveRouteTable: a long-running action whose result is the NIC's effective routes,
    computed from the emulator's own model when the POST arrives (registered below)."""
    nic = store.get(rid)
    if nic is None:
        raise resource_not_found("Microsoft.Network/networkInterfaces", rid.name, rid.resource_group)
    return {"value": routes_of(store, nic), "nextLink": None}


hooks.register_action(rt.NIC, "effectiveRouteTable", _effective_route_table)


def _props(body: dict[str, Any] | None) -> dict[str, Any]:
    value = (body or {}).get("properties")
    return value if isinstance(value, dict) else {}


def _get(store: Any, resource_id: str | None) -> dict[str, Any] | None:
    try:
        return store.get(parse_id(resource_id)) if resource_id else None
    except rt.IdError:
        return None


def _row(source: str, prefix: str, hop: str, ip: str | None = None, name: str | None = None,
         propagation_off: bool = False) -> dict[str, Any]:
    return {"name": name, "source": source, "state": "Active", "addressPrefix": [prefix],
            "nextHopType": hop, "nextHopIpAddress": [ip] if ip else [],
            "disableBgpRoutePropagation": propagation_off, "hasBgpOverride": False}


def _canonical(prefix: str) -> str:
    try:
        return str(ipaddress.ip_network(prefix, strict=False))
    except ValueError:
        return prefix


def routes_of(store: Any, nic: dict[str, Any]) -> list[dict[str, Any]]:
    configs = [c for c in _props(nic).get("ipConfigurations") or [] if isinstance(c, dict)]
    subnet_id = next((str(s["id"]) for c in configs if isinstance(s := _props(c).get("subnet"), dict)
                      and s.get("id")), None)
    if subnet_id is None:
        return []
    subnet_rid = parse_id(subnet_id)
    vnet = store.get(subnet_rid.top())
    subnet = store.get(subnet_rid)
    table = _get(store, (_props(subnet).get("routeTable") or {}).get("id"))
    off = bool(_props(table).get("disableBgpRoutePropagation"))
    rows = [_row("Default", _canonical(p), "VnetLocal", propagation_off=off)
            for p in (_props(vnet).get("addressSpace") or {}).get("addressPrefixes") or []]
    peered_vnets: list[str] = []
    for peering in _props(vnet).get("virtualNetworkPeerings") or []:
        props = _props(peering)
        if str(props.get("peeringState", "")).lower() != "connected":
            continue
        space = props.get("remoteVirtualNetworkAddressSpace") or props.get("remoteAddressSpace") or {}
        rows += [_row("Default", _canonical(p), "VNetPeering", propagation_off=off)
                 for p in space.get("addressPrefixes") or []]
        remote = (props.get("remoteVirtualNetwork") or {}).get("id")
        if props.get("useRemoteGateways") and remote:
            peered_vnets.append(str(remote))
    taken = {r["addressPrefix"][0] for r in rows}
    rows.append(_row("Default", "0.0.0.0/0", "Internet", propagation_off=off))
    rows += [_row("Default", p, "None", propagation_off=off) for p in RESERVED if p not in taken]
    if not off and vnet is not None:
        rows += _gateway_rows(store, subnet_rid.subscription, [str(vnet["id"]), *peered_vnets])
    rows += [_row("User", _canonical(str(_props(r).get("addressPrefix"))), str(_props(r).get("nextHopType")),
                  _props(r).get("nextHopIpAddress"), str(r.get("name")), off)
             for r in _props(table).get("routes") or [] if isinstance(r, dict)]
    return _mark_overridden(rows)


def _gateway_rows(store: Any, subscription: str, vnet_ids: list[str]) -> list[dict[str, Any]]:
    wanted = {v.lower() for v in vnet_ids}
    rows: list[dict[str, Any]] = []
    connections = store.list_top(subscription, None, rt.CONNECTION)
    for gateway in store.list_top(subscription, None, rt.VNET_GW):
        configs = [c for c in _props(gateway).get("ipConfigurations") or [] if isinstance(c, dict)]
        subnets = [str((_props(c).get("subnet") or {}).get("id") or "") for c in configs]
        if not any(s.lower().rsplit("/subnets/", 1)[0] in wanted for s in subnets if s):
            continue
        peer = (_props(gateway).get("bgpSettings") or {}).get("bgpPeeringAddress") or next(
            (_props(c).get("privateIPAddress") for c in configs if _props(c).get("privateIPAddress")), None)
        for connection in connections:
            props = _props(connection)
            if str((props.get("virtualNetworkGateway1") or {}).get("id", "")).lower() != str(gateway["id"]).lower():
                continue
            local = _get(store, (props.get("localNetworkGateway2") or {}).get("id"))
            space = _props(local).get("localNetworkAddressSpace") or {}
            rows += [_row("VirtualNetworkGateway", _canonical(p), "VirtualNetworkGateway", peer)
                     for p in space.get("addressPrefixes") or []]
    return rows


def _mark_overridden(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per prefix, the best source stays Active; the others show state Invalid, as ARM lists them."""
    best: dict[str, int] = {}
    for row in rows:
        prefix = row["addressPrefix"][0]
        best[prefix] = min(best.get(prefix, 9), _RANK[row["source"]])
    for row in rows:
        if _RANK[row["source"]] > best[row["addressPrefix"][0]]:
            row["state"] = "Invalid"
    return rows
