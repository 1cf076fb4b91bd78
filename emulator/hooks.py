"""Per-type behaviour of the store, registered by type instead of `type_key ==` chains.

Each resource type (resource_types.TYPES) may have:

* `normalize(store, body, existing, state)`: completes a top-level PUT body the way the RP does (children
  normalised, readonly values kept, addresses allocated);
* `validate(store, resource_id, properties, parent)`: any number, run in order on every PUT of the type (and of
  embedded children: a route inside a route table PUT too); raise an `ArmError` to refuse the write;
* `deletable(store, rid, existing)`: raises the error ARM answers when the resource cannot be deleted yet.

Sub-resources that are GET-only views of a resource (e.g. `{cluster}/outboundNetworkDependenciesEndpoints`)
register a reader for `(parent type key, segment)`; POST actions on a resource (e.g. a NIC's
`effectiveRouteTable`) register an action for `(type key, segment)`, answered as a long-running operation
(server.py); `/_emulator/<name>` control endpoints a module needs register with `register_control`.

The HTTP routing (server.py `ROUTES`) knows URL shapes only; what a type does lives here. store.py registers
the built-in hooks; another module adds its own with `register(...)` / `register_subresource_get(...)` /
`register_action(...)` at import (emulator/emulator.py imports such modules, e.g. egress_support).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .resource_types import ResourceId

# The first argument of every hook is the store (emulator.store.Store), typed Any so that this module stays
# below the store in the emulator's layers (pyproject.toml, import-linter).
Store = Any
NormalizeHook = Callable[[Store, dict[str, Any], "dict[str, Any] | None", str], None]
# (store, resource id, properties, parent body or None): the parent of an embedded child (a subnet's VNet as
# written), or the policy of an RCG.
ValidateHook = Callable[[Store, str, dict[str, Any], "dict[str, Any] | None"], None]
DeletableHook = Callable[[Store, ResourceId, dict[str, Any]], None]
# (store, parent resource id, api-version) -> the GET body; raise ArmError for an error answer.
SubresourceGet = Callable[[Store, ResourceId, str], dict[str, Any]]
# (store, resource id, api-version, request body or None) -> the operation's result body (what the poll of the
# operation's Location answers once it has succeeded); raise ArmError to refuse the POST.
Action = Callable[[Store, ResourceId, str, Any], dict[str, Any]]
# (store, method, JSON payload) -> (status, body) of a `/_emulator/<name>` control request.
Control = Callable[[Store, str, Any], "tuple[int, dict[str, Any]]"]


@dataclass(frozen=True)
class TypeHooks:
    normalize: NormalizeHook | None = None
    validate: tuple[ValidateHook, ...] = field(default=())
    deletable: DeletableHook | None = None


_HOOKS: dict[str, TypeHooks] = {}
_SUBRESOURCES: dict[tuple[str, str], SubresourceGet] = {}
_ACTIONS: dict[tuple[str, str], tuple[Action, float]] = {}
_CONTROLS: dict[str, Control] = {}


def register(
    type_key: str,
    *,
    normalize: NormalizeHook | None = None,
    validate: ValidateHook | None = None,
    deletable: DeletableHook | None = None,
) -> None:
    """Add hooks for a type (lower-case type key). A normalize/deletable hook replaces the previous one;
    validators accumulate."""
    current = _HOOKS.get(type_key, TypeHooks())
    _HOOKS[type_key] = replace(
        current,
        normalize=normalize or current.normalize,
        validate=current.validate + ((validate,) if validate else ()),
        deletable=deletable or current.deletable,
    )


def hooks_for(type_key: str) -> TypeHooks:
    return _HOOKS.get(type_key, TypeHooks())


def register_subresource_get(parent_type_key: str, segment: str, reader: SubresourceGet) -> None:
    """Serve `GET {parent id}/{segment}` (segment compared case-insensitively)."""
    _SUBRESOURCES[(parent_type_key.lower(), segment.lower())] = reader


def subresource_get(parent_type_key: str, segment: str) -> SubresourceGet | None:
    return _SUBRESOURCES.get((parent_type_key.lower(), segment.lower()))


def register_action(type_key: str, segment: str, action: Action, *, lro_seconds: float = 2.0) -> None:
    """Serve `POST {resource id}/{segment}` as a long-running operation: 202 with `Location` and
    `Azure-AsyncOperation`; the operation lasts `lro_seconds` (scaled by the emulator's time_factor) and its
    Location then answers 200 with the body `action` returned (computed when the POST arrives)."""
    _ACTIONS[(type_key.lower(), segment.lower())] = (action, lro_seconds)


def action(type_key: str, segment: str) -> tuple[Action, float] | None:
    return _ACTIONS.get((type_key.lower(), segment.lower()))


def register_control(name: str, handler: Control) -> None:
    """Serve `/_emulator/<name>` (any method; the handler answers 4xx for the ones it does not take)."""
    _CONTROLS[name.lower().strip("/")] = handler


def control(name: str) -> Control | None:
    return _CONTROLS.get(name.lower().strip("/"))
