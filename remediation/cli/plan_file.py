"""Saved plans: `plan -out FILE` writes one, `apply FILE` applies exactly it or refuses.

The file holds the target, a fingerprint of the settings that shape a plan, and the plan as the documented
JSON (every change with its before/after, i.e. the state it was computed from). `apply FILE` plans again
from a fresh read; the reconciler's approve callback accepts only when the fresh changes equal the saved
ones, so a plan whose state changed in between is refused with zero writes (terraform's "saved plan is
stale"). Reasons (the human text beside a change) are not compared: they describe, they do not write.
The format and why `before`/`after` stand in for etags: docs/cli.md §2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediation import __version__
from remediation.core.config import Settings
from remediation.core.errors import RemediationInputError
from remediation.core.ids import id_key
from remediation.core.model import Plan, ReconcileResult, Target, TargetKind
from remediation.views import render

FORMAT = "aks-egress-remediation/plan"
FORMAT_VERSION = 1
# Settings that do not change what is planned: where ARM is reached (an emulator's port changes per run)
# and whether writes are allowed. Every other setting, including ones added later, is fingerprinted.
_NOT_PLANNED = frozenset({"arm_endpoint", "mode", "principal_id", "result_topic_endpoint"})


# The setting a Settings field comes from, where it is not the field's name in capitals.
_SETTING_NAMES = {"scope": "REMEDIATION_SCOPE", "cloud": "AZURE_CLOUD"}


def _planned_values(settings: Settings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name not in _NOT_PLANNED}


def settings_fingerprint(settings: Settings) -> str:
    text = json.dumps(_planned_values(settings), sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def setting_fingerprints(settings: Settings) -> dict[str, str]:
    """One short hash per planned setting (no values in the file), so a mismatch can name the setting."""
    return {name: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]
            for name, value in sorted(_planned_values(settings).items())}


@dataclass(frozen=True)
class SavedPlan:
    path: str
    target: Target
    fingerprint: str
    changes: tuple[Mapping[str, Any], ...]
    per_setting: Mapping[str, str] = dataclasses.field(default_factory=dict)  # setting_fingerprints, if saved


def _changes_json(plan_: Plan) -> list[dict[str, Any]]:
    document = render.to_json(ReconcileResult(target=plan_.target, dry_run=True, plan=plan_))
    changes: list[dict[str, Any]] = document["changes"]
    return changes


def save(path: str, target: Target, settings: Settings, result: ReconcileResult) -> None:
    document = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "createdBy": f"aks-egress-remediation {__version__}",
        "target": {"kind": target.kind.value, "id": target.id},
        "settingsFingerprint": settings_fingerprint(settings),
        "settingFingerprints": setting_fingerprints(settings),
        "plan": render.to_json(result),
    }
    try:
        Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise RemediationInputError(f"-out: cannot write {path}: {exc}") from exc


REVIEWED = "the plan approved at the prompt"


def reviewed(plan_: Plan, target: Target, settings: Settings) -> SavedPlan:
    """The plan a person approved at the prompt, held like a saved one for the per-part checks of the apply."""
    return SavedPlan(REVIEWED, target, settings_fingerprint(settings),
                     tuple(_changes_json(plan_)))


def load(path: str) -> SavedPlan:
    """The saved plan, or one RemediationInputError naming the file and what is wrong with it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RemediationInputError(f"saved plan: cannot read {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RemediationInputError(f"saved plan: {path} is not a plan saved by `plan -out`")
    if document.get("formatVersion") != FORMAT_VERSION:
        raise RemediationInputError(f"saved plan: {path} has format version {document.get('formatVersion')!r}; "
                                    f"this version reads {FORMAT_VERSION}: run `plan -out` again")
    try:
        target = Target(TargetKind(document["target"]["kind"]), str(document["target"]["id"]))
        fingerprint = str(document["settingsFingerprint"])
        changes = tuple(dict(c) for c in document["plan"]["changes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RemediationInputError(f"saved plan: {path} is incomplete ({exc}): run `plan -out` again") from exc
    per_setting = document.get("settingFingerprints")
    per_setting = {str(k): str(v) for k, v in per_setting.items()} if isinstance(per_setting, dict) else {}
    return SavedPlan(path, target, fingerprint, changes, per_setting)


def check_settings(saved: SavedPlan, settings: Settings) -> None:
    if saved.fingerprint != settings_fingerprint(settings):
        now = setting_fingerprints(settings)
        differ = sorted(_SETTING_NAMES.get(name, name.upper()) for name in now.keys() | saved.per_setting.keys()
                        if now.get(name) != saved.per_setting.get(name))
        which = (f"{', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'}" if saved.per_setting and differ
                 else "the settings fingerprint differs")
        raise RemediationInputError(f"saved plan {saved.path} was made with other settings than these "
                                    f"({which}): run `plan -out` again")


def _key(change: Mapping[str, Any]) -> tuple[Any, ...]:
    return (change.get("action"), change.get("kind"), id_key(str(change.get("address", ""))),
            json.dumps(change.get("before"), sort_keys=True), json.dumps(change.get("after"), sort_keys=True))


def _describe(change: Mapping[str, Any] | None) -> str:
    if change is None:
        return "nothing"
    return f"{change.get('action')} {change.get('kind')} {change.get('address')}"


# The firewall's own change kinds: a routing target and its firewall follow-up are approved one at a time
# (docs/architecture.md section 2), each against its own part of the saved plan.
_FIREWALL_KINDS = frozenset({"ruleCollectionGroup", "firewallNetworkRuleCollection",
                             "firewallApplicationRuleCollection"})


def _part_of(fresh: Plan, changes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    firewall = fresh.target.startswith("firewall:")
    return [c for c in changes if (c.get("kind") in _FIREWALL_KINDS) is firewall]


def _label(saved: SavedPlan) -> str:
    return saved.path if saved.path == REVIEWED else f"saved plan {saved.path}"


def staleness(saved: SavedPlan, fresh: Plan, *, whole: bool = False) -> str | None:
    """None when the fresh plan makes exactly the saved changes; else one line naming the first difference.
    `whole`: `fresh` is the combined plan of the target and its follow-ups; otherwise it is one target's plan
    and is compared with its own part (routing or firewall) of the saved changes."""
    now: Sequence[Mapping[str, Any]] = _changes_json(fresh)
    expected = list(saved.changes) if whole else _part_of(fresh, saved.changes)
    if [_key(c) for c in now] == [_key(c) for c in expected]:
        return None
    for index in range(max(len(now), len(expected))):
        was = expected[index] if index < len(expected) else None
        new = now[index] if index < len(now) else None
        if was is None or new is None or _key(was) != _key(new):
            return (f"{_label(saved)} is stale: the state changed since it was made (saved: "
                    f"{_describe(was)}; now: {_describe(new)}); nothing was written: run `plan -out` again")
    return f"{_label(saved)} is stale; nothing was written: run `plan -out` again"
