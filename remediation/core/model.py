"""Plain data of the reconciler: what was observed, what is desired, what a plan changes.

Everything here is a frozen dataclass or a str Enum with no I/O, so the pure core (desired, plan, render)
can be tested with small literal tables. Ids are kept as ARM returned them; compare them with
`remediation.core.ids.id_key`/`same_id`, never with `==`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from remediation.core.ids import id_key

# --------------------------------------------------------------------------------------------- targets


class TargetKind(StrEnum):
    CLUSTER = "cluster"  # a managedClusters id: its route tables, routes, associations, then its firewall
    GATEWAY = "gateway"  # an applicationGateways id: reconciles the clusters whose ingress it is
    FIREWALL = "firewall"  # a firewall (or its policy): the owned rule collection group, from all clusters
    NETWORK = "network"  # a VNet, subnet or route table id: reconciles the clusters that use it
    SUBNET = "subnet"  # prepare-subnet: egress route table before a userDefinedRouting cluster exists
    SCOPE = "scope"  # the drift sweep: every cluster in REMEDIATION_SCOPE, with pruning, then the firewall


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def sweep_of(cls, scope: Iterable[object]) -> Target:
        """The fleet target of a REMEDIATION_SCOPE (the sweep): its scope ids, comma-joined."""
        return cls(TargetKind.SCOPE, ",".join(str(s) for s in scope))


# --------------------------------------------------------------------------------------------- network


class NextHopType(StrEnum):
    VIRTUAL_APPLIANCE = "VirtualAppliance"
    VIRTUAL_NETWORK_GATEWAY = "VirtualNetworkGateway"
    VNET_LOCAL = "VnetLocal"
    INTERNET = "Internet"
    NONE = "None"


@dataclass(frozen=True)
class Route:
    name: str
    address_prefix: str
    next_hop_type: str
    next_hop_ip_address: str | None = None



@dataclass(frozen=True)
class ObservedRouteTable:
    id: str
    name: str
    location: str
    tags: Mapping[str, str] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    provisioning_state: str = "Succeeded"
    etag: str | None = None
    # properties.disableBgpRoutePropagation: True = routes a gateway learns by BGP are not put on the subnets
    # associated with this table (docs/platform-notes.md; the effective-route computation reads it).
    disable_bgp_route_propagation: bool = False


@dataclass(frozen=True)
class ObservedSubnet:
    id: str
    name: str
    address_prefixes: tuple[str, ...]
    location: str  # the VNet's region: a route table must be in the same region (docs/arm-notes.md 2.1)
    route_table_id: str | None = None
    provisioning_state: str = "Succeeded"


class NetworkPlugin(StrEnum):
    AZURE = "azure"
    KUBENET = "kubenet"
    NONE = "none"


@dataclass(frozen=True)
class ObservedCluster:
    id: str
    name: str
    location: str
    provisioning_state: str
    network_plugin: str
    network_plugin_mode: str | None
    outbound_type: str
    node_subnet_ids: tuple[str, ...]  # agentPoolProfiles[].vnetSubnetID; empty = AKS-managed VNet
    pod_subnet_ids: tuple[str, ...] = ()  # agentPoolProfiles[].podSubnetID (flat Azure CNI, dynamic IPs)
    ingress_gateway_id: str | None = None  # AGIC: effectiveApplicationGatewayId, else applicationGatewayId
    pools_without_subnet: tuple[str, ...] = ()  # agent pools with no vnetSubnetID (AKS-managed VNet)
    tags: Mapping[str, str] = field(default_factory=dict)
    private_cluster: bool = False  # apiServerAccessProfile.enablePrivateCluster (docs/egress.md)
    # properties.nodeResourceGroup: where AKS puts the cluster's load balancers (asymmetric routing check)
    node_resource_group: str | None = None


@dataclass(frozen=True)
class ObservedAppGateway:
    id: str
    name: str
    sku_name: str
    sku_tier: str
    subnet_id: str | None
    network_isolated: bool  # private deployment: tag EnhancedNetworkControl=True (docs/platform-notes.md 3.2.3)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkRule:
    name: str
    protocols: tuple[str, ...]
    source_addresses: tuple[str, ...]
    destination_addresses: tuple[str, ...]
    destination_ports: tuple[str, ...]
    destination_fqdns: tuple[str, ...] = ()  # only matched with the firewall's DNS proxy on (docs/egress.md)
    description: str = ""


NETWORK_RULE = "NetworkRule"
APPLICATION_RULE = "ApplicationRule"


@dataclass(frozen=True)
class ApplicationRule:
    """An application (FQDN) rule: `protocols` are "Https:443" / "Http:80"; `fqdn_tags` and `target_fqdns`
    are exclusive (an Azure Firewall rule holds one or the other: docs/egress.md)."""

    name: str
    source_addresses: tuple[str, ...]
    protocols: tuple[str, ...]
    fqdn_tags: tuple[str, ...] = ()
    target_fqdns: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class RuleCollection:
    """An Allow/Deny rule collection (policy filter collection or classic network/application collection).

    A collection holds one rule type (Azure Firewall does not mix them): `rule_type` NetworkRule uses
    `rules`, ApplicationRule uses `application_rules`.
    """

    name: str
    priority: int
    action: str
    rules: tuple[NetworkRule, ...]
    application_rules: tuple[ApplicationRule, ...] = ()
    rule_type: str = NETWORK_RULE

    @property
    def is_application(self) -> bool:
        return self.rule_type == APPLICATION_RULE


@dataclass(frozen=True)
class ObservedFirewall:
    id: str
    name: str
    sku_name: str  # AZFW_VNet or AZFW_Hub
    private_ip: str | None  # ipConfigurations[0].privateIPAddress, or hubIPAddresses.privateIPAddress
    policy_id: str | None  # policy-based rules; None = classic rules inside the firewall resource
    classic_collections: tuple[RuleCollection, ...] = ()  # properties.networkRuleCollections
    provisioning_state: str = "Succeeded"
    # properties.applicationRuleCollections (classic), and the classic DNS proxy
    # (additionalProperties "Network.DNS.EnableProxy"); None = not stated.
    classic_application_collections: tuple[RuleCollection, ...] = ()
    dns_proxy: bool | None = None
    # Where the firewall sits, for the path model (remediation/planning/paths.py): the VNet of an AZFW_VNet
    # firewall (parent of ipConfigurations[0].subnet.id) or the virtual hub of an AZFW_Hub one
    # (properties.virtualHub.id). None = not stated: then no spoke can be shown to reach it.
    vnet_id: str | None = None
    hub_id: str | None = None


@dataclass(frozen=True)
class ObservedRuleCollectionGroup:
    id: str
    name: str
    priority: int
    rule_collections: tuple[RuleCollection, ...]
    provisioning_state: str = "Succeeded"
    etag: str | None = None  # from the read inside the firewall lease: the If-Match of the group PUT
    size_bytes: int | None = None  # ARM's read-only `size` ("0.001414299 MB"), in bytes; None = not given


@dataclass(frozen=True)
class ObservedPeering:
    """One side of a VNet peering, as the VNet body (`virtualNetworkPeerings`) or the child resource shows it.

    Each VNet holds its own side: traffic flows only when both sides exist (`peeringState: Connected`), and
    each side's flags govern the traffic that *enters* its own VNet over the peering (docs/platform-notes.md).
    """

    id: str
    name: str
    remote_vnet_id: str | None  # remoteVirtualNetwork.id
    state: str  # peeringState: Initiated | Connected | Disconnected
    sync_level: str | None = None  # peeringSyncLevel: FullyInSync | LocalNotInSync | RemoteNotInSync | ...
    allow_vnet_access: bool = True  # allowVirtualNetworkAccess (ARM's default is true)
    allow_forwarded_traffic: bool = False
    allow_gateway_transit: bool = False
    use_remote_gateways: bool = False
    # remoteVirtualNetworkAddressSpace (what is peered now), else remoteAddressSpace
    remote_address_prefixes: tuple[str, ...] = ()
    provisioning_state: str = "Succeeded"


@dataclass(frozen=True)
class ObservedHubConnection:
    """A Virtual WAN hub's connection to a VNet (`virtualHubs/{hub}/hubVirtualNetworkConnections/{name}`).

    vWAN connections have no peeringState: a connection whose provisioningState is Succeeded is in place
    (docs/platform-notes.md 13). `enable_internet_security` is whether the hub's 0.0.0.0/0 (routing intent's
    Internet policy) is propagated to the VNet."""

    id: str
    hub_id: str
    remote_vnet_id: str | None  # remoteVirtualNetwork.id
    provisioning_state: str = "Succeeded"
    enable_internet_security: bool = False


@dataclass(frozen=True)
class ObservedVnet:
    """A VNet with its subnets and peerings inline (one GET or one list item) and what VPN-gateway discovery
    needs."""

    id: str
    location: str
    subnets: tuple[ObservedSubnet, ...]
    has_gateway_subnet: bool = False
    gateway_ids: tuple[str, ...] = ()  # virtualNetworkGateways the GatewaySubnet's ipConfigurations name
    address_prefixes: tuple[str, ...] = ()  # addressSpace.addressPrefixes
    peerings: tuple[ObservedPeering, ...] = ()  # virtualNetworkPeerings (this VNet's side of each)
    tags: Mapping[str, str] = field(default_factory=dict)
    # The AzureFirewallSubnet, when the VNet has one, and the azureFirewalls its ipConfigurations name (the
    # Network RP's back-references, docs/platform-notes.md 13.3): where a configured firewall sits, unread.
    has_firewall_subnet: bool = False
    firewall_ids: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1]

    def peerings_to(self, vnet_id: str) -> tuple[ObservedPeering, ...]:
        """This VNet's sides of its peerings with `vnet_id` (ids compared by id_key), in their order."""
        return self._peerings_by_remote.get(id_key(vnet_id), ())

    @cached_property
    def _peerings_by_remote(self) -> Mapping[str, tuple[ObservedPeering, ...]]:
        # Built once per VNet (the VNet is immutable): a hub VNet holds a side per spoke, and the path model asks
        # for the hub's side of every spoke's peering, which scanning made quadratic in the spokes (issue 26).
        found: dict[str, list[ObservedPeering]] = {}
        for peering in self.peerings:
            if peering.remote_vnet_id:
                found.setdefault(id_key(peering.remote_vnet_id), []).append(peering)
        return {key: tuple(sides) for key, sides in found.items()}


