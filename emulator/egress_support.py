"""What the egress profiles need from the emulator, kept in one module so its hooks re-apply easily.

- `GET {cluster}/outboundNetworkDependenciesEndpoints`: the cluster's egress endpoint list in the shape of
  the public spec example `OutboundNetworkDependenciesEndpointsList.json` (`{"value": [{"category",
  "endpoints": [{"domainName", "endpointDetails": [{"port", "protocol", "description"?}]}]}]}`). Unless a
  list was set for the cluster (`set_outbound_endpoints`, or `PUT /_emulator/egress-endpoints`), the answer
  is built from the cluster body: the categories of the spec example, the API server's name in its region,
  and no tunnel entry for a private cluster.
- Validation of application rules, in rule collection groups (`ruleType: ApplicationRule`) and in classic
  firewalls (`applicationRuleCollections`): `protocols` items are {protocolType Http|Https|Mssql, port
  1-65535}; a rule names `fqdnTags` or targets (`targetFqdns`, `targetUrls`, `webCategories`), not
  neither, and not tags next to `targetFqdns` (tags next to `targetUrls`, and tag names outside the
  published list, are accepted as the recorded traffic shows); a collection holds one rule type;
  network rules with `destinationFqdns` need the policy's `dnsSettings.enableProxy`.
- The policy's `dnsSettings` round-trips through the generic PUT/GET; `enableProxy` must be a boolean.

Error codes are plausible guesses (not recorded from real ARM); emulator/README.md lists them as such.

All of it is registered through the per-type hooks (emulator/hooks.py, `_register` below): a sub-resource
reader for clusters, validators for RCGs, classic firewalls and policies (run by the store on every PUT of the
type, after the generic checks), and the `egress-endpoints` control endpoint.
"""

from __future__ import annotations

import copy
import threading
import weakref
from typing import Any, Protocol

from . import hooks
from . import resource_types as rt
from .errors import ArmError, bad_request
from .resource_types import ResourceId, id_key


class Emulator(Protocol):
    """What this module needs of the emulator (emulator.Emulator, or the HTTP handler's view of it): its store.
    A Protocol rather than an import, so the handler, which calls in here, stays below the facade."""

    store: Any

