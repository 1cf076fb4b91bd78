"""The CLI speaks terraform and az (issue #25 item 1, #24 items 2, 3, 4, 16, 17), through the real entry point
against the emulator: -o/--output and --query, global options before the subcommand, terraform's single-dash
spellings, `plan -out` closing line, short ids in text and full in JSON, colours only on a terminal, what a
target expands to, repeated --target refused, and how a blocked write, a missing firewall, an unreachable lock
store, a closed pipe and Ctrl-C end."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator import Emulator
from remediation.cli import output
from remediation.engine.reconciler import Reconciler
from tests.cli.conftest import Run
from tests.reconciler.helpers import (
    CNI,
    CUSTOMER_TABLE,
    NODE_SUBNET,
    ROOT,
    SEED_PATH,
    SETTINGS_PATH,
    SUB,
    arm_writes,
)

SEEDED = ["--settings", str(SETTINGS_PATH), "--emulator-seed", str(SEED_PATH)]
VPN_GATEWAY = (f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworkGateways/"
               "vpngw-hub")


def test_o_json_is_output_not_a_plan_file(cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """#24.17: `-o json` once matched `-out` by abbreviation and wrote a plan file named `json`."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("plan", "--target", CNI, *SEEDED, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["dryRun"] is True
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as stopped:  # no abbreviations: --tar is not --target
        cli("plan", "--tar", CNI, *SEEDED)
    assert stopped.value.code == 1


def test_global_options_before_the_subcommand(cli: Run) -> None:
    code, out, err = cli("--settings", str(SETTINGS_PATH), "--emulator-seed", str(SEED_PATH), "-o", "json",
                         "plan", "--target", CNI)
    assert code == 0, err
    assert json.loads(out)["target"].endswith("/aks-cni")
    # Given after the subcommand, the option wins over the one before it.
    code, out, _ = cli("-o", "json", "plan", "--target", CNI, *SEEDED, "-o", "text")
    assert code == 0 and out.startswith("target: ")


def test_terraform_spellings_and_the_saved_plan_line(cli: Run, live: Emulator, tmp_path: Path,
                                                     settings: Callable[..., str]) -> None:
    path = tmp_path / "aks.plan"
    code, out, err = cli("plan", f"-target={CNI}", f"-out={path}", "-detailed-exitcode", "--settings", settings())
    assert code == 2, err
    assert out.rstrip().splitlines()[-1] == (
        f"Saved the plan to {path}. To make exactly these changes, run `aks-remediation apply {path}` (or look "
        f"at it with `aks-remediation show {path}`).")
    assert path.exists() and arm_writes(live) == []
    code, out, err = cli("apply", "-auto-approve", str(path), "--settings", settings(), "-no-color")
    assert code == 0, err
    assert "converged: true" in out


