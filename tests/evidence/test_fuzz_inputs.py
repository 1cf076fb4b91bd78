"""Property 4: fuzzing every input boundary. Bad input gets the boundary's own rejection type (or, for the
CLI and HTTP, an exit code / a JSON 4xx), never another exception, and never an ARM write."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator import Emulator, SeedError
from remediation.cli import main as cli
from remediation.core import config, ids
from remediation.core.errors import (
    ConfigError,
    InvalidResourceIdError,
    OutOfScopeError,
    UnsupportedTargetError,
)
from remediation.core.model import Target, TargetKind
from remediation.core.operations import HANDLED_EVENT_TYPES, HANDLED_OPERATIONS
from remediation.planning import intake
from tests.evidence import support
from tests.evidence.support import Harness

SUB = support.SUB
NAME = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12)
SEGMENT = st.one_of(st.sampled_from(["subscriptions", "resourceGroups", "resourcegroups", "providers",
                                     "Microsoft.Network", "Microsoft.ContainerService", "managedClusters",
                                     "agentPools", "virtualNetworks", "subnets", "routeTables", "routes",
                                     "azureFirewalls", "firewallPolicies", "ruleCollectionGroups",
                                     "applicationGateways", "Microsoft.Compute", "virtualMachines",
                                     "Microsoft.Resources", "deployments", SUB, "rg-spoke", "aks-cni", ""]),
                     NAME)
ID_LIKE = st.one_of(
    st.lists(SEGMENT, max_size=12).map(lambda parts: "/" + "/".join(parts)),
    st.lists(SEGMENT, max_size=12).map("/".join),
    st.text(max_size=80),
)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4), max_leaves=12)
ANY_VALUE = st.one_of(JSON, ID_LIKE)


def no_arm() -> Any:
    raise AssertionError("resolve must not build an ARM gateway")


@pytest.fixture(scope="module")
def offline_settings() -> config.Settings:
    return config.load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": support.FIREWALL_ID,
                                 "ARM_ENDPOINT": "https://127.0.0.1:1", "REMEDIATION_MODE": "enforce"})


# ------------------------------------------------------------------------------------------- resource ids


@given(value=st.one_of(ID_LIKE, JSON))
def test_parse_resource_id_only_raises_invalid_resource_id(value: Any) -> None:
    try:
        rid = ids.parse_resource_id(value)
    except InvalidResourceIdError:
        return
    # A parsed id prints as an id that parses back to itself (the key is stable).
    again = ids.parse_resource_id(str(rid))
    assert again.key == rid.key
    assert ids.id_key(str(rid)) == rid.key


@given(value=ID_LIKE)
def test_resolve_only_raises_input_errors_and_never_calls_arm(offline_settings: config.Settings,
                                                              value: str) -> None:
    from remediation.engine.reconciler import Reconciler

    reconciler = Reconciler(offline_settings, arm_factory=no_arm)
    try:
        target = reconciler.resolve(value)
    except (InvalidResourceIdError, UnsupportedTargetError, OutOfScopeError):
        return
    assert isinstance(target, Target)
    assert offline_settings.in_scope(target.id)


# ------------------------------------------------------------------------------------------- events


def _event(schema: str, event_id: Any, event_type: Any, data: Any, subject: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": event_id, "subject": subject, "data": data}
    payload["eventType" if schema == "eventgrid" else "type"] = event_type
    if schema == "cloudevents":
        payload.update(specversion="1.0", source=f"/subscriptions/{SUB}")
    return payload


DATA = st.one_of(JSON, st.fixed_dictionaries({}, optional={
    "resourceUri": ANY_VALUE, "operationName": st.one_of(st.sampled_from(sorted(HANDLED_OPERATIONS)), JSON),
    "correlationId": JSON, "claims": st.one_of(JSON, st.fixed_dictionaries({"oid": JSON})),
    "authorization": st.one_of(JSON, st.fixed_dictionaries({"evidence": st.one_of(
        JSON, st.fixed_dictionaries({"principalId": JSON}))})),
}))
EVENTS = st.one_of(
    st.builds(_event, st.sampled_from(["eventgrid", "cloudevents"]), st.one_of(st.uuids().map(str), JSON),
              st.one_of(st.sampled_from(sorted(HANDLED_EVENT_TYPES)), JSON), DATA, ANY_VALUE),
    st.dictionaries(st.text(max_size=12), JSON, max_size=6),
)


@given(payload=EVENTS)
def test_parse_event_and_decide_reject_malformed_events_with_one_type(offline_settings: config.Settings,
                                                                       payload: dict[str, Any]) -> None:
    from remediation.engine.reconciler import Reconciler

    resolve = Reconciler(offline_settings, arm_factory=no_arm).resolve
    try:
        event = intake.parse_event(payload)
        decision = intake.decide(event, offline_settings, resolve)
    except intake.MalformedEventError:
        return
    assert isinstance(decision, Target | intake.Ignored)


# ------------------------------------------------------------------------------------------- settings

KNOWN_SETTINGS = ("REMEDIATION_SCOPE", "FIREWALL_ID", "ARM_ENDPOINT", "AZURE_CLOUD", "OWNERSHIP_PREFIX",
                  "OWNERSHIP_TAG", "RULE_COLLECTION_GROUP", "RULE_COLLECTION_GROUP_PRIORITY",
                  "EGRESS_DESTINATIONS", "EGRESS_PORTS", "EGRESS_PROTOCOLS", "INGRESS_PORTS", "SPOKE_PREFIXES",
                  "FORCE_DEFAULT_ROUTE", "ALLOW_TAKEOVER", "REMEDIATION_MODE", "REMEDIATION_PRINCIPAL_ID",
                  "RESULT_TOPIC_ENDPOINT")
VALID = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": support.FIREWALL_ID,
         "ARM_ENDPOINT": "https://127.0.0.1:8443"}
SETTING_TEXT = st.one_of(
    st.text(max_size=30), ID_LIKE,
    st.sampled_from(["443", "1-65535", "0", "65536", "*", "TCP,UDP", "Any", "true", "no", "report", "enforce",
                     "10.0.0.0/8", "10.0.0.1/8", "https://example.org", "http://x", "https://", "a=b", "=",
                     "AzureCloud", "rmd-", "rmd-x", "250", "99", "65001", "1,2,3"]),
)
SETTINGS_DICTS = st.builds(lambda base, extra: {**base, **extra},
                           st.sampled_from([VALID, {}]),
                           st.dictionaries(st.sampled_from(KNOWN_SETTINGS), SETTING_TEXT, max_size=6))


@given(env=SETTINGS_DICTS)
def test_load_settings_only_raises_config_error_naming_a_known_setting(env: dict[str, str]) -> None:
    try:
        config.load_settings(env)
    except ConfigError as exc:
        assert exc.setting in KNOWN_SETTINGS
        assert str(exc).startswith(exc.setting)


# Found by the property above: str.isdigit() accepts '\u00b2' (superscript two), which int() refuses.
@pytest.mark.parametrize("name", ["EGRESS_PORTS", "INGRESS_PORTS", "RULE_COLLECTION_GROUP_PRIORITY"])
def test_superscript_digit_in_a_number_setting_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError):
        config.load_settings({**VALID, name: "\u00b2"})


# Found by the property above: urlparse raises ValueError ('Invalid IPv6 URL') for an unclosed '['.
@pytest.mark.parametrize("name", ["ARM_ENDPOINT", "RESULT_TOPIC_ENDPOINT"])
def test_malformed_ipv6_url_setting_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError):
        config.load_settings({**VALID, name: "https://[::1"})


# ------------------------------------------------------------------------------------------- emulator seeds

RESOURCE_TYPES = ["Microsoft.Network/virtualNetworks", "Microsoft.Network/routeTables",
                  "Microsoft.Network/firewallPolicies", "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
                  "Microsoft.Network/azureFirewalls", "Microsoft.ContainerService/managedClusters",
                  "Microsoft.Network/virtualNetworks/subnets", "Microsoft.Network/routeTables/routes",
                  "Microsoft.Network/applicationGateways", "Microsoft.Network/virtualNetworkGateways"]


def _resource_id(rtype: str, names: list[str]) -> str:
    namespace, *types = rtype.split("/")
    parts = "/".join(f"{t}/{n}" for t, n in zip(types, names + ["x"] * 3, strict=False))
    return f"/subscriptions/{SUB}/resourceGroups/rg/providers/{namespace}/{parts}"


PROPS = st.one_of(JSON, st.fixed_dictionaries({}, optional={
    k: JSON for k in ("subnets", "routes", "addressPrefix", "addressPrefixes", "routeTable", "ruleCollections",
                      "priority", "ipConfigurations", "agentPoolProfiles", "networkProfile", "addressSpace",
                      "firewallPolicy", "gatewayIPConfigurations", "nextHopType", "provisioningState")}))
RESOURCE = st.one_of(
    JSON,
    st.builds(lambda rtype, names, extra, props: {"id": _resource_id(rtype, names), "type": rtype,
                                                  "location": "westeurope", "properties": props, **extra},
              st.sampled_from(RESOURCE_TYPES), st.lists(NAME.filter(lambda n: "/" not in n and n), max_size=3),
              st.dictionaries(st.sampled_from(["type", "location", "name", "etag", "tags", "id"]), JSON,
                              max_size=2), PROPS),
)
SEEDS = st.one_of(JSON, st.fixed_dictionaries({"resources": st.lists(RESOURCE, max_size=5)}))


# Found by the property below: a non-list properties.subnets/routes crashed Store.load with a TypeError.
@pytest.mark.parametrize("kind", ["virtualNetworks:subnets", "routeTables:routes"])
def test_seed_with_a_non_list_child_collection_is_a_seed_error(kind: str) -> None:
    rtype, children = kind.split(":")
    document = {"resources": [{
        "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/{rtype}/x",
        "type": f"Microsoft.Network/{rtype}", "location": "westeurope", "properties": {children: True}}]}
    with pytest.raises(SeedError):
        Emulator().load_seed(document)


@given(document=SEEDS)
def test_emulator_load_seed_only_raises_seed_error(document: Any) -> None:
    emu = Emulator()  # not started: loading is pure state
    with contextlib.suppress(SeedError):
        emu.load_seed(document)
    assert emu.request_log == []


# ------------------------------------------------------------------------------------------- CLI argv

TOKENS = st.one_of(
    st.sampled_from(["plan", "apply", "sweep", "prepare-subnet", "--target", "--subnet", "--dry-run",
                     "--output", "json", "text", "--detailed-exitcode", "--settings", "/nonexistent.json",
                     "--emulator-seed", "--emulator-dump", "/nonexistent-seed.json", "-v", "--verbose",
                     support.CLUSTER_CNI, f"{support.VNET_SPOKE}/subnets/snet-aks-overlay",
                     f"/subscriptions/{SUB}", "--", "-x", "--help"]),
    ID_LIKE, st.text(max_size=15))


@pytest.fixture
def cli_env(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """Settings in the environment point the CLI at the module's emulator in report mode (dry runs)."""
    for key, value in support.settings_env(harness.emu, REMEDIATION_MODE="report").items():
        monkeypatch.setenv(key, value)
    support.reset(harness.emu)
    yield harness.emu


