"""Audit and monitoring, read offline from the templates: the diagnostic settings send what an auditor and
an operator need to the workspace, the alerts watch dead letters, poison messages, lost audit records
and failed runs, and the audit container is under a time-based retention policy that only allows appends."""

from __future__ import annotations

from typing import Any

from remediation.storage import AUDIT_CONTAINER, POISON_QUEUE_NAME
from remediation.triggers.eventgrid_queue import EVENT_POISON_QUEUE_NAME
from tests.infra.bicep_model import INFRA_DIR, REPO_ROOT, BicepFile, body, resources_of_type

DIAGNOSTIC = "Microsoft.Insights/diagnosticSettings"


def _file(bicep_files: list[BicepFile], relative: str) -> BicepFile:
    return next(b for b in bicep_files if b.path == INFRA_DIR / relative)


def _categories(bicep: BicepFile, setting: dict[str, Any], key: str) -> set[str]:
    return {entry["category"] for entry in bicep.resolve(setting["properties"].get(key, []))
            if entry["enabled"] is True}


def test_diagnostic_settings_cover_app_storage_topics_and_workspace(bicep_files: list[BicepFile]) -> None:
    diagnostics = _file(bicep_files, "app/diagnostics.bicep")
    by_scope = {s["scope"]: s for _, s in resources_of_type([diagnostics], DIAGNOSTIC)}
    assert _categories(diagnostics, by_scope["site"], "logs") == {"FunctionAppLogs"}
    storage_logs = {"StorageRead", "StorageWrite", "StorageDelete"}
    for service in ("appBlobs", "appQueues", "appTables", "eventsBlobs", "eventsQueues"):
        assert _categories(diagnostics, by_scope[service], "logs") == storage_logs, service
    for account in ("appStorage", "eventsStorage"):
        assert _categories(diagnostics, by_scope[account], "metrics") == {"Transaction"}, account
    assert _categories(diagnostics, by_scope["resultTopic"], "logs") == {"DeliveryFailures", "PublishFailures"}
    assert _categories(diagnostics, by_scope["workspace"], "logs") == {"Audit"}
    assert all(s["properties"]["workspaceId"] == "workspaceId" for s in by_scope.values())
    topic = _file(bicep_files, "app/eventgrid-topic.bicep")
    topic_settings = list(resources_of_type([topic], DIAGNOSTIC))
    assert sorted(s["scope"] for _, s in topic_settings) == ["existingTopic", "newTopic"]
    assert all(_categories(topic, s, "logs") == {"DeliveryFailures"} for _, s in topic_settings)


def test_main_sends_diagnostics_to_the_app_workspace(bicep_files: list[BicepFile]) -> None:
    main = _file(bicep_files, "main.bicep")
    workspace = {"operator": {"type": "property_accessor", "operands": {
        "operand_1": "monitoring", "operand_2": {"operator": {"type": "property_accessor", "operands": {
            "operand_1": "outputs", "operand_2": "logAnalyticsId"}}}}}}
    for module in ("diagnostics", "alerts", "systemTopics"):
        assert body(main.document["modules"][module])["params"]["workspaceId"] == workspace, module


