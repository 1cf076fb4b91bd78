"""remediation/azure/egress_reads.py through ArmClient, with the real SDK clients against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from emulator import Emulator
from emulator.egress_support import set_outbound_endpoints
from remediation.azure.arm import ArmClient
from remediation.azure.egress_reads import endpoints_from_arm
from tests.azure.conftest import AKS, HUB

EXAMPLE = Path(__file__).parents[1] / "emulator" / "data" / "OutboundNetworkDependenciesEndpointsList.json"
POLICY = f"{HUB}/firewallPolicies/fwpol-hub"


def test_endpoint_list_of_the_spec_example(emu: Emulator, arm: ArmClient) -> None:
    body = json.loads(EXAMPLE.read_text())["responses"]["200"]["body"]
    set_outbound_endpoints(emu, f"{AKS}/aks-overlay", body)
    listed = arm.get_outbound_endpoints(f"{AKS}/aks-overlay")
    assert listed == endpoints_from_arm(body["value"]) and listed.error is None
    assert ("time-sync", "ntp.ubuntu.com", ((123, "UDP"),)) in {
        (e.category, e.domain_name, e.details) for e in listed.endpoints}
    # The ARM client keeps no cache (observation owns the one read cache, remediation/engine/observe.py): each ask
    # is exactly one GET.
    reads = arm.arm_calls.reads
    assert arm.get_outbound_endpoints(f"{AKS}/aks-overlay") == listed and arm.arm_calls.reads == reads + 1


def test_denied_or_missing_endpoint_list_is_a_reason_not_an_exception(emu: Emulator, arm: ArmClient) -> None:
    emu.faults.add("GET", r"/aks-cni/outboundNetworkDependenciesEndpoints$", kind="status", status=403,
                   code="AuthorizationFailed", message="denied")
    denied = arm.get_outbound_endpoints(f"{AKS}/aks-cni")
    assert denied.endpoints == () and denied.error is not None and denied.error.startswith("AuthorizationFailed")
    missing = arm.get_outbound_endpoints(f"{AKS}/gone")
    assert missing.error is not None and "ResourceNotFound" in missing.error


def test_policy_dns_proxy(emu: Emulator, arm: ArmClient) -> None:
    assert arm.get_policy_dns_proxy(POLICY) == (True, None)
    proxy, error = arm.get_policy_dns_proxy(f"{HUB}/firewallPolicies/gone")
    assert proxy is None and error is not None and "ResourceNotFound" in error
