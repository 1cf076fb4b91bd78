"""The ARM reads of the egress profiles (docs/egress.md); arm.py exposes them to observation.

- `outbound_endpoints`: GET {cluster}/outboundNetworkDependenciesEndpoints (what `az aks egress-endpoints
  list` calls), parsed into EndpointList; any failure becomes EndpointList(error=...) so the planner can
  fall back to aks-required with the reason (never a guess, never a raised read in the firewall pass).
- `policy_dns_proxy`: the policy's properties.dnsSettings.enableProxy.
- APPLICATION_PREFIX: classic firewalls keep application rules in their own list,
  `applicationRuleCollections`; apply names those deletes "applicationRuleCollections/<name>".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from remediation.azure.clients import ClientFactory
from remediation.azure.errors import classify
from remediation.core import ids
from remediation.core.errors import TransientError
from remediation.core.model import EgressEndpoint, EndpointList

APPLICATION_PREFIX = "applicationRuleCollections/"


def _body(model: Any) -> dict[str, Any]:
    as_dict = getattr(model, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else dict(model)


def _rg_name(resource_id: str, resource_type: str) -> tuple[str, str, str]:
    rid = ids.parse_typed(resource_id, resource_type)
    if rid.resource_group is None:
        raise ids.InvalidResourceIdError(f"{resource_id} has no resource group")
    return rid.subscription, rid.resource_group, rid.names[0]


def endpoints_from_arm(items: Iterable[Mapping[str, Any]]) -> EndpointList:
    """The `value` items of the list (spec example OutboundNetworkDependenciesEndpointsList.json)."""
    found: list[EgressEndpoint] = []
    for item in items:
        category = str(item.get("category") or "uncategorized")
        for endpoint in item.get("endpoints") or []:
            if not isinstance(endpoint, Mapping) or not endpoint.get("domainName"):
                continue
            details = tuple((int(d["port"]), str(d.get("protocol") or ""))
                            for d in endpoint.get("endpointDetails") or []
                            if isinstance(d, Mapping) and d.get("port") is not None)
            found.append(EgressEndpoint(category, str(endpoint["domainName"]), details))
    return EndpointList(tuple(found))


def outbound_endpoints(clients: ClientFactory, cluster_id: str) -> EndpointList:
    try:
        sub, rg, name = _rg_name(cluster_id, ids.CLUSTER)
        pages = clients.aks(sub).managed_clusters.list_outbound_network_dependencies_endpoints(rg, name)
        return endpoints_from_arm(_body(m) for m in pages)
    except Exception as exc:
        err = classify(exc, target=cluster_id, operation="list outbound network dependencies endpoints")
        if isinstance(err, TransientError):
            # Throttled or busy: the observation is retried; falling back now would flap the rules.
            raise err from exc
        # Denied, not found, not supported: a reported fallback (remediation/planning/egress.py).
        return EndpointList(error=f"{err.arm_code or type(exc).__name__}: {err}")


def policy_dns_proxy(clients: ClientFactory, policy_id: str) -> tuple[bool | None, str | None]:
    try:
        sub, rg, name = _rg_name(policy_id, ids.FIREWALL_POLICY)
        body = _body(clients.network(sub).firewall_policies.get(rg, name))
    except Exception as exc:
        err = classify(exc, target=policy_id, operation="get firewall policy")
        if isinstance(err, TransientError):
            raise err from exc
        return None, f"{err.arm_code or type(exc).__name__}: {err}"
    settings = (body.get("properties") or {}).get("dnsSettings") or {}
    value = settings.get("enableProxy")
    return bool(value) if isinstance(value, bool) else False, None
