"""Settings: read once from app settings (environment) or a `local.settings.json`, validated at start.

An invalid value raises ConfigError naming the setting, so a bad deployment fails at start-up instead of
half-way through a remediation.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlparse

from remediation.core import egress_facts, ids
from remediation.core import net as netmath
from remediation.core.errors import ConfigError, InvalidResourceIdError


class Mode(StrEnum):
    ENFORCE = "enforce"
    REPORT = "report"  # every trigger becomes a dry run


# ARM endpoints of the national clouds (azure-identity's AzureAuthorityHosts pairs with these).
CLOUD_ENDPOINTS: Mapping[str, str] = {
    "AzureCloud": "https://management.azure.com",
    "AzureUSGovernment": "https://management.usgovcloudapi.net",
    "AzureChinaCloud": "https://management.chinacloudapi.cn",
}

_PROTOCOLS = {"TCP", "UDP", "ICMP", "Any"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
# Service tags (AzureCloud, AzureCloud.westeurope), IPs, CIDRs, ranges and '*' are valid rule addresses.
_ADDRESS_TOKEN = re.compile(r"^(\*|[A-Za-z][A-Za-z0-9.]*|[0-9a-fA-F:./-]+)$")

DEFAULTS: Mapping[str, str] = {
    "AZURE_CLOUD": "AzureCloud",
    "OWNERSHIP_PREFIX": "rmd-",
    "OWNERSHIP_TAG": "managed-by=aks-egress-remediation",
    "RULE_COLLECTION_GROUP": "rmd-aks-runbook",
    "RULE_COLLECTION_GROUP_PRIORITY": "250",
    "RULE_COLLECTION_GROUP_SHARD_BYTES": "1572864",
    "EGRESS_DESTINATIONS": "AzureCloud",
    "EGRESS_PORTS": "443,1194,9000,123",
    "EGRESS_PROTOCOLS": "TCP,UDP",
    "INGRESS_PORTS": "80,443",
    "SPOKE_PREFIXES": "",
    "FORCE_DEFAULT_ROUTE": "false",
    "ALLOW_TAKEOVER": "false",
    "REMEDIATION_MODE": "report",
    "EGRESS_PROFILE": "aks-required",
    "EGRESS_EXTRA_FQDNS": "",
    "EGRESS_FQDN_TAGS": "AzureKubernetesService",
    "ALLOW_BROAD_EGRESS": "false",
    "EGRESS_DESTINATION_FQDNS": "",
    "BURST_SWEEP_AFTER": "5",
    "WRITE_LANES": "16",
    "OPERATIONS_IN_FLIGHT": "200",
    "INVENTORY": "auto",
    "LRO_FIRST_POLL_SCALE": "0",
    "VERIFY_EFFECTIVE_ROUTES": "false",
    "PREPARE_SUBNETS_TAG": "aks-egress-prepare",
}

# Where the lists of a fleet observation come from (docs/arm-notes.md section 7): ARM list calls per scope, or
# Azure Resource Graph queries. `auto` picks resource-graph when the scope spans more than one subscription.
INVENTORIES = ("auto", "resource-graph", "arm")

# Egress profiles (docs/egress.md): which egress rules a cluster whose egress goes through the firewall gets.
EGRESS_PROFILES = ("aks-required", "aks-endpoints", "custom")
# The custom profile's settings: only read (and only allowed) with EGRESS_PROFILE=custom.
CUSTOM_EGRESS_SETTINGS = ("EGRESS_DESTINATIONS", "EGRESS_PORTS", "EGRESS_PROTOCOLS", "EGRESS_DESTINATION_FQDNS")


@dataclass(frozen=True)
class Settings:
    scope: tuple[ids.ResourceId, ...]
    # The firewall of this pass: FIREWALL_ID, or the first of FIREWALL_IDS. A firewall target's pass runs with
    # it replaced by its own firewall (`for_firewall`); `firewall_ids` is every configured firewall, this one
    # first (docs/platform-notes.md 13.1).
    firewall_id: str
    arm_endpoint: str
    cloud: str
    ownership_prefix: str
    ownership_tag: tuple[str, str]
    rule_collection_group: str
    rule_collection_group_priority: int
    egress_destinations: tuple[str, ...]
    egress_ports: tuple[str, ...]
    egress_protocols: tuple[str, ...]
    ingress_ports: tuple[str, ...]
    spoke_prefixes: tuple[str, ...]
    force_default_route: bool
    allow_takeover: bool
    mode: Mode
    principal_id: str | None = None
    result_topic_endpoint: str | None = None
    # Egress profiles (remediation/planning/egress.py, docs/egress.md).
    egress_profile: str = "aks-required"
    egress_extra_fqdns: tuple[str, ...] = ()
    egress_fqdn_tags: tuple[str, ...] = ("AzureKubernetesService",)
    allow_broad_egress: bool = False
    egress_destination_fqdns: tuple[str, ...] = ()  # custom profile: FQDNs of the network rule (DNS proxy)
    # Event intake (remediation/planning/intake.py): with this many cluster/App Gateway requests pending, further
    # events enqueue one sweep instead; 0 = never.
    burst_sweep_after: int = 5
    # Above this estimated size the owned rules are split into groups `<group>-2`... (remediation/planning/shards.py).
    rule_collection_group_shard_bytes: int = 1_572_864
    # Apply's parallel write lanes (remediation/engine/apply.py): ARM serializes per lock domain, not per caller.
    write_lanes: int = 16
    # Operations of one ARM client that ARM runs at once (remediation/azure/inflight.py): a write holds a lane
    # only for its request, so this, not the lanes, bounds the writes in flight (and the polls they cost).
    operations_in_flight: int = 200
    inventory: str = "auto"  # one of INVENTORIES, as configured
    # When a write's first status poll is made (remediation/azure/polling.py): after this many times the
    # operation's typical duration; 0 = at once, as azure-core does (one more poll for a write that is not
    # done yet).
    lro_first_poll_scale: float = 0.0
    # `status` (and the sweep's audit row) confirm the computed effective routes with ARM's effective route table
    # of a node NIC (docs/platform-notes.md 11.2): an action per node subnet, so opt-in.
    verify_effective_routes: bool = False
    # The VNet tag whose value (comma-separated subnet names) marks subnets to prepare for userDefinedRouting
    # clusters before they exist (remediation/planning/prepare.py, docs/platform-notes.md 3.2.1).
    prepare_subnets_tag: str = "aks-egress-prepare"
    firewall_ids: tuple[str, ...] = ()

    @property
    def firewalls(self) -> tuple[str, ...]:
        """Every configured firewall (FIREWALL_IDS, or FIREWALL_ID alone): the only possible next hops."""
        return self.firewall_ids or (self.firewall_id,)

    @property
    def several_firewalls(self) -> bool:
        return len(self.firewalls) > 1

    def for_firewall(self, firewall_id: str) -> Settings:
        """These settings with `firewall_id` as the firewall of the pass (a configured one)."""
        return replace(self, firewall_id=next(f for f in self.firewalls if ids.same_id(f, firewall_id)))

    def configures_firewall(self, firewall_id: str) -> bool:
        return any(ids.same_id(f, firewall_id) for f in self.firewalls)

    @property
    def uses_resource_graph(self) -> bool:
        """`auto`: Resource Graph when the scope names more than one subscription. The cluster count cannot
        decide it (it is only known after listing); the subscription count is known at start-up, and it is
        what multiplies ARM list calls, while one subscription costs about the same either way and ARM is
        fresher (docs/arm-notes.md section 7)."""
        if self.inventory == "auto":
            return len(self.subscriptions) > 1
        return self.inventory == "resource-graph"

    @property
    def subscriptions(self) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for s in self.scope:
            seen.setdefault(s.subscription.lower(), s.subscription)
        return tuple(seen.values())

    def in_scope(self, resource_id: str) -> bool:
        try:
            rid = ids.parse_resource_id(resource_id)
        except InvalidResourceIdError:
            return False
        return any(rid.within(s) for s in self.scope)

    def owns_name(self, name: str) -> bool:
        return name.lower().startswith(self.ownership_prefix.lower())

    def owns_tags(self, tags: Mapping[str, str] | None) -> bool:
        key, value = self.ownership_tag
        return any(k.lower() == key.lower() and v == value for k, v in (tags or {}).items())


def load_settings(env: Mapping[str, str]) -> Settings:
    """Validate every setting once. Unknown keys are ignored (the Functions host adds its own)."""

    def get(name: str) -> str:
        return (env.get(name) or DEFAULTS.get(name, "")).strip()

    scope = _parse_scope(get("REMEDIATION_SCOPE"))
    firewall_id, firewall_ids = _parse_firewalls(get("FIREWALL_ID"), get("FIREWALL_IDS"))
    cloud = get("AZURE_CLOUD")
    if cloud not in CLOUD_ENDPOINTS:
        raise ConfigError("AZURE_CLOUD", f"{cloud!r} is not one of {', '.join(CLOUD_ENDPOINTS)}")
    arm_endpoint = get("ARM_ENDPOINT") or CLOUD_ENDPOINTS[cloud]
    # Bearer tokens are only sent over TLS (docs/arm-notes.md section 0.1).
    _require_https("ARM_ENDPOINT", arm_endpoint)
    prefix = get("OWNERSHIP_PREFIX")
    if not _NAME.match(prefix) or len(prefix) < 2:
        raise ConfigError("OWNERSHIP_PREFIX", f"must be 2-40 letters, digits, '-', '_' or '.', got {prefix!r}")
    tag_text = get("OWNERSHIP_TAG")
    if tag_text.count("=") != 1 or not all(tag_text.split("=")):
        raise ConfigError("OWNERSHIP_TAG", f"must be 'key=value', got {tag_text!r}")
    tag_key, tag_value = tag_text.split("=")
    rcg = get("RULE_COLLECTION_GROUP")
    if not _NAME.match(rcg) or not rcg.lower().startswith(prefix.lower()):
        raise ConfigError("RULE_COLLECTION_GROUP", f"must be a name that starts with OWNERSHIP_PREFIX {prefix!r}")
    settings = Settings(
        scope=scope,
        firewall_id=firewall_id,
        firewall_ids=firewall_ids,
        arm_endpoint=arm_endpoint.rstrip("/"),
        cloud=cloud,
        ownership_prefix=prefix,
        ownership_tag=(tag_key.strip(), tag_value.strip()),
        rule_collection_group=rcg,
        rule_collection_group_priority=_parse_priority("RULE_COLLECTION_GROUP_PRIORITY",
                                                       get("RULE_COLLECTION_GROUP_PRIORITY")),
        egress_destinations=_parse_addresses("EGRESS_DESTINATIONS", get("EGRESS_DESTINATIONS")),
        egress_ports=_parse_ports("EGRESS_PORTS", get("EGRESS_PORTS")),
        egress_protocols=_parse_protocols("EGRESS_PROTOCOLS", get("EGRESS_PROTOCOLS")),
        ingress_ports=_parse_ports("INGRESS_PORTS", get("INGRESS_PORTS")),
        spoke_prefixes=_parse_prefixes("SPOKE_PREFIXES", get("SPOKE_PREFIXES")),
        force_default_route=_parse_bool("FORCE_DEFAULT_ROUTE", get("FORCE_DEFAULT_ROUTE")),
        allow_takeover=_parse_bool("ALLOW_TAKEOVER", get("ALLOW_TAKEOVER")),
        mode=_parse_mode(get("REMEDIATION_MODE")),
        principal_id=get("REMEDIATION_PRINCIPAL_ID") or None,
        result_topic_endpoint=_parse_optional_url("RESULT_TOPIC_ENDPOINT", get("RESULT_TOPIC_ENDPOINT")),
        burst_sweep_after=_parse_count("BURST_SWEEP_AFTER", get("BURST_SWEEP_AFTER"), 1000),
        rule_collection_group_shard_bytes=_parse_shard_bytes(get("RULE_COLLECTION_GROUP_SHARD_BYTES")),
        write_lanes=_parse_write_lanes(get("WRITE_LANES")),
        operations_in_flight=_parse_operations_in_flight(get("OPERATIONS_IN_FLIGHT")),
        inventory=_parse_inventory(get("INVENTORY")),
        lro_first_poll_scale=_parse_first_poll_scale(get("LRO_FIRST_POLL_SCALE")),
        verify_effective_routes=_parse_bool("VERIFY_EFFECTIVE_ROUTES", get("VERIFY_EFFECTIVE_ROUTES")),
        prepare_subnets_tag=_parse_tag_name("PREPARE_SUBNETS_TAG", get("PREPARE_SUBNETS_TAG")),
        **_egress_settings(env, get),
    )
    if settings.egress_destination_fqdns and not (env.get("EGRESS_DESTINATIONS") or "").strip():
        # custom with host names only: the rule names no address (its default, AzureCloud, is not implied).
        settings = replace(settings, egress_destinations=())
    return settings


# Every setting the app reads (this module, the Function app's triggers and runtime, the lock and audit storage),
# for naming a misspelt key in a settings file. A key close to one of these that is not one of them is a typo.
KNOWN_SETTINGS: frozenset[str] = frozenset({
    *DEFAULTS, "REMEDIATION_SCOPE", "FIREWALL_ID", "FIREWALL_IDS", "ARM_ENDPOINT", "REMEDIATION_PRINCIPAL_ID",
    "RESULT_TOPIC_ENDPOINT", "DRIFT_SCHEDULE", "HTTP_AUTH_LEVEL", "RECONCILE_DEADLINE_SECONDS",
    "FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "EventsStorage", "REQUESTS_CA_BUNDLE",
})
# How alike a key must be to a known setting to be called a misspelling of it (difflib's ratio): close
# enough for FORCE_DEFAULT_ROUTES or EGRES_PROFILE, far enough to leave another app's own settings alone.
_TYPO_CUTOFF = 0.85


def misspelt_setting(key: str) -> str | None:
    """The known setting `key` is a misspelling of (FORCE_DEFAULT_ROUTES -> FORCE_DEFAULT_ROUTE), or None
    when it is a known setting or not close to any (a setting of something else in the same file)."""
    if key in KNOWN_SETTINGS or key.startswith("AzureWebJobs"):
        return None
    by_upper = {k.upper(): k for k in KNOWN_SETTINGS}
    if key.upper() in by_upper:
        return by_upper[key.upper()]  # settings are case-sensitive in the environment: REMEDIATION_Mode
    close = difflib.get_close_matches(key.upper(), list(by_upper), n=1, cutoff=_TYPO_CUTOFF)
    return by_upper[close[0]] if close else None


def read_local_settings(path: str | Path) -> dict[str, str]:
    """The `Values` of a Functions `local.settings.json`. Refused with one line: an encrypted file
    (`IsEncrypted: true`, values only the machine that ran `func settings encrypt` can read) and a key that is a
    misspelling of a known setting (silently ignored, it would leave that setting at its default)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError("--settings", f"cannot read {path}: {exc}") from exc
    if isinstance(document, dict) and document.get("IsEncrypted") is True:
        raise ConfigError("--settings", f"{path} has IsEncrypted: true; its values cannot be read here: run "
                                        "`func settings decrypt` or set the settings in the environment")
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise ConfigError("--settings", f"{path} has no 'Values' object (the local.settings.json format)")
    for key in values:
        known = misspelt_setting(str(key))
        if known is not None:
            raise ConfigError(str(key), f"in {path} is not a setting; did you mean {known}?")
    return {str(k): str(v) for k, v in values.items()}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parse_scope(text: str) -> tuple[ids.ResourceId, ...]:
    if not text:
        raise ConfigError("REMEDIATION_SCOPE", "is required: comma-separated subscription or resource-group ids")
    scopes = []
    for part in _split(text):
        try:
            rid = ids.parse_resource_id(part)
        except InvalidResourceIdError as exc:
            raise ConfigError("REMEDIATION_SCOPE", str(exc)) from exc
        if rid.namespace is not None:
            raise ConfigError("REMEDIATION_SCOPE", f"{part} is a resource; give subscription or resource-group ids")
        scopes.append(rid)
    return tuple(scopes)


