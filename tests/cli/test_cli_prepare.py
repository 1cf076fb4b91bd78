"""`prepare-subnet` follows the rules of the prepared subnets (remediation/planning/prepare.py): it shows its
plan and asks like `apply`, refuses (one reason, zero writes) where the next sweep would remove what it wrote
(issue #24.11: a loadBalancer cluster's node subnet, an App Gateway subnet), and what it prepares, the next
sweep keeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator import Emulator
from remediation.cli.approve import PROMPT
from remediation.cli.output import shorten_ids
from tests.cli.conftest import Run
from tests.cli.test_cli_approval import Terminal
from tests.reconciler.helpers import APPGW_SUBNET, NODE_SUBNET, SPOKE, VNET, arm_writes

NEW_SUBNET = f"{VNET}/subnets/snet-next"
NEW_TABLE = f"{SPOKE}/routeTables/rmd-vnet-spoke-snet-next"


@pytest.mark.parametrize(("subnet", "why"), [
    (NODE_SUBNET, "it hosts cluster aks-cni with outboundType loadBalancer"),
    (APPGW_SUBNET, "it hosts App Gateway"),
], ids=["loadBalancer-node-subnet", "app-gateway-subnet"])
def test_prepare_subnet_refuses_where_the_next_sweep_would_undo_it(cli: Run, live: Emulator,
                                                                   settings: Callable[..., str], subnet: str,
                                                                   why: str) -> None:
    code, out, err = cli("prepare-subnet", "--subnet", subnet, "--settings", settings(), "--auto-approve")
    assert code == 1, err
    assert why in out and "converged: false" in out
    assert arm_writes(live) == []
    code, out, _ = cli("prepare-subnet", "--subnet", subnet, "--settings", settings(), "--dry-run")
    assert "refused to prepare" in out and why in out and arm_writes(live) == []


def test_prepare_subnet_asks_like_apply_and_the_next_sweep_keeps_what_it_wrote(
        cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    live.put_foreign(NEW_SUBNET, {"properties": {"addressPrefix": "10.1.16.0/24"}})
    live.clear_log()
    code, out, err = cli("prepare-subnet", "--subnet", NEW_SUBNET, "--settings", settings())
    assert (code, out) == (1, "") and "prepare-subnet needs --auto-approve" in err
    assert live.request_log == []

    terminal = Terminal("no")
    code, out, err = cli("prepare-subnet", "--subnet", NEW_SUBNET, "--settings", settings(), ask=terminal)
    assert code == 1 and terminal.prompts == [PROMPT]
    assert shorten_ids(f"+ create routeTable {NEW_TABLE}") in out and arm_writes(live) == []

    terminal = Terminal("yes")
    code, out, err = cli("prepare-subnet", "--subnet", NEW_SUBNET, "--settings", settings(), ask=terminal)
    assert code == 0, err
    assert terminal.prompts == [PROMPT] and "converged: true" in out
    table = live.get(NEW_TABLE)
    assert table is not None and {r["name"] for r in table["properties"]["routes"]} >= {"rmd-default"}

    # The next sweep keeps it: no route of the prepared table is planned away.
    code, out, _ = cli("sweep", "--settings", settings())
    assert code == 0 and shorten_ids(f"{NEW_TABLE}/routes/rmd-default") not in out
