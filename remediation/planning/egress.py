"""Pure: egress profile + cluster + settings -> the egress rules a cluster gets on the firewall.

Which rule implements which AKS requirement, and the public source of each, is in docs/egress.md. In short:

- Only a cluster whose egress goes through the firewall gets egress rules (`egress_path`): outboundType
  userDefinedRouting, FORCE_DEFAULT_ROUTE=true, or a route 0.0.0.0/0 -> the firewall's IP already on a
  node subnet's table. A loadBalancer cluster sends internet traffic past the firewall, so an egress rule
  for it would only widen the firewall (its P2S and ingress rules stay: those flows do pass the firewall).
- `aks-required` (default): one application rule per cluster with the FQDN tag AzureKubernetesService on
  Http:80/Https:443, plus the tunnel network rules to `AzureCloud.<region>` only where the cloud's page
  says they are still needed. Never unscoped AzureCloud, `*` or Internet.
- `aks-endpoints`: the cluster's own outboundNetworkDependenciesEndpoints list; HTTP(S) endpoints become
  application rules, other protocols network rules (FQDN destinations only with the DNS proxy on).
- `custom`: EGRESS_DESTINATIONS/PORTS/PROTOCOLS as one network rule per cluster (validated in config).
- EGRESS_EXTRA_FQDNS: one more application rule on Https:443 for every cluster above.

What cannot be written safely is returned as a `Skip` (the plan reports it); nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from remediation.core import egress_facts
from remediation.core.config import Settings
from remediation.core.ids import id_key
from remediation.core.model import (
    ApplicationRule,
    ChangeKind,
    EgressEndpoint,
    NetworkRule,
    NextHopType,
    ObservedCluster,
    RuleCollection,
    Skip,
    Snapshot,
)
from remediation.core.net import DEFAULT_PREFIX
from remediation.planning import outbound, paths

AKS_TAG_PROTOCOLS = ("Http:80", "Https:443")  # `az network firewall application-rule create` in the AKS docs
HTTPS = "Https:443"
EXTRA_RULE = "extra-fqdns"
# AKS endpoint protocols that an application rule can carry; the rest need network rules.
_APPLICATION_PROTOCOLS = {"http": "Http", "https": "Https"}
_NETWORK_PROTOCOLS = {"tcp": "TCP", "udp": "UDP"}


@dataclass(frozen=True)
class ClusterRanges:
    """A cluster that passed the runbook's checks, the rule name it gets and its AKS ranges."""

    cluster: ObservedCluster
    rule_name: str
    ranges: tuple[str, ...]


@dataclass(frozen=True)
class EgressRules:
    network: tuple[NetworkRule, ...] = ()
    application: tuple[ApplicationRule, ...] = ()
    reports: tuple[Skip, ...] = ()


# --------------------------------------------------------------------------------------------- path


def egress_path(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings) -> str | None:
    """Why the cluster's internet egress goes through the firewall, or None when it does not (by outbound
    type: remediation/planning/outbound.py)."""
    if outbound.egress_blocked(cluster):
        return None  # outboundType block: AKS itself denies Internet egress
    if outbound.kind(cluster) == outbound.UDR:
        return "outboundType userDefinedRouting"
    if settings.force_default_route:
        return "FORCE_DEFAULT_ROUTE=true"
    # Any configured firewall's address (FIREWALL_IDS): the pass's firewall is not always the cluster's own.
    firewall_ips = {f.private_ip for f in paths.configured_firewalls(snapshot, settings) if f.private_ip}
    if not firewall_ips:
        return None
    for subnet_id in cluster.node_subnet_ids:
        subnet = snapshot.subnets.get(id_key(subnet_id))
        table = snapshot.route_tables.get(id_key(subnet.route_table_id)) if subnet and subnet.route_table_id else None
        if table is None:
            continue
        for route in table.routes:
            if (route.address_prefix.strip() == DEFAULT_PREFIX
                    and route.next_hop_type.lower() == NextHopType.VIRTUAL_APPLIANCE.value.lower()
                    and (route.next_hop_ip_address or "").strip() in firewall_ips):
                return f"route {route.name} on {table.name} sends 0.0.0.0/0 to the firewall"
    return None


def tables_to_read(snapshot: Snapshot, settings: Settings) -> tuple[str, ...]:
    """Route tables of node subnets whose default route decides `egress_path` (for the firewall pass)."""
    if settings.force_default_route:
        return ()
    wanted: dict[str, str] = {}
    for cluster in snapshot.clusters.values():
        if outbound.kind(cluster) == outbound.UDR or outbound.egress_blocked(cluster):
            continue
        for subnet_id in cluster.node_subnet_ids:
            subnet = snapshot.subnets.get(id_key(subnet_id))
            if subnet is not None and subnet.route_table_id:
                wanted.setdefault(id_key(subnet.route_table_id), subnet.route_table_id)
    return tuple(wanted[k] for k in sorted(wanted))


