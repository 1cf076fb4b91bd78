"""What a target expands to, said in one line at the top of every plan (and in `--help`, remediation/cli/help.py).

terraform users expect `-target` to narrow a plan to the named object. Here a target names what *triggers* a
reconcile; what is planned follows from it (remediation/engine/reconciler.py `resolve` and `_routing_step`):

- a cluster (or one of its agent pools): that cluster's route tables, routes and associations, no pruning;
  then the firewall's owned rule collection group, computed from every cluster in scope;
- an App Gateway: the clusters whose ingress it is (no cluster: the whole scope, with pruning);
- a VNet, subnet, route table or route: the whole REMEDIATION_SCOPE with pruning (which clusters it affects
  is only known from the whole picture), so owned routes in other tables may be deleted;
- a VPN gateway: its P2S pool feeds every cluster's routes and rules: the whole scope, with pruning;
- a firewall, its policy or a rule collection group: the configured firewall's owned group only;
- `sweep`: the whole scope with pruning, then the firewall; `prepare-subnet`: that subnet's route table only.
"""

from __future__ import annotations

from remediation.core import ids
from remediation.core.model import Target, TargetKind

_SCOPE = "the whole REMEDIATION_SCOPE with pruning (owned routes no cluster needs are deleted, in any table)"


def _given_type(given: str) -> str:
    try:
        return (ids.parse_resource_id(given).resource_type or "id").rsplit("/", 1)[-1]
    except ValueError:
        return "id"


def expansion(given: str | None, target: Target) -> str:
    """`target: <given> -> <what is planned>` for the top of a plan."""
    kind = target.kind
    if kind is TargetKind.CLUSTER:
        what = (f"cluster {target.id}: its route tables, routes and subnet associations (no pruning), then the "
                "firewall's owned rule collection group")
    elif kind is TargetKind.GATEWAY:
        what = (f"the clusters whose ingress App Gateway is {target.id} (none: {_SCOPE}), then the firewall's "
                "owned rule collection group")
    elif kind is TargetKind.NETWORK:
        what = f"{_SCOPE}, then the firewall's owned rule collection group: a {_given_type(target.id)} id " \
               "does not narrow the plan"
    elif kind is TargetKind.FIREWALL:
        what = f"the owned rule collection group of firewall {target.id} (from every cluster in scope)"
    elif kind is TargetKind.SUBNET:
        what = f"subnet {target.id}: its route table and association only (prepare-subnet)"
    elif given is not None:
        what = f"{_SCOPE}, then the firewall: a VPN gateway's P2S pool feeds every cluster"
    else:
        what = f"{_SCOPE}, then the firewall's owned rule collection group"
    return f"target: {given or target.id} -> {what}"
