"""Two custom roles, split by where they are needed: the spoke role is exactly SPOKE_ACTIONS, the hub role
exactly HUB_ACTIONS plus CLASSIC_FIREWALL_ACTIONS only for a classic firewall (remediation/core/operations.py).
No wildcard anywhere, nothing that writes route tables or subnets on the hub."""

from __future__ import annotations

import re
from typing import Any

from remediation.core.operations import CLASSIC_FIREWALL_ACTIONS, HUB_ACTIONS, REQUIRED_ACTIONS, SPOKE_ACTIONS
from tests.infra.bicep_model import INFRA_DIR, BicepFile, body, resources_of_type, walk

GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
PERMISSION_KEYS = {"actions", "notActions", "dataActions", "notDataActions"}


def _file(bicep_files: list[BicepFile], relative: str) -> BicepFile:
    return next(b for b in bicep_files if b.path == INFRA_DIR / relative)


def _role(bicep_files: list[BicepFile], relative: str) -> tuple[BicepFile, dict[str, Any]]:
    bicep = _file(bicep_files, relative)
    (found,) = [b for f, b in resources_of_type([bicep], "Microsoft.Authorization/roleDefinitions")]
    return bicep, found


def _permission(bicep: BicepFile, role: dict[str, Any]) -> dict[str, Any]:
    permissions = bicep.resolve(role["properties"]["permissions"])
    assert isinstance(permissions, list) and len(permissions) == 1
    (permission,) = permissions
    for key in ("notActions", "dataActions", "notDataActions"):
        assert bicep.resolve(permission.get(key, [])) == [], key
    return dict(permission)


def _exactly(actual: object, expected: dict[str, str]) -> None:
    assert isinstance(actual, list) and all(isinstance(a, str) for a in actual), actual
    assert len(actual) == len(set(actual)), "duplicate actions"
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    assert not missing and not extra, f"missing {missing}, extra {extra}"


def test_exactly_two_role_definitions(bicep_files: list[BicepFile]) -> None:
    found = sorted(b.path.name for b, _ in resources_of_type(bicep_files, "Microsoft.Authorization/roleDefinitions"))
    assert found == ["hub-role.bicep", "spoke-role.bicep"]


def test_spoke_role_is_exactly_the_spoke_actions(bicep_files: list[BicepFile]) -> None:
    bicep, role = _role(bicep_files, "app/spoke-role.bicep")
    _exactly(bicep.resolve(_permission(bicep, role)["actions"]), SPOKE_ACTIONS)


def test_hub_role_adds_the_classic_actions_only_for_a_classic_firewall(bicep_files: list[BicepFile]) -> None:
    bicep, role = _role(bicep_files, "app/hub-role.bicep")
    actions = _permission(bicep, role)["actions"]
    union = actions["function"]
    assert union["type"] == "union"
    base, optional = union["parameters"].values()
    _exactly(bicep.resolve(base), HUB_ACTIONS)
    conditional = optional["operator"]
    assert conditional["type"] == "conditional"
    operands = conditional["operands"]
    assert operands["condition"] == "firewallIsClassic"
    _exactly(bicep.resolve(operands["true_value"]), CLASSIC_FIREWALL_ACTIONS)
    assert operands["false_value"] == []
    assert bicep.parameters["firewallIsClassic"]["default"] is False


def test_main_passes_firewall_is_classic_with_a_policy_firewall_default(bicep_files: list[BicepFile]) -> None:
    main = _file(bicep_files, "main.bicep")
    assert main.parameters["firewallIsClassic"]["default"] is False
    hub = body(main.document["modules"]["hubRole"])
    assert hub["params"]["firewallIsClassic"] == "firewallIsClassic"


def test_the_roles_split_the_work() -> None:
    """The hub never writes route tables or subnets; the spokes never touch a firewall."""
    hub = set(HUB_ACTIONS) | set(CLASSIC_FIREWALL_ACTIONS)
    assert not [a for a in hub if a.lower().startswith("microsoft.network/routetables/")]
    assert not [a for a in hub if a.lower().endswith(("/subnets/write", "/subnets/delete"))]
    assert not [a for a in hub if a.lower().endswith("/write") and "rulecollectiongroups" not in a.lower()
                and a not in CLASSIC_FIREWALL_ACTIONS]
    assert not [a for a in SPOKE_ACTIONS if "firewall" in a.lower()]
    assert set(REQUIRED_ACTIONS) == set(SPOKE_ACTIONS) | hub
    assert not set(CLASSIC_FIREWALL_ACTIONS) & (set(SPOKE_ACTIONS) | set(HUB_ACTIONS))


def _assignment_modules(main: BicepFile, prefix: str) -> list[str]:
    return [n for n in main.document["modules"] if n.startswith(prefix) and n.endswith("Assignments")]


def test_spoke_role_is_assignable_only_where_it_is_assigned(bicep_files: list[BicepFile]) -> None:
    main = _file(bicep_files, "main.bicep")
    assert body(main.document["modules"]["spokeRole"])["params"]["assignableScopes"] == "spokeScopes"
    assignments = _assignment_modules(main, "spoke")
    assert len(assignments) == 2, assignments  # resource-group and subscription scopes
    for name in assignments:
        declaration = main.document["modules"][name]
        assert declaration["config"]["loop_type"]["detail"]["array_name"] == "spokeScopes", name
        guid = body(declaration)["params"]["roleDefinitionGuid"]
        assert guid["operator"]["operands"]["operand_1"] == "spokeRole", name


