"""Pure: which configured firewall a VNet's traffic can actually reach, or why none (docs/platform-notes.md 13).

A route `0.0.0.0/0 -> <firewall IP>` on a subnet is only a path when the subnet's VNet reaches that firewall:

* the firewall sits in the VNet itself (the hub's own subnets);
* a VNet peering to the firewall's VNet, usable in both directions: this VNet's side and the hub's side both
  `Connected`, `allowVirtualNetworkAccess` on both sides (each side governs the traffic entering the VNet
  that holds it), and `allowForwardedTraffic` on this VNet's side (what the firewall sends back into the
  spoke, Internet replies, P2S clients and other spokes, does not originate in the hub's address space);
  a side whose `peeringSyncLevel` is not `FullyInSync` is in doubt (an address space change not synced);
* a Virtual WAN hub connection whose provisioningState is `Succeeded` to the hub whose `AZFW_Hub` firewall
  is configured.

Anything else is `Unreachable(reason)` (nothing is routed there: that would be a blackhole), and a VNet that
reaches more than one configured firewall is `Ambiguous` (which one the traffic takes is not ours to pick).
Only what the snapshot holds counts: a VNet or a hub side not observed is a reason, never "reachable".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from remediation.core import ids, net
from remediation.core.config import Settings
from remediation.core.ids import id_key, same_id
from remediation.core.model import (
    ObservedFirewall,
    ObservedHubConnection,
    ObservedPeering,
    ObservedVnet,
    ObservedVpnGateway,
    Snapshot,
)
from remediation.planning import avnm

CONNECTED = "connected"
FULLY_IN_SYNC = "fullyinsync"
SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class Reaches:
    """The VNet reaches `firewall`; `hub` is the firewall's VNet or virtual hub, `via` how (for the views)."""

    firewall: ObservedFirewall
    hub: str
    via: str
    connection: ObservedHubConnection | None = None  # the vWAN hub connection, for a secured hub

    @property
    def vwan(self) -> bool:
        return self.firewall.hub_id is not None and self.firewall.sku_name.lower() == "azfw_hub"


@dataclass(frozen=True)
class Unreachable:
    reason: str


@dataclass(frozen=True)
class Ambiguous:
    firewalls: tuple[ObservedFirewall, ...]

    @property
    def reason(self) -> str:
        names = ", ".join(f.id for f in self.firewalls)
        return (f"reaches more than one configured firewall ({names}): which one its traffic takes is "
                "ambiguous, so none is routed to")


Path = Reaches | Unreachable | Ambiguous


def configured_firewalls(snapshot: Snapshot, settings: Settings) -> tuple[ObservedFirewall, ...]:
    """The observed firewalls the settings name (FIREWALL_IDS, or FIREWALL_ID): only these are ever a next hop.
    A snapshot built with the pass's firewall only (`firewalls` empty) counts that one."""
    observed = snapshot.firewalls or ((snapshot.firewall,) if snapshot.firewall is not None else ())
    return tuple(f for f in observed if settings.configures_firewall(f.id))


def missing_firewalls(snapshot: Snapshot, settings: Settings) -> tuple[str, ...]:
    """Configured firewalls the snapshot does not hold: while one is unknown, no VNet can be shown to reach
    exactly one firewall (it may reach the unknown one too), so nothing is routed (docs/platform-notes.md 13.1).
    Not those a cluster event showed no VNet of its pass can reach (`Snapshot.off_path_firewalls`, 13.3)."""
    seen = {id_key(f.id) for f in configured_firewalls(snapshot, settings)} | snapshot.off_path_firewalls
    return tuple(f for f in settings.firewalls if id_key(f) not in seen)


def reached_firewall(snapshot: Snapshot, vnet_ids: Iterable[str], settings: Settings) -> ObservedFirewall | None:
    """The firewall these VNets reach (`firewall_for_vnets`), or None."""
    path = firewall_for_vnets(snapshot, vnet_ids, settings)
    return path.firewall if isinstance(path, Reaches) else None


def rules_home(firewall: ObservedFirewall) -> str:
    """Where a firewall's rules live, by id_key: its policy, or the classic firewall itself. Firewalls that share
    a policy share one owned group, computed from all their spokes."""
    return id_key(firewall.policy_id or firewall.id)


