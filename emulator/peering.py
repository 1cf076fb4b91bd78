"""VNet peering state as the Network RP keeps it (docs/platform-notes.md 13 of the project).

Each VNet holds its own side of a peering (`properties.virtualNetworkPeerings`, also served as the child
resource `virtualNetworks/{vnet}/virtualNetworkPeerings/{name}` from the same body, so both agree):

* one side only -> that side is `Initiated`;
* both sides -> both `Connected` (and `FullyInSync`);
* a side (or its whole VNet) deleted -> the remaining side, if it was `Connected`, becomes `Disconnected` and stays
  so until it is deleted and created again (a new other side then sees it `Initiated`).

`remoteAddressSpace` / `remoteVirtualNetworkAddressSpace` mirror the remote VNet's addressSpace. A peering whose
remote VNet is not in the emulator at all (another tenant, not seeded) keeps what its body says. `refresh` runs
after every write (Store._recompute), so a seed loads unchanged where both sides already agree.
"""

from __future__ import annotations

from typing import Any

from . import resource_types as rt
from .resource_types import id_key

CONNECTED = "Connected"
INITIATED = "Initiated"
DISCONNECTED = "Disconnected"


def _peerings(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    props = body.get("properties") if isinstance(body, dict) else None
    items = props.get("virtualNetworkPeerings") if isinstance(props, dict) else None
    return [p for p in items or [] if isinstance(p, dict)]


def _remote(peering: dict[str, Any]) -> str | None:
    ref = (peering.get("properties") or {}).get("remoteVirtualNetwork")
    return id_key(ref["id"]) if isinstance(ref, dict) and isinstance(ref.get("id"), str) else None


def refresh(docs: Any, domain: str | None) -> None:
    """Recompute peeringState on every peering touching `domain` (the VNet key a write changed or deleted;
    None = all VNets, after a seed load)."""
    if domain is not None and parse_type(domain) != rt.VNET:
        return
    vnets = {key: body for key, body in docs.of_type(rt.VNET)}
    for key, body in vnets.items():
        for peering in _peerings(body):
            remote = _remote(peering)
            if remote is None:
                continue
            touches = domain is None or key == domain or remote == domain
            if not touches:
                continue
            if remote not in vnets:
                if remote == domain:  # this write deleted the remote VNet
                    _set(peering, DISCONNECTED if _state(peering) == CONNECTED else _state(peering) or INITIATED)
                continue
            _settle_pair(key, peering, vnets[remote])


def _settle_pair(key: str, peering: dict[str, Any], remote_body: dict[str, Any]) -> None:
    back = [p for p in _peerings(remote_body) if _remote(p) == key]
    mine = _state(peering)
    props = peering.setdefault("properties", {})
    space = (remote_body.get("properties") or {}).get("addressSpace")
    if isinstance(space, dict):
        props["remoteAddressSpace"] = {"addressPrefixes": list(space.get("addressPrefixes") or [])}
        props["remoteVirtualNetworkAddressSpace"] = {"addressPrefixes": list(space.get("addressPrefixes") or [])}
    if not back:
        _set(peering, DISCONNECTED if mine in (CONNECTED, DISCONNECTED) else INITIATED)
        return
    other = back[0]
    if mine == DISCONNECTED or _state(other) == DISCONNECTED:
        # A Disconnected side must be deleted and created again; the side facing it waits as Initiated.
        if mine != DISCONNECTED:
            _set(peering, INITIATED)
        return
    _set(peering, CONNECTED)
    _set(other, CONNECTED)


def _state(peering: dict[str, Any]) -> str:
    return str((peering.get("properties") or {}).get("peeringState") or "")


def _set(peering: dict[str, Any], state: str) -> None:
    props = peering.setdefault("properties", {})
    props["peeringState"] = state
    props["peeringSyncLevel"] = "FullyInSync" if state == CONNECTED else props.get("peeringSyncLevel", "FullyInSync")


def parse_type(key: str) -> str:
    try:
        return rt.parse_id(key).type_key
    except rt.IdError:
        return ""
