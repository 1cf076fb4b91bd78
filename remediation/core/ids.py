"""ARM resource ids: parse, normalize, compare case-insensitively.

ARM treats ids case-insensitively, and real payloads mix casings: AKS returns `resourcegroups`, Event Grid
subjects may say `resourceGroups`, the type may be `ManagedClusters` or `managedClusters`
(docs/arm-notes.md section 4.1). Every comparison in the project goes through `ResourceId.key`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from remediation.core.errors import InvalidResourceIdError

_GUIDISH = re.compile(r"^[0-9A-Za-z-]{1,64}$")

# Canonical spelling of the resource types the project reads or writes, keyed by lower case.
CANONICAL_TYPES: dict[str, str] = {
    t.lower(): t
    for t in (
        "Microsoft.ContainerService/managedClusters",
        "Microsoft.ContainerService/managedClusters/agentPools",
        "Microsoft.Network/applicationGateways",
        "Microsoft.Network/azureFirewalls",
        "Microsoft.Network/firewallPolicies",
        "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
        "Microsoft.Network/routeTables",
        "Microsoft.Network/routeTables/routes",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/virtualNetworks/subnets",
        "Microsoft.Network/virtualNetworkGateways",
    )
}

CLUSTER = "Microsoft.ContainerService/managedClusters"
AGENT_POOL = "Microsoft.ContainerService/managedClusters/agentPools"
APP_GATEWAY = "Microsoft.Network/applicationGateways"
FIREWALL = "Microsoft.Network/azureFirewalls"
FIREWALL_POLICY = "Microsoft.Network/firewallPolicies"
RULE_COLLECTION_GROUP = "Microsoft.Network/firewallPolicies/ruleCollectionGroups"
ROUTE_TABLE = "Microsoft.Network/routeTables"
ROUTE = "Microsoft.Network/routeTables/routes"
VNET = "Microsoft.Network/virtualNetworks"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"
VPN_GATEWAY = "Microsoft.Network/virtualNetworkGateways"
VIRTUAL_HUB = "Microsoft.Network/virtualHubs"
VIRTUAL_WAN = "Microsoft.Network/virtualWans"


@dataclass(frozen=True)
class ResourceId:
    """A parsed ARM id. `names` pairs with the type segments after the provider namespace.

    A subscription id has no group and no provider; a resource-group id has no provider.
    """

    subscription: str
    resource_group: str | None = None
    namespace: str | None = None
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def resource_type(self) -> str | None:
        """`Namespace/type[/childType]`, in canonical casing when the type is a known one."""
        if self.namespace is None:
            return None
        raw = "/".join((self.namespace, *self.types))
        return CANONICAL_TYPES.get(raw.lower(), raw)

    @property
    def name(self) -> str:
        if self.names:
            return self.names[-1]
        return self.resource_group or self.subscription

    def __str__(self) -> str:
        parts = [f"/subscriptions/{self.subscription}"]
        if self.resource_group is not None:
            parts.append(f"/resourceGroups/{self.resource_group}")
        if self.namespace is not None:
            canonical = (self.resource_type or "").split("/")
            parts.append(f"/providers/{canonical[0]}")
            for type_name, name in zip(canonical[1:], self.names, strict=True):
                parts.append(f"/{type_name}/{name}")
        return "".join(parts)

    @cached_property
    def key(self) -> str:
        """Case-insensitive identity: use for dict keys and equality across payloads. Computed once per id
        (the id is immutable, and parsed ids are shared: see `parse_resource_id`). It is `str(self).lower()`,
        built without the canonical type spelling (which only changes the case, lowered here anyway)."""
        parts = ["", "subscriptions", self.subscription]
        if self.resource_group is not None:
            parts += ("resourcegroups", self.resource_group)
        if self.namespace is not None:
            parts += ("providers", self.namespace)
            for type_name, name in zip(self.types, self.names, strict=True):
                parts += (type_name, name)
        return "/".join(parts).lower()

    def is_type(self, resource_type: str) -> bool:
        return (self.resource_type or "").lower() == resource_type.lower()

    @property
    def parent(self) -> ResourceId | None:
        if len(self.types) > 1:
            return ResourceId(self.subscription, self.resource_group, self.namespace, self.types[:-1],
                              self.names[:-1])
        if self.namespace is not None:
            return ResourceId(self.subscription, self.resource_group)
        if self.resource_group is not None:
            return ResourceId(self.subscription)
        return None

    def child(self, type_name: str, name: str) -> ResourceId:
        if self.namespace is None:
            raise InvalidResourceIdError(f"{self} has no resource to hold a child {type_name}")
        return ResourceId(self.subscription, self.resource_group, self.namespace, (*self.types, type_name),
                          (*self.names, name))

    def within(self, scope: ResourceId) -> bool:
        """True when this id is the scope itself or lies beneath it (subscription or resource group)."""
        if self.subscription.lower() != scope.subscription.lower():
            return False
        if scope.resource_group is None:
            return True
        return (self.resource_group or "").lower() == scope.resource_group.lower()


# Parsed ids are cached: a sweep of 10,000 clusters parses the same ~100,000 ids millions of times (issue 26:
# 4.9 M parses). A ResourceId is immutable, so sharing one is safe; invalid text raises and is not cached.
_ID_CACHE_SIZE = 1 << 18


def parse_resource_id(value: object) -> ResourceId:
    """Parse a subscription, resource-group or resource id; raise InvalidResourceIdError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidResourceIdError(f"resource id must be a non-empty string, got {value!r}")
    return _parse(value)


