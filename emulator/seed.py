"""Seed files: {"resources": [<resource exactly as an ARM GET returns it>, ...]}, or the same bodies as ARM and
Resource Graph return them (a bare list, one body, {"value": [...]}, {"data": [...]}: `as_seed_document`).

Subnets and routes normally arrive inside their VNet / route table
(`properties.subnets`, `properties.routes`),
as `az network vnet show` prints them; rule collection groups are their own items.  A standalone subnet or
route item is merged into its parent, which must also be in the seed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .resource_types import AGENT_POOL, TYPES, IdError, ResourceId, parse_id
from .resources import RESOURCE_GROUP_TYPE, group_body


class SeedError(ValueError):
    """The seed is not ARM JSON the emulator can serve."""


@dataclass
class SeedItem:
    index: int
    rid: ResourceId
    type_key: str
    body: dict[str, Any]


def _fail(index: int, problem: str) -> SeedError:
    return SeedError(f"seed resources[{index}]: {problem}")


# Keys a Resource Graph row carries beside the ARM body (`az graph query`, `Resources | project ...`): not part of
# what an ARM GET returns, so they are dropped when a row is loaded as a resource.
_GRAPH_ONLY_KEYS = ("resourceGroup", "subscriptionId", "tenantId")


def as_seed_document(seed: Any) -> dict[str, Any]:
    """The seed as {"resources": [...]}, from any shape ARM or Resource Graph return resources in: a seed
    document itself, a bare list of bodies, one body (`az resource show`), an ARM list page {"value": [...]}
    or a Resource Graph answer {"data": [...]} (`az graph query`, whose rows lose their graph-only keys)."""
    if isinstance(seed, list):
        return {"resources": seed}
    if not isinstance(seed, dict):
        raise SeedError('seed must be ARM JSON: {"resources": [...]}, a list of ARM GET bodies, one body, '
                        '{"value": [...]} or {"data": [...]}')
    if "resources" in seed:
        return seed
    if isinstance(seed.get("value"), list):
        return {"resources": seed["value"]}
    if isinstance(seed.get("data"), list):
        rows = [{k: v for k, v in row.items() if k not in _GRAPH_ONLY_KEYS} if isinstance(row, dict) and
                isinstance(row.get("properties"), dict) else row for row in seed["data"]]
        return {"resources": rows}
    if isinstance(seed.get("id"), str):
        return {"resources": [seed]}
    raise SeedError('seed must be ARM JSON: {"resources": [...]}, a list of ARM GET bodies, one body, '
                    '{"value": [...]} or {"data": [...]}')


def parse_seed(seed: Any) -> list[SeedItem]:
    """Check a seed document and return its items in order; raises SeedError naming the bad item (and the
    second of two items with one id: a seed that says two things about one resource is refused)."""
    seed = as_seed_document(seed)
    if not isinstance(seed.get("resources"), list):
        raise SeedError('seed must be a JSON object {"resources": [...]} (each item an ARM GET body)')
    items: list[SeedItem] = []
    seen: dict[str, int] = {}
    for index, body in enumerate(seed["resources"]):
        rid_text = body.get("id") if isinstance(body, dict) else None
        if isinstance(rid_text, str) and rid_text:
            first = seen.setdefault(rid_text.strip("/").lower(), index)
            if first != index:
                raise _fail(index, f"duplicate id {rid_text} (also resources[{first}]): one body per resource")
        if not isinstance(body, dict):
            raise _fail(index, f"expected a JSON object, got {type(body).__name__}")
        if _is_group(body):
            continue  # parse_seed_groups takes these
        rid_text = body.get("id")
        if not isinstance(rid_text, str) or not rid_text:
            raise _fail(index, "missing 'id' (every item must be a resource as an ARM GET returns it)")
        try:
            rid = parse_id(rid_text)
        except IdError as exc:
            raise _fail(index, f"malformed id: {exc}") from None
        type_key = rid.type_key
        spec = TYPES.get(type_key)
        declared = body.get("type")
        if spec is None:
            raise _fail(
                index,
                f"unsupported resource type {declared or type_key!r} (id {rid_text}); "
                f"served types: {', '.join(sorted(t.type_name for t in TYPES.values()))}",
            )
        if declared is None:
            # The public spec examples for child GETs (SubnetGet, RouteTableRouteCreate,
            # FirewallPolicyRuleCollectionGroupGet) omit `type`; the id names it unambiguously.
            if spec.parent_key is None:
                raise _fail(index, f"missing 'type' (expected {spec.type_name!r})")
        elif not isinstance(declared, str) or declared.lower() != type_key:
            raise _fail(index, f"type {declared!r} does not match the id, which names {spec.type_name!r}")
        if spec.parent_key is None and not isinstance(body.get("location"), str):
            raise _fail(index, "missing 'location'")
        if "properties" in body and not isinstance(body["properties"], dict):
            raise _fail(index, "'properties' must be an object")
        flattened = _flattened_keys(body)
        if flattened:
            raise _fail(index, _flattened_message(rid_text, flattened))
        for child_list in ("subnets", "routes"):
            # A VNet's subnets and a route table's routes become resources of their own.
            children = (body.get("properties") or {}).get(child_list)
            if children is not None and not (isinstance(children, list)
                                             and all(isinstance(c, dict) for c in children)):
                raise _fail(index, f"'properties.{child_list}' must be a list of objects")
        if type_key == AGENT_POOL:
            raise _fail(
                index,
                "agentPools are served from the cluster's properties.agentPoolProfiles; "
                "seed the managedCluster instead",
            )
        items.append(SeedItem(index, rid, type_key, copy.deepcopy(body)))
    return items


# Keys an ARM GET body has outside `properties`. Anything else at the top level (with no `properties` object) is
# the flattened form `az network ... show` prints, which the emulator refuses rather than half-loads: read as
# ARM JSON it would have no address prefixes, routes or private IPs, and the tool would find "nothing".
_ENVELOPE_KEYS = frozenset({
    "id", "name", "type", "location", "tags", "etag", "eTag", "sku", "identity", "zones", "kind",
    "extendedLocation", "systemData", "managedBy", "plan",
})
# Top-level keys that only the flattened form has.
_FLATTENED_MARKERS = ("resourceGroup", "provisioningState", "addressPrefix", "addressPrefixes", "addressSpace",
                      "subnets", "routes", "ipConfigurations", "ruleCollections", "priority",
                      "agentPoolProfiles", "nextHopType", "firewallPolicy", "resourceGuid")


def _flattened_keys(body: dict[str, Any]) -> list[str]:
    """The flattened-output keys of an item (or of its subnets/routes) that has no `properties` object."""
    if "properties" not in body:
        found = [k for k in _FLATTENED_MARKERS if k in body]
        if found:
            return found
        return []
    props = body["properties"]
    for child_list in ("subnets", "routes"):
        children = props.get(child_list)
        for child in children if isinstance(children, list) else []:
            if isinstance(child, dict) and "properties" not in child:
                found = [k for k in _FLATTENED_MARKERS if k in child]
                if found:
                    return [f"properties.{child_list}[].{k}" for k in found]
    return []


def _flattened_message(resource_id: str, keys: list[str]) -> str:
    return (
        f"looks like flattened 'az ... show' output (no 'properties' object; {', '.join(keys[:3])} at the top "
        f"level), which would load half-empty. Export ARM JSON instead: az resource show --ids {resource_id} "
        f"(or az graph query -q \"resources | where id =~ '{resource_id}'\" --query data), one body per item"
    )


def _is_group(body: dict[str, Any]) -> bool:
    return str(body.get("type", "")).lower() == RESOURCE_GROUP_TYPE.lower()


def parse_seed_groups(seed: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str | None]]]:
    """The resource groups and subscriptions a seed declares.

    Resource groups are items of type Microsoft.Resources/resourceGroups (in "resources" or a "resourceGroups"
    list), as `GET /subscriptions/{s}/resourcegroups/{rg}` or `az group show` prints them. Subscriptions are an
    optional "subscriptions" list of ids or of objects with "subscriptionId" (and "displayName").
    """
    try:
        seed = as_seed_document(seed)
    except SeedError:
        return [], []
    groups: list[dict[str, Any]] = []
    declared = [("resources", i, b) for i, b in enumerate(seed.get("resources") or []) if isinstance(b, dict)]
    extra = seed.get("resourceGroups")
    if extra is not None and not isinstance(extra, list):
        raise SeedError("seed 'resourceGroups' must be a list of resource group objects")
    declared += [("resourceGroups", i, b) for i, b in enumerate(extra or [])]
    for where, index, body in declared:
        if where == "resources" and not _is_group(body):
            continue
        problem = _group_problem(body)
        if problem:
            raise SeedError(f"seed {where}[{index}]: {problem}")
        parts = body["id"].strip("/").split("/")
        tags = body.get("tags")
        groups.append(
            group_body(parts[1], parts[3], body["location"], tags=tags if isinstance(tags, dict) else None,
                       managed_by=body.get("managedBy") if isinstance(body.get("managedBy"), str) else None)
        )
    subscriptions: list[tuple[str, str | None]] = []
    for index, item in enumerate(seed.get("subscriptions") or []):
        if isinstance(item, str) and item:
            subscriptions.append((item, None))
        elif isinstance(item, dict) and isinstance(item.get("subscriptionId"), str):
            name = item.get("displayName")
            subscriptions.append((item["subscriptionId"], name if isinstance(name, str) else None))
        else:
            raise SeedError(f"seed subscriptions[{index}]: expected a subscription id or an object with "
                            "'subscriptionId'")
    return groups, subscriptions


def _group_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "expected a resource group object"
    rid = body.get("id")
    parts = rid.strip("/").split("/") if isinstance(rid, str) else []
    if len(parts) != 4 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        return f"a resource group needs an id /subscriptions/{{s}}/resourceGroups/{{name}}, got {rid!r}"
    if not isinstance(body.get("location"), str) or not body["location"]:
        return "missing 'location'"
    return None


def load_seed_file(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SeedError(f"{path}: not JSON: {exc}") from None
    try:
        return as_seed_document(data)
    except SeedError as exc:
        raise SeedError(f"{path}: {exc}") from None
