"""Request-body validation the Network RP performs before accepting a write.

Codes follow what ARM is seen to return where known (MissingNextHopIpAddress is recorded in a terraform
log, InvalidAddressPrefixFormat / InvalidResourceReference are the Network RP's usual codes); the others
are plausible guesses and are listed as such in emulator/README.md.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .errors import ArmError, bad_request

NEXT_HOP_TYPES = (
    "VirtualNetworkGateway",
    "VnetLocal",
    "Internet",
    "VirtualAppliance",
    "VirtualApplianceEcmp",
    "None",
)
# Routes may name a service tag instead of a CIDR (e.g. "AzureCloud.westeurope").
_SERVICE_TAG = re.compile(r"^[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]+)?$")


def is_cidr(text: Any) -> bool:
    if not isinstance(text, str) or "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _prefix_error(prefix: Any, resource_id: str) -> ArmError:
    return bad_request(
        "InvalidAddressPrefixFormat",
        f"Address prefix {prefix} of resource {resource_id} is not formatted correctly. "
        "It should follow CIDR notation, for example 10.0.0.0/24.",
    )


def validate_route(route_id: str, props: dict[str, Any]) -> None:
    """Validate one route's properties (docs/arm-notes.md §2.1)."""
    name = route_id.rsplit("/", 1)[-1]
    prefix = props.get("addressPrefix")
    if not (is_cidr(prefix) or (isinstance(prefix, str) and _SERVICE_TAG.match(prefix))):
        raise _prefix_error(prefix, route_id)
    hop = props.get("nextHopType")
    canonical = {h.lower(): h for h in NEXT_HOP_TYPES}
    if not isinstance(hop, str) or hop.lower() not in canonical:
        # An enum value the RP cannot deserialize gives the generic "Cannot parse the request." answer.
        raise bad_request(
            "InvalidRequestFormat",
            "Cannot parse the request.",
            details=[
                {
                    "code": "InvalidJsonReferenceWrongType" if hop is not None else "MissingJsonReference",
                    "message": f"Value '{hop}' of property 'nextHopType' in route {name} is not one of "
                    f"{', '.join(NEXT_HOP_TYPES)}.",
                }
            ],
        )
    ip = props.get("nextHopIpAddress")
    if canonical[hop.lower()] == "VirtualAppliance":
        if not ip:
            raise bad_request(
                "MissingNextHopIpAddress",
                f"NextHopIpAddress cannot be Null or Empty in route {name} "
                "when NextHopType is VirtualAppliance.",
            )
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise bad_request(
                "InvalidNextHopIpAddress", f"NextHopIpAddress {ip} in route {name} is not a valid IP address."
            ) from None
    elif ip:
        raise bad_request(
            "NextHopIpAddressNotAllowed",
            f"NextHopIpAddress {ip} is not allowed in route {name} when NextHopType is {hop}. "
            "Next hop IP address is only allowed when NextHopType is VirtualAppliance.",
        )


def validate_subnet_prefix(subnet_id: str, props: dict[str, Any]) -> None:
    prefixes: list[Any] = []
    if props.get("addressPrefix") is not None:
        prefixes.append(props["addressPrefix"])
    prefixes.extend(props.get("addressPrefixes") or [])
    for prefix in prefixes:
        if not is_cidr(prefix):
            raise _prefix_error(prefix, subnet_id)


def validate_rcg(rcg_id: str, props: dict[str, Any]) -> None:
    priority = props.get("priority")
    if not isinstance(priority, int) or not 100 <= priority <= 65000:
        raise bad_request(
            "FirewallPolicyRuleCollectionGroupInvalidPriorityValue",
            f"Rule Collection Group {rcg_id.rsplit('/', 1)[-1]} has invalid priority value {priority}. "
            "Priority must be between 100 and 65000.",
        )
    for rc in props.get("ruleCollections") or []:
        rc_priority = rc.get("priority") if isinstance(rc, dict) else None
        if not isinstance(rc_priority, int) or not 100 <= rc_priority <= 65000:
            raise bad_request(
                "FirewallPolicyRuleCollectionInvalidPriorityValue",
                f"Rule Collection {rc.get('name') if isinstance(rc, dict) else rc} has invalid priority "
                f"value {rc_priority}. Priority must be between 100 and 65000.",
            )
