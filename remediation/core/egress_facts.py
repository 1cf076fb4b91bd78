"""Pure: the published facts the egress profiles rest on, per cloud, and the checks of egress settings.

Every list here is from Microsoft's public documentation; docs/egress.md says which page and what each
entry is for. What a page does not say for a cloud is `None` here and is reported by the planner, never
guessed (docs/egress.md "Sovereign clouds").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from remediation.core import net

# Azure Firewall FQDN tags (docs/egress.md "FQDN tags"): the names an application rule's `fqdnTags` accepts.
# Compared case-insensitively; written in this spelling.
FQDN_TAGS: tuple[str, ...] = (
    "AppServiceEnvironment",
    "AzureBackup",
    "AzureHDInsight",
    "AzureKubernetesService",
    "MicrosoftActiveProtectionService",
    "WindowsDiagnostics",
    "WindowsUpdate",
    "WindowsVirtualDesktop",
)
AKS_FQDN_TAG = "AzureKubernetesService"

# A DNS label: letters, digits, '-' inside, 1-63 characters.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def canonical_fqdn_tag(tag: str) -> str | None:
    """The tag in its documented spelling, or None when it is not an FQDN tag."""
    lowered = tag.strip().lower()
    return next((t for t in FQDN_TAGS if t.lower() == lowered), None)


def fqdn_problem(text: str) -> str | None:
    """Why `text` is not an FQDN an application rule can target (None = it is one).

    Accepted: `host.example.com` and a leading wildcard label `*.example.com`. Refused: schemes, paths,
    ports, IP addresses and anything with characters a DNS name cannot hold.
    """
    value = text.strip()
    if "://" in value:
        return "has a scheme; give the host name only (e.g. myregistry.azurecr.io)"
    if "/" in value or "?" in value or "#" in value:
        return "has a path; give the host name only (e.g. myregistry.azurecr.io)"
    if ":" in value:
        return "has a port; application rules for extra FQDNs use Https:443"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return "is an IP address, not a host name"
    labels = value.split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
    if len(labels) < 2 or len(value) > 253 or not all(_LABEL.match(label) for label in labels):
        return "is not a host name (letters, digits and '-' in dot-separated labels, optionally '*.' first)"
    if labels[-1].isdigit():
        return "is not a host name (the last label is a number)"
    return None


def looks_like_fqdn(destination: str) -> bool:
    """A host name with two or more dots (`ntp.ubuntu.com`); service tags have at most one
    (`AzureCloud.westeurope`, `Storage.WestEurope`), IPs and CIDRs are not names."""
    value = destination.strip()
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return value.count(".") >= 2 and fqdn_problem(value) is None
    return False


# A destination covering as many addresses as a /8 (or more) is "all of the internet" for the guard.
BROAD_ADDRESS_COUNT = 2 ** 24


def is_broad_destination(destination: str) -> bool:
    """`*`, `Internet`, unscoped `AzureCloud`, or an address, CIDR or range `a-b` covering a /8 or more
    (0.0.0.0/0, 0.0.0.0-255.255.255.255): every address form the settings accept is judged."""
    value = destination.strip()
    if value == "*" or value.lower() in {"internet", "azurecloud"}:
        return True
    span = net.ipv4_span(value)
    return span is not None and span[1] - span[0] + 1 >= BROAD_ADDRESS_COUNT


def broad_destinations(destinations: Iterable[str]) -> list[str]:
    """The destinations that open egress broadly: each broad one, or, when none is on its own, every IP
    destination when together they cover a /8's worth of addresses (0.0.0.0/1 + 128.0.0.0/1, or many /9s)."""
    values = list(destinations)
    broad = [d for d in values if is_broad_destination(d)]
    if broad:
        return broad
    spans = {d: span for d in values if (span := net.ipv4_span(d)) is not None}
    if net.ipv4_span_count(spans.values()) >= BROAD_ADDRESS_COUNT:
        return [f"{', '.join(spans)} (together)"]
    return []


def service_tag_region(location: str) -> str:
    """`West Europe` / `westeurope` -> `westeurope` (the region suffix of AzureCloud.<region>)."""
    return location.replace(" ", "").lower()


@dataclass(frozen=True)
class CloudEgress:
    """What AKS needs through the firewall in one cloud (docs/egress.md, per cloud).

    `fqdn_tag_documented`: the AzureKubernetesService tag is documented for this cloud; where it is not, the
    documented FQDNs are used as target FQDNs instead. `{location}` in a name is the cluster's region.
    """

    name: str
    fqdn_tag_documented: bool
    fqdns: tuple[str, ...]  # Https:443 target FQDNs where the tag is not documented (every cluster)
    tunnel_tcp_ports: tuple[str, ...]  # to AzureCloud.<region>
    tunnel_udp_ports: tuple[str, ...]
    tunnel_for_private: bool  # the page excludes private clusters from the tunnel rules (False) or not (True)


CLOUDS: Mapping[str, CloudEgress] = {
    "AzureCloud": CloudEgress(
        name="Azure (global)",
        fqdn_tag_documented=True,
        fqdns=(),  # the AzureKubernetesService tag covers them and is kept up to date by Microsoft
        tunnel_tcp_ports=("9000",),
        tunnel_udp_ports=("1194",),
        tunnel_for_private=False,
    ),
    # The US Government page lists the tunnel rules without the private-cluster exception of the global one;
    # the exception is not assumed for it (docs/egress.md).
    "AzureUSGovernment": CloudEgress(
        name="Azure US Government",
        fqdn_tag_documented=False,
        fqdns=("*.hcp.{location}.cx.aks.containerservice.azure.us", "mcr.microsoft.com",
               "*.data.mcr.microsoft.com", "management.usgovcloudapi.net", "login.microsoftonline.us",
               "packages.microsoft.com", "acs-mirror.azureedge.net"),
        tunnel_tcp_ports=("9000",),
        tunnel_udp_ports=("1194",),
        tunnel_for_private=True,
    ),
    "AzureChinaCloud": CloudEgress(
        name="Microsoft Azure operated by 21Vianet",
        fqdn_tag_documented=False,
        fqdns=("*.hcp.{location}.cx.prod.service.azk8s.cn", "*.tun.{location}.cx.prod.service.azk8s.cn",
               "mcr.microsoft.com", "*.data.mcr.microsoft.com", "management.chinacloudapi.cn",
               "login.chinacloudapi.cn", "packages.microsoft.com", "*.azk8s.cn"),
        tunnel_tcp_ports=("22", "9000"),
        tunnel_udp_ports=("1194",),
        tunnel_for_private=True,
    ),
}
