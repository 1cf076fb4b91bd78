"""`status`: every cluster in scope with its compliance, in text, JSON and Markdown, against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from emulator import Emulator
from tests.cli.conftest import Run
from tests.reconciler.helpers import CNI, CUSTOMER_TABLE, arm_writes

STATE_KEYS = {"id", "name", "state", "missing", "conflicts", "reason", "flows", "bypasses", "asymmetric",
              "verification", "behind"}


def status(cli: Run, settings: str, *extra: str, codes: tuple[int, ...] = (0, 2)) -> tuple[int, dict]:
    code, out, err = cli("status", "--settings", settings, "--output", "json", *extra)
    assert code in codes, err
    document: dict = json.loads(out)
    return code, document


def test_the_example_before_and_after_a_sweep(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    code, before = status(cli, settings(), "--detailed-exitcode")
    assert code == 2 and before["compliant"] is False
    assert before["summary"] == {"compliant": 0, "non-compliant": 2, "skipped": 1, "conflicted": 0}
    states = {c["name"]: c for c in before["clusters"]}
    assert all(set(c) == STATE_KEYS for c in before["clusters"])
    assert states["aks-kubenet"]["state"] == "skipped"
    assert states["aks-kubenet"]["reason"] == "network plugin kubenet: the runbook needs Azure CNI (flat or overlay)"
    assert ("route rmd-default (0.0.0.0/0 -> VirtualAppliance 10.0.1.4) is missing on route table "
            "rmd-vnet-spoke-snet-aks-overlay") in states["aks-overlay"]["missing"]
    assert "firewall rule rmd-ingress/aks-cni is missing: TCP 10.1.4.0/24 -> 10.1.0.0/22, 10.1.8.0/22 ports " \
           "80,443" in states["aks-cni"]["missing"]
    # userDefinedRouting: its egress needs the FQDN-tag application rule of EGRESS_PROFILE=aks-required.
    assert "firewall rule rmd-egress-fqdn/aks-overlay is missing: Http:80,Https:443 10.1.5.0/24 -> fqdnTags " \
           "AzureKubernetesService" in states["aks-overlay"]["missing"]
    assert before["firewall"]["state"] == "non-compliant" and before["armCalls"]["writes"] == 0
    assert arm_writes(live) == []

    code, _, err = cli("sweep", "--apply", "--auto-approve", "--settings", settings())
    assert code == 0, err
    code, after = status(cli, settings(), "--detailed-exitcode")
    assert code == 0 and after["compliant"] is True
    assert after["summary"] == {"compliant": 2, "non-compliant": 0, "skipped": 1, "conflicted": 0}
    assert after["firewall"]["state"] == "compliant"


def test_drift_and_a_foreign_route_show_up(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    assert cli("sweep", "--apply", "--auto-approve", "--settings", settings())[0] == 0
    live.delete_foreign(f"{CUSTOMER_TABLE}/routes/rmd-spoke-10-2-0-0-16")
    live.delete_foreign(f"{CUSTOMER_TABLE}/routes/rmd-appgw-10-1-4-0-24")
    live.put_foreign(f"{CUSTOMER_TABLE}/routes/to-appgw", {"properties": {
        "addressPrefix": "10.1.4.0/24", "nextHopType": "VnetLocal"}})
    # A conflicted cluster is blocked, not merely non-compliant: exit 1 with one `blocked:` line (docs/cli.md).
    code, document = status(cli, settings(), codes=(1,))
    assert code == 1
    cni = next(c for c in document["clusters"] if c["id"].lower() == CNI.lower())
    assert cni["state"] == "conflicted"
    assert ("route rmd-spoke-10-2-0-0-16 (10.2.0.0/16 -> VirtualAppliance 10.0.1.4) is missing on route table "
            "rt-spoke-nodes") in cni["missing"]
    assert any("foreign route to-appgw sends 10.1.4.0/24 to VnetLocal" in c for c in cni["conflicts"])
    assert document["summary"]["conflicted"] == 1 and document["compliant"] is False


@pytest.mark.parametrize(("output", "expected"), [
    ("text", ["3 cluster(s): 0 compliant, 2 non-compliant, 1 skipped, 0 conflicted",
              "  skipped       aks-kubenet",
              "      - network plugin kubenet: the runbook needs Azure CNI (flat or overlay)",
              "      - route table rmd-vnet-spoke-snet-aks-overlay does not exist",
              "  firewall non-compliant: "]),
    ("markdown", ["| Cluster | State | Details |",
                  "| `aks-kubenet` | skipped | network plugin kubenet: the runbook needs Azure CNI (flat or overlay) |",
                  "| firewall `rmd-aks-runbook` | non-compliant | rule collection group rmd-aks-runbook is missing |"]),
])
def test_text_and_markdown(cli: Run, live: Emulator, settings: Callable[..., str], output: str,
                           expected: list[str]) -> None:
    code, out, err = cli("status", "--settings", settings(), "--output", output)
    assert code == 0, err
    for line in expected:
        assert line in out, line


def test_markdown_is_for_status_only(cli: Run, live: Emulator, settings: Callable[..., str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:  # argparse usage errors exit at once, 1 here (2 means changes)
        cli("plan", "--target", CNI, "--settings", settings(), "--output", "markdown")
    assert stopped.value.code == 1
    assert "invalid choice: 'markdown'" in capsys.readouterr().err and live.request_log == []
