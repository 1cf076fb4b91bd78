"""Private by default: nothing the templates deploy is reachable from the internet unless a lab parameter
opens it. Read offline from the Bicep (pycep), against the names the code uses."""

from __future__ import annotations

from typing import Any

import pytest

from remediation.triggers import http_auth
from tests.infra.bicep_model import INFRA_DIR, BicepFile, body, resources_of_type, walk

# The one account whose public endpoint stays on: Event Grid can deliver only over the trusted-service path,
# which needs "enabled from selected networks" with none selected (infra/app/events-storage.bicep).
TRUSTED_SERVICE_ONLY = "events-storage.bicep"


def _file(bicep_files: list[BicepFile], relative: str) -> BicepFile:
    return next(b for b in bicep_files if b.path == INFRA_DIR / relative)


def _main(bicep_files: list[BicepFile]) -> BicepFile:
    return _file(bicep_files, "main.bicep")


def _conditional(value: Any) -> dict[str, Any]:
    assert isinstance(value, dict) and value["operator"]["type"] == "conditional", value
    return dict(value["operator"]["operands"])


def test_no_parameter_defaults_to_enabled_or_allow(bicep_files: list[BicepFile]) -> None:
    for bicep in bicep_files:
        for name, parameter in bicep.parameters.items():
            assert parameter.get("default") not in ("Enabled", "Allow"), f"{bicep.path}: {name}"


def test_every_public_network_access_is_a_switch_that_defaults_to_disabled(bicep_files: list[BicepFile]) -> None:
    seen = 0
    for bicep in bicep_files:
        if bicep.path.name in (TRUSTED_SERVICE_ONLY, "main.bicep"):
            continue
        for key, value in walk(bicep.resources):
            if not key.startswith("publicNetworkAccess"):
                continue
            seen += 1
            # A module parameter without a default, so main.bicep must decide it.
            assert isinstance(value, str) and value in bicep.parameters, f"{bicep.path}: {key} = {value!r}"
            parameter = bicep.parameters[value]
            assert parameter.get("default") is None, f"{bicep.path}: {value} has a default"
            allowed = next(d["argument"] for d in parameter["decorators"] if d["type"] == "allowed")
            assert sorted(allowed) == ["Disabled", "Enabled"], f"{bicep.path}: {value}"
    # site, storage, Log Analytics (2), Application Insights (2), result topic
    assert seen == 7


def test_main_opens_public_access_only_for_a_lab_or_the_webhook(bicep_files: list[BicepFile]) -> None:
    main = _main(bicep_files)
    assert main.parameters["labPublicAccess"]["default"] is False
    assert main.parameters["eventDelivery"]["default"] == "queue"
    everything = _conditional(main.resolve("publicNetworkAccess"))
    assert (everything["condition"], everything["true_value"], everything["false_value"]) == (
        "labPublicAccess", "Enabled", "Disabled")
    app = _conditional(main.resolve("appPublicNetworkAccess"))
    assert app["false_value"] == "Disabled"
    assert app["condition"]["operator"]["type"] == "or"
    assert app["condition"]["operator"]["operands"]["operand_1"] == "labPublicAccess"
    passed = {name: body(m)["params"].get("publicNetworkAccess") for name, m in main.document["modules"].items()}
    assert {n: v for n, v in passed.items() if v is not None} == {
        "monitoring": "publicNetworkAccess", "storage": "publicNetworkAccess",
        "resultTopic": "publicNetworkAccess", "api": "appPublicNetworkAccess"}
    assert main.resolve("labIpRanges") == {"operator": {"type": "conditional", "operands": {
        "condition": "labPublicAccess", "true_value": "labAllowedIpRanges", "false_value": []}}}