@support.examples(60)
@given(argv=st.lists(TOKENS, max_size=6).filter(lambda a: a[:1] != ["emulator"]))
def test_cli_exits_with_a_code_never_a_traceback(cli_env: Emulator, argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: Any = cli.main(argv)
        except SystemExit as exc:  # argparse: 2 for a usage error, 0 for --help
            code = exc.code
    assert code in (0, 1, 2), f"exit {code!r}; stderr: {err.getvalue()[-2000:]}"
    assert "Traceback" not in err.getvalue()
    assert support.arm_writes(cli_env) == []


# ------------------------------------------------------------------------------------------- HTTP bodies


class _Queue:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, request: Any, delay_s: int = 0) -> None:
        self.sent.append(request)


class _Status:
    def set(self, request_id: str, state: Any, **fields: Any) -> None:
        pass

    def get(self, request_id: str) -> None:
        return None


class _Runtime:
    """The HTTP trigger's runtime with the real Reconciler (module emulator) and in-memory queue/status,
    so the fuzz needs no Azurite. report_mode is False: apply requests go to the (fake) queue, 202."""

    def __init__(self, harness: Harness) -> None:
        self.settings = harness.settings
        self.reconciler = harness.reconciler()
        self.queue = _Queue()
        self.status = _Status()
        self.report_mode = False


