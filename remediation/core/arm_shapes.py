"""Pure: typed change payloads -> the ARM property dicts a PUT sends and a plan shows.

The ONE serializer of every body the project writes. `render` shows these dicts (the plan document's
`before`/`after` keep ARM property names, README "The plan as JSON"), and `azure/convert.py` wraps them
into the SDK models for the PUT, so what a plan shows is exactly what is sent. No azure imports here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediation.core.model import (
    APPLICATION_RULE,
    ApplicationRule,
    Change,
    ClassicCollectionPayload,
    NetworkRule,
    Payload,
    Route,
    RouteTablePayload,
    RuleCollection,
    RuleCollectionGroupPayload,
    SubnetAssociationPayload,
)

FILTER_COLLECTION = "FirewallPolicyFilterRuleCollection"


def route_properties(route: Route) -> dict[str, Any]:
    """A route's `properties` (the child `routes` endpoint takes them under `properties`)."""
    body: dict[str, Any] = {"addressPrefix": route.address_prefix, "nextHopType": route.next_hop_type}
    if route.next_hop_ip_address is not None:
        body["nextHopIpAddress"] = route.next_hop_ip_address
    return body


def route_table_body(table: RouteTablePayload) -> dict[str, Any]:
    """A whole route table resource (location and tags are top level, the rest under `properties`)."""
    props: dict[str, Any] = {"disableBgpRoutePropagation": table.disable_bgp_route_propagation}
    if table.routes:
        props["routes"] = [{"name": r.name, "properties": route_properties(r)} for r in table.routes]
    return {"location": table.location, "tags": dict(table.tags), "properties": props}


def association_properties(association: SubnetAssociationPayload) -> dict[str, Any]:
    """The one subnet property this project changes."""
    if association.route_table_id is None:
        return {"routeTable": None}
    return {"routeTable": {"id": association.route_table_id}}


def _policy_rule(rule: NetworkRule) -> dict[str, Any]:
    return {
        "ruleType": "NetworkRule",
        "name": rule.name,
        "ipProtocols": list(rule.protocols),
        "sourceAddresses": list(rule.source_addresses),
        "sourceIpGroups": [],
        "destinationAddresses": list(rule.destination_addresses),
        "destinationIpGroups": [],
        "destinationFqdns": list(rule.destination_fqdns),
        "destinationPorts": list(rule.destination_ports),
        **({"description": rule.description} if rule.description else {}),
    }


def _protocol(protocol: str) -> dict[str, Any]:
    """`Https:443` (the plan and JSON spelling) -> `{"protocolType": "Https", "port": 443}`."""
    kind, _, port = protocol.partition(":")
    return {"protocolType": kind, "port": int(port)}


def application_rule(rule: ApplicationRule, *, policy: bool) -> dict[str, Any]:
    """A policy ApplicationRule (with `ruleType`) or a classic applicationRuleCollections rule
    (docs/egress.md: `fqdnTags` and `targetFqdns` are exclusive, both lists are always sent)."""
    body: dict[str, Any] = {"ruleType": APPLICATION_RULE} if policy else {}
    body["name"] = rule.name
    if rule.description:
        body["description"] = rule.description
    body["sourceAddresses"] = list(rule.source_addresses)
    body["protocols"] = [_protocol(p) for p in rule.protocols]
    body["fqdnTags"] = list(rule.fqdn_tags)
    body["targetFqdns"] = list(rule.target_fqdns)
    return body


def policy_collection(collection: RuleCollection) -> dict[str, Any]:
    """One policy `ruleCollections[]` item (a FirewallPolicyFilterRuleCollection of NetworkRules, or of
    ApplicationRules: remediation/planning/egress.py)."""
    rules = ([application_rule(r, policy=True) for r in collection.application_rules] if collection.is_application
             else [_policy_rule(r) for r in collection.rules])
    return {
        "ruleCollectionType": FILTER_COLLECTION,
        "name": collection.name,
        "priority": collection.priority,
        "action": {"type": collection.action},
        "rules": rules,
    }


def rule_collection_group_properties(group: RuleCollectionGroupPayload) -> dict[str, Any]:
    return {"priority": group.priority,
            "ruleCollections": [policy_collection(c) for c in group.rule_collections]}


def classic_collection_properties(collection: RuleCollection) -> dict[str, Any]:
    """A classic `networkRuleCollections[].properties` (the firewall PUT carries it under its name), or an
    `applicationRuleCollections[].properties` one for an application collection."""
    if collection.is_application:
        return {
            "priority": collection.priority,
            "action": {"type": collection.action},
            "rules": [application_rule(r, policy=False) for r in collection.application_rules],
        }
    return {
        "priority": collection.priority,
        "action": {"type": collection.action},
        "rules": [
            {
                "name": r.name,
                "protocols": list(r.protocols),
                "sourceAddresses": list(r.source_addresses),
                "destinationAddresses": list(r.destination_addresses),
                "destinationPorts": list(r.destination_ports),
                **({"destinationFqdns": list(r.destination_fqdns)} if r.destination_fqdns else {}),
                **({"description": r.description} if r.description else {}),
            }
            for r in collection.rules
        ],
    }


def to_arm(payload: Payload) -> dict[str, Any]:
    """The ARM property view of any payload: what a plan's `before`/`after` show."""
    match payload:
        case Route():
            return route_properties(payload)
        case RouteTablePayload():
            return route_table_body(payload)
        case SubnetAssociationPayload():
            return association_properties(payload)
        case RuleCollectionGroupPayload():
            return rule_collection_group_properties(payload)
        case ClassicCollectionPayload():
            return classic_collection_properties(payload.collection)
    raise TypeError(f"not a change payload: {type(payload).__name__}")


def before(change: Change) -> Mapping[str, Any] | None:
    """The ARM property view of what a change replaces (what the plan document shows as `before`)."""
    return None if change.old is None else to_arm(change.old)


def after(change: Change) -> Mapping[str, Any] | None:
    """The ARM property view of what a change writes (the plan document's `after`)."""
    return None if change.new is None else to_arm(change.new)
