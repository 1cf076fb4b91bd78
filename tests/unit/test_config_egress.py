"""Egress settings (docs/egress.md): validated at start, a bad value names its setting."""

from __future__ import annotations

import pytest

from remediation.core.config import load_settings
from remediation.core.errors import ConfigError

SUB = "00000000-0000-0000-0000-000000000000"
FIREWALL = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/fw-hub"
VALID = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL}


def test_egress_defaults() -> None:
    settings = load_settings(VALID)
    assert settings.egress_profile == "aks-required"
    assert settings.egress_fqdn_tags == ("AzureKubernetesService",)
    assert settings.egress_extra_fqdns == () and settings.allow_broad_egress is False


BAD = [
    ("unknown-profile", {"EGRESS_PROFILE": "everything"}, "EGRESS_PROFILE"),
    ("fqdn-not-a-hostname", {"EGRESS_EXTRA_FQDNS": "my registry"}, "EGRESS_EXTRA_FQDNS"),
    ("fqdn-ip", {"EGRESS_EXTRA_FQDNS": "10.0.0.1"}, "EGRESS_EXTRA_FQDNS"),
    ("fqdn-with-scheme", {"EGRESS_EXTRA_FQDNS": "https://myregistry.azurecr.io"}, "EGRESS_EXTRA_FQDNS"),
    ("fqdn-with-path", {"EGRESS_EXTRA_FQDNS": "myregistry.azurecr.io/v2"}, "EGRESS_EXTRA_FQDNS"),
    ("fqdn-with-port", {"EGRESS_EXTRA_FQDNS": "myregistry.azurecr.io:443"}, "EGRESS_EXTRA_FQDNS"),
    ("fqdn-single-label", {"EGRESS_EXTRA_FQDNS": "localhost"}, "EGRESS_EXTRA_FQDNS"),
    ("unknown-fqdn-tag", {"EGRESS_FQDN_TAGS": "AzureCloud"}, "EGRESS_FQDN_TAGS"),
    ("custom-internet", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "Internet"}, "EGRESS_DESTINATIONS"),
    ("custom-star", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "*"}, "EGRESS_DESTINATIONS"),
    ("custom-default-is-all-of-azure", {"EGRESS_PROFILE": "custom"}, "EGRESS_DESTINATIONS"),
    ("custom-setting-without-custom", {"EGRESS_DESTINATIONS": "AzureCloud.westeurope"}, "EGRESS_DESTINATIONS"),
    ("custom-ports-without-custom", {"EGRESS_PORTS": "443"}, "EGRESS_PORTS"),
    ("allow-broad-not-a-bool", {"ALLOW_BROAD_EGRESS": "sure"}, "ALLOW_BROAD_EGRESS"),
    ("custom-fqdn-in-destinations", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "ntp.ubuntu.com"},
     "EGRESS_DESTINATIONS"),
    ("custom-wildcard-fqdn", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATION_FQDNS": "*.ubuntu.com"},
     "EGRESS_DESTINATION_FQDNS"),
    # Every address form the settings accept is judged by the broad-destination guard (#24 item 8).
    ("custom-range-all", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "0.0.0.0-255.255.255.255"},
     "EGRESS_DESTINATIONS"),
    ("custom-range-slash8-worth", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "1.0.0.0-1.255.255.255"},
     "EGRESS_DESTINATIONS"),
    ("custom-host-bits-cidr", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "8.8.8.8/0"},
     "EGRESS_DESTINATIONS"),
    ("custom-halves-together", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "0.0.0.0/1,128.0.0.0/1"},
     "EGRESS_DESTINATIONS"),
    ("custom-reversed-range", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "10.0.0.9-10.0.0.1"},
     "EGRESS_DESTINATIONS"),
    ("custom-unparsable-number", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "10.0.0.0/33"},
     "EGRESS_DESTINATIONS"),
    ("destination-fqdns-without-custom", {"EGRESS_DESTINATION_FQDNS": "ntp.ubuntu.com"}, "EGRESS_DESTINATION_FQDNS"),
]


@pytest.mark.parametrize(("change", "setting"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_egress_setting_names_it(change: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**VALID, **change})
    assert caught.value.setting == setting and str(caught.value).startswith(f"{setting}: ")


GOOD = [
    ({"EGRESS_EXTRA_FQDNS": "myregistry.azurecr.io, *.blob.core.windows.net"}, "egress_extra_fqdns",
     ("myregistry.azurecr.io", "*.blob.core.windows.net")),
    ({"EGRESS_FQDN_TAGS": "azurekubernetesservice"}, "egress_fqdn_tags", ("AzureKubernetesService",)),
    ({"EGRESS_PROFILE": "AKS-Endpoints"}, "egress_profile", "aks-endpoints"),
    ({"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "AzureCloud.westeurope,10.50.0.0/16"},
     "egress_destinations", ("AzureCloud.westeurope", "10.50.0.0/16")),
    ({"EGRESS_PROFILE": "custom", "ALLOW_BROAD_EGRESS": "true"}, "allow_broad_egress", True),
    ({"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "203.0.113.10-203.0.113.20,198.51.100.0/24"},
     "egress_destinations", ("203.0.113.10-203.0.113.20", "198.51.100.0/24")),
    ({"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "0.0.0.0-255.255.255.255", "ALLOW_BROAD_EGRESS": "true"},
     "egress_destinations", ("0.0.0.0-255.255.255.255",)),
    ({"EGRESS_PROFILE": "custom", "EGRESS_DESTINATION_FQDNS": "NTP.ubuntu.com"}, "egress_destination_fqdns",
     ("ntp.ubuntu.com",)),
    ({"EGRESS_PROFILE": "custom", "EGRESS_DESTINATION_FQDNS": "ntp.ubuntu.com"}, "egress_destinations", ()),
]


@pytest.mark.parametrize(("change", "field", "value"), GOOD)
def test_good_egress_settings(change: dict[str, str], field: str, value: object) -> None:
    assert getattr(load_settings({**VALID, **change}), field) == value