def firewall_for_vnet(snapshot: Snapshot, vnet_id: str, settings: Settings) -> Path:
    """The configured firewall `vnet_id` reaches (module docstring), from the snapshot alone: computed once per
    snapshot, VNet and configured firewalls (a plan asks it several times per cluster, issue 26)."""
    key = ("paths.firewall_for_vnet", id_key(vnet_id), settings.firewalls)
    found = snapshot.derived.get(key)
    if not isinstance(found, Reaches | Unreachable | Ambiguous):
        found = snapshot.derived[key] = _firewall_for_vnet(snapshot, vnet_id, settings)
    return found


def _firewall_for_vnet(snapshot: Snapshot, vnet_id: str, settings: Settings) -> Path:
    firewalls = configured_firewalls(snapshot, settings)
    missing = missing_firewalls(snapshot, settings)
    if missing or not (firewalls or snapshot.off_path_firewalls):
        names = ", ".join(missing or settings.firewalls)
        return Unreachable(f"firewall {names} ({_SETTING[settings.several_firewalls]}) was not observed")
    found: dict[str, Reaches] = {}
    problems: list[str] = []
    for firewall in firewalls:
        result = _reach(snapshot, vnet_id, firewall)
        if isinstance(result, Reaches):
            found.setdefault(id_key(firewall.id), result)
        elif result is not None:
            problems.append(result)
    if len(found) > 1:
        return Ambiguous(tuple(r.firewall for r in found.values()))
    if found:
        return next(iter(found.values()))
    if problems:
        return Unreachable("; ".join(problems))
    return Unreachable(_no_path(snapshot, vnet_id, settings))


def firewall_for_vnets(snapshot: Snapshot, vnet_ids: Iterable[str], settings: Settings) -> Path:
    """One path for several VNets (a cluster whose pools use subnets of two VNets): every VNet must reach
    the same firewall, else the cluster has no single next hop."""
    results = {id_key(v): firewall_for_vnet(snapshot, v, settings) for v in vnet_ids}
    if not results:
        return Unreachable("no VNet to route from")
    for key, result in sorted(results.items()):
        if not isinstance(result, Reaches):
            return Unreachable(f"VNet {_name(key)}: {result.reason}") if len(results) > 1 else result
    firewalls = {id_key(r.firewall.id): r.firewall for r in results.values() if isinstance(r, Reaches)}
    if len(firewalls) > 1:
        return Ambiguous(tuple(firewalls.values()))
    return next(iter(results.values()))


@lru_cache(maxsize=65536)
def vnet_of_subnet(subnet_id: str) -> str | None:
    # Cached like the ids it derives from (core/ids.py): asked several times per cluster in a plan.
    try:
        return str(ids.parse_typed(subnet_id, ids.SUBNET).parent)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------- one firewall


def _reach(snapshot: Snapshot, vnet_id: str, firewall: ObservedFirewall) -> Reaches | str | None:
    """Reaches, or a reason why the path to this firewall is not usable, or None (no path attempted)."""
    if firewall.hub_id and firewall.sku_name.lower() == "azfw_hub":
        return _reach_hub(snapshot, vnet_id, firewall, firewall.hub_id)
    if not firewall.vnet_id:
        return f"the VNet of firewall {firewall.name} is not known (no ipConfigurations subnet)"
    if same_id(vnet_id, firewall.vnet_id):
        return Reaches(firewall, firewall.vnet_id, "the firewall's own VNet")
    spoke = snapshot.vnets.get(id_key(vnet_id))
    if spoke is None:
        return f"VNet {_name(vnet_id)} was not observed: its peerings are unknown"
    sides = spoke.peerings_to(firewall.vnet_id)
    if not sides:
        return None
    reasons = []
    for side in sides:
        problem = _peering_problem(snapshot, spoke, side, firewall.vnet_id)
        if problem is None:
            # A peering Azure Virtual Network Manager created is a real peering: it counts like any other.
            made = " (created by Azure Virtual Network Manager)" if avnm.is_managed_peering(side) else ""
            return Reaches(firewall, firewall.vnet_id,
                           f"peering {side.name}{made} to hub VNet {_name(firewall.vnet_id)}")
        reasons.append(problem)
    return "; ".join(reasons)


