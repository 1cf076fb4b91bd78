"""The custom role grants exactly REQUIRED_ACTIONS (remediation/operations.py), with no wildcard anywhere."""

from __future__ import annotations

import re
from typing import Any

from remediation.operations import REQUIRED_ACTIONS
from tests.infra.bicep_model import BicepFile, resources_of_type, walk

GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
PERMISSION_KEYS = {"actions", "notActions", "dataActions", "notDataActions"}


def _role(bicep_files: list[BicepFile]) -> tuple[BicepFile, dict[str, Any]]:
    found = list(resources_of_type(bicep_files, "Microsoft.Authorization/roleDefinitions"))
    assert len(found) == 1, "expected exactly one custom role definition"
    return found[0]


def test_role_actions_are_exactly_required_actions(bicep_files: list[BicepFile]) -> None:
    bicep, body = _role(bicep_files)
    permissions = bicep.resolve(body["properties"]["permissions"])
    assert isinstance(permissions, list) and len(permissions) == 1
    (permission,) = permissions
    actions = bicep.resolve(permission["actions"])
    assert isinstance(actions, list) and all(isinstance(a, str) for a in actions), actions
    assert len(actions) == len(set(actions)), "duplicate actions"
    missing = sorted(set(REQUIRED_ACTIONS) - set(actions))
    extra = sorted(set(actions) - set(REQUIRED_ACTIONS))
    assert not missing and not extra, f"missing {missing}, extra {extra}"
    for key in ("notActions", "dataActions", "notDataActions"):
        assert bicep.resolve(permission.get(key, [])) == [], key


def test_role_is_a_custom_role_with_parameterised_scopes(bicep_files: list[BicepFile]) -> None:
    bicep, body = _role(bicep_files)
    assert body["properties"]["type"] == "CustomRole"
    scopes = body["properties"]["assignableScopes"]
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
    for bicep, body in assignments:
        name = body["name"]
        assert isinstance(name, dict) and name["function"]["type"] == "guid", f"{bicep.path}: {name}"
        assert body["properties"]["principalType"] == "ServicePrincipal", bicep.path


def test_role_ids_are_named_variables_or_parameters(bicep_files: list[BicepFile]) -> None:
    """roleDefinitionId never holds an inline GUID: built-in role ids are named variables, and the custom
    role's GUID arrives as a parameter."""
    for bicep, body in resources_of_type(bicep_files, "Microsoft.Authorization/roleAssignments"):
        role = body["properties"]["roleDefinitionId"]
        assert role["function"]["type"] == "subscription_resource_id", bicep.path
        arguments = role["function"]["parameters"]
        assert arguments["resource_type"] == "Microsoft.Authorization/roleDefinitions", bicep.path
        name = arguments["resource_name_1"]
        # pycep keeps a reference (variable, parameter or loop item over a variable) as its bare name.
        assert isinstance(name, str) and name.isidentifier(), f"{bicep.path}: {name}"
        assert not GUID.fullmatch(name), f"{bicep.path}: inline role id {name}"