def test_alerts_watch_dead_letters_poison_queues_and_failed_runs(bicep_files: list[BicepFile]) -> None:
    alerts = _file(bicep_files, "app/alerts.bicep")
    rules = {r["name"]: r for r in alerts.resolve("rules")}
    assert set(rules) == {"dead-lettered-events", "poison-messages", "audit-write-failures", "failed-runs"}
    # the message the queue worker logs when an audit row is lost (remediation/triggers/queue.py _audit)
    worker = (REPO_ROOT / "remediation" / "triggers" / "queue.py").read_text(encoding="utf-8")
    assert 'log.error("audit record of request %s not stored' in worker
    assert rules["audit-write-failures"]["query"].endswith('Message startswith "audit record of request"')
    assert rules["dead-lettered-events"]["query"].startswith("StorageBlobLogs")
    assert "${deadLetterContainerName}" in rules["dead-lettered-events"]["query"]
    # both poison queues end in -poison (the host's naming), so one filter covers them
    assert POISON_QUEUE_NAME.endswith("-poison") and EVENT_POISON_QUEUE_NAME.endswith("-poison")
    assert rules["poison-messages"]["query"] == (
        'StorageQueueLogs | where OperationName == "PutMessage" | where Uri has "-poison"')
    assert rules["failed-runs"]["query"] == "AppRequests | where Success == false"
    (rule,) = [r for _, r in resources_of_type([alerts], "Microsoft.Insights/scheduledQueryRules")]
    criterion = rule["properties"]["criteria"]["allOf"][0]
    assert (criterion["operator"], criterion["threshold"], criterion["timeAggregation"]) == ("GreaterThan", 0, "Count")
    assert rule["properties"]["scopes"] == ["workspaceId"]


def test_audit_container_is_append_only_under_retention(bicep_files: list[BicepFile]) -> None:
    storage = _file(bicep_files, "app/storage.bicep")
    assert storage.resolve("auditContainerName") == AUDIT_CONTAINER
    (policy,) = [p for _, p in resources_of_type(
        [storage], "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies")]
    assert policy["parent"] == "auditContainer" and policy["name"] == "default"
    assert policy["properties"] == {"immutabilityPeriodSinceCreationInDays": "auditRetentionDays",
                                    "allowProtectedAppendWrites": True}
    main = _file(bicep_files, "main.bicep")
    assert main.parameters["auditRetentionDays"]["default"] == 365
    assert body(main.document["modules"]["storage"])["params"]["auditRetentionDays"] == "auditRetentionDays"


def test_tls_13_where_the_resource_accepts_it(bicep_files: list[BicepFile]) -> None:
    """The site and its SCM endpoint require TLS 1.3 (1.2 only under the Event Grid webhook opt-in); storage
    stays at TLS1_2, the highest minimum its API takes (docs/deploy.md section 14)."""
    api = _file(bicep_files, "app/api.bicep")
    (site,) = [s for _, s in resources_of_type([api], "Microsoft.Web/sites")]
    for key in ("minTlsVersion", "scmMinTlsVersion"):
        operands = site["properties"]["siteConfig"][key]["operator"]["operands"]
        assert (operands["condition"], operands["true_value"], operands["false_value"]) == (
            "eventGridWebhook", "1.2", "1.3"), key
    for _, account in resources_of_type(bicep_files, "Microsoft.Storage/storageAccounts"):
        assert account["properties"]["minimumTlsVersion"] == "TLS1_2"


def test_both_subnets_have_explicit_rules(bicep_files: list[BicepFile]) -> None:
    network = _file(bicep_files, "app/network.bicep")
    outbound = {t["name"]: t["destination"] for t in network.resolve("appOutboundTargets")}
    assert outbound == {"allow-private-endpoints": "privateEndpointSubnetPrefix",
                        "allow-arm": "AzureResourceManager", "allow-entra-id": "AzureActiveDirectory"}
    for name in ("denyAllInbound", "denyAllOutbound"):
        rule = network.resolve(name)["properties"]
        assert (rule["access"], rule["priority"], rule["destinationAddressPrefix"]) == ("Deny", 4096, "*")
    from_app = network.resolve("endpointFromApp")["properties"]
    assert (from_app["sourceAddressPrefix"], from_app["destinationPortRange"]) == ("appSubnetPrefix", "443")
    nsgs = {b["name"]: b for _, b in resources_of_type([network], "Microsoft.Network/networkSecurityGroups")}
    assert len(nsgs) == 2
    for nsg in nsgs.values():
        rules = nsg["properties"]["securityRules"]["function"]
        assert rules["type"] == "concat"
        assert list(rules["parameters"].values())[-1] == ["denyAllInbound", "denyAllOutbound"]
