"""INVENTORY: where the fleet's lists come from (docs/arm-notes.md section 7), validated at start-up."""

from __future__ import annotations

import pytest

from remediation.core.config import load_settings
from remediation.core.errors import ConfigError

SUB = "00000000-0000-0000-0000-000000000000"
OTHER = "00000000-0000-0000-0000-000000000001"
FIREWALL = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/fw-hub"


@pytest.mark.parametrize(("inventory", "scope", "graph"), [
    (None, f"/subscriptions/{SUB}", False),  # auto, one subscription: ARM lists
    (None, f"/subscriptions/{SUB}/resourceGroups/a,/subscriptions/{SUB}/resourceGroups/b", False),
    (None, f"/subscriptions/{SUB},/subscriptions/{OTHER}", True),  # auto, two subscriptions: Resource Graph
    (None, f"/subscriptions/{SUB}/resourceGroups/a,/subscriptions/{OTHER}/resourceGroups/b", True),
    ("auto", f"/subscriptions/{SUB},/subscriptions/{OTHER}", True),
    ("resource-graph", f"/subscriptions/{SUB}", True),
    ("Resource-Graph", f"/subscriptions/{SUB}", True),
    ("arm", f"/subscriptions/{SUB},/subscriptions/{OTHER}", False),
])
def test_inventory_choice(inventory: str | None, scope: str, graph: bool) -> None:
    env = {"REMEDIATION_SCOPE": scope, "FIREWALL_ID": FIREWALL, **({"INVENTORY": inventory} if inventory else {})}
    assert load_settings(env).uses_resource_graph is graph


@pytest.mark.parametrize("value", ["graph", "ARG", "resourcegraph", "both"])
def test_an_unknown_inventory_fails_at_start_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL, "INVENTORY": value})
    assert "INVENTORY" in str(raised.value)