@dataclass(frozen=True)
class ObservedVpnGateway:
    id: str
    name: str
    p2s_prefixes: tuple[str, ...]  # vpnClientConfiguration.vpnClientAddressPool.addressPrefixes
    # The VNets its ipConfigurations' subnets (the GatewaySubnet) are in; () when not known. Whose P2S clients
    # reach which VNet: remediation/planning/paths.py `gateways_reaching`.
    vnet_ids: tuple[str, ...] = ()

    @property
    def vnet_id(self) -> str | None:
        """The first of `vnet_ids` (a gateway's ipConfigurations sit in one GatewaySubnet), or None."""
        return self.vnet_ids[0] if self.vnet_ids else None


@dataclass(frozen=True)
class PublicFrontend:
    load_balancer_id: str
    name: str
    public_ip_id: str

    @property
    def load_balancer(self) -> str:
        return self.load_balancer_id.rstrip("/").rsplit("/", 1)[-1]

    @property
    def public_ip(self) -> str:
        return self.public_ip_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FrontendRead:
    """The public frontends of the load balancers in a cluster's node resource group, or why they could not be
    read (remediation/planning/asymmetric.py)."""

    frontends: tuple[PublicFrontend, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ObservedEffectiveRoute:
    """One route of ARM's effective route table of a NIC (state Active), one prefix each: `source` is Default,
    User or VirtualNetworkGateway (docs/platform-notes.md 11.2)."""

    source: str
    address_prefix: str
    next_hop_type: str
    next_hop_ip: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class NicEffectiveRoutes:
    """ARM's effective routes of one node NIC of a subnet, or why there are none (`error`)."""

    nic_id: str | None
    routes: tuple[ObservedEffectiveRoute, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """What one reconcile observed. Maps are keyed by `ids.id_key` of each resource id.

    A cluster target holds the cluster and what it references; a firewall target or a sweep holds every
    cluster in scope. `absent` lists ids that were looked up and confirmed missing (404).
    """

    clusters: Mapping[str, ObservedCluster] = field(default_factory=dict)
    subnets: Mapping[str, ObservedSubnet] = field(default_factory=dict)
    route_tables: Mapping[str, ObservedRouteTable] = field(default_factory=dict)
    app_gateways: Mapping[str, ObservedAppGateway] = field(default_factory=dict)
    vpn_gateways: tuple[ObservedVpnGateway, ...] = ()
    # The firewall of this pass (settings.firewall_id): a firewall target's own; FIREWALL_ID's for a routing pass.
    firewall: ObservedFirewall | None = None
    # Every configured firewall observed (FIREWALL_IDS; the one of FIREWALL_ID alone): the path model's choices.
    firewalls: tuple[ObservedFirewall, ...] = ()
    rule_collection_group: ObservedRuleCollectionGroup | None = None  # the owned group, when it exists
    absent: frozenset[str] = frozenset()
    # Egress profiles (remediation/planning/egress.py): what the egress reads found, filled by the firewall pass.
    egress: EgressObservation | None = None
    # The owned shards `<group>-2`, `<group>-3`... (remediation/planning/shards.py), and the priority of every group
    # of the policy by lower name (owned and foreign): new shards avoid the priorities in use.
    rule_collection_shards: tuple[ObservedRuleCollectionGroup, ...] = ()
    policy_group_priorities: Mapping[str, int] = field(default_factory=dict)
    # Every VNet this observation read (by id_key), with its address space and peerings: the network model
    # that paths and effective routes are computed from.
    vnets: Mapping[str, ObservedVnet] = field(default_factory=dict)
    # `status` only: the public load balancer frontends of each cluster whose default route goes to the firewall,
    # by id_key of the cluster (remediation/engine/effective_observe.py).
    public_frontends: Mapping[str, FrontendRead] = field(default_factory=dict)
    # `status --verify` / VERIFY_EFFECTIVE_ROUTES only: ARM's effective routes of a node NIC, by id_key of its subnet.
    effective_routes: Mapping[str, NicEffectiveRoutes] = field(default_factory=dict)
    # Virtual WAN hub connections the observation read (remediation/planning/paths.py), and per virtual hub
    # (by id_key) the destinations its routing intent sends to the hub firewall ("Internet", "PrivateTraffic").
    hub_connections: tuple[ObservedHubConnection, ...] = ()
    routing_intents: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # A cluster event under FIREWALL_IDS: the configured firewalls (by id_key) it did not read because no VNet of
    # the pass can reach them (remediation/engine/observe.py `_read_on_path`, docs/platform-notes.md 13.3).
    off_path_firewalls: frozenset[str] = frozenset()

    @cached_property
    def derived(self) -> dict[Hashable, object]:
        """Answers the pure planning computes from this observation alone, kept for the snapshot's lifetime
        (e.g. the firewall path of each VNet, remediation/planning/paths.py): a plan asks them once per cluster,
        and a snapshot is not changed once built (frozen; its maps are not written afterwards). Not a field: it
        takes no part in equality, and `dataclasses.replace` starts a new snapshot with none."""
        return {}

    @property
    def owned_groups(self) -> tuple[ObservedRuleCollectionGroup, ...]:
        """Every owned group observed: the configured group (when it exists), then its shards."""
        head = (self.rule_collection_group,) if self.rule_collection_group is not None else ()
        return (*head, *self.rule_collection_shards)


@dataclass(frozen=True)
class EgressEndpoint:
    """One entry of a cluster's outboundNetworkDependenciesEndpoints: a domain and its (port, protocol)s."""

    category: str
    domain_name: str
    details: tuple[tuple[int, str], ...]  # (port, protocol as AKS spells it: Https, Http, TCP, UDP)


@dataclass(frozen=True)
class EndpointList:
    """The endpoint list of one cluster, or why it could not be read (then `endpoints` is empty)."""

    endpoints: tuple[EgressEndpoint, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class EgressObservation:
    """Reads only the egress profiles need: the endpoint lists (aks-endpoints profile, keyed by `id_key` of the
    cluster id) and the policy's `dnsSettings.enableProxy` (None = unknown: read failed or not read)."""

    endpoints: Mapping[str, EndpointList] = field(default_factory=dict)
    policy_dns_proxy: bool | None = None
    policy_dns_error: str | None = None


# --------------------------------------------------------------------------------------------- desired


class RoutePurpose(StrEnum):
    EGRESS = "egress"  # node subnet: traffic leaving the cluster goes through the firewall
    INGRESS = "ingress"  # App Gateway subnet: traffic to the AKS ranges goes through the firewall


@dataclass(frozen=True)
class DesiredSubnetRoutes:
    subnet_id: str
    purpose: RoutePurpose
    routes: tuple[Route, ...]
    reasons: Mapping[str, str] = field(default_factory=dict)  # route name -> the runbook rule behind it
    # What was left out and why (a spoke prefix overlapping the subnet, an IPv6 range of a dual-stack
    # subnet): plan_routes passes these on into the plan's conflicts, so nothing is dropped silently.
    reports: tuple[Conflict, ...] = ()


@dataclass(frozen=True)
class Skip:
    """A target that fails a prerequisite: reported with the reason, nothing written."""

    target: str
    reason: str


# --------------------------------------------------------------------------------------------- plan


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


class ChangeKind(StrEnum):
    ROUTE_TABLE = "routeTable"
    ROUTE = "route"
    SUBNET_ROUTE_TABLE = "subnetRouteTable"
    RULE_COLLECTION_GROUP = "ruleCollectionGroup"
    CLASSIC_RULE_COLLECTION = "firewallNetworkRuleCollection"
    CLASSIC_APPLICATION_RULE_COLLECTION = "firewallApplicationRuleCollection"


# One frozen payload per change kind: plan produces them, apply dispatches on them with `match`, and
# `remediation.core.arm_shapes` is the one place that turns them into ARM bodies (for the PUT and for the plan).


@dataclass(frozen=True)
class RouteTablePayload:
    """An owned route table to create (ChangeKind.ROUTE_TABLE)."""

    location: str
    tags: Mapping[str, str]
    disable_bgp_route_propagation: bool = False
    routes: tuple[Route, ...] = ()  # sent inside the table PUT only when the table is new


@dataclass(frozen=True)
class SubnetAssociationPayload:
    """The route table a subnet points at (ChangeKind.SUBNET_ROUTE_TABLE); None = no table."""

    route_table_id: str | None


@dataclass(frozen=True)
class RuleCollectionGroupPayload:
    """The whole owned rule collection group (ChangeKind.RULE_COLLECTION_GROUP): a PUT replaces it."""

    priority: int
    rule_collections: tuple[RuleCollection, ...]


@dataclass(frozen=True)
class ClassicCollectionPayload:
    """One owned classic networkRuleCollection (ChangeKind.CLASSIC_RULE_COLLECTION)."""

    collection: RuleCollection


# A route change carries the Route itself.
Payload = Route | RouteTablePayload | SubnetAssociationPayload | RuleCollectionGroupPayload | ClassicCollectionPayload


@dataclass(frozen=True)
class Change:
    """One write (or a confirmed no-op). `old`/`new` are typed payloads; `before`/`after` are their ARM
    property view (what the plan document shows); `reason` is for humans."""

    action: Action
    kind: ChangeKind
    address: str  # the ARM id written (for a classic collection: firewall id + '/networkRuleCollections/x')
    old: Payload | None
    new: Payload | None
    reason: str
    etag: str | None = None  # the observed object's etag, when the write is conditional on it (If-Match)



class Severity(StrEnum):
    """How much a reported Conflict weighs (docs/platform-notes.md 8 for the refusals)."""

    ERROR = "error"  # the plan cannot be carried out (an ARM limit would be exceeded): write nothing at all
    CONFLICT = "conflict"  # blocking: a desired write is refused or held up; the target is not converged
    NOTE = "note"  # for information only (a foreign collection kept, a dual-stack subnet): not blocking


@dataclass(frozen=True)
class Conflict:
    """Something reported beside the changes: a foreign object in the way, a refused write, a plan error or a
    note. Only NOTE is harmless; CONFLICT and ERROR mean the target is not converged."""

    kind: ChangeKind
    address: str
    message: str
    severity: Severity = Severity.CONFLICT

    @property
    def blocking(self) -> bool:
        return self.severity is not Severity.NOTE


@dataclass(frozen=True)
class Behind:
    """Where a cluster's traffic goes (remediation/planning/paths.py): its hub and firewall, or why none."""

    cluster_id: str
    hub: str | None = None  # the hub VNet or virtual hub id
    firewall: str | None = None  # the firewall id
    via: str | None = None  # how the cluster's VNet reaches it (a peering, a hub connection)
    reason: str | None = None  # why no firewall, when hub and firewall are None


@dataclass(frozen=True)
class OwnedGroups:
    """The owned groups of one policy (or the owned collections of a classic firewall) a firewall pass plans."""

    policy: str  # the policy id, or the classic firewall's id
    groups: tuple[str, ...]  # group names (or collection names of a classic firewall), in plan order


@dataclass(frozen=True)
class Plan:
    target: str
    changes: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    skipped: tuple[Skip, ...] = ()
    # Per cluster the pass read: which hub and firewall it is behind, or why none (the views, #21).
    behind: tuple[Behind, ...] = ()
    # A firewall pass: per policy (or classic firewall), its owned groups after the plan.
    owned_groups: tuple[OwnedGroups, ...] = ()

    @property
    def writes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.writes)

    @property
    def errors(self) -> tuple[str, ...]:
        """Plan-level errors (ARM limits): when any exists, nothing of this plan may be written."""
        return tuple(f"{c.address}: {c.message}" for c in self.conflicts if c.severity is Severity.ERROR)

    @property
    def blocking_conflicts(self) -> tuple[Conflict, ...]:
        """Conflicts and errors, not notes: any of them means the target is not converged."""
        return tuple(c for c in self.conflicts if c.blocking)

    @property
    def notes(self) -> tuple[Conflict, ...]:
        return tuple(c for c in self.conflicts if not c.blocking)

    def summary(self) -> dict[str, int]:
        """Counts per action, plus `conflict`: the blocking conflicts and errors (notes are not counted)."""
        counts = {a.value: 0 for a in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        counts["conflict"] = len(self.blocking_conflicts)
        return counts


# --------------------------------------------------------------------------------------------- results


class Outcome(StrEnum):
    UNCHANGED = "unchanged"
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    FAILED = "failed"


OUTCOME_OF_ACTION: Mapping[Action, Outcome] = {
    Action.CREATE: Outcome.CREATED,
    Action.UPDATE: Outcome.UPDATED,
    Action.DELETE: Outcome.DELETED,
    Action.NOOP: Outcome.UNCHANGED,
}


@dataclass(frozen=True)
class ChangeOutcome:
    change: Change
    outcome: Outcome
    error: str | None = None  # "<ArmCode>: <message>" when failed
    retryable: bool = False  # failed on a transient ARM error that outlived the retry deadline
    warning: str | None = None  # done, but something looks wrong (e.g. a possible concurrent writer)
    # A group PUT that succeeded: the group as ARM answered it. The firewall verify reads the groups from
    # these instead of listing them again (remediation/engine/observe.py groups_as_written).
    answer: ObservedRuleCollectionGroup | None = None


@dataclass(frozen=True)
class ArmCalls:
    reads: int = 0
    writes: int = 0

    def __add__(self, other: ArmCalls) -> ArmCalls:
        return ArmCalls(self.reads + other.reads, self.writes + other.writes)


@dataclass(frozen=True)
class ReconcileResult:
    target: str
    dry_run: bool
    plan: Plan
    outcomes: tuple[ChangeOutcome, ...] = ()
    arm_calls: ArmCalls = ArmCalls()
    converged: bool | None = None  # None on a dry run; after apply, True when a re-read shows no changes
    error: str | None = None
    # Targets that must run after this one (a routing target -> the firewall target it changed the inputs
    # of); the queue worker enqueues them, the CLI runs them (docs/architecture.md section 2).
    follow_ups: tuple[Target, ...] = ()
    # Their results, when the caller ran them right away (the CLI); empty when they were enqueued.
    follow_up_results: tuple[ReconcileResult, ...] = ()
    # Why a routing target named no firewall follow-up although it has one: its owned rules were read and
    # already hold what the firewall target would write (remediation/planning/firewall_check.py).
    follow_up_note: str | None = None

    @property
    def pending_follow_ups(self) -> tuple[Target, ...]:
        """The follow-ups still to run: those without a result here (a sweep runs its firewall follow-up
        itself, inside the firewall lease, and the CLI runs every follow-up right away)."""
        ran = {r.target.lower() for r in self.follow_up_results}
        return tuple(t for t in self.follow_ups if str(t).lower() not in ran)
