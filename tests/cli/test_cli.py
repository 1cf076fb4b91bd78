"""`python -m remediation` end to end: the runbook's changes from the example topology, apply, a second plan on
the dumped state, JSON schema, exit codes, and bad input (one line on stderr, exit 1, no ARM writes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from remediation.cli.main import main
from remediation.cli.output import shorten_ids
from tests.reconciler.helpers import (
    APP_GATEWAY,
    APPGW_SUBNET,
    APPGW_TABLE,
    BASE_SETTINGS,
    CNI,
    CUSTOMER_TABLE,
    FIREWALL_IP,
    FOREIGN_RCG,
    FOREIGN_ROUTE,
    NODE_SUBNET,
    OWNED_RCG,
    POD_TABLE,
    ROOT,
    SEED_PATH,
    SETTINGS_PATH,
    SUB,
    VNET,
    arm_writes,
    canonical,
    load_seed,
)

RESULT_KEYS = {"target", "dryRun", "changes", "summary", "conflicts", "skipped", "armCalls", "converged"}
CHANGE_KEYS = {"action", "kind", "address", "before", "after", "reason"}
SEEDED = ["--settings", str(SETTINGS_PATH), "--emulator-seed", str(SEED_PATH)]


# clean_env (autouse) and live come from tests/cli/conftest.py.


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def resource(dump: dict[str, Any], resource_id: str) -> dict[str, Any]:
    """A resource of a dump by id; routes and subnets from inside their parents."""
    parent_id, _, child = resource_id.rpartition("/")
    for item in dump["resources"]:
        if item["id"].lower() == resource_id.lower():
            return item
    for item in dump["resources"]:
        for key in ("routes", "subnets"):
            for sub in item.get("properties", {}).get(key, []):
                if sub["id"].lower() == resource_id.lower():
                    return sub
    raise KeyError(f"{resource_id} ({parent_id}, {child})")


def routes_of(dump: dict[str, Any], table_id: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r["properties"] for r in resource(dump, table_id)["properties"].get("routes", [])}


# --------------------------------------------------------------------------------------------- end to end


def test_plan_lists_the_runbook_changes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plan", "--target", CNI, *SEEDED)
    assert code == 0 and err == ""
    for line in (
        f"+ create routeTable {APPGW_TABLE}",
        f"+ create routeTable {POD_TABLE}",
        f"+ create route {CUSTOMER_TABLE}/routes/rmd-spoke-10-2-0-0-16",
        f"+ create route {CUSTOMER_TABLE}/routes/rmd-appgw-10-1-4-0-24",
        f"+ create route {CUSTOMER_TABLE}/routes/rmd-p2s-172-16-201-0-24",
        "+ route rmd-aks-10-1-0-0-22: 10.1.0.0/22 -> VirtualAppliance",  # inside the new table's one PUT
        f"+ create subnetRouteTable {APPGW_SUBNET}",
        f"+ create ruleCollectionGroup {OWNED_RCG}",
        'addressPrefix: "10.2.0.0/16"',
        'nextHopType: "VirtualAppliance"',
        f'nextHopIpAddress: "{FIREWALL_IP}"',
        "Plan: 8 to create, 0 to update, 0 to delete",
    ):
        assert shorten_ids(line) in out, line  # text shows ids as the README does: /subscriptions/…/
    assert "to-onprem" not in out and "platform-baseline" not in out


def test_plan_json_schema_and_detailed_exitcode(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "--target", CNI, *SEEDED, "--output", "json", "--detailed-exitcode")
    assert code == 2
    doc = json.loads(out)
    assert set(doc) >= RESULT_KEYS
    assert doc["dryRun"] is True and doc["converged"] is None and doc["target"].endswith("/aks-cni")
    assert set(doc["armCalls"]) == {"reads", "writes"} and doc["armCalls"]["writes"] == 0
    assert set(doc["summary"]) == {"create", "update", "delete", "noop", "conflict"}
    assert doc["changes"] and all(set(c) == CHANGE_KEYS for c in doc["changes"])
    by_address = {c["address"]: c for c in doc["changes"]}
    route = by_address[f"{CUSTOMER_TABLE}/routes/rmd-spoke-10-2-0-0-16"]
    assert route["action"] == "create" and route["kind"] == "route" and route["before"] is None
    assert route["after"] == {"addressPrefix": "10.2.0.0/16", "nextHopType": "VirtualAppliance",
                              "nextHopIpAddress": FIREWALL_IP}
    assert by_address[NODE_SUBNET.replace("snet-aks-nodes", "snet-appgw")]["kind"] == "subnetRouteTable"
    assert by_address[OWNED_RCG]["kind"] == "ruleCollectionGroup"
    assert [s["target"].rsplit("/", 1)[1] for s in doc["skipped"]] == ["aks-kubenet"]
    assert doc["conflicts"] == []


def test_apply_then_plan_on_the_dump_has_no_changes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dump_path = tmp_path / "after.json"
    code, out, err = run(capsys, "apply", "--target", CNI, *SEEDED, "--emulator-dump", str(dump_path),
                         "--auto-approve")
    assert code == 0, err
    assert "converged: true" in out
    before, after = load_seed(), json.loads(dump_path.read_text(encoding="utf-8"))

    # Foreign objects byte-for-byte as they were; the subnet keeps its NSG and service endpoints.
    for foreign in (FOREIGN_ROUTE, FOREIGN_RCG):
        assert canonical(resource(after, foreign)["properties"]) == canonical(resource(before, foreign)["properties"])
    node_before, node_after = (resource(d, NODE_SUBNET)["properties"] for d in (before, after))
    assert node_after["networkSecurityGroup"] == node_before["networkSecurityGroup"]
    assert canonical(node_after["serviceEndpoints"]) == canonical(node_before["serviceEndpoints"])
    assert node_after["routeTable"]["id"].lower() == CUSTOMER_TABLE.lower()
    routes = routes_of(after, CUSTOMER_TABLE)
    assert routes["rmd-spoke-10-2-0-0-16"]["nextHopIpAddress"] == FIREWALL_IP
    assert resource(after, APPGW_SUBNET)["properties"]["routeTable"]["id"].lower() == APPGW_TABLE.lower()

    code, out, err = run(capsys, "plan", "--target", CNI, "--settings", str(SETTINGS_PATH),
                         "--emulator-seed", str(dump_path), "--detailed-exitcode")
    assert code == 0, err
    assert "No changes." in out
    code, out, _ = run(capsys, "plan", "--target", CNI, "--settings", str(SETTINGS_PATH),
                       "--emulator-seed", str(dump_path), "--output", "json", "--detailed-exitcode")
    doc = json.loads(out)
    assert code == 0 and doc["armCalls"]["writes"] == 0
    assert doc["summary"]["create"] == doc["summary"]["update"] == doc["summary"]["delete"] == 0


def test_sweep_and_prepare_subnet_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed = load_seed()
    vnet = resource(seed, VNET)
    vnet["properties"]["subnets"].append({"name": "snet-future", "id": f"{VNET}/subnets/snet-future",
                                          "properties": {"addressPrefix": "10.1.7.0/24"}})
    seed_path = tmp_path / "seed.json"
    seed_path.write_text(json.dumps(seed), encoding="utf-8")
    common = ["--settings", str(SETTINGS_PATH), "--emulator-seed", str(seed_path)]
    code, out, _ = run(capsys, "sweep", "--dry-run", *common, "--detailed-exitcode")
    assert code == 2 and "scope:" in out
    dump_path = tmp_path / "prepared.json"
    code, out, err = run(capsys, "prepare-subnet", "--subnet", f"{VNET}/subnets/snet-future", *common,
                         "--auto-approve", "--emulator-dump", str(dump_path))
    assert code == 0, err
    dump = json.loads(dump_path.read_text(encoding="utf-8"))
    table_id = f"{VNET.split('/providers/')[0]}/providers/Microsoft.Network/routeTables/rmd-vnet-spoke-snet-future"
    assert routes_of(dump, table_id)["rmd-default"]["addressPrefix"] == "0.0.0.0/0"


def _subprocess_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("REMEDIATION_", "AZURE_", "ARM_", "IDENTITY_"))}


def test_python_dash_m_remediation_in_a_real_process() -> None:
    args = [sys.executable, "-m", "remediation", "plan", "--target", CNI, *SEEDED, "--output", "json",
            "--detailed-exitcode"]
    proc = subprocess.run(args, cwd=ROOT, env=_subprocess_env(), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) >= RESULT_KEYS and doc["summary"]["create"] == 8 and doc["armCalls"]["writes"] == 0

    bad = [sys.executable, "-m", "remediation", "plan", "--target",
           f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1", *SEEDED]
    proc = subprocess.run(bad, cwd=ROOT, env=_subprocess_env(), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: Microsoft.Storage/storageAccounts is not a resource type this tool reconciles"]


def test_served_emulator_is_reachable_from_the_exported_environment() -> None:
    """`python -m remediation emulator` prints `export` lines; a second process that applies them plans
    against the served topology exactly as it would against ARM (no seed flags, no test switches)."""
    server = subprocess.Popen([sys.executable, "-m", "remediation", "emulator", "--seed", str(SEED_PATH)],
                              cwd=ROOT, env=_subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        assert server.stdout is not None
        exports = dict(server.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(4))
        env = {**_subprocess_env(), **exports, **BASE_SETTINGS}
        proc = subprocess.run([sys.executable, "-m", "remediation", "plan", "--target", CNI, "--output", "json"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert set(exports) == {"ARM_ENDPOINT", "REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"}
    assert json.loads(proc.stdout)["summary"]["create"] == 8


# --------------------------------------------------------------------------------------------- bad input


def settings_file(tmp_path: Path, values: dict[str, str]) -> str:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
    return str(path)


BAD_TARGETS = [
    ("not-an-id", "not-an-id", "must start with '/subscriptions/'"),
    ("empty", "", "non-empty"),
    ("type-without-name", f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables",
     "expected '/providers/<namespace>/<type>/<name>"),
    ("subscription", f"/subscriptions/{SUB}", "is a subscription or resource group"),
    ("storage-account", f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1",
     "Microsoft.Storage/storageAccounts is not a resource type this tool reconciles"),
    ("outside-scope", "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/"
     "Microsoft.ContainerService/managedClusters/x", "outside REMEDIATION_SCOPE"),
    ("missing-cluster", CNI.replace("aks-cni", "nope"), "was not found"),
    ("missing-app-gateway", APP_GATEWAY.replace("agw-spoke", "nope"), "was not found"),
]


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize(("target", "problem"), [c[1:] for c in BAD_TARGETS], ids=[c[0] for c in BAD_TARGETS])
def test_bad_target_is_one_line_exit_1_and_no_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      live: Emulator, command: str, target: str,
                                                      problem: str) -> None:
    code, out, err = run(capsys, command, "--target", target, "--settings", settings_file(tmp_path, BASE_SETTINGS),
                         *(["--auto-approve"] if command == "apply" else []))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and problem in err
    assert arm_writes(live) == []


def test_bad_target_with_a_seed_leaves_the_seeded_state_as_it_was(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    dump_path = tmp_path / "dump.json"
    code, _, err = run(capsys, "apply", "--target", CNI.replace("aks-cni", "nope"), *SEEDED,
                       "--emulator-dump", str(dump_path), "--auto-approve")
    assert code == 1 and len(err.splitlines()) == 1
    assert json.loads(dump_path.read_text(encoding="utf-8")) == Emulator(seed=load_seed()).dump()


def test_prepare_subnet_with_a_non_subnet_id(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             live: Emulator) -> None:
    code, _, err = run(capsys, "prepare-subnet", "--subnet", APP_GATEWAY,
                       "--settings", settings_file(tmp_path, BASE_SETTINGS))
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert live.request_log == []


BAD_SETTINGS: list[tuple[str, dict[str, str | None], str]] = [
    ("scope-missing", {"REMEDIATION_SCOPE": None}, "REMEDIATION_SCOPE"),
    ("scope-is-a-resource", {"REMEDIATION_SCOPE": CNI}, "REMEDIATION_SCOPE"),
    ("firewall-missing", {"FIREWALL_ID": None}, "FIREWALL_ID"),
    ("firewall-wrong-type", {"FIREWALL_ID": CUSTOMER_TABLE}, "FIREWALL_ID"),
    ("ports", {"EGRESS_PORTS": "443,70000"}, "EGRESS_PORTS"),
    ("protocols", {"EGRESS_PROTOCOLS": "TCP,SCTP"}, "EGRESS_PROTOCOLS"),
    ("spoke-prefix", {"SPOKE_PREFIXES": "10.2.0.1/16"}, "SPOKE_PREFIXES"),
    ("mode", {"REMEDIATION_MODE": "sometimes"}, "REMEDIATION_MODE"),
    ("takeover", {"ALLOW_TAKEOVER": "maybe"}, "ALLOW_TAKEOVER"),
    ("priority", {"RULE_COLLECTION_GROUP_PRIORITY": "99"}, "RULE_COLLECTION_GROUP_PRIORITY"),
    ("group-not-owned", {"RULE_COLLECTION_GROUP": "platform-baseline"}, "RULE_COLLECTION_GROUP"),
    ("plain-http-endpoint", {"ARM_ENDPOINT": "http://127.0.0.1:1"}, "ARM_ENDPOINT"),
    ("cloud", {"AZURE_CLOUD": "Mars"}, "AZURE_CLOUD"),
]


@pytest.mark.parametrize(("change", "setting"), [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS])
def test_bad_setting_names_the_setting(capsys: pytest.CaptureFixture[str], tmp_path: Path, live: Emulator,
                                       monkeypatch: pytest.MonkeyPatch, change: dict[str, str | None],
                                       setting: str) -> None:
    values = {**BASE_SETTINGS, **{k: v for k, v in change.items() if v is not None}}
    for key, value in change.items():
        if value is None:
            values.pop(key, None)
        if key == "ARM_ENDPOINT":
            monkeypatch.delenv("ARM_ENDPOINT")  # the file's value is the one in effect
    code, out, err = run(capsys, "apply", "--target", CNI, "--settings", settings_file(tmp_path, values))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {setting}: ")
    assert live.request_log == []


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing", None, "cannot read"),
    ("not-json", "{not json", "cannot read"),
    ("no-values", json.dumps({"IsEncrypted": False}), "'Values'"),
])
def test_bad_settings_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: str | None,
                           problem: str) -> None:
    path = tmp_path / f"{name}.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "plan", "--target", CNI, "--settings", str(path), "--emulator-seed", str(SEED_PATH))
    assert code == 1
    assert len(err.splitlines()) == 1 and err.startswith("error: --settings: ") and problem in err


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing", None, "cannot read"),
    ("not-json", "resources: []", "cannot read"),
    ("a-number", "42", "must be ARM JSON"),
    ("no-resources", json.dumps({"items": []}), "must be ARM JSON"),
    ("resources-not-a-list", json.dumps({"resources": {}}), "must be a list"),
    ("item-without-id", json.dumps({"resources": [{"type": "Microsoft.Network/routeTables"}]}), "resources[0]"),
    ("unknown-type", json.dumps({"resources": [{"id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                                                      "Microsoft.Storage/storageAccounts/st1",
                                                "type": "Microsoft.Storage/storageAccounts",
                                                "location": "westeurope"}]}), "resources[0]"),
])
def test_seed_that_is_not_arm_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str,
                                   content: str | None, problem: str) -> None:
    path = tmp_path / f"{name}.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "plan", "--target", CNI, "--settings", str(SETTINGS_PATH),
                         "--emulator-seed", str(path))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and problem in err and name in err


@pytest.mark.parametrize("shape", ["list", "value", "data"])
def test_seed_in_the_shapes_arm_and_resource_graph_return(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          shape: str) -> None:
    """#24 item 19: `--emulator-seed` reads what the emulator reads (emulator/seed.py `as_seed_document`): a bare
    list of ARM bodies, an ARM list page and a Resource Graph answer plan exactly as the seed document does."""
    resources = load_seed()["resources"]
    documents: dict[str, Any] = {"list": resources, "value": {"value": resources}, "data": {"data": resources}}
    path = tmp_path / f"{shape}.json"
    path.write_text(json.dumps(documents[shape]), encoding="utf-8")
    code, out, err = run(capsys, "plan", "--target", CNI, "--settings", str(SETTINGS_PATH),
                         "--emulator-seed", str(path), "-o", "json")
    assert code == 0, err
    expected_code, expected, _ = run(capsys, "plan", "--target", CNI, *SEEDED, "-o", "json")
    assert expected_code == 0
    assert json.loads(out)["changes"] == json.loads(expected)["changes"] != []


def test_dump_without_seed(capsys: pytest.CaptureFixture[str], tmp_path: Path, live: Emulator) -> None:
    dump_path = tmp_path / "dump.json"
    code, out, err = run(capsys, "apply", "--target", CNI, "--settings", settings_file(tmp_path, BASE_SETTINGS),
                         "--emulator-dump", str(dump_path))
    assert code == 1 and out == ""
    assert err.splitlines() == ["error: --emulator-dump needs --emulator-seed"]
    assert not dump_path.exists()
    assert live.request_log == []


def test_arm_error_is_one_line_and_nothing_is_written(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     live: Emulator) -> None:
    live.faults.add("GET", r"/managedClusters/aks-cni$", kind="status", status=403, code="AuthorizationFailed",
                    message="The client does not have authorization to perform action\non this scope.")
    code, out, err = run(capsys, "apply", "--target", CNI, "--settings", settings_file(tmp_path, BASE_SETTINGS),
                         "--auto-approve")
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "AuthorizationFailed" in err
    assert arm_writes(live) == []