def _peering_problem(snapshot: Snapshot, spoke: ObservedVnet, side: ObservedPeering, hub_id: str) -> str | None:
    """Why this peering does not carry the spoke's traffic to the hub's firewall and back; None = it does."""
    where = f"peering {side.name} from {spoke.name} to hub VNet {_name(hub_id)}"
    if side.state.lower() != CONNECTED:
        return f"{where} is {side.state or 'in no state'}, not Connected"
    if not side.allow_vnet_access:
        return f"{where} has allowVirtualNetworkAccess false"
    if not side.allow_forwarded_traffic:
        return (f"{where} has allowForwardedTraffic false: what the firewall forwards back to the spoke "
                "would be dropped")
    if side.sync_level and side.sync_level.lower() != FULLY_IN_SYNC:
        return f"{where} is {side.sync_level}, not FullyInSync (an address space change awaits a sync)"
    hub = snapshot.vnets.get(id_key(hub_id))
    if hub is None:
        return f"{where}: the hub VNet was not observed, so its side of the peering is unknown"
    back = hub.peerings_to(spoke.id)
    if not back:
        return f"{where}: the hub VNet has no peering back to {spoke.name}"
    for other in back:
        if other.state.lower() == CONNECTED and other.allow_vnet_access:
            return None
    state = ", ".join(f"{p.name} {p.state}{'' if p.allow_vnet_access else ' without allowVirtualNetworkAccess'}"
                      for p in back)
    return f"{where}: the hub's side is not usable ({state})"


def _reach_hub(snapshot: Snapshot, vnet_id: str, firewall: ObservedFirewall, hub_id: str) -> Reaches | str | None:
    connections = [c for c in snapshot.hub_connections
                   if c.remote_vnet_id and same_id(c.remote_vnet_id, vnet_id) and same_id(c.hub_id, hub_id)]
    if not connections:
        return None
    for connection in connections:
        if connection.provisioning_state.lower() == SUCCEEDED:
            return Reaches(firewall, hub_id, f"hub connection {_name(connection.id)} to virtual hub {_name(hub_id)}",
                           connection)
    states = ", ".join(f"{_name(c.id)} {c.provisioning_state or 'in no state'}" for c in connections)
    return f"hub connection to virtual hub {_name(hub_id)} is not Succeeded ({states})"


_SETTING = {False: "FIREWALL_ID", True: "FIREWALL_IDS"}


def _no_path(snapshot: Snapshot, vnet_id: str, settings: Settings) -> str:
    """No peering or hub connection to any configured firewall: say what the VNet is connected to."""
    spoke = snapshot.vnets.get(id_key(vnet_id))
    if spoke is None and not any(c.remote_vnet_id and same_id(c.remote_vnet_id, vnet_id)
                                 for c in snapshot.hub_connections):
        return f"VNet {_name(vnet_id)} was not observed: its peerings are unknown"
    peered = [_name(p.remote_vnet_id) for p in (spoke.peerings if spoke else ())
              if p.remote_vnet_id and not is_hub_connection_peering(p)]
    hubs = [_name(c.hub_id) for c in snapshot.hub_connections
            if c.remote_vnet_id and same_id(c.remote_vnet_id, vnet_id)]
    if not peered and not hubs:
        # Hub connections are read for the configured AZFW_Hub firewalls' hubs only: "to a configured firewall".
        return f"VNet {_name(vnet_id)} has no peering and no hub connection to a configured firewall"
    linked = ", ".join([*(f"VNet {n}" for n in peered), *(f"virtual hub {n}" for n in hubs)])
    return (f"VNet {_name(vnet_id)} is connected only to {linked}, where no configured firewall is "
            f"({_SETTING[settings.several_firewalls]}){_avnm_hint(spoke)}")


