"""Read the Bicep under infra/ offline with pycep (the parser checkov uses); no Bicep CLI, no network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"


@dataclass(frozen=True)
class BicepFile:
    path: Path
    document: dict[str, Any]

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.document.get("variables") or {})

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.document.get("parameters") or {})

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.document.get("resources") or {})

    def resolve(self, value: Any) -> Any:
        """A bare name that is a variable of this file stands for the variable's value (pycep keeps
        references as plain strings)."""
        seen: set[str] = set()
        while isinstance(value, str) and value in self.variables and value not in seen:
            seen.add(value)
            value = self.variables[value]["value"]
        return value


def bicep_paths() -> list[Path]:
    return sorted(INFRA_DIR.rglob("*.bicep"))


@cache
def _parser() -> BicepParser:
    return BicepParser()  # building the Lark grammar is the slow part; parsing reuses it


# pycep (checkov's parser) predates Bicep's fail() (sys namespace, a deployment-time error with a message).
# Offline readers see it as dataUriToString(), a one-string function the templates never use otherwise, so
# the guard stays visible in the parsed tree (bicep_eval raises GuardFailed on it) and checkov parses the
# same text (test_checkov.py scans a copy rewritten this way).
FAIL_CALL = re.compile(r"(?<![\w.])fail\(")
FAIL_STAND_IN = "dataUriToString("
FAIL_STAND_IN_TYPE = "data_uri_to_string"


def offline_text(text: str) -> str:
    assert FAIL_STAND_IN not in text, "the templates must not use dataUriToString(): it stands in for fail()"
    return FAIL_CALL.sub(FAIL_STAND_IN, text)


def parse(path: Path) -> BicepFile:
    document = _parser().parse(text=offline_text(path.read_text(encoding="utf-8")))
    return BicepFile(path=path, document=dict(document))


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The object of a resource or module, whether it sits in a loop and/or behind an `if`."""
    config: dict[str, Any] = declaration["config"]
    while isinstance(config.get("config"), dict) and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def resources_of_type(files: list[BicepFile], resource_type: str) -> Iterator[tuple[BicepFile, dict[str, Any]]]:
    """Declared (not `existing`) resources of one type, with their bodies."""
    for bicep in files:
        for declaration in bicep.resources.values():
            same_type = str(declaration.get("type", "")).lower() == resource_type.lower()
            if same_type and not declaration.get("existing"):
                yield bicep, body(declaration)


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a parsed document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)