def clusters_needing_endpoints(snapshot: Snapshot, settings: Settings) -> tuple[str, ...]:
    """Cluster ids whose endpoint list the aks-endpoints profile reads (those whose egress is firewalled)."""
    if settings.egress_profile != "aks-endpoints":
        return ()
    return tuple(c.id for _, c in sorted(snapshot.clusters.items()) if egress_path(snapshot, c, settings))


# --------------------------------------------------------------------------------------------- profiles


def egress_rules(snapshot: Snapshot, settings: Settings, clusters: Sequence[ClusterRanges]) -> EgressRules:
    """The egress network and application rules of `clusters` under EGRESS_PROFILE (see module docstring)."""
    network: list[NetworkRule] = []
    application: list[ApplicationRule] = []
    reports: list[Skip] = []
    firewalled = [c for c in clusters if c.ranges and egress_path(snapshot, c.cluster, settings)]
    for item in firewalled:
        if settings.egress_profile == "custom":
            _custom_rule(snapshot, item, settings, network, reports)
        elif settings.egress_profile == "aks-endpoints":
            _from_endpoints(snapshot, settings, item, network, application, reports)
        else:
            _aks_required(settings, item, network, application, reports)
    if settings.egress_profile == "custom":
        reports.extend(_broad_warnings(settings, firewalled))
    elif firewalled and not egress_facts.CLOUDS[settings.cloud].fqdn_tag_documented:
        cloud = egress_facts.CLOUDS[settings.cloud]
        reports.append(Skip("EGRESS_FQDN_TAGS", f"not written for {cloud.name} (AZURE_CLOUD={settings.cloud}): "
                                                "the FQDN tag is not documented there, so the documented FQDNs "
                                                "are used as target FQDNs instead (docs/egress.md)"))
    if settings.egress_extra_fqdns and firewalled:
        sources = sorted({r for c in firewalled for r in c.ranges})
        application.append(ApplicationRule(EXTRA_RULE, tuple(sources), (HTTPS,),
                                           target_fqdns=tuple(sorted(settings.egress_extra_fqdns)),
                                           description="EGRESS_EXTRA_FQDNS"))
    return EgressRules(tuple(sorted(network, key=lambda r: r.name.lower())),
                       tuple(sorted(application, key=lambda r: r.name.lower())), tuple(reports))


def _custom_rule(snapshot: Snapshot, item: ClusterRanges, settings: Settings, network: list[NetworkRule],
                 reports: list[Skip]) -> None:
    fqdns = tuple(sorted(set(settings.egress_destination_fqdns)))
    if fqdns:
        proxy, why = dns_proxy(snapshot)
        if not proxy:
            reports.append(Skip(f"{item.cluster.id}/EGRESS_DESTINATION_FQDNS",
                                f"egress FQDNs {', '.join(fqdns)} not written: FQDNs in network rules only match "
                                f"with the firewall's DNS proxy on ({why})"))
            fqdns = ()
    # EGRESS_DESTINATIONS keeps its default (AzureCloud) when only FQDNs are set: that default is refused at
    # start unless broad egress is allowed, so here it is always the operator's choice.
    addresses = tuple(sorted(set(settings.egress_destinations)))
    if not addresses and not fqdns:
        return  # nothing left that can match: no rule (the reason is reported above)
    network.append(NetworkRule(item.rule_name, tuple(sorted(set(settings.egress_protocols))), item.ranges,
                               addresses, tuple(sorted(set(settings.egress_ports), key=_port_key)),
                               destination_fqdns=fqdns))


def _broad_warnings(settings: Settings, firewalled: Sequence[ClusterRanges]) -> list[Skip]:
    broad = egress_facts.broad_destinations(settings.egress_destinations)
    if not broad or not firewalled:
        return []
    return [Skip("ALLOW_BROAD_EGRESS", f"warning: EGRESS_PROFILE=custom opens egress to {', '.join(broad)} for "
                                       f"{len(firewalled)} cluster(s) because ALLOW_BROAD_EGRESS=true")]