def test_hub_role_is_assigned_at_each_hub_scope_itself(bicep_files: list[BicepFile]) -> None:
    """Resource ids (each firewall, each policy, extra resource scopes) get a resource-scope assignment; the
    role is assignable at their resource groups (custom roles take no resource-level assignable scope).
    tests/infra/test_guards.py evaluates hubScopes and hubAssignableScopes."""
    main = _file(bicep_files, "main.bicep")
    assert body(main.document["modules"]["hubRole"])["params"]["assignableScopes"] == "hubAssignableScopes"
    assignments = _assignment_modules(main, "hub")
    assert sorted(assignments) == ["hubResourceAssignments", "hubRgAssignments", "hubSubAssignments"]
    parts = {}
    for name in assignments:
        declaration = main.document["modules"][name]
        assert declaration["config"]["loop_type"]["detail"]["array_name"] == "hubScopes", name
        guid = body(declaration)["params"]["roleDefinitionGuid"]
        assert guid["operator"]["operands"]["operand_1"] == "hubRole", name
        condition = declaration["config"]["condition"]
        parts[name] = next(v for k, v in walk(condition) if k == "operand_2" and isinstance(v, int))
    assert parts == {"hubResourceAssignments": 9, "hubRgAssignments": 5, "hubSubAssignments": 3}
    resource = body(main.document["modules"]["hubResourceAssignments"])
    assert resource["params"]["resourceId"] == "scopeId"


def test_resource_scope_assignment_covers_the_hub_types(bicep_files: list[BicepFile]) -> None:
    module = _file(bicep_files, "app/role-assignment-resource.bicep")
    main = _file(bicep_files, "main.bicep")
    assigned = {str(r["type"]).split("/")[-1].lower() for r in module.resources.values() if r.get("existing")}
    assert assigned == set(main.resolve("supportedHubResourceTypes"))
    assert len(list(resources_of_type([module], "Microsoft.Authorization/roleAssignments"))) == len(assigned)


def test_spoke_role_is_never_assigned_on_a_hub_scope(bicep_files: list[BicepFile]) -> None:
    main = _file(bicep_files, "main.bicep")
    for name in ("spokeRgAssignments", "spokeSubAssignments"):
        condition = main.document["modules"][name]["config"]["condition"]
        found = [v for k, v in walk(condition)
                 if k == "function" and isinstance(v, dict) and v.get("type") == "contains"]
        # lower-case keys of every subscription and resource group that holds a hub scope
        assert found and found[0]["parameters"]["container"] == "hubContainerKeys", name
        item = found[0]["parameters"]["item_to_find"]["operator"]
        assert item["type"] == "index_accessor" and item["operands"]["operand_1"] == "spokeScopeKeys", name


def test_roles_are_custom_roles_with_parameterised_scopes(bicep_files: list[BicepFile]) -> None:
    for relative in ("app/spoke-role.bicep", "app/hub-role.bicep"):
        bicep, role = _role(bicep_files, relative)
        assert role["properties"]["type"] == "CustomRole"
        scopes = role["properties"]["assignableScopes"]
        assert isinstance(scopes, str) and scopes in bicep.parameters, "assignable scopes come from a parameter"


def test_no_wildcard_action_anywhere(bicep_files: list[BicepFile]) -> None:
    assert not [a for a in REQUIRED_ACTIONS if "*" in a]
    for bicep in bicep_files:
        for key, value in walk(bicep.document):
            if key in PERMISSION_KEYS:
                resolved = bicep.resolve(value)
                flat = resolved if isinstance(resolved, list) else [resolved]
                assert not [a for a in flat if isinstance(a, str) and "*" in a], f"{bicep.path}: {key}"


def test_role_assignments_name_with_guid_and_service_principal(bicep_files: list[BicepFile]) -> None:
    assignments = list(resources_of_type(bicep_files, "Microsoft.Authorization/roleAssignments"))
    assert assignments
    for bicep, assignment in assignments:
        name = assignment["name"]
        assert isinstance(name, dict) and name["function"]["type"] == "guid", f"{bicep.path}: {name}"
        assert assignment["properties"]["principalType"] == "ServicePrincipal", bicep.path


def test_role_ids_are_named_variables_or_parameters(bicep_files: list[BicepFile]) -> None:
    """roleDefinitionId never holds an inline GUID: built-in role ids are named variables, and the custom
    roles' GUIDs arrive as a parameter."""
    for bicep, assignment in resources_of_type(bicep_files, "Microsoft.Authorization/roleAssignments"):
        role = assignment["properties"]["roleDefinitionId"]
        assert role["function"]["type"] == "subscription_resource_id", bicep.path
        arguments = role["function"]["parameters"]
        assert arguments["resource_type"] == "Microsoft.Authorization/roleDefinitions", bicep.path
        name = arguments["resource_name_1"]
        assert isinstance(name, str) and name.isidentifier(), f"{bicep.path}: {name}"
        assert not GUID.fullmatch(name), f"{bicep.path}: inline role id {name}"