def _parse_firewall(text: str, name: str = "FIREWALL_ID") -> str:
    if not text:
        raise ConfigError(name, "is required: the central Azure Firewall's resource id")
    try:
        return str(ids.parse_typed(text, ids.FIREWALL))
    except InvalidResourceIdError as exc:
        raise ConfigError(name, str(exc)) from exc


def _parse_firewalls(one: str, several: str) -> tuple[str, tuple[str, ...]]:
    """FIREWALL_ID (the one-firewall form) and FIREWALL_IDS (comma-separated, every firewall of the estate).

    Both set: FIREWALL_IDS must list FIREWALL_ID (the deployment template sets both, FIREWALL_ID first); it is
    then the first firewall, the others follow in their order. A repeated id counts once. Only FIREWALL_IDS:
    its first entry is FIREWALL_ID's stand-in (the firewall named in messages of a one-firewall view)."""
    if not several:
        return _parse_firewall(one), ()
    listed: dict[str, str] = {}
    for part in _split(several):
        firewall = _parse_firewall(part, "FIREWALL_IDS")
        listed.setdefault(ids.id_key(firewall), firewall)
    if not listed:
        raise ConfigError("FIREWALL_IDS", "lists no firewall: give comma-separated Azure Firewall resource ids")
    if not one:
        return next(iter(listed.values())), tuple(listed.values())
    primary = _parse_firewall(one)
    if ids.id_key(primary) not in listed:
        raise ConfigError("FIREWALL_IDS", f"does not list FIREWALL_ID {primary}: set FIREWALL_IDS alone, or list "
                                          "FIREWALL_ID in it (two settings that disagree are refused)")
    rest = tuple(f for k, f in listed.items() if k != ids.id_key(primary))
    return primary, (primary, *rest)


