"""FIREWALL_IDS (several firewalls, issue #21) beside FIREWALL_ID (the one-firewall form): parsed at start-up."""

from __future__ import annotations

import pytest

from remediation.core.config import Settings, load_settings
from remediation.core.errors import ConfigError

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
FW1 = f"{SUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network/azureFirewalls/fw-westeurope"
FW2 = f"{SUB}/resourceGroups/rg-hub-eus/providers/Microsoft.Network/azureFirewalls/fw-eastus"
FW3 = f"{SUB}/resourceGroups/rg-vwan/providers/Microsoft.Network/azureFirewalls/fw-vhub-weu"


def _load(**env: str) -> Settings:
    return load_settings({"REMEDIATION_SCOPE": SUB, **env})


def test_one_firewall_form_is_unchanged() -> None:
    s = _load(FIREWALL_ID=FW1)
    assert s.firewall_id == FW1 and s.firewall_ids == () and s.firewalls == (FW1,) and not s.several_firewalls


def test_firewall_ids_alone_lists_every_firewall_first_is_the_primary() -> None:
    s = _load(FIREWALL_IDS=f"{FW2}, {FW1},{FW3}")
    assert s.firewall_id == FW2 and s.firewalls == (FW2, FW1, FW3) and s.several_firewalls


def test_both_set_consistent_puts_firewall_id_first_and_counts_repeats_once() -> None:
    s = _load(FIREWALL_ID=FW3, FIREWALL_IDS=f"{FW1},{FW3},{FW1.upper().replace('/SUBSCRIPTIONS', '/subscriptions')}")
    assert s.firewall_id == FW3 and s.firewalls == (FW3, FW1)


def test_both_set_disagreeing_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ConfigError) as err:
        _load(FIREWALL_ID=FW3, FIREWALL_IDS=f"{FW1},{FW2}")
    assert "FIREWALL_IDS" in str(err.value) and "does not list FIREWALL_ID" in str(err.value)


@pytest.mark.parametrize("bad", [
    f"{FW1},{SUB}/resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/p",
    f"{FW1},not-an-id",
    " , ",
])
def test_a_bad_entry_is_refused_naming_firewall_ids(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(FIREWALL_IDS=bad)
    assert "FIREWALL_IDS" in str(err.value)


def test_neither_set_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        _load()
    assert "FIREWALL_ID" in str(err.value)


def test_for_firewall_names_the_pass_firewall_and_keeps_the_list() -> None:
    s = _load(FIREWALL_IDS=f"{FW1},{FW2}")
    other = s.for_firewall(FW2.lower())
    assert other.firewall_id == FW2 and other.firewalls == (FW1, FW2)
    assert s.configures_firewall(FW2) and not s.configures_firewall(FW3)


def test_targets_per_firewall_and_a_policy_event_names_its_policy() -> None:
    from remediation.core.errors import UnsupportedTargetError
    from remediation.core.model import Target, TargetKind
    from remediation.engine.reconciler import Reconciler
    from remediation.planning import intake

    settings = _load(FIREWALL_IDS=f"{FW1},{FW2}")
    reconciler = Reconciler(settings)
    assert reconciler.resolve(FW2.lower()) == Target(TargetKind.FIREWALL, FW2)  # its own target and lease key
    assert reconciler.firewall_targets() == (Target(TargetKind.FIREWALL, FW1), Target(TargetKind.FIREWALL, FW2))
    assert reconciler.follow_ups_of(reconciler.scope_target()) == reconciler.firewall_targets()
    policy = f"{SUB}/resourceGroups/rg-hub-eus/providers/Microsoft.Network/firewallPolicies/fwpol-eastus"
    assert reconciler.resolve(f"{policy}/ruleCollectionGroups/rmd-aks-runbook") == Target(TargetKind.FIREWALL, policy)
    with pytest.raises(UnsupportedTargetError) as err:
        reconciler.resolve(FW3)
    assert "FIREWALL_IDS" in str(err.value)
    # A queued request is held to today's settings: a firewall no longer configured is refused.
    assert intake.scope_refusal(settings, Target(TargetKind.FIREWALL, FW3)) is not None
    assert intake.scope_refusal(settings, Target(TargetKind.FIREWALL, FW2)) is None
    assert intake.scope_refusal(settings, Target(TargetKind.FIREWALL, policy)) is None
    # One firewall: every firewall-side id maps to it, as before.
    one = Reconciler(_load(FIREWALL_ID=FW1))
    assert one.resolve(f"{policy}/ruleCollectionGroups/g") == Target(TargetKind.FIREWALL, FW1)
