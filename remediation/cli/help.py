"""The CLI's help texts: for each subcommand a description, an example, its exit codes and the settings it reads.

Kept apart from the argument wiring in cli.py so both stay short; tests check every subcommand has all four.
"""

from __future__ import annotations

import textwrap

PLANNING_SETTINGS = (
    "REMEDIATION_SCOPE, FIREWALL_ID (required); SPOKE_PREFIXES, FORCE_DEFAULT_ROUTE, ALLOW_TAKEOVER, "
    "EGRESS_DESTINATIONS, EGRESS_PORTS, EGRESS_PROTOCOLS, INGRESS_PORTS, OWNERSHIP_PREFIX, OWNERSHIP_TAG, "
    "RULE_COLLECTION_GROUP, RULE_COLLECTION_GROUP_PRIORITY, RULE_COLLECTION_GROUP_SHARD_BYTES, AZURE_CLOUD, "
    "ARM_ENDPOINT")
CREDENTIALS = ("credentials: DefaultAzureCredential (`az login`, a managed identity, AZURE_CLIENT_ID/"
               "AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or the emulator's exports)")
SETTINGS_SOURCE = ("settings come from the environment, or from --settings local.settings.json (its 'Values'); "
                   "each is documented in local.settings.json.example")

EXIT_CODES = {
    "plan": "0 no changes (or changes without --detailed-exitcode); 1 error; 2 changes planned (with "
            "--detailed-exitcode); 3 the named target is skipped (the reason is shown)",
    "apply": "0 applied and converged; 1 error, not converged, not approved, stale saved plan or "
             "REMEDIATION_MODE=report; 2 changes were made (with --detailed-exitcode); 3 the named target is "
             "skipped",
    "sweep": "0 success; 1 error, not converged, not approved or (with --apply) REMEDIATION_MODE=report; "
             "2 changes planned or made (with --detailed-exitcode)",
    "prepare-subnet": "0 success; 1 error, refused without --dry-run (the reason is shown), not approved "
                      "or (without --dry-run) REMEDIATION_MODE=report; 2 changes (with --detailed-exitcode); "
                      "3 the subnet is skipped (the reason is shown)",
    "status": "0 the report was made; 1 error; 2 a cluster or the firewall is non-compliant or conflicted "
              "(with --detailed-exitcode)",
}

DESCRIPTIONS = {
    "plan": "Show what would change for one target, terraform-style. Reads only. With -out FILE the plan is "
            "saved, with the state it was computed from, for `apply FILE`.",
    "apply": "Make the changes for one target, then verify with a fresh read. Shows the plan and asks on a "
             "terminal; elsewhere needs --auto-approve. `apply FILE` applies exactly a saved plan and "
             "refuses it when the state or the settings changed since (zero writes).",
    "sweep": "Plan everything in REMEDIATION_SCOPE, including the owned routes and rules no cluster needs any "
             "more. Only plans unless --apply; --apply asks as `apply` does.",
    "prepare-subnet": "Route a subnet through the firewall before a userDefinedRouting cluster is created in it "
                      "(AKS checks for a 0.0.0.0/0 route at create time). Shows the plan and asks, like apply "
                      "(--auto-approve when not on a terminal). The same rules as the VNet tag "
                      "PREPARE_SUBNETS_TAG (docs/zero-touch.md): refused, with the reason and no write, for a "
                      "platform subnet, an App Gateway subnet, a subnet a kubenet cluster or a cluster of "
                      "another outbound type uses, and a subnet of a tagged VNet whose tag does not name it "
                      "(the next sweep would remove what it wrote). Prefer the tag: the VNet's own event "
                      "then prepares the subnet.",
    "status": "List every cluster in scope as compliant, non-compliant (with what is missing), skipped (with "
              "why) or conflicted, and the owned firewall rules as a whole. Reads only.",
}

EXAMPLES = {
    "plan": "python -m remediation plan --target /subscriptions/<sub>/resourceGroups/<rg>/providers/"
            "Microsoft.ContainerService/managedClusters/<name> -out aks.plan",
    "apply": "python -m remediation apply aks.plan\n"
             "  python -m remediation apply --target <managedClusters id> --auto-approve --output json",
    "sweep": "python -m remediation sweep --detailed-exitcode\n  python -m remediation sweep --apply",
    "prepare-subnet": "python -m remediation prepare-subnet --subnet /subscriptions/<sub>/resourceGroups/<rg>/"
                      "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet> --dry-run\n"
                      "  python -m remediation prepare-subnet --subnet <subnet id> --auto-approve",
    "status": "python -m remediation status --output markdown >> \"$GITHUB_STEP_SUMMARY\"",
}

SETTINGS = {
    "plan": PLANNING_SETTINGS,
    "apply": PLANNING_SETTINGS + "; REMEDIATION_MODE (must be enforce)",
    "sweep": PLANNING_SETTINGS + "; REMEDIATION_MODE (enforce for --apply)",
    "prepare-subnet": PLANNING_SETTINGS + "; REMEDIATION_MODE (enforce unless --dry-run)",
    "status": PLANNING_SETTINGS,
}


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100, subsequent_indent="  ", break_on_hyphens=False)


def epilog(command: str) -> str:
    """Examples keep their lines (they are copied into shells); the prose is wrapped."""
    return "\n\n".join((f"example:\n  {EXAMPLES[command]}", _wrap(f"exit codes: {EXIT_CODES[command]}"),
                        _wrap(f"settings read: {SETTINGS[command]}"), _wrap(SETTINGS_SOURCE), _wrap(CREDENTIALS)))
