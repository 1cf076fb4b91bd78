"""The compliance of everything in scope, read now: one fleet observation, then the pure assessment.

Shared by `python -m remediation status`, `GET /api/compliance` and the drift sweep's audit row, so all three
show the same document (remediation/views/render_status.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from remediation.planning import compliance

if TYPE_CHECKING:
    from remediation.engine.reconciler import Reconciler


def scope_compliance(reconciler: Reconciler) -> compliance.ComplianceReport:
    snapshot, calls = reconciler.observe_scope()
    return compliance.assess(snapshot, reconciler.settings, scope=reconciler.scope_target().id, arm_calls=calls)