@lru_cache(maxsize=_ID_CACHE_SIZE)
def _parse(value: str) -> ResourceId:
    text = value.strip()
    if not text.startswith("/"):
        raise InvalidResourceIdError(f"resource id must start with '/subscriptions/': {text!r}")
    segments = text.strip("/").split("/")
    if any(not s for s in segments):
        raise InvalidResourceIdError(f"resource id has an empty segment: {text!r}")
    if len(segments) < 2 or segments[0].lower() != "subscriptions":
        raise InvalidResourceIdError(f"resource id must start with '/subscriptions/': {text!r}")
    subscription = segments[1]
    if not _GUIDISH.match(subscription):
        raise InvalidResourceIdError(f"subscription segment is not an id: {text!r}")
    rest = segments[2:]
    if not rest:
        return ResourceId(subscription)
    if rest[0].lower() != "resourcegroups" or len(rest) < 2:
        raise InvalidResourceIdError(f"expected '/resourceGroups/<name>' after the subscription: {text!r}")
    group = rest[1]
    rest = rest[2:]
    if not rest:
        return ResourceId(subscription, group)
    if rest[0].lower() != "providers" or len(rest) < 4 or len(rest) % 2 != 0:
        raise InvalidResourceIdError(f"expected '/providers/<namespace>/<type>/<name>...': {text!r}")
    namespace = rest[1]
    pairs = rest[2:]
    types = tuple(pairs[0::2])
    names = tuple(pairs[1::2])
    return ResourceId(subscription, group, namespace, types, names)


def parse_typed(value: object, *allowed: str) -> ResourceId:
    """Parse and require one of the given resource types."""
    rid = parse_resource_id(value)
    if not any(rid.is_type(t) for t in allowed):
        wanted = ", ".join(allowed)
        raise InvalidResourceIdError(f"{value} is a {rid.resource_type or 'scope'}, expected one of: {wanted}")
    return rid


def same_id(a: str | None, b: str | None) -> bool:
    """Case-insensitive id equality that tolerates None and unparsable ids (compared as text)."""
    if a is None or b is None:
        return a is b
    return id_key(a) == id_key(b)


@lru_cache(maxsize=_ID_CACHE_SIZE)
def id_key(value: str) -> str:
    try:
        return parse_resource_id(value).key
    except InvalidResourceIdError:
        return value.strip().rstrip("/").lower()


def bounded_name(name: str, limit: int, identity: str, *, trim: str = "-._") -> str:
    """`name` when it fits in `limit` characters; else its head plus '-' and a short stable hash of `identity`.

    Owned names derived from ids (route tables: 80 characters; route and rule names) must stay unique when
    they are cut: two long subnet names with a common head must never map to one owned table. The hash is
    of `id_key(identity)`, so any casing of the same id gives the same name, and it ends in a hex digit,
    which every ARM name rule accepts as a last character.
    """
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(id_key(identity).encode("utf-8")).hexdigest()[:8]
    head = name[: max(limit - len(digest) - 1, 1)].rstrip(trim)
    return f"{head}-{digest}"
