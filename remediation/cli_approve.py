"""Who approves the writes of `apply` and `sweep --apply`: the reconciler's `approve(Plan) -> bool` callback.

- `--auto-approve`: every plan.
- a terminal: the plan is shown and only the answer `yes` approves it (terraform's prompt); a plan without
  writes needs no answer.
- a saved plan (`apply FILE`): only a fresh plan whose changes equal the saved ones (cli_plan_file).
Each refusal keeps its reason, which the CLI prints as its one error line.
"""

from __future__ import annotations

from collections.abc import Callable

from remediation import render
from remediation.cli_plan_file import SavedPlan, staleness
from remediation.model import Plan, ReconcileResult

Decide = Callable[[Plan], str | None]  # None = approved, else the reason for refusing
PROMPT = "Do you want to make these changes? Only 'yes' will be accepted to approve.\n  Enter a value: "


class Approval:
    """A callable for `Reconciler.reconcile(approve=...)` that remembers why it refused."""

    def __init__(self, decide: Decide) -> None:
        self._decide = decide
        self.refusal: str | None = None

    def __call__(self, plan: Plan) -> bool:
        self.refusal = self._decide(plan)
        return self.refusal is None


def auto() -> Approval:
    return Approval(lambda plan: None)


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
    return Approval(lambda plan: staleness(saved, plan))