def test_access_lists_deny_by_default(bicep_files: list[BicepFile]) -> None:
    accounts = list(resources_of_type(bicep_files, "Microsoft.Storage/storageAccounts"))
    assert len(accounts) == 2
    for bicep, account in accounts:
        acls = account["properties"]["networkAcls"]
        assert acls["defaultAction"] == "Deny", bicep.path
        assert acls["virtualNetworkRules"] == [], bicep.path
    (site,) = [s for _, s in resources_of_type(bicep_files, "Microsoft.Web/sites")]
    config = site["properties"]["siteConfig"]
    assert config["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert config["scmIpSecurityRestrictionsDefaultAction"] == "Deny"
    assert config["scmIpSecurityRestrictionsUseMain"] is True
    for _, topic in resources_of_type(bicep_files, "Microsoft.EventGrid/topics"):
        assert topic["properties"]["inboundIpRules"] == []


def test_the_events_account_admits_only_trusted_services(bicep_files: list[BicepFile]) -> None:
    events = _file(bicep_files, f"app/{TRUSTED_SERVICE_ONLY}")
    (account,) = [a for _, a in resources_of_type([events], "Microsoft.Storage/storageAccounts")]
    properties = account["properties"]
    assert properties["publicNetworkAccess"] == "Enabled"
    assert properties["networkAcls"] == {"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": [],
                                         "virtualNetworkRules": [], "resourceAccessRules": []}
    assert properties["allowSharedKeyAccess"] is False
    # Only the Event Grid queues and the dead letters live there: no host state, no audit, no code.
    assert not list(resources_of_type([events], "Microsoft.Storage/storageAccounts/tableServices/tables"))


def test_function_app_is_vnet_integrated(bicep_files: list[BicepFile]) -> None:
    api = _file(bicep_files, "app/api.bicep")
    (site,) = [s for _, s in resources_of_type([api], "Microsoft.Web/sites")]
    assert site["properties"]["virtualNetworkSubnetId"] == "appSubnetId"
    main = _main(bicep_files)
    assert body(main.document["modules"]["api"])["params"]["appSubnetId"] == "appSubnet"
    subnet = _conditional(main.resolve("appSubnet"))
    assert subnet["condition"] == "createNetwork" and subnet["false_value"] == "appSubnetId"
    network = _file(bicep_files, "app/network.bicep")
    (vnet,) = [v for _, v in resources_of_type([network], "Microsoft.Network/virtualNetworks")]
    app_subnet = vnet["properties"]["subnets"][0]["properties"]
    assert app_subnet["delegations"][0]["properties"]["serviceName"] == "Microsoft.App/environments"


def _endpoint_group_ids(main: BicepFile) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, module in main.document["modules"].items():
        if module["detail"]["path"] == "app/private-endpoint.bicep":
            found[name] = body(module)["params"]["groupId"]
    return found


def test_private_endpoints_for_storage_telemetry_topic_and_app(bicep_files: list[BicepFile]) -> None:
    main = _main(bicep_files)
    groups = _endpoint_group_ids(main)
    assert {k: v for k, v in groups.items() if isinstance(v, str)} == {
        "eventsQueueEndpoint": "queue", "monitoringEndpoint": "azuremonitor", "siteEndpoint": "sites",
        "resultTopicEndpoint": "topic"}
    assert main.document["modules"]["storageEndpoint"]["config"]["loop_type"]["detail"]["array_name"] == (
        "storageEndpoints")
    assert sorted(e["groupId"] for e in main.resolve("storageEndpoints")) == ["blob", "queue", "table"]


def test_private_dns_zones_cover_every_endpoint(bicep_files: list[BicepFile]) -> None:
    main = _main(bicep_files)
    zones = main.resolve("cloudZones")
    assert set(zones) == {"AzureCloud", "AzureUSGovernment", "AzureChinaCloud"}
    for cloud, names in zones.items():
        assert len(names["monitor"]) == 4 and names["sites"].startswith("privatelink."), cloud
    assert zones["AzureCloud"]["monitor"][0] == "privatelink.monitor.azure.com"
    for service in ("blob", "queue", "table"):
        assert main.resolve(f"{service}Zone") == f"privatelink.{service}.${{environment().suffixes.storage}}"
    names = main.resolve("privateDnsZoneNames")["function"]
    assert names["type"] == "union"
    first, monitor, topic = names["parameters"].values()
    assert first == ["blobZone", "queueZone", "tableZone", {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "zonesOfCloud", "operand_2": "sites"}}}]
    # the monitor zones only with a private link scope of its own (a reused hub scope brings the hub's zones)
    monitor = _conditional(monitor)
    assert monitor["condition"] == {"function": {"type": "empty", "parameters": {"item_to_test": "privateLinkScopeId"}}}
    assert monitor["true_value"]["operator"]["operands"]["operand_2"] == "monitor" and monitor["false_value"] == []
    assert _conditional(topic)["condition"] == "createResultTopic"
    # Zones are created (and linked) only when no central DNS resource group is given.
    assert main.document["modules"]["privateDns"]["config"]["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "privateDnsZoneResourceGroupId"}}}


def test_telemetry_only_through_the_private_link_scope(bicep_files: list[BicepFile]) -> None:
    monitoring = _file(bicep_files, "app/monitoring.bicep")
    (scope,) = [s for _, s in resources_of_type([monitoring], "Microsoft.Insights/privateLinkScopes")]
    # PrivateOnly unless the deployer chooses Open (docs/deploy.md section 1.2).
    assert scope["properties"]["accessModeSettings"] == {"ingestionAccessMode": "accessMode",
                                                         "queryAccessMode": "accessMode"}
    assert monitoring.parameters["accessMode"]["default"] == "PrivateOnly"
    main = _main(bicep_files)
    assert main.parameters["privateLinkScopeAccessMode"]["default"] == "PrivateOnly"
    assert body(main.document["modules"]["monitoring"])["params"]["accessMode"] == "privateLinkScopeAccessMode"
    scoped = [s["properties"]["linkedResourceId"] for _, s in
              resources_of_type([monitoring], "Microsoft.Insights/privateLinkScopes/scopedResources")]
    assert len(scoped) == 2


def test_http_api_requires_an_entra_token_by_default(bicep_files: list[BicepFile]) -> None:
    api = _file(bicep_files, "app/api.bicep")
    assert api.parameters["httpAuth"]["default"] == "entra"
    assert _main(bicep_files).parameters["httpAuth"]["default"] == "entra"
    (auth,) = [body(r) for r in api.resources.values()
               if r["type"] == "Microsoft.Web/sites/config" and body(r)["name"] == "authsettingsV2"]
    properties = auth["properties"]
    assert properties["platform"]["enabled"] == "entraAuth"
    assert api.resolve("entraAuth") == {
        "operator": {"type": "equals", "operands": {"operand_1": "httpAuth", "operand_2": "entra"}}}
    validation = properties["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"
    # Only the webhook opt-in's Event Grid endpoint is let through (it carries the Event Grid system key).
    excluded = _conditional(validation["excludedPaths"])
    assert excluded["true_value"] == ["/runtime/webhooks/eventgrid"] and excluded["false_value"] == []
    assert properties["login"]["tokenStore"]["enabled"] is False


@pytest.mark.parametrize(("entra", "level"), [(True, "anonymous"), (False, "function")])
def test_http_auth_level_setting_follows_the_auth_choice(bicep_files: list[BicepFile], entra: bool,
                                                         level: str) -> None:
    """No key on top of Entra ID; the function-key opt-in keeps keys. The code accepts both values."""
    api = _file(bicep_files, "app/api.bicep")
    declaration = next(r for r in api.resources.values() if r["type"] == "Microsoft.Web/sites/config")
    settings = list(body(declaration)["properties"]["function"]["parameters"].values())[1]
    choice = _conditional(settings["HTTP_AUTH_LEVEL"])
    assert choice["condition"] == "entraAuth"
    assert choice["true_value" if entra else "false_value"] == level
    assert http_auth.http_auth_level({"HTTP_AUTH_LEVEL": level}).name.lower() == level


def test_http_auth_level_rejects_anything_else() -> None:
    from remediation.core.errors import ConfigError

    assert http_auth.http_auth_level({}).name == "FUNCTION"
    with pytest.raises(ConfigError, match="HTTP_AUTH_LEVEL"):
        http_auth.http_auth_level({"HTTP_AUTH_LEVEL": "admin"})
