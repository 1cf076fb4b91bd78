"""Pure: a public load balancer on a cluster whose default route goes to the firewall breaks return traffic.

Inbound packets reach the load balancer's public IP directly; the replies leave the node subnet by its default
route, to the firewall, which never saw the connection and drops them (asymmetric routing). The AKS and Azure
Firewall docs give the fixes: publish the service through a DNAT rule on the firewall's public IP (to an internal
load balancer), or route the clients' prefixes back with next hop Internet (docs/platform-notes.md,
"Asymmetric routing").
"""

from __future__ import annotations

from collections.abc import Sequence

from remediation.core import net
from remediation.core.model import FrontendRead
from remediation.planning.flows import Flow, Verdict

FIX = ("fix: publish the service through a DNAT rule on the firewall's public IP to an internal load balancer "
       "(service.beta.kubernetes.io/azure-load-balancer-internal), or add a route for the clients' prefixes with "
       "next hop Internet on the node subnet's route table")


def default_to_firewall(flows: Sequence[Flow]) -> Flow | None:
    """The cluster's internet flow when every route that carries it goes to the firewall."""
    return next((f for f in flows if f.destination == net.DEFAULT_PREFIX and f.verdict is Verdict.FIREWALL), None)


def asymmetric_lines(flows: Sequence[Flow], read: FrontendRead | None) -> tuple[str, ...]:
    """One line per public frontend of a cluster whose default route goes to the firewall; a failed read of the
    node resource group is a line too (the check could not be made)."""
    internet = default_to_firewall(flows)
    if internet is None or read is None:
        return ()
    if read.error is not None:
        return (f"asymmetric routing not checked: {read.error}",)
    route = "; ".join(r.describe() for r in internet.carriers)
    return tuple(f"public load balancer {fe.load_balancer} frontend {fe.name} (public IP {fe.public_ip}) on a "
                 f"cluster whose default route goes to the firewall ({route}): replies to its clients are dropped "
                 f"by the firewall (asymmetric routing); {FIX}" for fe in read.frontends)
