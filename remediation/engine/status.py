"""The compliance of everything in scope, read now: one fleet observation, then the pure assessment.

Shared by `python -m remediation status`, `GET /api/compliance` and the drift sweep's audit row, so all three
show the same document (remediation/views/render_status.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from remediation.engine import effective_observe
from remediation.planning import compliance

if TYPE_CHECKING:
    from remediation.engine.reconciler import Reconciler


def scope_compliance(reconciler: Reconciler) -> compliance.ComplianceReport:
    # The reads only compliance needs (node resource group load balancers, and with VERIFY_EFFECTIVE_ROUTES the
    # NICs' effective routes: remediation/engine/effective_observe.py) are made within this observation only.
    with effective_observe.wanted():
        snapshot, by_firewall, calls = reconciler.observe_scope_by_firewall()
    # With FIREWALL_IDS each cluster's rules are judged in its own firewall's policy (by_firewall).
    return compliance.assess(snapshot, reconciler.settings, scope=reconciler.scope_target().id, arm_calls=calls,
                             by_firewall=by_firewall if reconciler.settings.several_firewalls else None)