def _avnm_hint(spoke: ObservedVnet | None) -> str:
    """When Azure Virtual Network Manager made this VNet's peerings (their name says so), its connectivity is
    AVNM's: a connected group (direct connectivity) creates no peering ARM shows, so it is never a path here."""
    if spoke is None or not any(avnm.is_managed_peering(p) for p in spoke.peerings):
        return ""
    return ("; its peerings were created by Azure Virtual Network Manager, whose connected groups create no "
            "peering and are not a path this tool can check")


def is_hub_connection_peering(peering: ObservedPeering) -> bool:
    """The peering a Virtual WAN hub connection shows on its spoke VNet: `RemoteVnetToHubPeering_<guid>` to the
    hub's managed VNet `HV_<hub>_<guid>` in a subscription of Microsoft's (docs/platform-notes.md 13.3). Not a
    path by itself (the connection is: `_reach_hub`), only named so a reason does not call it a VNet peering."""
    return (peering.name.lower().startswith("remotevnettohubpeering_")
            and _name(peering.remote_vnet_id).lower().startswith("hv_"))


def _name(resource_id: str | None) -> str:
    return (resource_id or "?").rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------- P2S gateways


def p2s_vnets(snapshot: Snapshot, vnet_ids: Iterable[str], settings: Settings,
              reach: Path | None = None) -> frozenset[str]:
    """The VNets (id keys) whose VPN gateways' P2S clients reach `vnet_ids` (docs/platform-notes.md 14): the
    VNets themselves, the hub VNet whose firewall they reach (the runbook's place for the gateway: its P2S
    traffic to a spoke passes that firewall), and every VNet they peer with `useRemoteGateways` (gateway transit:
    "connectivity available on the VPN gateway, including P2S, applies to" the VNets that use it)."""
    wanted = list(vnet_ids)
    keys = {id_key(v) for v in wanted}
    if reach is None and wanted:  # the caller's answer when it has one (`firewall_for_vnets` of the same VNets)
        reach = firewall_for_vnets(snapshot, wanted, settings)
    if isinstance(reach, Reaches) and not reach.vwan:
        keys.add(id_key(reach.hub))
    for vnet_id in wanted:
        vnet = snapshot.vnets.get(id_key(vnet_id))
        for peering in vnet.peerings if vnet else ():
            if peering.use_remote_gateways and peering.remote_vnet_id:
                keys.add(id_key(peering.remote_vnet_id))
    return frozenset(keys)


def gateways_reaching(snapshot: Snapshot, vnet_ids: Iterable[str], settings: Settings,
                      reach: Path | None = None) -> tuple[ObservedVpnGateway, ...]:
    """The observed VPN gateways whose P2S pools are routed from subnets of `vnet_ids`: those in a VNet of
    `p2s_vnets`, and those whose VNet is not known (no ipConfigurations read: kept, as every gateway in scope
    was before the path decided). A cluster event reads only the gateways of these VNets
    (remediation/engine/observe.py), a sweep every gateway in scope; both plan from this one answer, so an
    event and a sweep never disagree about a P2S route."""
    keys = p2s_vnets(snapshot, vnet_ids, settings, reach)
    return tuple(g for g in snapshot.vpn_gateways if not g.vnet_ids or any(id_key(v) in keys for v in g.vnet_ids))


# --------------------------------------------------------------------------------------------- routing intent

PRIVATE_TRAFFIC = "privatetraffic"
INTERNET = "internet"


def provided_by_hub(snapshot: Snapshot, reach: Reaches, bgp_disabled: bool) -> frozenset[str]:
    """Route roles a secured vWAN hub's routing intent already sends to its firewall for this VNet, so a UDR
    for them is redundant (docs/platform-notes.md 13): "p2s" and "spoke" (private prefixes) with the
    PrivateTraffic policy, "default" with the Internet policy on a connection with enableInternetSecurity.
    Nothing when the subnet's route table drops BGP routes (disableBgpRoutePropagation) or for a VNet hub.
    Never "appgw": routes from the hub apply to the whole VNet, not between its own subnets."""
    if reach.connection is None or bgp_disabled:
        return frozenset()
    roles: set[str] = set()
    if PRIVATE_TRAFFIC in _intents(snapshot, reach):
        roles.update({"p2s", "spoke"})
    if advertises_default(snapshot, reach):
        roles.add("default")
    return frozenset(roles)


