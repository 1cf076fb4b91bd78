"""Who approves the writes of `apply` and `sweep --apply`: the reconciler's `approve(Plan) -> bool` callback.

- `--auto-approve`: every plan.
- a terminal: the plan is shown and only the answer `yes` approves it (terraform's prompt); a plan without
  writes needs no answer.
- a saved plan (`apply FILE`): only a fresh plan whose changes equal the saved ones (cli_plan_file).
Each refusal keeps its reason, which the CLI prints as its one error line.
"""

from __future__ import annotations

from collections.abc import Callable

from remediation.cli.plan_file import SavedPlan, staleness
from remediation.core.model import Plan, ReconcileResult
from remediation.views import render

Decide = Callable[[Plan], str | None]  # None = approved, else the reason for refusing
PROMPT = "Do you want to make these changes? Only 'yes' will be accepted to approve.\n  Enter a value: "


class Approval:
    """A callable for `Reconciler.reconcile(approve=...)` that remembers why it refused. `reviews`: it looks
    at the whole plan once before any write (the CLI shows the target and its firewall follow-up together),
    and the writes then need `matching` per part."""

    def __init__(self, decide: Decide, *, reviews: bool = True) -> None:
        self._decide = decide
        self.reviews = reviews
        self.refusal: str | None = None

    def __call__(self, plan: Plan) -> bool:
        self.refusal = self._decide(plan)
        return self.refusal is None


def auto() -> Approval:
    return Approval(lambda plan: None, reviews=False)


def interactive(ask: Callable[[str], str], show: Callable[[str], None]) -> Approval:
    """Show the plan with `show`, ask with `ask` (input() on a terminal; tests inject their own)."""

    def decide(plan: Plan) -> str | None:
        if not plan.has_changes:
            return None
        show(render.render_text(ReconcileResult(target=plan.target, dry_run=True, plan=plan)))
        try:
            answer = ask(PROMPT)
        except EOFError:
            answer = ""
        if answer.strip() == "yes":
            return None
        return "apply cancelled: only 'yes' approves the plan; nothing was written"

    return Approval(decide)


def saved_plan(saved: SavedPlan) -> Approval:
    """The review of a saved plan: the fresh combined plan (target and follow-ups) equals the saved one."""
    return Approval(lambda plan: staleness(saved, plan, whole=True))


def matching(reviewed: SavedPlan) -> Approval:
    """The writes of each target (routing, then the firewall inside its lease) go ahead only while that
    target's fresh plan still equals its part of what was reviewed: a change in between is not written."""
    return Approval(lambda plan: staleness(reviewed, plan), reviews=False)
