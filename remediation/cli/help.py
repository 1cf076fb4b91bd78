"""The CLI's help texts: for each subcommand a description, an example, its exit codes and the settings it reads.

Kept apart from the argument wiring in cli.py so both stay short; tests check every subcommand has all four.
"""

from __future__ import annotations

import textwrap

PLANNING_SETTINGS = (
    "REMEDIATION_SCOPE, FIREWALL_ID (required) or FIREWALL_IDS (several hubs); SPOKE_PREFIXES, FORCE_DEFAULT_ROUTE, "
    "ALLOW_TAKEOVER, "
    "EGRESS_DESTINATIONS, EGRESS_PORTS, EGRESS_PROTOCOLS, INGRESS_PORTS, OWNERSHIP_PREFIX, OWNERSHIP_TAG, "
    "RULE_COLLECTION_GROUP, RULE_COLLECTION_GROUP_PRIORITY, RULE_COLLECTION_GROUP_SHARD_BYTES, AZURE_CLOUD, "
    "ARM_ENDPOINT")
CREDENTIALS = ("credentials: DefaultAzureCredential (`az login`, a managed identity, AZURE_CLIENT_ID/"
               "AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or the emulator's exports)")
SETTINGS_SOURCE = ("settings come from the environment, or from --settings local.settings.json (its 'Values'); "
                   "each is documented in local.settings.json.example")

TARGET_HELP = (
    "one managedClusters, agentPools, applicationGateways, azureFirewalls/firewallPolicies/ruleCollectionGroups, "
    "VNet, subnet, route table, route or virtualNetworkGateways (VPN) id (given once). It names what triggers "
    "the run, not a filter: a cluster plans its own tables, routes and associations; an App Gateway the "
    "clusters behind it; a VNet, subnet, route table, route or VPN gateway the whole REMEDIATION_SCOPE with "
    "pruning; a firewall id its owned rule collection group. The first line of every plan says what the target "
    "expanded to.")
BLOCKED = ("a blocking conflict (a write this tool refuses to make) exits 1 with one 'blocked: <address>: "
           "<reason>' line on stderr, never 0 or 2")

EXIT_CODES = {
    "plan": "0 no changes (or changes without --detailed-exitcode); 1 error; 2 changes planned (with "
            "--detailed-exitcode); 3 the named target is skipped (the reason is shown)",
    "apply": "0 applied and converged; 1 error, not converged, not approved, stale saved plan or "
             "REMEDIATION_MODE=report; 2 changes were made (with --detailed-exitcode); 3 the named target is "
             "skipped",
    "sweep": "0 success; 1 error, not converged, not approved or (with --apply) REMEDIATION_MODE=report; "
             "2 changes planned or made (with --detailed-exitcode)",
    "prepare-subnet": "0 success; 1 error, refused or blocked (one 'blocked:' line with the reason), not "
                      "approved, or (without --dry-run) REMEDIATION_MODE=report; 2 changes (with "
                      "--detailed-exitcode); 3 the subnet is skipped (the reason is shown)",
    "status": "0 the report was made; 1 error, the firewall not found, or a cluster conflicted (one "
              "'blocked:' line); 2 a cluster or the firewall is non-compliant (with --detailed-exitcode)",
    "owned": "0 listed (also when nothing is owned); 1 error",
    "show": "0 shown; 1 the file is not a saved plan; 2 the plan has changes (with --detailed-exitcode)",
    "export": "0 exported; 1 error (a list or read failed: nothing is written, a seed with a hole in it would "
              "show a plan for an estate that does not exist)",
}

