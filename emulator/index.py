"""The store's documents, indexed by resource type, so a list or a write touches only what it concerns.

`Documents` is the key -> body dict the store always had (insertion order kept), plus a per-type index that
every insertion and removal keeps current. A list of one type walks that type only and copies only the page it
answers; a write refreshes the back-references of the resources it touched, not of every document (issue:
emulator cost, O(N^2) in a sweep before).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .resource_types import parse_id


class Documents(dict[str, dict[str, Any]]):
    """key (lower-case id) -> body, with `of_type(type_key)` in insertion order."""

    def __init__(self) -> None:
        super().__init__()
        self._by_type: dict[str, dict[str, dict[str, Any]]] = {}
        self._type_of: dict[str, str] = {}

    def __setitem__(self, key: str, body: dict[str, Any]) -> None:
        type_key = self._type_of.get(key) or parse_id(body["id"]).type_key
        super().__setitem__(key, body)
        self._type_of[key] = type_key
        self._by_type.setdefault(type_key, {})[key] = body

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        type_key = self._type_of.pop(key)
        del self._by_type[type_key][key]

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            body = self[key]
            del self[key]
            return body
        if default:
            return default[0]
        raise KeyError(key)

    def clear(self) -> None:
        super().clear()
        self._by_type.clear()
        self._type_of.clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, body in dict(*args, **kwargs).items():
            self[key] = body

    def type_of(self, key: str) -> str | None:
        return self._type_of.get(key)

    def of_type(self, type_key: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """A live view, in insertion order: do not add or remove documents while iterating it."""
        return iter(self._by_type.get(type_key, {}).items())

    def count_of_type(self, type_key: str) -> int:
        return len(self._by_type.get(type_key, {}))

    def keys_under(self, prefix: str, type_keys: Iterable[str]) -> list[str]:
        """Keys of the given types that start with `prefix` (a lower-case id followed by '/')."""
        return [k for t in type_keys for k in self._by_type.get(t, {}) if k.startswith(prefix)]