def test_a_repeated_target_is_refused(cli: Run, live: Emulator, settings: Callable[..., str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli("plan", "--target", CNI, "-target", NODE_SUBNET, "--settings", settings())
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--target given twice" in err
    assert live.request_log == []


@pytest.mark.parametrize(("given", "says"), [
    (CNI, "its route tables, routes and subnet associations (no pruning)"),
    (NODE_SUBNET, "the whole REMEDIATION_SCOPE with pruning"),
    (VPN_GATEWAY, "a VPN gateway's P2S pool feeds every cluster"),
])
def test_every_plan_starts_with_what_the_target_expands_to(cli: Run, given: str, says: str) -> None:
    """#24.16: a subnet id does not narrow the plan, a VPN gateway id is a full sweep; the plan says so."""
    code, out, err = cli("plan", "--target", given, *SEEDED)
    assert code in (0, 3), err
    first = out.splitlines()[0]
    assert first.startswith(f"target: {output.shorten_ids(given)} -> ") and says in first
    code, out, _ = cli("plan", "--target", given, *SEEDED, "-o", "json")
    assert says in json.loads(out)["expansion"]


def test_text_shortens_ids_and_json_keeps_them(cli: Run) -> None:
    _, text, _ = cli("plan", "--target", CNI, *SEEDED)
    _, document, _ = cli("plan", "--target", CNI, *SEEDED, "-o", "json")
    assert SUB not in text and "/subscriptions/…/resourceGroups/rg-spoke/" in text
    assert all(SUB in change["address"] for change in json.loads(document)["changes"])
    assert "\033[" not in text  # not a terminal: no colours


def test_query_table_tsv_and_none(cli: Run) -> None:
    code, out, err = cli("status", *SEEDED, "--query", "clusters[?state=='skipped'].name")
    assert code == 0, err
    assert json.loads(out) == ["aks-kubenet"]
    _, table, _ = cli("status", *SEEDED, "-o", "table")
    header, rule, *rows = table.splitlines()
    assert header.split() == ["State", "Name", "Id"] and set(rule) <= {"-", " "}
    assert any(row.split()[:2] == ["skipped", "aks-kubenet"] for row in rows) and SUB not in table
    _, tsv, _ = cli("status", *SEEDED, "-o", "tsv")
    assert ["skipped", "aks-kubenet", f"/subscriptions/{SUB}/resourcegroups/rg-spoke/providers/"
            "Microsoft.ContainerService/managedClusters/aks-kubenet"] in [line.split("\t") for line in tsv.splitlines()]
    code, out, _ = cli("plan", "--target", CNI, *SEEDED, "-o", "none", "--detailed-exitcode")
    assert (code, out) == (2, "")


def test_bad_query_and_query_on_text_are_one_line(cli: Run, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli("status", *SEEDED, "--query", "clusters[?")
    assert code == 1 and out == "" and err.startswith("error: --query 'clusters[?'") and err.count("\n") == 1
    with pytest.raises(SystemExit) as stopped:
        cli("status", *SEEDED, "-o", "table", "--query", "clusters")
    assert stopped.value.code == 1 and "--query works on JSON" in capsys.readouterr().err


def test_colours_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert output.use_colour(False, Terminal()) is True
    assert output.use_colour(True, Terminal()) is False  # --no-color
    assert output.use_colour(False, io.StringIO()) is False  # a pipe or a file
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.use_colour(False, Terminal()) is False
    coloured = output.colour("x (dry run)\n  + create route a\n  - delete route b\n! conflict route c: d")
    assert coloured.splitlines()[0] == "x (dry run)"
    assert [line[:5] for line in coloured.splitlines()[1:]] == ["\033[32m", "\033[31m", "\033[1;3"]


# --------------------------------------------------------------------------------------------- failing honestly


def test_status_without_the_firewall_exits_1(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    """#24.2: a compliance gate must not pass green when FIREWALL_ID names nothing."""
    missing = CUSTOMER_TABLE.replace("routeTables/rt-spoke-nodes", "azureFirewalls/fw-nowhere")
    code, out, err = cli("status", "--settings", settings(FIREWALL_ID=missing), "--detailed-exitcode")
    assert code == 1
    assert err.splitlines() == [f"error: firewall not found (FIREWALL_ID): {missing}"]
    assert "firewall" in out


def _foreign_route_in_the_way(live: Emulator) -> None:
    live.put_foreign(f"{CUSTOMER_TABLE}/routes/to-appgw", {"properties": {
        "addressPrefix": "10.1.4.0/24", "nextHopType": "VnetLocal"}})


def test_a_blocked_plan_is_not_changes(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    """#24.3: a blocking conflict exits 1 with one `blocked:` line, with or without --detailed-exitcode."""
    _foreign_route_in_the_way(live)
    for extra in ((), ("--detailed-exitcode",), ("-o", "json")):
        code, out, err = cli("plan", "--target", CNI, "--settings", settings(), *extra)
        assert code == 1, extra
        assert ("1 blocking conflict" in out) if not extra or extra[0] != "-o" else json.loads(out)["summary"][
            "conflict"] == 1
        assert len(err.splitlines()) == 1 and err.startswith("blocked: ") and "to-appgw" in err
    assert arm_writes(live) == []


def test_prepare_subnet_refused_on_a_platform_subnet_is_blocked(cli: Run) -> None:
    """#24.3: `prepare-subnet --subnet .../GatewaySubnet --dry-run --detailed-exitcode` exited 0."""
    gateway_subnet = CUSTOMER_TABLE.replace("rg-spoke", "rg-hub").replace(
        "routeTables/rt-spoke-nodes", "virtualNetworks/vnet-hub/subnets/GatewaySubnet")
    code, out, err = cli("prepare-subnet", "--subnet", gateway_subnet, "--dry-run", "--detailed-exitcode", *SEEDED)
    assert code == 1 and "1 blocking conflict" in out
    assert err.splitlines() == [line for line in err.splitlines() if line.startswith("blocked: ")] and err


def test_an_apply_blocked_on_one_write_says_why(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    _foreign_route_in_the_way(live)
    code, out, err = cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")
    assert code == 1
    assert [line for line in err.splitlines() if not line.startswith("WARNING")][-1].startswith("blocked: ")
    assert "to-appgw" in err
    # The other writes were made; the one in the way was not, and the run says it has not converged.
    assert arm_writes(live) and "converged: false" in out


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def test_an_unreachable_lock_store_stops_before_the_plan(cli: Run, live: Emulator, settings: Callable[..., str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """#24.4: storage down ends a writing command in seconds, in one line, before anything is read or written."""
    port = _refused_port()
    monkeypatch.setenv("AzureWebJobsStorage", (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"))
    started = time.monotonic()
    code, out, err = cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: the lock store (AzureWebJobsStorage")
    assert "nothing was planned or written" in err
    assert time.monotonic() - started < 30
    assert live.request_log == []


def test_ctrl_c_ends_with_130_and_one_line(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Reconciler, "reconcile_combined", interrupted)
    code, out, err = cli("plan", "--target", CNI, *SEEDED)
    assert code == 130 and out == ""
    assert err.splitlines() == ["interrupted (Ctrl-C): writes already sent stand; run `plan` to see where things are"]


def test_a_closed_pipe_is_not_a_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARM_", "AZURE_", "REMEDIATION_"))}
    command = (f"{sys.executable} -m remediation plan --target {CNI} --settings {SETTINGS_PATH} "
               f"--emulator-seed {SEED_PATH} -o json")

    def piped(reader: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", f"set -o pipefail; {command} | {reader}"], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=120)

    # `head -c 1` may leave after the whole plan fit in the pipe's buffer (exit 0) or before (141): either
    # way no traceback. A reader gone before anything is written (`true`) is always the closed pipe: 141.
    early = piped("head -c 1")
    assert early.stdout == "{" and early.returncode in (0, 141)
    gone = piped("true")
    for done in (early, gone):
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert gone.returncode == 141