DESCRIPTIONS = {
    "plan": "Show what would change for one target, terraform-style. Reads only. With -out FILE the plan is "
            "saved, with the state it was computed from, for `apply FILE`.",
    "apply": "Make the changes for one target, then verify with a fresh read. Shows the plan and asks on a "
             "terminal; elsewhere needs --auto-approve. `apply FILE` applies exactly a saved plan and "
             "refuses it when the state or the settings changed since (zero writes).",
    "sweep": "Plan everything in REMEDIATION_SCOPE, including the owned routes and rules no cluster needs any "
             "more. Only plans unless --apply; --apply asks as `apply` does. With --destroy: plan (and with --apply "
             "make) the removal of everything this tool owns in scope, nothing foreign: its routes, then the "
             "subnet associations with its tables, then its (empty) tables, and its rule collection group(s) "
             "or classic collections (a group holding a foreign collection is rewritten without the owned ones).",
    "prepare-subnet": "Route a subnet through the firewall before a userDefinedRouting cluster is created in it "
                      "(AKS checks for a 0.0.0.0/0 route at create time). Shows the plan and asks, like apply "
                      "(--auto-approve when not on a terminal). The same rules as the VNet tag "
                      "PREPARE_SUBNETS_TAG (docs/zero-touch.md): refused, with the reason and no write, for a "
                      "platform subnet, an App Gateway subnet, a subnet a kubenet cluster or a cluster of "
                      "another outbound type uses, and a subnet of a tagged VNet whose tag does not name it "
                      "(the next sweep would remove what it wrote). Prefer the tag: the VNet's own event "
                      "then prepares the subnet.",
    "owned": "List every object this tool owns in REMEDIATION_SCOPE, read now, like `terraform state list`: its "
             "route tables, its routes in tables it does not own, the subnet associations with its tables, its "
             "rule collection group(s) and the rule collections it named. Reads only; `sweep --destroy` removes "
             "them (docs/deploy.md section 12).",
    "export": "Write the estate in REMEDIATION_SCOPE as an emulator seed (ARM JSON, {\"resources\": [...]}): "
              "clusters, VNets with their subnets and peerings, route tables, App Gateways, VPN gateways, the "
              "firewall, policies and their rule collection groups. Reads only: reader rights are enough. "
              "`--emulator-seed FILE` then shows the plan for this estate before any write right is granted.",
    "show": "Render a plan saved by `plan --out FILE` as text or JSON (-o json, --query), from the file alone: "
            "no settings and nothing read from Azure.",
    "status": "List every cluster in scope as compliant, non-compliant (with what is missing), skipped (with "
              "why) or conflicted, and the owned firewall rules as a whole. Reads only.",
}

EXAMPLES = {
    "plan": "aks-remediation plan --target /subscriptions/<sub>/resourceGroups/<rg>/providers/"
            "Microsoft.ContainerService/managedClusters/<name> -out=aks.plan",
    "apply": "aks-remediation apply aks.plan\n"
             "  aks-remediation apply --target <managedClusters id> --auto-approve --output json",
    "sweep": "aks-remediation sweep --detailed-exitcode\n  aks-remediation sweep --apply\n"
             "  aks-remediation sweep --destroy\n  aks-remediation sweep --destroy --apply",
    "prepare-subnet": "aks-remediation prepare-subnet --subnet /subscriptions/<sub>/resourceGroups/<rg>/"
                      "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet> --dry-run\n"
                      "  aks-remediation prepare-subnet --subnet <subnet id> --auto-approve",
    "status": "aks-remediation status --output markdown >> \"$GITHUB_STEP_SUMMARY\"\n"
              "  aks-remediation status -o table\n"
              "  aks-remediation status -o json --query \"clusters[?state!='compliant'].name\"",
    "owned": "aks-remediation owned -o table\n  aks-remediation owned -o tsv | cut -f2",
    "export": "aks-remediation export --out estate.json\n"
              "  aks-remediation --emulator-seed estate.json sweep",
    "show": "aks-remediation show aks.plan\n  aks-remediation show aks.plan -o json --query 'plan.summary'",
}

SETTINGS = {
    "plan": PLANNING_SETTINGS,
    "apply": PLANNING_SETTINGS + "; REMEDIATION_MODE (must be enforce)",
    "sweep": PLANNING_SETTINGS + "; REMEDIATION_MODE (enforce for --apply)",
    "prepare-subnet": PLANNING_SETTINGS + "; REMEDIATION_MODE (enforce unless --dry-run)",
    "status": PLANNING_SETTINGS,
    "owned": PLANNING_SETTINGS,
    "show": "none (the file holds the plan)",
    "export": "REMEDIATION_SCOPE, FIREWALL_ID, INVENTORY, ARM_ENDPOINT",
}


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100, subsequent_indent="  ", break_on_hyphens=False)


def epilog(command: str) -> str:
    """Examples keep their lines (they are copied into shells); the prose is wrapped."""
    return "\n\n".join((f"example:\n  {EXAMPLES[command]}", _wrap(f"exit codes: {EXIT_CODES[command]}; {BLOCKED}"),
                        _wrap(f"settings read: {SETTINGS[command]}"), _wrap(SETTINGS_SOURCE), _wrap(CREDENTIALS)))
