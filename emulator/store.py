"""Resource state, write semantics and the consistency ARM keeps between resources.

Bodies are stored exactly as an ARM GET returns them.  Subnets and routes live embedded in their parent
(`properties.subnets` / `properties.routes`) as the Network RP returns them; rule collection groups are
separate documents under their policy.  All lookups are case-insensitive (docs/arm-notes.md §4.1).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import hooks, hub_refs, peering
from . import resource_types as rt
from . import resources as rm
from .errors import ArmError, bad_request, child_not_found, resource_group_not_found, resource_not_found
from .index import Documents
from .limits import Limits, rcg_too_large, too_many_rcgs, too_many_routes
from .lro import LroEngine, Operation, OperationRecord, canceled_error, new_op_id
from .resource_types import TYPES, IdError, ResourceId, TypeSpec, id_key, parse_id
from .seed import SeedError, parse_seed, parse_seed_groups
from .validation import validate_rcg, validate_route, validate_subnet_prefix

NON_TERMINAL = ("Updating", "Creating", "Deleting", "Accepted")
# Child types stored as documents of their own (not embedded in the parent, not derived like agent pools).
_SEPARATE_CHILDREN = tuple(
    key for key, spec in TYPES.items() if spec.parent_key and not spec.embedded_in and key != rt.AGENT_POOL
)
CONFLICT_MODES = ("409", "429", "supersede")


@dataclass
class WriteResult:
    status: int
    body: dict[str, Any] | None
    operation: Operation | None


def _props(body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties")
    if not isinstance(props, dict):
        props = {}
        body["properties"] = props
    return props


def size_bytes(props: dict[str, Any]) -> int:
    """What the read-only `size` of a firewall policy or RCG counts, in bytes.

    The recordings show about 1.4 KB for an empty group and growth with the content; the exact formula is
    not public, so this is the compact JSON of the properties plus a fixed 1,400 bytes (a guess,
    emulator/README.md)."""
    content = {k: v for k, v in props.items() if k not in ("size", "provisioningState")}
    return len(json.dumps(content, separators=(",", ":"))) + 1400


def size_text(props: dict[str, Any]) -> str:
    """`size` as ARM prints it ("0.001350403 MB")."""
    return f"{size_bytes(props) / (1024 * 1024):.9f} MB"


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and id_key(a) == id_key(b)


def _find_named(items: list[Any], name: str) -> dict[str, Any] | None:
    for item in items:
        if isinstance(item, dict) and str(item.get("name", "")).lower() == name.lower():
            return item
    return None


class Store:
    """All emulator state; every public method is thread-safe."""

    def __init__(
        self,
        *,
        lro_seconds: dict[str, float],
        time_factor: float,
        conflict_mode: str,
        strict_if_match: bool,
        clock: Callable[[], float] = time.monotonic,
        limits: Limits | None = None,
    ) -> None:
        if conflict_mode not in CONFLICT_MODES:
            raise ValueError(f"conflict_mode must be one of {CONFLICT_MODES}")
        self.lock = threading.RLock()
        # True while a put_foreign (a state another writer left, set up by a test) is being stored: API-level
        # checks of the service that made it (AKS's create-time subnet check, emulator/aks_outbound.py) skip it.
        self.writing_foreign = False
        self.clock = clock
        self.limits = limits or Limits()
        self.time_factor = time_factor
        self.conflict_mode = conflict_mode
        self.strict_if_match = strict_if_match
        self._lro_seconds = {k.lower(): v for k, v in lro_seconds.items()}
        self._docs = Documents()  # key -> body (top-level resources and RCGs), indexed by type
        # Back-references ARM maintains, kept per writer so a write refreshes only what it touched:
        # route table key -> {vnet key: [subnet refs]}, vnet key -> {route table key: [subnet refs]},
        # policy key -> {firewall key: ref}, firewall key -> policy key.
        self._assoc: dict[str, dict[str, list[dict[str, str]]]] = {}
        self._vnet_tables: dict[str, dict[str, list[dict[str, str]]]] = {}
        self._policy_fws: dict[str, dict[str, dict[str, str]]] = {}
        self._fw_policy: dict[str, str] = {}
        # Resource groups by group_key(); the ones a seed declared or a client created are dumped, the ones
        # only implied by resource ids are not (they come back from the resources).
        self.groups: dict[str, dict[str, Any]] = {}
        self._explicit_groups: set[str] = set()
        self.subscriptions: dict[str, tuple[str, str | None]] = {}  # lower id -> (id, display name)
        self.lro = LroEngine(clock)

    # ------------------------------------------------------------------ seeds
    def load(self, seed: Any, *, replace: bool = False) -> None:
        items = parse_seed(seed)
        groups, subscriptions = parse_seed_groups(seed)
        with self.lock:
            if replace:
                self._docs.clear()
                self.groups.clear()
                self._explicit_groups.clear()
                self.subscriptions.clear()
                self.lro.clear_inflight()
            for sub_id, display in subscriptions:
                self.add_subscription(sub_id, display)
            for group in groups:
                sub_id, name = group["id"].split("/")[2], group["name"]
                self.add_subscription(sub_id)
                self.groups[rm.group_key(sub_id, name)] = group
                self._explicit_groups.add(rm.group_key(sub_id, name))
            for item in sorted(items, key=lambda i: len(i.rid.segments)):
                spec = TYPES[item.type_key]
                body = item.body
                body.setdefault("name", item.rid.name)
                if spec.parent_key is None:
                    self._docs[item.rid.key()] = body
                elif spec.embedded_in:
                    parent = self._docs.get(item.rid.top().key())
                    if parent is None:
                        raise SeedError(
                            f"seed resources[{item.index}]: parent {item.rid.top().canonical()} "
                            "of this child is not in the seed"
                        )
                    children = _props(parent).setdefault(spec.embedded_in, [])
                    old = _find_named(children, item.rid.name)
                    if old is not None:
                        children[children.index(old)] = body
                    else:
                        children.append(body)
                else:  # rule collection groups
                    if item.rid.top().key() not in self._docs:
                        raise SeedError(
                            f"seed resources[{item.index}]: firewall policy "
                            f"{item.rid.top().canonical()} is not in the seed"
                        )
                    self._docs[item.rid.key()] = body
                self.ensure_group(item.rid.subscription, item.rid.resource_group, body.get("location"))
            for key in list(self._docs):
                self._fill_etags(key)
            self._recompute()

    def dump(self) -> dict[str, Any]:
        with self.lock:
            self.tick()
            out: dict[str, Any] = {"resources": [copy.deepcopy(b) for b in self._docs.values()]}
            explicit = [copy.deepcopy(self.groups[k]) for k in self.groups if k in self._explicit_groups]
            if explicit:
                out["resourceGroups"] = explicit
            return out

    # ------------------------------------------------------------------ subscriptions and resource groups
    def add_subscription(self, subscription: str, display_name: str | None = None) -> None:
        with self.lock:
            known = self.subscriptions.get(subscription.lower())
            self.subscriptions[subscription.lower()] = (subscription, display_name or (known and known[1]))

    def subscription_list(self) -> list[tuple[str, str | None]]:
        """Known subscriptions; an emulator that knows none serves the all-zero one, so a client can log in."""
        with self.lock:
            return list(self.subscriptions.values()) or [(rm.DEFAULT_SUBSCRIPTION, None)]

    def subscription_known(self, subscription: str) -> bool:
        return any(s.lower() == subscription.lower() for s, _ in self.subscription_list())

    def ensure_group(self, subscription: str, resource_group: str, location: Any = None) -> None:
        """A group implied by a resource id (seeds and foreign writes): created on first sight."""
        with self.lock:
            self.add_subscription(subscription)
            key = rm.group_key(subscription, resource_group)
            if key not in self.groups:
                where = location if isinstance(location, str) and location else "westeurope"
                self.groups[key] = rm.group_body(subscription, resource_group, where)

    def group(self, subscription: str, resource_group: str) -> dict[str, Any] | None:
        with self.lock:
            self.tick()
            found = self.groups.get(rm.group_key(subscription, resource_group))
            return copy.deepcopy(found) if found is not None else None

    def group_list(self, subscription: str) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            prefix = f"/subscriptions/{subscription}/".lower()
            return [copy.deepcopy(b) for k, b in self.groups.items() if k.startswith(prefix)]

    def put_group(self, subscription: str, resource_group: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """PUT a resource group: create (201) or update tags/managedBy (200); the location cannot change."""
        with self.lock:
            self.tick()
            if not self.subscription_known(subscription):
                raise rm.subscription_not_found(subscription)
            location = body.get("location")
            if not isinstance(location, str) or not location:
                raise bad_request("LocationRequired", "The location property is required for this definition.")
            key = rm.group_key(subscription, resource_group)
            existing = self.groups.get(key)
            if existing is not None:
                if _props(existing).get("provisioningState") == "Deleting":
                    raise rm.group_being_deleted(existing["name"])
                if existing["location"].replace(" ", "").lower() != location.replace(" ", "").lower():
                    raise ArmError(
                        409,
                        "InvalidResourceGroupLocation",
                        f"Invalid resource group location '{location}'. The Resource group already exists in "
                        f"location '{existing['location']}'.",
                    )
            tags = body.get("tags")
            new = rm.group_body(
                subscription,
                existing["name"] if existing else resource_group,
                existing["location"] if existing else location,
                tags=tags if isinstance(tags, dict) else None,
                managed_by=body.get("managedBy") if isinstance(body.get("managedBy"), str) else None,
            )
            self.add_subscription(subscription)
            self.groups[key] = new
            self._explicit_groups.add(key)
            return (200 if existing else 201), copy.deepcopy(new)

    def patch_group(self, subscription: str, resource_group: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH a resource group: tags (replaced when given) and managedBy."""
        with self.lock:
            self.tick()
            existing = self.groups.get(rm.group_key(subscription, resource_group))
            if existing is None:
                raise resource_group_not_found(resource_group)
            if _props(existing).get("provisioningState") == "Deleting":
                raise rm.group_being_deleted(existing["name"])
            if isinstance(body.get("tags"), dict):
                existing["tags"] = dict(body["tags"])
            if isinstance(body.get("managedBy"), str):
                existing["managedBy"] = body["managedBy"]
            self._explicit_groups.add(rm.group_key(subscription, resource_group))
            return copy.deepcopy(existing)

    def delete_group(self, subscription: str, resource_group: str, api_version: str) -> Operation:
        """DELETE a resource group: an LRO; when it ends, the group and every resource in it are gone."""
        with self.lock:
            self.tick()
            key = rm.group_key(subscription, resource_group)
            existing = self.groups.get(key)
            if existing is None:
                raise resource_group_not_found(resource_group)
            running = self.lro.running(key)
            if running is not None:
                return running
            _props(existing)["provisioningState"] = "Deleting"
            seconds = self._lro_seconds.get(rm.RESOURCE_GROUP_TYPE.lower(), 20.0) * self.time_factor
            now = self.clock()
            op = Operation(
                op_id=new_op_id(),
                resource_id=existing["id"],
                resource_key=key,
                lock_domain=key,
                method="DELETE",
                namespace="Microsoft.Resources",
                subscription=subscription,
                location=existing["location"],
                api_version=api_version,
                starts=now,
                ends=now + seconds,
                kind="group-delete",
                clock=self.clock,
            )
            return self.lro.begin(op)

    def _remove_group(self, key: str) -> None:
        prefix = key + "/"
        for doc_key in [k for k in self._docs if k.startswith(prefix)]:
            del self._docs[doc_key]
        self.lro.drop_under(prefix)
        self.groups.pop(key, None)
        self._explicit_groups.discard(key)
        self._recompute()

    def group_resources(self, subscription: str, resource_group: str | None) -> list[dict[str, Any]]:
        """`GET .../resources`: the tracked (top-level) resources; child and proxy resources are not listed."""
        with self.lock:
            self.tick()
            prefix = (
                rm.group_key(subscription, resource_group) + "/"
                if resource_group is not None
                else f"/subscriptions/{subscription}/".lower()
            )
            return [
                rm.generic_entry(b)
                for k, b in self._docs.items()
                if k.startswith(prefix) and TYPES[parse_id(b["id"]).type_key].parent_key is None
            ]

    def _fill_etags(self, key: str) -> None:
        """Seeds may omit etags; children share the parent's (docs/arm-notes.md §3.2)."""
        body = self._docs[key]
        rid = parse_id(body["id"])
        spec = TYPES[rid.type_key]
        if spec.etag_key not in body:
            parent = self._docs.get(rid.top().key()) if spec.parent_key and not spec.own_etag else None
            body[spec.etag_key] = parent.get("etag") if parent and parent.get("etag") else self._mint(spec)
        for child_key in spec.children:
            child_spec = TYPES[child_key]
            if child_spec.embedded_in:
                for child in _props(body).get(child_spec.embedded_in) or []:
                    if isinstance(child, dict) and "etag" not in child:
                        child["etag"] = body[spec.etag_key]

    # ------------------------------------------------------------------ reads
    def group_exists(self, subscription: str, resource_group: str) -> bool:
        return rm.group_key(subscription, resource_group) in self.groups

    def group_deleting(self, subscription: str, resource_group: str) -> bool:
        found = self.groups.get(rm.group_key(subscription, resource_group))
        return found is not None and _props(found).get("provisioningState") == "Deleting"

    def get(self, rid: ResourceId) -> dict[str, Any] | None:
        with self.lock:
            self.tick()
            found = self._locate(rid)
            return copy.deepcopy(found) if found is not None else None

    def _locate(self, rid: ResourceId) -> dict[str, Any] | None:
        spec = TYPES.get(rid.type_key)
        if spec is None:
            return None
        if spec.parent_key is None or (spec.embedded_in is None and rid.type_key != rt.AGENT_POOL):
            return self._docs.get(rid.key())
        parent = self._docs.get(rid.top().key())
        if parent is None:
            return None
        if rid.type_key == rt.AGENT_POOL:
            return self._agent_pool(parent, rid.name)
        assert spec.embedded_in is not None
        return _find_named(_props(parent).get(spec.embedded_in) or [], rid.name)

    def _agent_pool(self, cluster: dict[str, Any], name: str) -> dict[str, Any] | None:
        """agentPools are the cluster's agentPoolProfiles seen as child resources."""
        profile = _find_named(_props(cluster).get("agentPoolProfiles") or [], name)
        if profile is None:
            return None
        props = {k: v for k, v in profile.items() if k not in ("name", "eTag")}
        body: dict[str, Any] = {
            "id": f"{cluster['id']}/agentPools/{profile['name']}",
            "name": profile["name"],
            "type": TYPES[rt.AGENT_POOL].type_name,
            "properties": props,
        }
        if "eTag" in profile:
            body["eTag"] = profile["eTag"]
        return body

    def require(self, rid: ResourceId) -> dict[str, Any]:
        """The resource, or the 404 ARM answers for it."""
        with self.lock:
            self.tick()
            found = self._locate(rid)
            if found is None:
                raise self._not_found(rid)
            return copy.deepcopy(found)

    def _not_found(self, rid: ResourceId) -> ArmError:
        spec = TYPES[rid.type_key]
        top = rid.top()
        if spec.parent_key is None or top.key() not in self._docs:
            # The gateway answers for the top-level resource, with the type casing of the request path.
            return resource_not_found(f"{top.namespace}/{top.segments[0][0]}", top.name, rid.resource_group)
        if rid.type_key == rt.AGENT_POOL:
            return ArmError(404, "NotFound", f"Agent pool '{rid.name}' not found.")
        return child_not_found(rid.canonical())

    def list_top(self, subscription: str, resource_group: str | None, type_key: str) -> list[dict[str, Any]]:
        return self.list_top_page(subscription, resource_group, type_key, 0, None)[0]

    def list_top_page(
        self, subscription: str, resource_group: str | None, type_key: str, skip: int, size: int | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of a list (copies of its items only) and whether more follow. Walks this type only."""
        prefix = (
            rm.group_key(subscription, resource_group) + "/"
            if resource_group is not None
            else f"/subscriptions/{subscription}/".lower()
        )
        with self.lock:
            self.tick()
            page: list[dict[str, Any]] = []
            matched = 0
            end = None if size is None else skip + size
            for key, body in self._docs.of_type(type_key):
                if not key.startswith(prefix):
                    continue
                if end is not None and matched >= end:
                    return page, True
                if matched >= skip:
                    page.append(copy.deepcopy(body))
                matched += 1
            return page, False

    def list_children(self, parent: ResourceId, child_key: str) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            body = self._docs.get(parent.key())
            if body is None:
                raise self._not_found(parent)
            spec = TYPES[child_key]
            if child_key == rt.AGENT_POOL:
                names = [p.get("name", "") for p in _props(body).get("agentPoolProfiles") or []]
                return [b for b in (self._agent_pool(body, n) for n in names) if b is not None]
            if spec.embedded_in:
                return copy.deepcopy(list(_props(body).get(spec.embedded_in) or []))
            return [copy.deepcopy(self._docs[k]) for k in self._docs.keys_under(parent.key() + "/", (child_key,))]

    def etag_of(self, rid: ResourceId) -> str | None:
        found = self._locate(rid)
        if found is None:
            return None
        value = found.get(TYPES[rid.type_key].etag_key)
        return value if isinstance(value, str) else None

    # ------------------------------------------------------------------ operations
    def operation(self, op_id: str) -> Operation | None:
        with self.lock:
            self.tick()
            return self.lro.get(op_id)

    def next_completion(self) -> float | None:
        """clock() at which the earliest running operation ends (None when nothing runs)."""
        with self.lock:
            return self.lro.next_completion()

    def tick(self) -> None:
        """Finish every operation whose duration has elapsed."""
        with self.lock:
            for domain, op in self.lro.due():
                if self.lro.release(domain, op):
                    self._complete(domain, op)

    def _complete(self, domain: str, op: Operation) -> None:
        if op.kind == "action":
            pass  # an action changed nothing: it only ends
        elif op.kind == "group-delete":
            self._remove_group(domain)
        elif op.outcome == "Succeeded":
            self._settle(domain, op)
        else:
            self._rollback(domain, op)
        self.lro.end(op, op.outcome)

    @property
    def records(self) -> list[OperationRecord]:
        return self.lro.records

    def _settle(self, domain: str, op: Operation) -> None:
        """Operation succeeded: drop what was being deleted, flip the rest to Succeeded, new etag (§3.1)."""
        for key in self._domain_keys(domain):
            body = self._docs[key]
            if _props(body).get("provisioningState") == "Deleting":
                del self._docs[key]
                continue
            spec = TYPES[parse_id(body["id"]).type_key]
            for child_key in spec.children:
                embedded = TYPES[child_key].embedded_in
                if embedded and isinstance(_props(body).get(embedded), list):
                    _props(body)[embedded] = [
                        c for c in _props(body)[embedded] if _props(c).get("provisioningState") != "Deleting"
                    ]
        if domain in self._docs:
            self._set_state(domain, "Succeeded", only_non_terminal=True)
            self._mint_completion_etag(domain, op)
        self._recompute(domain)

    def _mint_completion_etag(self, domain: str, op: Operation) -> None:
        """Whether an etag changes when the operation completes differs per type (resource_types.py)."""
        spec = TYPES.get(parse_id(op.resource_id).type_key)
        if spec is None or not spec.etag_on_completion:
            return
        if spec.own_etag:
            doc = self._docs.get(op.resource_key)
            if doc is not None:
                doc[spec.etag_key] = self._mint(spec)
            return
        self._mint_domain_etag(domain)

    def _rollback(self, domain: str, op: Operation) -> None:
        for key in self._domain_keys(domain):
            del self._docs[key]
        self._docs.update({k: copy.deepcopy(v) for k, v in op.snapshot.items() if v is not None})
        self._recompute(domain)

    def _domain_keys(self, domain: str) -> list[str]:
        """The lock domain's documents: the top-level resource and its separate children (RCGs)."""
        own = [domain] if domain in self._docs else []
        return own + self._docs.keys_under(domain + "/", _SEPARATE_CHILDREN)

    # ------------------------------------------------------------------ writes
    def put(
        self,
        rid: ResourceId,
        body: dict[str, Any],
        *,
        api_version: str,
        if_match: str | None = None,
        outcome: tuple[str, dict[str, Any] | None] | None = None,
        foreign: bool = False,
        if_none_match: str | None = None,
    ) -> WriteResult:
        with self.lock:
            self.tick()
            spec = self._writable_spec(rid)
            if not isinstance(body, dict):
                raise bad_request("InvalidRequestFormat", "Cannot parse the request.")
            domain = rid.top().key()
            if spec.parent_key is not None and domain not in self._docs:
                raise self._not_found(rid.top())
            existing = self._locate(rid)
            if not foreign:
                self._check_if_match(rid, existing, if_match)
                self._check_if_none_match(rid, existing, if_none_match)
                self._check_conflict(domain, "PUT", spec)
            snapshot = {k: copy.deepcopy(self._docs[k]) for k in self._domain_keys(domain)}
            self.writing_foreign = foreign
            if spec.parent_key is None:
                self._put_top(rid, spec, body, existing)
            elif spec.embedded_in:
                self._put_embedded(rid, spec, body, existing)
            else:
                self._put_rcg(rid, spec, body, existing)
            self._mint_write_etag(rid, spec, domain)
            self._recompute(domain)
            status = 200 if existing is not None else 201
            op = None
            if foreign:
                self._set_state(domain, "Succeeded")
            else:
                op = self._start(rid, spec, domain, "PUT", api_version, snapshot, outcome)
            result = self._locate(rid)
            return WriteResult(status, copy.deepcopy(result), op)

    def delete(
        self,
        rid: ResourceId,
        *,
        api_version: str,
        if_match: str | None = None,
        outcome: tuple[str, dict[str, Any] | None] | None = None,
        foreign: bool = False,
    ) -> WriteResult:
        with self.lock:
            self.tick()
            spec = self._writable_spec(rid)
            domain = rid.top().key()
            existing = self._locate(rid)
            if existing is None:
                # RPC resource-api-reference: 204 when there is nothing to delete.
                if not foreign and self.strict_if_match and if_match not in (None, "*"):
                    raise self._precondition(rid)
                return WriteResult(204, None, None)
            if not foreign:
                self._check_if_match(rid, existing, if_match)
                self._check_conflict(domain, "DELETE", spec)
            self._check_deletable(rid, existing)
            snapshot = {k: copy.deepcopy(self._docs[k]) for k in self._domain_keys(domain)}
            if foreign or spec.delete_mode == "sync":
                # Firewall policies answer DELETE with 200 at once [REC test_azure_firewall_policy.yaml 74].
                self._remove(rid, spec)
                if domain in self._docs:
                    self._mint_domain_etag(domain)
                self._recompute(domain)
                return WriteResult(200, None, None)
            answer = None
            if spec.delete_body:
                # An RCG DELETE answers 202 with the group as it was, under a new etag [REC
                # test_azure_firewall_policy.yaml 69]; a GET while it runs shows Deleting (not recorded).
                existing[spec.etag_key] = self._mint(spec)
                answer = copy.deepcopy(existing)
            _props(existing)["provisioningState"] = "Deleting"
            if spec.parent_key is None:
                self._set_state(domain, "Deleting")
            op = self._start(rid, spec, domain, "DELETE", api_version, snapshot, outcome)
            return WriteResult(202, answer, op)

    def _remove(self, rid: ResourceId, spec: TypeSpec) -> None:
        if spec.parent_key is None:
            for key in self._domain_keys(rid.key()):
                del self._docs[key]
        elif spec.embedded_in:
            parent = self._docs[rid.top().key()]
            children = _props(parent).get(spec.embedded_in) or []
            child = _find_named(children, rid.name)
            if child is not None:
                children.remove(child)
        else:
            self._docs.pop(rid.key(), None)

    def _writable_spec(self, rid: ResourceId) -> TypeSpec:
        spec = TYPES.get(rid.type_key)
        if spec is None or rid.type_key == rt.AGENT_POOL:
            raise ArmError(
                400,
                "InvalidResourceType",
                f"The resource type '{rid.type_key}' is not writable in this emulator.",
            )
        return spec

    def _precondition(self, rid: ResourceId) -> ArmError:
        return ArmError(
            412,
            "PreconditionFailed",
            f"The condition specified using HTTP conditional header(s) is not met for {rid.canonical()}.",
        )

    def _check_if_match(self, rid: ResourceId, existing: dict[str, Any] | None, if_match: str | None) -> None:
        # docs/arm-notes.md §3.2: the Network RP ignores If-Match; strict mode follows the RPC table.
        if not self.strict_if_match or if_match is None:
            return
        if existing is None:
            raise self._precondition(rid)
        if if_match.strip() == "*":
            return
        current = self.etag_of(rid)
        wanted = {t.strip() for t in if_match.split(",")}
        if current not in wanted:
            raise self._precondition(rid)

    def _check_if_none_match(self, rid: ResourceId, existing: dict[str, Any] | None,
                             if_none_match: str | None) -> None:
        # docs/arm-notes.md §3.2: `If-None-Match: *` is a create-only PUT; 412 when the resource exists
        # (ARM RPC table). Honoured in every mode: it can only refuse a write, never let a stale one through.
        if if_none_match is None or existing is None:
            return
        wanted = {t.strip() for t in if_none_match.split(",")}
        if "*" in wanted or self.etag_of(rid) in wanted:
            raise self._precondition(rid)

    def _check_conflict(self, domain: str, method: str, spec: TypeSpec) -> None:
        running = self.lro.running(domain)
        if running is None:
            return
        # docs/arm-notes.md §3.4: three observed outcomes, chosen by configuration.
        if self.conflict_mode == "supersede":
            self.lro.release(domain, running)
            running.error = canceled_error(running, method.lower(), spec.type_name)
            self._settle_keep_state(domain, running)
            self.lro.end(running, "Canceled")
            return
        if self.conflict_mode == "409" and spec.operations_segment == "nfvOperations":
            busy = self._firewall_policy_busy(spec, method, running)
            if busy is not None:
                raise busy
        op_url = (
            f"https://management.azure.com/subscriptions/{running.subscription}/providers/"
            f"{running.namespace}/locations/{running.location}/operations/{running.op_id}"
            f"?api-version={running.api_version}"
        )
        if self.conflict_mode == "429":
            wait = max(1, int(running.remaining() + 0.999))
            raise ArmError(
                429,
                "RetryableErrorDueToAnotherOperation",
                f"Operation on {running.resource_id} is retryable because another operation "
                f"on this or dependent resource is in progress. To retrieve status of the "
                f"operation use uri: {op_url}.",
                headers={"Retry-After": str(wait)},
            )
        raise ArmError(
            409,
            "AnotherOperationInProgress",
            "Another operation on this or dependent resource is in progress. To retrieve status "
            f"of the operation use uri: {op_url}.",
        )

    def _settle_keep_state(self, domain: str, op: Operation) -> None:
        """A superseded operation ends; its changes stay (the newer write builds on them)."""
        self._settle(domain, op)

    def _firewall_policy_busy(self, spec: TypeSpec, method: str, running: Operation) -> ArmError | None:
        """A second write on a firewall policy (or one of its RCGs) while one runs: "parallel updates aren't
        supported" (docs/platform-notes.md §9). The codes are the ones public reports show; which code goes
        with which write, and the 409 status, are guesses (emulator/README.md). RCG PUTs keep the Network RP's
        AnotherOperationInProgress."""
        policy = TYPES[rt.POLICY].type_name
        if spec.parent_key is None:
            return ArmError(
                409,
                "FirewallPolicyUpdateNotAllowedWhenUpdatingOrDeleting",
                f"Put on {policy} {running.lock_domain.rsplit('/', 1)[-1]} is not allowed when the firewall "
                "policy or one of its rule collection groups is being updated or deleted.",
            )
        if method == "DELETE":
            return ArmError(
                409,
                "FirewallPolicyRuleCollectionGroupDeleteNotAllowedWhenUpdatingOrDeleting",
                "Delete on a rule collection group is not allowed while another rule collection group of the "
                "firewall policy is being updated or deleted.",
            )
        return None

    def _check_deletable(self, rid: ResourceId, existing: dict[str, Any]) -> None:
        deletable = hooks.hooks_for(rid.type_key).deletable
        if deletable is not None:
            deletable(self, rid, existing)

    def _route_table_deletable(self, rid: ResourceId, existing: dict[str, Any]) -> None:
        in_use = [s["id"] for s in _props(existing).get("subnets") or [] if isinstance(s, dict)]
        if in_use:
            raise bad_request(
                "InUseRouteTableCannotBeDeleted",
                f"Route table {existing['id']} is in use and cannot be deleted. "
                f"It is associated with subnets: {', '.join(in_use)}. "
                "Disassociate the route table from the subnets before deleting it.",
            )

    def _vnet_deletable(self, rid: ResourceId, existing: dict[str, Any]) -> None:
        for subnet in _props(existing).get("subnets") or []:
            if isinstance(subnet, dict):
                self._subnet_deletable(rid, subnet)

    def _subnet_deletable(self, rid: ResourceId, subnet: dict[str, Any]) -> None:
        if _props(subnet).get("ipConfigurations"):
            raise bad_request(
                "InUseSubnetCannotBeDeleted",
                f"Subnet {subnet.get('name')} is in use by "
                f"{_props(subnet)['ipConfigurations'][0].get('id', 'an IP configuration')} "
                "and cannot be deleted. In order to delete the subnet, delete all the resources "
                "within the subnet.",
            )

    def _start(
        self,
        rid: ResourceId,
        spec: TypeSpec,
        domain: str,
        method: str,
        api_version: str,
        snapshot: dict[str, dict[str, Any]],
        outcome: tuple[str, dict[str, Any] | None] | None,
    ) -> Operation:
        top = self._docs.get(domain) or snapshot.get(domain) or {}
        location = str(top.get("location") or "westeurope").replace(" ", "").lower()
        seconds = self._lro_seconds.get(spec.type_name.lower(), spec.lro_seconds) * self.time_factor
        now = self.clock()
        op = Operation(
            op_id=new_op_id(),
            resource_id=rid.canonical(),
            resource_key=rid.key(),
            lock_domain=domain,
            method=method,
            namespace=spec.namespace,
            subscription=rid.subscription,
            location=location,
            api_version=api_version,
            starts=now,
            ends=now + seconds,
            snapshot=snapshot,
            clock=self.clock,
            operations_segment=spec.operations_segment,
            results_segment=spec.results_segment,
        )
        if outcome is not None:
            op.outcome, op.error = outcome
        return self.lro.begin(op)

    def start_action(self, rid: ResourceId, api_version: str, result: dict[str, Any], seconds: float) -> Operation:
        """A POST action on a resource (hooks.register_action): an operation of its own (a lock domain no write
        shares, so it never blocks one) that lasts `seconds` scaled by time_factor and then answers `result`."""
        with self.lock:
            self.tick()
            spec = TYPES[rid.type_key]
            top = self._docs.get(rid.top().key()) or {}
            now = self.clock()
            op_id = new_op_id()
            op = Operation(
                op_id=op_id,
                resource_id=rid.canonical(),
                resource_key=rid.key(),
                lock_domain=f"action:{op_id}",
                method="POST",
                namespace=spec.namespace,
                subscription=rid.subscription,
                location=str(top.get("location") or "westeurope").replace(" ", "").lower(),
                api_version=api_version,
                starts=now,
                ends=now + seconds * self.time_factor,
                clock=self.clock,
                kind="action",
                result=copy.deepcopy(result),
                operations_segment=spec.operations_segment,
                results_segment=spec.results_segment,
            )
            return self.lro.begin(op)

    # ------------------------------------------------------------------ body normalisation
    def _mint(self, spec: TypeSpec) -> str:
        # Network etags are weak W/"<guid>"; firewall policies/RCGs send bare GUIDs [REC
        # test_azure_firewall_policy.yaml]; AKS eTags are opaque strings (docs/arm-notes.md §2.7, §3.2).
        return f'W/"{uuid.uuid4()}"' if spec.etag_style == "weak" else str(uuid.uuid4())

    def _mint_write_etag(self, rid: ResourceId, spec: TypeSpec, domain: str) -> None:
        """A write mints the written resource's etag: its own (RCGs) or its parent's, shared with children."""
        if spec.own_etag:
            self._docs[rid.key()][spec.etag_key] = self._mint(spec)
        else:
            self._mint_domain_etag(domain)

    def _mint_domain_etag(self, domain: str) -> None:
        """Every write mints a new etag for the parent, shared by its children (docs/arm-notes.md §2.2)."""
        top = self._docs.get(domain)
        if top is None:
            return
        spec = TYPES[parse_id(top["id"]).type_key]
        etag = self._mint(spec)
        top[spec.etag_key] = etag
        for child_key in spec.children:
            embedded = TYPES[child_key].embedded_in
            if embedded:
                for child in _props(top).get(embedded) or []:
                    if isinstance(child, dict):
                        child["etag"] = etag
        for key in self._domain_keys(domain):
            if key != domain and not TYPES[parse_id(self._docs[key]["id"]).type_key].own_etag:
                self._docs[key]["etag"] = etag

    def _set_state(self, domain: str, state: str, only_non_terminal: bool = False) -> None:
        def apply(target: dict[str, Any]) -> None:
            props = _props(target)
            if only_non_terminal and props.get("provisioningState") not in NON_TERMINAL:
                return
            props["provisioningState"] = state

        for key in self._domain_keys(domain):
            body = self._docs[key]
            apply(body)
            props = _props(body)
            spec = TYPES.get(self._docs.type_of(key) or "")
            for child_key in spec.children if spec is not None and key == domain else ():
                embedded = TYPES[child_key].embedded_in
                for child in (props.get(embedded) or []) if embedded else []:
                    if isinstance(child, dict) and "properties" in child:
                        apply(child)
            for pool in props.get("agentPoolProfiles") or []:
                if isinstance(pool, dict) and (
                    not only_non_terminal or pool.get("provisioningState") in NON_TERMINAL
                ):
                    pool["provisioningState"] = state

    def _clean(self, spec: TypeSpec, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        """Drop readonly fields from a PUT body and keep the server's values (docs/arm-notes.md §0.9)."""
        new = {
            k: copy.deepcopy(v)
            for k, v in body.items()
            if k not in ("id", "name", "type", "etag", "eTag", "systemData")
        }
        props = new.get("properties")
        props = copy.deepcopy(props) if isinstance(props, dict) else {}
        old_props = _props(existing) if existing is not None else {}
        for key in spec.readonly_props:
            props.pop(key, None)
            if key in old_props:
                props[key] = copy.deepcopy(old_props[key])
        new["properties"] = props
        if existing is not None and "systemData" in existing:
            new["systemData"] = copy.deepcopy(existing["systemData"])
        return new

    def _envelope(
        self, rid: ResourceId, spec: TypeSpec, cleaned: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Key order as ARM prints it: name, id, etag, type, location, ..., properties."""
        out: dict[str, Any] = {
            "name": existing["name"] if existing else rid.name,
            "id": existing["id"] if existing else rid.canonical(),
            spec.etag_key: "",
            "type": existing.get("type", spec.type_name) if existing else spec.type_name,
        }
        for key, value in cleaned.items():
            if key != "properties":
                out[key] = value
        out["properties"] = cleaned["properties"]
        return out

    def _put_top(
        self, rid: ResourceId, spec: TypeSpec, body: dict[str, Any], existing: dict[str, Any] | None
    ) -> None:
        if not isinstance(body.get("location"), str) or not body["location"]:
            raise bad_request("LocationRequired", "The location property is required for this definition.")
        cleaned = self._clean(spec, body, existing)
        props = cleaned["properties"]
        rt.fill_defaults(spec, props)
        state = "Updating" if existing is not None else spec.create_state
        props["provisioningState"] = state
        if "resourceGuid" in spec.readonly_props and "resourceGuid" not in props:
            props["resourceGuid"] = str(uuid.uuid4())
        new = self._envelope(rid, spec, cleaned, existing)
        type_hooks = hooks.hooks_for(rid.type_key)
        if type_hooks.normalize is not None:
            type_hooks.normalize(self, new, existing, state)
        self._validate(rid.type_key, new["id"], _props(new), None)
        self._docs[rid.key()] = new

    def _validate(self, type_key: str, resource_id: str, props: dict[str, Any], parent: dict[str, Any] | None) -> None:
        for check in hooks.hooks_for(type_key).validate:
            check(self, resource_id, props, parent)

    def _put_embedded(
        self, rid: ResourceId, spec: TypeSpec, body: dict[str, Any], existing: dict[str, Any] | None
    ) -> None:
        parent = self._docs[rid.top().key()]
        assert spec.embedded_in is not None
        child = self._child(rid.type_key, parent, dict(body, name=rid.name), existing, "Updating")
        children = _props(parent).setdefault(spec.embedded_in, [])
        if existing is not None:
            children[children.index(existing)] = child
        else:
            if rid.type_key == rt.ROUTE and len(children) + 1 > self.limits.routes_per_table:
                raise too_many_routes(parent["id"], len(children) + 1, self.limits.routes_per_table)
            children.append(child)

    def _put_rcg(
        self, rid: ResourceId, spec: TypeSpec, body: dict[str, Any], existing: dict[str, Any] | None
    ) -> None:
        cleaned = self._clean(spec, body, existing)
        rt.fill_defaults(spec, cleaned["properties"])
        self._validate(rid.type_key, rid.canonical(), cleaned["properties"], self._docs.get(rid.top().key()))
        cleaned["properties"]["provisioningState"] = "Updating"
        if size_bytes(cleaned["properties"]) > self.limits.rcg_size_bytes:
            raise rcg_too_large(rid.canonical(), size_bytes(cleaned["properties"]), self.limits.rcg_size_bytes)
        if existing is None:
            prefix = rid.top().key() + "/rulecollectiongroups/"
            if len(self._docs.keys_under(prefix, (rt.RCG,))) >= self.limits.rcgs_per_policy:
                raise too_many_rcgs(rid.top().canonical(), self.limits.rcgs_per_policy)
        cleaned["properties"]["size"] = size_text(cleaned["properties"])
        # Real RCG bodies carry the policy's location [REC test_azure_firewall_policy.yaml 12].
        policy = self._docs.get(rid.top().key()) or {}
        cleaned.pop("location", None)
        if policy.get("location"):
            cleaned["location"] = policy["location"]
        new = self._envelope(rid, spec, cleaned, existing)
        new["type"] = spec.type_name
        self._docs[rid.key()] = new

    def _child(
        self,
        type_key: str,
        parent: dict[str, Any],
        body: dict[str, Any],
        existing: dict[str, Any] | None,
        state: str,
    ) -> dict[str, Any]:
        spec = TYPES[type_key]
        if not isinstance(body, dict):
            raise bad_request("InvalidRequestFormat", "Cannot parse the request.")
        name = body.get("name") if existing is None else existing["name"]
        if not isinstance(name, str) or not name:
            raise bad_request("InvalidRequestFormat", f"A {spec.type_name} item has no name.")
        cleaned = self._clean(spec, body, existing)
        cleaned.pop("location", None)
        child_id = existing["id"] if existing else f"{parent['id']}/{spec.embedded_in}/{name}"
        self._validate(type_key, child_id, cleaned["properties"], parent)
        cleaned["properties"]["provisioningState"] = state
        out: dict[str, Any] = {"name": name, "id": child_id, "etag": parent.get("etag", "")}
        for key, value in cleaned.items():
            if key != "properties":
                out[key] = value
        out["properties"] = cleaned["properties"]
        out["type"] = spec.type_name
        return out

    def _check_route_table_ref(
        self, subnet_id: str, props: dict[str, Any], vnet: dict[str, Any] | None
    ) -> None:
        ref = props.get("routeTable")
        if ref is None:
            return
        vnet = vnet or {}
        ref_id = ref.get("id") if isinstance(ref, dict) else None
        table = self._docs.get(id_key(ref_id)) if isinstance(ref_id, str) else None
        if table is None:
            raise bad_request(
                "InvalidResourceReference",
                f"Resource {ref_id} referenced by resource {subnet_id} was not found. Please make sure that "
                "the referenced resource exists, and that both resources are in the same region.",
                details=[],
            )
        if str(table.get("location", "")).lower() != str(vnet.get("location", "")).lower():
            raise bad_request(
                "InvalidResourceReference",
                f"Resource {ref_id} referenced by resource {subnet_id} was not found. Please make sure that "
                "the referenced resource exists, and that both resources are in the same region.",
            )
        # docs/arm-notes.md §2.2: associating a route table that is still Updating.
        if _props(table).get("provisioningState") in NON_TERMINAL:
            raise bad_request(
                "ReferencedResourceNotProvisioned",
                f"Cannot proceed with operation because resource {table['id']} used by resource {subnet_id} "
                f"is not in Succeeded state. Resource is in {_props(table)['provisioningState']} state and "
                "the last operation that updated/is updating the resource is PutRouteTableOperation.",
            )
        props["routeTable"] = {"id": table["id"]} if set(ref) <= {"id"} else ref

    def _normalise_subnets(self, vnet: dict[str, Any], existing: dict[str, Any] | None, state: str) -> None:
        old = (_props(existing).get("subnets") or []) if existing else []
        new_list = []
        for item in _props(vnet).get("subnets") or []:
            name = item.get("name") if isinstance(item, dict) else None
            prior = _find_named(old, name) if isinstance(name, str) else None
            new_list.append(self._child(rt.SUBNET, vnet, item, prior, state))
        kept = {s["name"].lower() for s in new_list}
        for prior in old:
            # §2.2: a VNet PUT that omits an in-use subnet fails rather than deleting it.
            if (
                isinstance(prior, dict)
                and prior.get("name", "").lower() not in kept
                and _props(prior).get("ipConfigurations")
            ):
                raise bad_request(
                    "InUseSubnetCannotBeDeleted",
                    f"Subnet {prior['name']} is in use by {_props(prior)['ipConfigurations'][0]['id']}"
                    " and cannot be deleted. In order to delete the subnet, delete all the "
                    "resources within the subnet.",
                )
        _props(vnet)["subnets"] = new_list

    def _normalise_routes(self, table: dict[str, Any], existing: dict[str, Any] | None, state: str) -> None:
        old = (_props(existing).get("routes") or []) if existing else []
        new_list = []
        for item in _props(table).get("routes") or []:
            name = item.get("name") if isinstance(item, dict) else None
            prior = _find_named(old, name) if isinstance(name, str) else None
            new_list.append(self._child(rt.ROUTE, table, item, prior, state))
        if len(new_list) > self.limits.routes_per_table:
            raise too_many_routes(table["id"], len(new_list), self.limits.routes_per_table)
        # §2.1: a table PUT replaces the routes list.
        _props(table)["routes"] = new_list

    def _assign_firewall_ips(self, fw: dict[str, Any], existing: dict[str, Any] | None) -> None:
        """privateIPAddress is readonly: keep the allocated one, or take the subnet's first usable (.4)."""
        old = (_props(existing).get("ipConfigurations") or []) if existing else []
        for conf in _props(fw).get("ipConfigurations") or []:
            if not isinstance(conf, dict):
                continue
            cprops = conf.setdefault("properties", {})
            prior = _find_named(old, str(conf.get("name", "")))
            prior_ip = _props(prior).get("privateIPAddress") if prior else None
            if prior_ip:
                cprops["privateIPAddress"] = prior_ip
            elif not cprops.get("privateIPAddress"):
                subnet_ref = cprops.get("subnet") or {}
                subnet = self._subnet(subnet_ref.get("id")) if isinstance(subnet_ref, dict) else None
                prefix = _props(subnet).get("addressPrefix") if subnet else None
                if isinstance(prefix, str):
                    try:
                        net = ipaddress.ip_network(prefix, strict=False)
                        cprops["privateIPAddress"] = str(net.network_address + 4)
                    except ValueError:
                        pass

    def _keep_pool_readonly(
        self, cluster: dict[str, Any], existing: dict[str, Any] | None, state: str
    ) -> None:
        old = (_props(existing).get("agentPoolProfiles") or []) if existing else []
        for pool in _props(cluster).get("agentPoolProfiles") or []:
            if not isinstance(pool, dict):
                continue
            prior = _find_named(old, str(pool.get("name", "")))
            for key in ("eTag", "currentOrchestratorVersion", "nodeImageVersion"):
                pool.pop(key, None)
                if prior is not None and key in prior:
                    pool[key] = prior[key]
            pool["provisioningState"] = state

    def _subnet(self, subnet_id: Any) -> dict[str, Any] | None:
        if not isinstance(subnet_id, str):
            return None
        try:
            rid = parse_id(subnet_id)
        except IdError:
            return None
        return self._locate(rid) if rid.type_key == rt.SUBNET else None

    # ------------------------------------------------------------------ derived consistency
    def _recompute(self, domain: str | None = None) -> None:
        """Refresh the back-references ARM maintains itself (route table subnets, policy RCGs/firewalls):
        all of them (domain None: a seed was loaded), or those one write's lock domain can change."""
        tables: set[str] = set()
        policies: set[str] = set()
        if domain is None:
            self._assoc.clear()
            self._vnet_tables.clear()
            self._policy_fws.clear()
            self._fw_policy.clear()
            for key, _ in list(self._docs.of_type(rt.VNET)):
                self._index_vnet(key)
            for key, _ in list(self._docs.of_type(rt.FIREWALL)):
                self._index_firewall(key)
            tables = {k for k, _ in self._docs.of_type(rt.ROUTE_TABLE)}
            policies = {k for k, _ in self._docs.of_type(rt.POLICY)}
        else:
            type_key = parse_id(domain).type_key
            if type_key == rt.VNET:
                tables = self._index_vnet(domain)
            elif type_key == rt.FIREWALL:
                policies = self._index_firewall(domain)
            elif type_key == rt.ROUTE_TABLE:
                tables = {domain}
            elif type_key == rt.POLICY:
                policies = {domain}
        for key in tables:
            self._refresh_table(key)
        for key in policies:
            self._refresh_policy(key)
        peering.refresh(self._docs, domain)  # peeringState of both sides (emulator/peering.py)
        hub_refs.refresh(self._docs, domain)  # firewall and vWAN hub back-references (emulator/hub_refs.py)

    def _index_vnet(self, key: str) -> set[str]:
        """Re-read one VNet's subnet -> route table associations; the route tables whose list may change."""
        old = self._vnet_tables.pop(key, {})
        for table in old:
            self._assoc.get(table, {}).pop(key, None)
        new: dict[str, list[dict[str, str]]] = {}
        body = self._docs.get(key)
        for subnet in (_props(body).get("subnets") or []) if body is not None else []:
            ref = _props(subnet).get("routeTable") if isinstance(subnet, dict) else None
            if isinstance(ref, dict) and isinstance(ref.get("id"), str):
                new.setdefault(id_key(ref["id"]), []).append({"id": subnet["id"]})
        for table, refs in new.items():
            self._assoc.setdefault(table, {})[key] = refs
        if new:
            self._vnet_tables[key] = new
        return set(old) | set(new)

    def _index_firewall(self, key: str) -> set[str]:
        old = self._fw_policy.pop(key, None)
        if old is not None:
            self._policy_fws.get(old, {}).pop(key, None)
        body = self._docs.get(key)
        ref = _props(body).get("firewallPolicy") if body is not None else None
        new = id_key(ref["id"]) if isinstance(ref, dict) and isinstance(ref.get("id"), str) else None
        if new is not None and body is not None:
            self._policy_fws.setdefault(new, {})[key] = {"id": body["id"]}
            self._fw_policy[key] = new
        return {p for p in (old, new) if p is not None}

    def _refresh_table(self, key: str) -> None:
        body = self._docs.get(key)
        if body is None:
            return
        props = _props(body)
        # Keep references into VNets the emulator does not hold (a partial seed).
        foreign = [
            s
            for s in props.get("subnets") or []
            if isinstance(s, dict) and self._docs.type_of(self._vnet_key_of(s.get("id")) or "") != rt.VNET
        ]
        subnets = [ref for refs in self._assoc.get(key, {}).values() for ref in refs] + foreign
        if subnets:
            props["subnets"] = subnets
        else:
            props.pop("subnets", None)

    def _refresh_policy(self, key: str) -> None:
        body = self._docs.get(key)
        if body is None:
            return
        props = _props(body)
        foreign = [
            f
            for f in props.get("firewalls") or []
            if isinstance(f, dict) and self._docs.type_of(id_key(str(f.get("id")))) != rt.FIREWALL
        ]
        props["firewalls"] = list(self._policy_fws.get(key, {}).values()) + foreign
        props["ruleCollectionGroups"] = [
            {"id": self._docs[k]["id"]} for k in self._docs.keys_under(key + "/", (rt.RCG,))
        ]

    @staticmethod
    def _vnet_key_of(subnet_id: Any) -> str | None:
        if not isinstance(subnet_id, str):
            return None
        try:
            return parse_id(subnet_id).top().key()
        except IdError:
            return None


def _policy_size(store: Store, body: dict[str, Any], existing: dict[str, Any] | None, state: str) -> None:
    _props(body)["size"] = size_text(_props(body))


def _register_builtin_hooks() -> None:
    """The Network RP's and AKS's per-type behaviour (emulator/hooks.py)."""
    hooks.register(rt.VNET, normalize=Store._normalise_subnets, deletable=Store._vnet_deletable)
    hooks.register(rt.ROUTE_TABLE, normalize=Store._normalise_routes, deletable=Store._route_table_deletable)
    hooks.register(
        rt.FIREWALL, normalize=lambda store, body, existing, state: store._assign_firewall_ips(body, existing)
    )
    hooks.register(rt.POLICY, normalize=_policy_size)
    hooks.register(rt.CLUSTER, normalize=Store._keep_pool_readonly)
    hooks.register(rt.ROUTE, validate=lambda store, rid, props, parent: validate_route(rid, props))
    hooks.register(rt.SUBNET, validate=lambda store, rid, props, parent: validate_subnet_prefix(rid, props),
                   deletable=lambda store, rid, existing: store._subnet_deletable(rid, existing))
    hooks.register(rt.SUBNET, validate=Store._check_route_table_ref)
    hooks.register(rt.RCG, validate=lambda store, rid, props, parent: validate_rcg(rid, props))


_register_builtin_hooks()