def _aks_required(settings: Settings, item: ClusterRanges, network: list[NetworkRule],
                  application: list[ApplicationRule], reports: list[Skip]) -> None:
    cloud = egress_facts.CLOUDS[settings.cloud]
    region = egress_facts.service_tag_region(item.cluster.location)
    if cloud.fqdn_tag_documented:
        application.append(ApplicationRule(item.rule_name, item.ranges, AKS_TAG_PROTOCOLS,
                                           fqdn_tags=settings.egress_fqdn_tags,
                                           description="AKS required egress (FQDN tag)"))
    elif region:
        fqdns = tuple(sorted({f.format(location=region) for f in cloud.fqdns}))
        application.append(ApplicationRule(item.rule_name, item.ranges, (HTTPS,), target_fqdns=fqdns,
                                           description=f"AKS required egress ({cloud.name})"))
    if item.cluster.private_cluster and not cloud.tunnel_for_private:
        return  # "isn't required for private clusters" (docs/egress.md)
    if not region:
        reports.append(Skip(item.cluster.id, "egress: the cluster has no location, so its tunnel rules cannot "
                                             "be scoped to AzureCloud.<region>; not written"))
        return
    network.extend(_tunnel_rules(item, region, cloud))


def _tunnel_rules(item: ClusterRanges, region: str, cloud: egress_facts.CloudEgress) -> list[NetworkRule]:
    tag = f"AzureCloud.{region}"
    rules = []
    if cloud.tunnel_udp_ports:
        rules.append(NetworkRule(f"{item.rule_name}-tunnel-udp", ("UDP",), item.ranges, (tag,),
                                 cloud.tunnel_udp_ports, description="AKS node-to-control-plane tunnel"))
    if cloud.tunnel_tcp_ports:
        rules.append(NetworkRule(f"{item.rule_name}-tunnel-tcp", ("TCP",), item.ranges, (tag,),
                                 tuple(sorted(cloud.tunnel_tcp_ports, key=_port_key)),
                                 description="AKS node-to-control-plane tunnel"))
    return rules


def _from_endpoints(snapshot: Snapshot, settings: Settings, item: ClusterRanges, network: list[NetworkRule],
                    application: list[ApplicationRule], reports: list[Skip]) -> None:
    observed = snapshot.egress.endpoints.get(id_key(item.cluster.id)) if snapshot.egress else None
    if observed is None or observed.error or not observed.endpoints:
        why = (observed.error if observed and observed.error
               else "the list was empty" if observed else "the list was not read")
        reports.append(Skip(f"{item.cluster.id}/outboundNetworkDependenciesEndpoints",
                            f"egress endpoints not usable ({why}): the cluster gets the aks-required rules"))
        _aks_required(settings, item, network, application, reports)
        return
    proxy, proxy_why = dns_proxy(snapshot)
    region = egress_facts.service_tag_region(item.cluster.location)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    wanted_network: dict[tuple[str, str, str], set[str]] = {}  # (category, protocol, destination) -> ports
    fqdn_network: dict[tuple[str, str], set[str]] = {}  # (category, protocol) -> domains, port kept per entry
    for endpoint in observed.endpoints:
        http = sorted({f"{_APPLICATION_PROTOCOLS[p.lower()]}:{port}" for port, p in endpoint.details
                       if p.lower() in _APPLICATION_PROTOCOLS})
        if http:
            groups.setdefault((endpoint.category, tuple(http)), []).append(endpoint.domain_name.lower())
        for port, protocol in endpoint.details:
            net_protocol = _NETWORK_PROTOCOLS.get(protocol.lower())
            if net_protocol is None:
                if protocol.lower() not in _APPLICATION_PROTOCOLS:
                    reports.append(_endpoint_report(item, endpoint, port, protocol, "its protocol is not one an "
                                                    "Azure Firewall rule can carry"))
                continue
            if endpoint.domain_name.startswith("*"):
                if _is_tunnel(endpoint) and region:
                    # The documented alternative to the tunnel's wildcard name: the region's AzureCloud tag.
                    key = (endpoint.category, net_protocol, f"AzureCloud.{region}")
                    wanted_network.setdefault(key, set()).add(str(port))
                else:
                    reports.append(_endpoint_report(item, endpoint, port, protocol, "a network rule cannot "
                                                    "match a wildcard name"))
                continue
            if not proxy:
                reports.append(_endpoint_report(item, endpoint, port, protocol, "FQDNs in network rules only "
                                                f"match with the firewall's DNS proxy on ({proxy_why})"))
                continue
            fqdn_network.setdefault((endpoint.category, f"{net_protocol}/{port}"), set()).add(
                endpoint.domain_name.lower())
    names: dict[str, int] = {}
    for (category, protocols), domains in sorted(groups.items()):
        application.append(ApplicationRule(_unique(f"{item.rule_name}-{category}", names), item.ranges,
                                            _sorted_protocols(protocols), target_fqdns=tuple(sorted(set(domains))),
                                            description=category))
    for (category, protocol, destination), ports in sorted(wanted_network.items()):
        network.append(NetworkRule(_unique(f"{item.rule_name}-{category}", names), (protocol,), item.ranges,
                                   (destination,), tuple(sorted(ports, key=_port_key)), description=category))
    for (category, protocol_port), fqdns in sorted(fqdn_network.items()):
        net_protocol, net_port = protocol_port.split("/")
        network.append(NetworkRule(_unique(f"{item.rule_name}-{category}", names), (net_protocol,), item.ranges,
                                   (), (net_port,), destination_fqdns=tuple(sorted(fqdns)), description=category))


