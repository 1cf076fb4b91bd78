"""ARM limits the emulator enforces (docs/platform-notes.md §8, §9), and the errors it answers.

Numbers: 400 routes per route table (azure-subscription-service-limits); rule collection groups per firewall
policy: 100 for policies created after July 2022 (50 before; azure-docs includes/firewall-limits.md, and
third-party summaries disagree, so it is a setting); rule collection group size 2 MB (1 MB before July 2022).
The error codes and messages are guesses (emulator/README.md, "Guessed ARM facts"): no public recording shows
them. Every limit can be changed with Emulator(limits={...}).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import ArmError, bad_request


@dataclass(frozen=True)
class Limits:
    routes_per_table: int = 400
    rcgs_per_policy: int = 100
    rcg_size_bytes: int = 2 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> Limits:
        limits = cls()
        if not settings:
            return limits
        unknown = set(settings) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown limits {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return replace(limits, **{k: int(v) for k, v in settings.items()})


def too_many_routes(table_id: str, count: int, limit: int) -> ArmError:
    return bad_request(
        "RouteTableRoutesLimitExceeded",
        f"Route table {table_id} would have {count} routes; a route table can have at most {limit} routes.",
    )


def too_many_rcgs(policy_id: str, limit: int) -> ArmError:
    return bad_request(
        "FirewallPolicyRuleCollectionGroupsLimitExceeded",
        f"Firewall policy {policy_id} already has {limit} rule collection groups, the most a policy can have.",
    )


def rcg_too_large(rcg_id: str, size_bytes: int, limit: int) -> ArmError:
    return bad_request(
        "FirewallPolicyRuleCollectionGroupSizeExceeded",
        f"Rule collection group {rcg_id} would be {size_bytes / (1024 * 1024):.6f} MB; the limit is "
        f"{limit / (1024 * 1024):.0f} MB.",
    )