# Tag names: at most 512 characters, none of < > % & \\ ? / (learn.microsoft.com azure-resource-manager/management/
# tag-resources, "Limitations").
_TAG_NAME_FORBIDDEN = set("<>%&\\?/")


def _parse_tag_name(name: str, text: str) -> str:
    if not text or len(text) > 512 or _TAG_NAME_FORBIDDEN & set(text):
        raise ConfigError(name, f"must be a tag name of 1-512 characters without < > % & \\ ? /, got {text!r}")
    return text


_DIGITS = re.compile(r"^[0-9]+$")  # ASCII only: str.isdigit() also accepts '²', which int() refuses


def _parse_count(name: str, text: str, most: int) -> int:
    if not _DIGITS.match(text) or int(text) > most:
        raise ConfigError(name, f"must be a whole number from 0 to {most}, got {text!r}")
    return int(text)


def _parse_priority(name: str, text: str) -> int:
    if not _DIGITS.match(text) or not 100 <= int(text) <= 65000:
        raise ConfigError(name, f"must be a whole number from 100 to 65000, got {text!r}")
    return int(text)


# RULE_COLLECTION_GROUP_SHARD_BYTES: at least a few rules per shard, at most 90 % of the 2 MiB group limit
# (the size is an estimate: docs/platform-notes.md §9).
_SHARD_BYTES_RANGE = (4096, 2 * 1024 * 1024 * 9 // 10)


def _parse_shard_bytes(text: str) -> int:
    low, high = _SHARD_BYTES_RANGE
    if not _DIGITS.match(text) or not low <= int(text) <= high:
        raise ConfigError("RULE_COLLECTION_GROUP_SHARD_BYTES",
                          f"must be a whole number of bytes from {low} to {high}, got {text!r}")
    return int(text)


MAX_WRITE_LANES = 64


def _parse_write_lanes(text: str) -> int:
    """WRITE_LANES: how many ARM lock domains apply writes to at once. ARM's write bucket (200 tokens,
    10/s per subscription, docs/arm-notes.md 3.3) and the pacing policy bound the rate; this bounds the
    request threads of one reconcile (an operation ARM runs holds none: OPERATIONS_IN_FLIGHT bounds those)."""
    if not _DIGITS.match(text) or not 1 <= int(text) <= MAX_WRITE_LANES:
        raise ConfigError("WRITE_LANES", f"must be a whole number from 1 to {MAX_WRITE_LANES}, got {text!r}")
    return int(text)


MAX_OPERATIONS_IN_FLIGHT = 1000


def _parse_operations_in_flight(text: str) -> int:
    """OPERATIONS_IN_FLIGHT: the writes whose operations ARM runs at once for one client (1 to 1000, default
    200). Why 200: a subscription's write bucket holds 200 tokens (refilled 10/s, docs/arm-notes.md 3.3), so
    more writes in flight in one subscription only wait on the pacing; and each operation in flight costs about
    one status poll per Retry-After (about 10 s, §1.2) from the read bucket (250, refilled 25/s): 200 in flight
    poll at about 20 reads/s, under the refill. Across many subscriptions a larger bound may pay off."""
    if not _DIGITS.match(text) or not 1 <= int(text) <= MAX_OPERATIONS_IN_FLIGHT:
        raise ConfigError("OPERATIONS_IN_FLIGHT",
                          f"must be a whole number from 1 to {MAX_OPERATIONS_IN_FLIGHT}, got {text!r}")
    return int(text)


MAX_FIRST_POLL_SCALE = 10.0


def _parse_first_poll_scale(text: str) -> float:
    """LRO_FIRST_POLL_SCALE: a number from 0 to 10 (1 = the typical durations, docs/arm-notes.md 1.2)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= MAX_FIRST_POLL_SCALE:  # also false for nan
        raise ConfigError("LRO_FIRST_POLL_SCALE",
                          f"must be a number from 0 to {MAX_FIRST_POLL_SCALE:g}, got {text!r}")
    return value


def _parse_ports(name: str, text: str) -> tuple[str, ...]:
    ports = _split(text)
    if not ports:
        raise ConfigError(name, "needs at least one port")
    for port in ports:
        if port == "*":
            continue
        bounds = port.split("-")
        if len(bounds) > 2 or not all(_DIGITS.match(b) and 1 <= int(b) <= 65535 for b in bounds):
            raise ConfigError(name, f"{port!r} is not a port (1-65535), a range 'a-b' or '*'")
    return tuple(ports)


def _parse_protocols(name: str, text: str) -> tuple[str, ...]:
    protocols = _split(text)
    bad = [p for p in protocols if p not in _PROTOCOLS]
    if not protocols or bad:
        raise ConfigError(name, f"must list protocols from {sorted(_PROTOCOLS)}, got {text!r}")
    return tuple(protocols)


def _parse_addresses(name: str, text: str) -> tuple[str, ...]:
    addresses = _split(text)
    bad = [a for a in addresses if not _ADDRESS_TOKEN.match(a)]
    if not addresses or bad:
        raise ConfigError(name, f"must list addresses, CIDRs or service tags, got {text!r}")
    _refuse_ipv6(name, addresses)
    for value in addresses:
        # A numeric value must be an address, a CIDR or a range a-b the broad-destination guard can measure:
        # anything it cannot parse is refused here instead of being written unjudged.
        if value[:1].isdigit() and netmath.ipv4_span(value) is None:
            raise ConfigError(name, f"{value!r} is not an IPv4 address, CIDR or range (first-last, first <= last)")
    return tuple(addresses)


def _refuse_ipv6(name: str, values: list[str]) -> None:
    """Azure Firewall does not filter IPv6 (docs/platform-notes.md 7): an IPv6 value is a setting error."""
    for value in values:
        if ":" in value:
            raise ConfigError(name, f"{value!r} is IPv6: Azure Firewall does not support IPv6, so IPv6 "
                                    "addresses cannot be routed through it nor used in its rules")


# A spoke prefix this broad is a default route in disguise (0.0.0.0/0, or halves like 0.0.0.0/1): it
# would send a loadBalancer-outbound cluster's Internet traffic to the firewall (docs/platform-notes.md 8).
_MIN_SPOKE_PREFIX_LENGTH = 8


def _parse_prefixes(name: str, text: str) -> tuple[str, ...]:
    prefixes = []
    parts = _split(text)
    _refuse_ipv6(name, parts)
    for part in parts:
        try:
            net = ipaddress.ip_network(part, strict=True)
        except ValueError as exc:
            raise ConfigError(name, f"{part!r} is not a CIDR prefix ({exc})") from exc
        if net.prefixlen < _MIN_SPOKE_PREFIX_LENGTH:
            raise ConfigError(name, f"{part!r} is too broad to be a spoke (shorter than "
                                    f"/{_MIN_SPOKE_PREFIX_LENGTH}): it acts as a default route; the default "
                                    "route comes only from outboundType userDefinedRouting or "
                                    "FORCE_DEFAULT_ROUTE=true")
        prefixes.append(str(net))
    return tuple(prefixes)


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ConfigError(name, f"must be true or false, got {text!r}")


def _parse_inventory(text: str) -> str:
    value = text.lower()
    if value not in INVENTORIES:
        raise ConfigError("INVENTORY", f"must be one of {', '.join(INVENTORIES)}, got {text!r}")
    return value


def _parse_mode(text: str) -> Mode:
    try:
        return Mode(text.lower())
    except ValueError as exc:
        raise ConfigError("REMEDIATION_MODE", f"must be 'enforce' or 'report', got {text!r}") from exc


def _parse_optional_url(name: str, text: str) -> str | None:
    if not text:
        return None
    _require_https(name, text)
    return text


def _require_https(name: str, text: str) -> None:
    try:
        parsed = urlparse(text)
        valid = parsed.scheme == "https" and bool(parsed.netloc) and parsed.hostname is not None
    except ValueError:  # urlparse refuses e.g. an unclosed IPv6 bracket
        valid = False
    if not valid:
        raise ConfigError(name, f"must be an https URL, got {text!r}")


# --------------------------------------------------------------------------------------------- egress


class _EgressSettings(TypedDict):
    egress_profile: str
    egress_extra_fqdns: tuple[str, ...]
    egress_fqdn_tags: tuple[str, ...]
    allow_broad_egress: bool
    egress_destination_fqdns: tuple[str, ...]


def _egress_settings(env: Mapping[str, str], get: Callable[[str], str]) -> _EgressSettings:
    """EGRESS_PROFILE and its companions (docs/egress.md). Kept apart so the profile rules read in one place."""
    profile = get("EGRESS_PROFILE").lower()
    if profile not in EGRESS_PROFILES:
        raise ConfigError("EGRESS_PROFILE", f"{get('EGRESS_PROFILE')!r} is not one of {', '.join(EGRESS_PROFILES)}")
    allow_broad = _parse_bool("ALLOW_BROAD_EGRESS", get("ALLOW_BROAD_EGRESS"))
    destination_fqdns: tuple[str, ...] = ()
    if profile == "custom":
        destinations = _parse_addresses("EGRESS_DESTINATIONS", get("EGRESS_DESTINATIONS"))
        for destination in destinations:
            if egress_facts.looks_like_fqdn(destination):
                raise ConfigError("EGRESS_DESTINATIONS", f"{destination!r} looks like a host name; network rules "
                                                         "take host names in EGRESS_DESTINATION_FQDNS")
        destination_fqdns = tuple(_split(get("EGRESS_DESTINATION_FQDNS")))
        for fqdn in destination_fqdns:
            problem = egress_facts.fqdn_problem(fqdn)
            if problem is None and fqdn.startswith("*"):
                problem = "is a wildcard, which a network rule cannot match (use EGRESS_EXTRA_FQDNS for HTTPS)"
            if problem:
                raise ConfigError("EGRESS_DESTINATION_FQDNS", f"{fqdn!r} {problem}")
        broad = egress_facts.broad_destinations(destinations)
        only_fqdns = bool(destination_fqdns) and not (env.get("EGRESS_DESTINATIONS") or "").strip()
        if broad and not allow_broad and not only_fqdns:
            raise ConfigError("EGRESS_DESTINATIONS", f"{', '.join(broad)} opens egress to all of the internet or "
                                                     "of Azure; name region-scoped tags (AzureCloud.<region>), "
                                                     "CIDRs or IPs, or set ALLOW_BROAD_EGRESS=true")
    else:
        for name in CUSTOM_EGRESS_SETTINGS:
            if (env.get(name) or "").strip():
                raise ConfigError(name, f"is only used with EGRESS_PROFILE=custom (the profile is {profile}); "
                                        "remove it or set EGRESS_PROFILE=custom")
    fqdns = tuple(_split(get("EGRESS_EXTRA_FQDNS")))
    for fqdn in fqdns:
        problem = egress_facts.fqdn_problem(fqdn)
        if problem:
            raise ConfigError("EGRESS_EXTRA_FQDNS", f"{fqdn!r} {problem}")
    tags = tuple(_split(get("EGRESS_FQDN_TAGS")))
    for tag in tags:
        canonical = egress_facts.canonical_fqdn_tag(tag)
        if canonical is None:
            raise ConfigError("EGRESS_FQDN_TAGS", f"{tag!r} is not an Azure Firewall FQDN tag (known: "
                                                  f"{', '.join(egress_facts.FQDN_TAGS)})")
    return _EgressSettings(**{
        "egress_profile": profile,
        "egress_extra_fqdns": tuple(dict.fromkeys(f.lower() for f in fqdns)),
        "egress_fqdn_tags": tuple(dict.fromkeys(egress_facts.canonical_fqdn_tag(t) or t for t in tags)),
        "allow_broad_egress": allow_broad,
        "egress_destination_fqdns": tuple(dict.fromkeys(f.lower() for f in destination_fqdns)),
    })
