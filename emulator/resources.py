"""Microsoft.Resources: subscriptions, tenants, resource groups and providers, as ARM answers them.

General ARM clients start here (a login lists `/subscriptions` and `/tenants`; a test suite creates its resource
group with `PUT /subscriptions/{s}/resourcegroups/{rg}`), so the emulator serves them from its own state: the
subscriptions a seed declares or implies, the resource groups declared, created or implied by resource ids, and
the namespaces whose types the emulator models (registered).  Bodies follow the recordings in
tests/replay/recordings and the public REST reference; docs/arm-notes.md §6.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ArmError
from .resource_types import TYPES

RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
# Namespaces ARM always has registered, besides the ones whose types the emulator models.
_ALWAYS_REGISTERED = ("Microsoft.Resources", "Microsoft.Authorization")


def group_key(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription}/resourcegroups/{resource_group}".lower()


def group_body(
    subscription: str,
    name: str,
    location: str,
    *,
    tags: dict[str, str] | None = None,
    managed_by: str | None = None,
    state: str = "Succeeded",
) -> dict[str, Any]:
    """A resource group as GET answers it [REC test_network_route_table_operation.yaml interaction 0]."""
    body: dict[str, Any] = {
        "id": f"/subscriptions/{subscription}/resourceGroups/{name}",
        "name": name,
        "type": RESOURCE_GROUP_TYPE,
        "location": location,
    }
    if managed_by:
        body["managedBy"] = managed_by
    if tags is not None:
        body["tags"] = dict(tags)
    body["properties"] = {"provisioningState": state}
    return body


def subscription_body(subscription: str, tenant_id: str, display_name: str | None = None) -> dict[str, Any]:
    """A subscription as `GET /subscriptions` lists it (public REST reference, Subscriptions - List)."""
    return {
        "id": f"/subscriptions/{subscription}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": subscription,
        "tenantId": tenant_id,
        "displayName": display_name or f"emulated-{subscription[:8]}",
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def tenant_body(tenant_id: str) -> dict[str, Any]:
    return {
        "id": f"/tenants/{tenant_id}",
        "tenantId": tenant_id,
        "tenantCategory": "Home",
        "displayName": "Emulated tenant",
        "defaultDomain": "emulator.onmicrosoft.com",
        "tenantType": "AAD",
    }


def provider_namespaces() -> list[str]:
    served = sorted({spec.namespace for spec in TYPES.values()})
    return [*served, *(ns for ns in _ALWAYS_REGISTERED if ns not in served)]


def provider_body(subscription: str, namespace: str) -> dict[str, Any]:
    """A provider with `registrationState` and the resource types the emulator serves for it."""
    canonical = next((ns for ns in provider_namespaces() if ns.lower() == namespace.lower()), None)
    if canonical is None:
        raise ArmError(
            404,
            "InvalidResourceNamespace",
            f"The resource namespace '{namespace}' is invalid.",
        )
    types = []
    for spec in TYPES.values():
        if spec.namespace == canonical:
            types.append(
                {
                    "resourceType": spec.type_name.split("/", 1)[1],
                    "locations": [],
                    "apiVersions": [],
                    "capabilities": "None",
                }
            )
    if canonical == "Microsoft.Resources":
        types = [{"resourceType": t, "locations": [], "apiVersions": [], "capabilities": "None"}
                 for t in ("subscriptions", "resourceGroups", "tenants", "providers", "operationresults")]
    return {
        "id": f"/subscriptions/{subscription}/providers/{canonical}",
        "namespace": canonical,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": types,
    }


def generic_entry(body: dict[str, Any]) -> dict[str, Any]:
    """One item of `GET .../resources` (GenericResourceExpanded without $expand): id, name, type, location, tags."""
    out: dict[str, Any] = {"id": body["id"], "name": body.get("name"), "type": body.get("type")}
    for key in ("kind", "location", "managedBy", "sku", "identity", "tags"):
        if key in body:
            out[key] = body[key]
    return out


_CLAUSE = re.compile(r"^\s*(resourceGroup|name|resourceType)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def apply_filter(items: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    """The `$filter` of `GET .../resources` that clients use to find one resource: `resourceGroup eq '…'`,
    `name eq '…'` and `resourceType eq '…'` joined by `and` (case-insensitive). Anything else is refused."""
    if not expression:
        return items
    wanted: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", expression, flags=re.IGNORECASE):
        match = _CLAUSE.match(clause)
        if match is None:
            raise ArmError(400, "InvalidFilterInQueryString",
                           f"The $filter '{expression}' is not supported by the emulator.")
        wanted[match.group(1).lower()] = match.group(2).lower()

    def keep(item: dict[str, Any]) -> bool:
        parts = str(item["id"]).split("/")
        values = {"resourcegroup": parts[4] if len(parts) > 4 else "", "name": str(item.get("name")),
                  "resourcetype": str(item.get("type"))}
        return all(values[k].lower() == v for k, v in wanted.items())

    return [item for item in items if keep(item)]


def subscription_not_found(subscription: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")


def group_being_deleted(resource_group: str) -> ArmError:
    return ArmError(
        409,
        "ResourceGroupBeingDeleted",
        f"The resource group '{resource_group}' is in deprovisioning state and cannot perform this operation.",
    )