ENDPOINTS_SEGMENT = "outboundnetworkdependenciesendpoints"
APPLICATION_PROTOCOLS = ("Http", "Https", "Mssql")
_lock = threading.Lock()
_lists: weakref.WeakKeyDictionary[Any, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------ endpoint lists


def set_outbound_endpoints(emu: Emulator, cluster_id: str, body: dict[str, Any] | None) -> None:
    """Serve `body` ({"value": [...]}) for the cluster; None goes back to the list built from the cluster."""
    _set_list(emu.store, cluster_id, body)


def _set_list(store: Any, cluster_id: str, body: dict[str, Any] | None) -> None:
    with _lock:
        lists = _lists.setdefault(store, {})
        if body is None:
            lists.pop(id_key(cluster_id), None)
        else:
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise ValueError('an endpoint list is {"value": [...]} as the spec example shows')
            lists[id_key(cluster_id)] = copy.deepcopy(body)


def _endpoint(domain: str, port: int, protocol: str, description: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"port": port, "protocol": protocol}
    if description:
        detail["description"] = description
    return {"domainName": domain, "endpointDetails": [detail]}


def default_endpoints(cluster: dict[str, Any]) -> dict[str, Any]:
    """The list AKS would give this cluster: the spec example's core categories for its region."""
    props = cluster.get("properties") or {}
    location = str(cluster.get("location") or "").replace(" ", "").lower()
    private = bool((props.get("apiServerAccessProfile") or {}).get("enablePrivateCluster"))
    server = str((props.get("privateFQDN") if private else props.get("fqdn")) or f"*.hcp.{location}.azmk8s.io")
    value: list[dict[str, Any]] = [
        {"category": "azure-resource-management",
         "endpoints": [_endpoint("management.azure.com", 443, "Https"),
                       _endpoint("login.microsoftonline.com", 443, "Https")]},
        {"category": "images",
         "endpoints": [_endpoint("mcr.microsoft.com", 443, "Https"),
                       _endpoint("*.data.mcr.microsoft.com", 443, "Https", "mcr cdn")]},
        {"category": "artifacts",
         "endpoints": [_endpoint("packages.microsoft.com", 443, "Https"),
                       _endpoint("acs-mirror.azureedge.net", 443, "Https")]},
        {"category": "time-sync", "endpoints": [_endpoint("ntp.ubuntu.com", 123, "UDP")]},
        {"category": "apiserver", "endpoints": [_endpoint(server, 443, "Https")]},
    ]
    if not private:
        value.append({"category": "tunnel-classic", "endpoints": [_endpoint(server, 9000, "TCP")]})
    return {"value": value}


def endpoints_get(store: Any, cluster: ResourceId, api_version: str) -> dict[str, Any]:
    """`GET {cluster}/outboundNetworkDependenciesEndpoints` (the router has checked the cluster exists)."""
    found = store.require(cluster)
    with _lock:
        chosen = _lists.get(store, {}).get(cluster.key())
    return copy.deepcopy(chosen) if chosen is not None else default_endpoints(found)


def control(store: Any, method: str, payload: Any) -> tuple[int, dict[str, Any]]:
    """`PUT /_emulator/egress-endpoints` {"clusterId": id, "list": {"value": [...]} | null}."""
    if method != "PUT" or not isinstance(payload, dict) or not isinstance(payload.get("clusterId"), str):
        return 400, {"error": {"code": "InvalidRequest",
                               "message": 'PUT {"clusterId": "<id>", "list": {"value": [...]} | null}'}}
    try:
        _set_list(store, payload["clusterId"], payload.get("list"))
    except ValueError as exc:
        return 400, {"error": {"code": "InvalidRequest", "message": str(exc)}}
    return 200, {"clusterId": payload["clusterId"]}


# ------------------------------------------------------------------ validation


def _validate_rcg(store: Any, resource_id: str, props: dict[str, Any], policy: dict[str, Any] | None) -> None:
    proxy = bool((((policy or {}).get("properties") or {}).get("dnsSettings") or {}).get("enableProxy"))
    for collection in props.get("ruleCollections") or []:
        if isinstance(collection, dict):
            _validate_policy_collection(collection, proxy)


def _validate_classic_firewall(store: Any, resource_id: str, props: dict[str, Any], parent: Any) -> None:
    for collection in props.get("applicationRuleCollections") or []:
        if isinstance(collection, dict):
            cprops = collection.get("properties") or {}
            for rule in cprops.get("rules") or []:
                _validate_application_rule(str(collection.get("name")), rule)
    proxy = str((props.get("additionalProperties") or {}).get("Network.DNS.EnableProxy", "")).lower() == "true"
    for collection in props.get("networkRuleCollections") or []:
        if isinstance(collection, dict):
            for rule in (collection.get("properties") or {}).get("rules") or []:
                _validate_network_fqdns(str(collection.get("name")), rule, proxy)


def _validate_policy_dns(store: Any, resource_id: str, props: dict[str, Any], parent: Any) -> None:
    dns = props.get("dnsSettings")
    if dns is not None and (not isinstance(dns, dict) or not isinstance(dns.get("enableProxy", False), bool)):
        raise bad_request("InvalidRequestFormat", "Cannot parse the request.", details=[{
            "code": "InvalidJsonReferenceWrongType",
            "message": "dnsSettings.enableProxy must be a boolean."}])


def _validate_policy_collection(collection: dict[str, Any], proxy: bool) -> None:
    name = str(collection.get("name"))
    rules = [r for r in collection.get("rules") or [] if isinstance(r, dict)]
    types = {str(r.get("ruleType")) for r in rules}
    if collection.get("ruleCollectionType") == "FirewallPolicyFilterRuleCollection" and len(types) > 1:
        raise bad_request("FirewallPolicyRuleCollectionHasMultipleRuleTypes",
                          f"Rule Collection {name} has rules of more than one type ({', '.join(sorted(types))}). "
                          "A rule collection can contain rules of a single type.")
    for rule in rules:
        if rule.get("ruleType") == "ApplicationRule":
            _validate_application_rule(name, rule)
        elif rule.get("ruleType") == "NetworkRule":
            _validate_network_fqdns(name, rule, proxy)


def _validate_application_rule(collection: str, rule: Any) -> None:
    if not isinstance(rule, dict):
        raise bad_request("InvalidRequestFormat", "Cannot parse the request.")
    name = str(rule.get("name"))
    # An empty `protocols` list is accepted (recorded: test_azure_firewall_policy interaction 50); the items
    # given must be well formed.
    protocols = rule.get("protocols") or []
    if not isinstance(protocols, list):
        raise bad_request("InvalidRequestFormat", "Cannot parse the request.")
    for protocol in protocols:
        kind = protocol.get("protocolType") if isinstance(protocol, dict) else None
        port = protocol.get("port") if isinstance(protocol, dict) else None
        if kind not in APPLICATION_PROTOCOLS or not isinstance(port, int) or not 1 <= port <= 65535:
            raise bad_request("FirewallApplicationRuleInvalidProtocol",
                              f"Application rule {name} in rule collection {collection} has an invalid protocol "
                              f"{protocol!r}: protocolType must be one of {', '.join(APPLICATION_PROTOCOLS)} and "
                              "port 1-65535.")
    # The recorded traffic (tests/replay: test_azure_firewall_policy, interaction 34) shows ARM accepting a rule
    # with fqdnTags next to targetUrls, and a tag name ("HDInsight") outside the published list, so neither is
    # refused here. Tags next to targetFqdns are refused: a guess (emulator/README.md), no recording shows it.
    tags = list(rule.get("fqdnTags") or [])
    fqdns = list(rule.get("targetFqdns") or [])
    targets = [*fqdns, *(rule.get("targetUrls") or []), *(rule.get("webCategories") or [])]
    if tags and fqdns:
        raise bad_request("FirewallApplicationRuleFqdnTagsAndTargetFqdnsNotAllowedTogether",
                          f"Application rule {name} in rule collection {collection} cannot have both FQDN tags "
                          "and target FQDNs.")
    if not tags and not targets:
        raise bad_request("FirewallApplicationRuleMissingTargets",
                          f"Application rule {name} in rule collection {collection} must have FQDN tags or "
                          "target FQDNs.")


def _validate_network_fqdns(collection: str, rule: Any, proxy: bool) -> None:
    if isinstance(rule, dict) and rule.get("destinationFqdns") and not proxy:
        raise bad_request("FirewallNetworkRuleWithFqdnsRequiresDnsProxy",
                          f"Network rule {rule.get('name')} in rule collection {collection} uses destination "
                          "FQDNs, which require DNS Proxy to be enabled on the firewall.")


def _register() -> None:
    """This module's behaviour, through the per-type hooks (emulator/hooks.py); emulator.py imports it."""
    hooks.register_subresource_get(rt.CLUSTER, ENDPOINTS_SEGMENT, endpoints_get)
    hooks.register(rt.RCG, validate=_validate_rcg)
    hooks.register(rt.FIREWALL, validate=_validate_classic_firewall)
    hooks.register(rt.POLICY, validate=_validate_policy_dns)
    hooks.register_control("egress-endpoints", control)


_register()

__all__ = ["ArmError", "control", "default_endpoints", "endpoints_get", "set_outbound_endpoints"]