def _is_tunnel(endpoint: EgressEndpoint) -> bool:
    return endpoint.category.lower().startswith("tunnel") or endpoint.domain_name.lower().endswith(".azmk8s.io")


def _endpoint_report(item: ClusterRanges, endpoint: EgressEndpoint, port: int, protocol: str, why: str) -> Skip:
    return Skip(f"{item.cluster.id}/outboundNetworkDependenciesEndpoints/{endpoint.category}/"
                f"{endpoint.domain_name}:{port}",
                f"egress rule not written for {endpoint.domain_name} {protocol} {port} ({endpoint.category}): {why}")


def _unique(name: str, seen: dict[str, int]) -> str:
    count = seen.get(name.lower(), 0)
    seen[name.lower()] = count + 1
    return name if count == 0 else f"{name}-{count + 1}"


def dns_proxy(snapshot: Snapshot) -> tuple[bool, str]:
    """(DNS proxy known to be on, why not): the policy's dnsSettings.enableProxy, or the classic firewall's
    Network.DNS.EnableProxy. Unknown counts as off: a rule that cannot match is never written."""
    firewall = snapshot.firewall
    if firewall is None:
        return False, "firewall not observed"
    if firewall.policy_id is None:
        if firewall.dns_proxy:
            return True, ""
        return False, f"firewall {firewall.name} has no Network.DNS.EnableProxy=true"
    observed = snapshot.egress
    if observed is None or observed.policy_dns_proxy is None:
        why = observed.policy_dns_error if observed and observed.policy_dns_error else "not read"
        return False, f"the policy's dnsSettings could not be read: {why}"
    if not observed.policy_dns_proxy:
        return False, "the policy's dnsSettings.enableProxy is off"
    return True, ""


# --------------------------------------------------------------------------------------------- ordering


def _port_key(port: str) -> tuple[int, str]:
    head = port.split("-")[0]
    return (int(head), port) if head.isdigit() else (1 << 20, port)


def _protocol_key(protocol: str) -> tuple[int, str]:
    kind, _, port = protocol.partition(":")
    return (int(port) if port.isdigit() else 1 << 20, kind.lower())


def _sorted_protocols(protocols: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(protocols), key=_protocol_key))


# --------------------------------------------------------------------------------------------- ARM bodies


def protocol_from_arm(value: Any) -> str:
    """`{"protocolType": "Https", "port": 443}` -> `Https:443` (the plan and JSON spelling)."""
    if isinstance(value, Mapping):
        kind = str(value.get("protocolType") or "")
        port = value.get("port")
        return f"{kind}:{port}" if port is not None else kind
    return str(value)


def classic_kind(collection: RuleCollection) -> tuple[ChangeKind, str]:
    """The change kind and the firewall property (address segment) of a classic collection."""
    if collection.is_application:
        return ChangeKind.CLASSIC_APPLICATION_RULE_COLLECTION, "applicationRuleCollections"
    return ChangeKind.CLASSIC_RULE_COLLECTION, "networkRuleCollections"


def application_rule_from_arm(body: Mapping[str, Any]) -> ApplicationRule:
    def strs(key: str) -> tuple[str, ...]:
        value = body.get(key)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    return ApplicationRule(
        name=str(body.get("name") or ""),
        source_addresses=strs("sourceAddresses"),
        protocols=tuple(protocol_from_arm(p) for p in body.get("protocols") or []),
        fqdn_tags=strs("fqdnTags"),
        target_fqdns=strs("targetFqdns"),
        description=str(body.get("description") or ""),
    )


def canon_application_rule(rule: ApplicationRule) -> tuple[Any, ...]:
    """Comparable form of one rule: name, tags, FQDNs and protocols case-insensitively, sources as text."""
    return (rule.name.lower(), tuple(sorted(a.strip().lower() for a in rule.source_addresses)),
            tuple(sorted(p.lower() for p in rule.protocols)), tuple(sorted(t.lower() for t in rule.fqdn_tags)),
            tuple(sorted(f.lower() for f in rule.target_fqdns)), rule.description)


def canon_application_rules(collection: RuleCollection) -> tuple[Any, ...]:
    """Comparable form of a collection's application rules (see canon_application_rule)."""
    return tuple(sorted(canon_application_rule(r) for r in collection.application_rules))
