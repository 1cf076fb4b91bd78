"""ARM ids are parsed and compared case-insensitively (docs/arm-notes.md section 4.1: casing varies)."""

from __future__ import annotations

import pytest

from remediation.core import ids
from remediation.core.errors import InvalidResourceIdError

SUB = "00000000-0000-0000-0000-000000000000"
CLUSTER = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters/aks"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(CLUSTER, CLUSTER.replace("resourceGroups", "resourcegroups"), id="resourcegroups-casing"),
        pytest.param(CLUSTER, CLUSTER.replace("managedClusters", "ManagedClusters"), id="type-casing"),
        pytest.param(CLUSTER, CLUSTER.upper().replace("SUBSCRIPTIONS", "subscriptions"), id="all-upper"),
        pytest.param(CLUSTER, CLUSTER + "/", id="trailing-slash"),
    ],
)
def test_same_resource_in_any_casing(left: str, right: str) -> None:
    assert ids.same_id(left, right)
    assert ids.parse_resource_id(left).key == ids.parse_resource_id(right).key


@pytest.mark.parametrize(
    ("value", "resource_type", "name"),
    [
        (f"/subscriptions/{SUB}", None, SUB),
        (f"/subscriptions/{SUB}/resourceGroups/rg1", None, "rg1"),
        (CLUSTER, ids.CLUSTER, "aks"),
        (f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v/subnets/s",
         ids.SUBNET, "s"),
        (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt/routes/r",
         ids.ROUTE, "r"),
    ],
)
def test_parse_reports_canonical_type_and_name(value: str, resource_type: str | None, name: str) -> None:
    rid = ids.parse_resource_id(value)
    assert rid.resource_type == resource_type
    assert rid.name == name


def test_str_is_canonical_casing() -> None:
    value = f"/subscriptions/{SUB}/resourcegroups/RG/providers/microsoft.network/ROUTETABLES/rt"
    assert str(ids.parse_resource_id(value)) == (
        f"/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Network/routeTables/rt")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
        pytest.param(42, id="not-a-string"),
        pytest.param("subscriptions/x", id="no-leading-slash"),
        pytest.param("/tenants/x", id="not-a-subscription"),
        pytest.param(f"/subscriptions/{SUB}/resourceGroups", id="group-without-name"),
        pytest.param(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables",
                     id="type-without-name"),
        pytest.param(f"/subscriptions/{SUB}//resourceGroups/rg", id="empty-segment"),
        pytest.param("/subscriptions/not a guid!", id="bad-subscription"),
    ],
)
def test_malformed_ids_raise_a_specific_error(value: object) -> None:
    with pytest.raises(InvalidResourceIdError):
        ids.parse_resource_id(value)


@pytest.mark.parametrize(
    ("resource", "scope", "inside"),
    [
        (CLUSTER, f"/subscriptions/{SUB}", True),
        (CLUSTER, f"/subscriptions/{SUB}/resourcegroups/RG-SPOKE", True),
        (CLUSTER, f"/subscriptions/{SUB}/resourceGroups/rg-hub", False),
        (CLUSTER, "/subscriptions/11111111-1111-1111-1111-111111111111", False),
    ],
)
def test_within_scope(resource: str, scope: str, inside: bool) -> None:
    assert ids.parse_resource_id(resource).within(ids.parse_resource_id(scope)) is inside


def test_parent_and_child_round_trip() -> None:
    subnet = ids.parse_resource_id(
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s")
    vnet = subnet.parent
    assert vnet is not None and vnet.is_type(ids.VNET)
    assert vnet.child("subnets", "s") == subnet


def test_parse_typed_rejects_other_types() -> None:
    with pytest.raises(InvalidResourceIdError, match="expected one of"):
        ids.parse_typed(CLUSTER, ids.FIREWALL)


@pytest.mark.parametrize("value", [
    f"/subscriptions/{SUB}",
    f"/subscriptions/{SUB}/resourcegroups/RG-A",
    CLUSTER,
    CLUSTER.replace("managedClusters", "MANAGEDCLUSTERS") + "/agentPools/NodePool1",
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Unknown.Provider/things/T1/subThings/s",
    f"//subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt/routes/r1/",
])
def test_key_is_the_canonical_spelling_lowered(value: str) -> None:
    # `key` is built without the canonical type spelling (issue 26: it is computed for every id a plan meets);
    # it must stay exactly the lowered canonical form every comparison relies on.
    rid = ids.parse_resource_id(value)
    assert rid.key == str(rid).lower() == ids.id_key(value)