def _intents(snapshot: Snapshot, reach: Reaches) -> set[str]:
    return {d.lower() for d in snapshot.routing_intents.get(id_key(reach.hub), frozenset())}


def advertises_default(snapshot: Snapshot, reach: Reaches) -> bool:
    """The secured vWAN hub gives this VNet's connection its 0.0.0.0/0 (to the hub firewall): routing intent with
    the Internet policy, and `enableInternetSecurity` ("propagate default route") on the connection
    (learn.microsoft.com virtual-wan/how-to-routing-policies; docs/platform-notes.md 13)."""
    return (reach.connection is not None and reach.connection.enable_internet_security
            and INTERNET in _intents(snapshot, reach))


def internet_security_without_intent(snapshot: Snapshot, reach: Reaches) -> bool:
    """`enableInternetSecurity` on the connection but no Internet routing policy: whether the hub advertises
    0.0.0.0/0 then depends on its route tables (a static 0.0.0.0/0 route, Firewall Manager's secured-hub setup
    before routing intent), which the tool does not read."""
    return (reach.connection is not None and reach.connection.enable_internet_security
            and INTERNET not in _intents(snapshot, reach))


# --------------------------------------------------------------------------------------------- spoke prefixes


def hub_spoke_prefixes(snapshot: Snapshot, firewall: ObservedFirewall, prefixes: Iterable[str], settings: Settings
                       ) -> tuple[list[str], list[tuple[str, str]]]:
    """With several firewalls, which SPOKE_PREFIXES entries are routed via `firewall` (docs/platform-notes.md
    13.1): those a VNet peered to this firewall's hub VNet holds (the hub side of the peering is `Connected` and
    its remote address space overlaps the entry) and no VNet peered to another configured hub holds: the
    firewall can forward only to the spokes of its own hub. The hub VNets' bodies are read in every pass, so a
    cluster event and a sweep decide alike. A secured vWAN hub gets none (its routing intent carries
    spoke-to-spoke traffic; hub connections state no address space). Returns (kept, [(left out, why)]): an
    entry held by no spoke of this hub is another hub's (or nobody's) and is dropped without a report, as the P2S
    pool of another hub's gateway is; one held by spokes of this hub and of another is reported (a setting that
    spans hubs cannot be routed via either)."""
    kept: list[str] = []
    left_out: list[tuple[str, str]] = []
    if firewall.vnet_id is None:
        return [], []
    holders = {id_key(f.vnet_id): _peered_prefixes(snapshot, f.vnet_id)
               for f in configured_firewalls(snapshot, settings) if f.vnet_id}
    own = id_key(firewall.vnet_id)
    for prefix in prefixes:
        if not _overlaps_any(prefix, holders.get(own, ())):
            continue
        others = sorted(_name(k) for k, held in holders.items() if k != own and _overlaps_any(prefix, held))
        if others:
            left_out.append((prefix, f"VNets peered to hub VNet {', '.join(others)} hold part of it too: a route via "
                                     f"one hub's firewall cannot reach the other hub's spokes"))
        else:
            kept.append(prefix)
    return kept, left_out


def spoke_prefixes_held(snapshot: Snapshot, settings: Settings) -> bool:
    """Whether a SPOKE_PREFIXES entry is held by a spoke of an observed configured hub VNet: then
    `hub_spoke_prefixes` must see every configured hub VNet (a cluster event that read only the hubs its VNets
    peer with reads the others too: remediation/engine/observe.py `_read_on_path`)."""
    held = [p for f in configured_firewalls(snapshot, settings) if f.vnet_id
            for p in _peered_prefixes(snapshot, f.vnet_id)]
    return any(_overlaps_any(prefix, held) for prefix in settings.spoke_prefixes)


def _peered_prefixes(snapshot: Snapshot, hub_vnet_id: str) -> tuple[str, ...]:
    hub = snapshot.vnets.get(id_key(hub_vnet_id))
    if hub is None:
        return ()
    return tuple(p for side in hub.peerings if side.state.lower() == CONNECTED for p in side.remote_address_prefixes)


def _overlaps_any(prefix: str, held: Iterable[str]) -> bool:
    return net.overlaps(prefix, net.ipv4_only(held))