BODY_TARGETS = st.one_of(ID_LIKE, JSON, st.sampled_from([
    support.CLUSTER_CNI, f"{support.AKS}/does-not-exist", support.RT_NODES, support.FIREWALL_ID,
    "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/"
    "Microsoft.ContainerService/managedClusters/elsewhere"]))
BODIES = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda t: t.encode("utf-8")),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={"target": BODY_TARGETS, "dryRun": st.one_of(st.booleans(), JSON),
                                        "extra": JSON}).map(lambda v: json.dumps(v).encode()),
)


@support.examples(100)
@given(body=BODIES)
def test_http_remediate_answers_json_4xx_never_5xx(harness: Harness, monkeypatch: pytest.MonkeyPatch,
                                                   body: bytes) -> None:
    from remediation.triggers import http

    runtime = _Runtime(harness)
    monkeypatch.setattr(http, "get_runtime", lambda: runtime)
    support.reset(harness.emu)
    request = func.HttpRequest(method="POST", url="https://fn.example/api/remediations", body=body,
                               headers={"Content-Type": "application/json"}, params={}, route_params={})
    response = http.remediate.build().get_user_function()(request) if hasattr(http.remediate, "build") \
        else http.remediate(request)
    status = response.status_code
    assert status < 500, response.get_body()[:500]
    document = json.loads(response.get_body())
    if status >= 400:
        assert set(document["error"]) >= {"code", "message"}
        assert "Traceback" not in response.get_body().decode()
    else:
        assert status in (200, 202)
    assert support.arm_writes(harness.emu) == []
    harness.close_gateways()


def test_http_target_kinds_are_consistent(offline_settings: config.Settings) -> None:
    """Sanity: the ids the HTTP fuzz names resolve as expected without ARM."""
    from remediation.engine.reconciler import Reconciler

    reconciler = Reconciler(offline_settings, arm_factory=no_arm)
    assert reconciler.resolve(support.CLUSTER_CNI).kind is TargetKind.CLUSTER
    assert reconciler.resolve(support.RT_NODES).kind is TargetKind.NETWORK
