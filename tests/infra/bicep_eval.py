"""Evaluate Bicep variables offline from pycep's tree: enough of the expression language for the parameter
guards of infra/main.bicep (logic, comparisons, string and array functions, for-expressions, fail()).

pycep keeps identifiers and string literals alike as plain strings; a string that names a loop variable, a
parameter or a variable of the file is that value, any other is a literal. The guard text is written with
explicit parentheses because pycep's grammar binds `!`, `&&` and `? :` differently from Bicep; evaluating
the parsed tree is what proves the two agree (a misparse makes the valid-parameters test fail)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.infra.bicep_model import FAIL_STAND_IN_TYPE, BicepFile


class GuardFailed(Exception):
    """fail('<message>') was evaluated: the deployment stops with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _dedupe(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _union(*arrays: Any) -> Any:
    if all(isinstance(a, dict) for a in arrays):
        merged: dict[str, Any] = {}
        for a in arrays:
            merged.update(a)
        return merged
    return _dedupe([x for a in arrays for x in a])


def _empty(value: Any) -> bool:
    return value is None or len(value) == 0


def _fail(message: str) -> Any:
    raise GuardFailed(message)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "empty": _empty,
    "contains": lambda container, item: (item in container),
    "length": len,
    "split": lambda text, delimiter: text.split(delimiter),
    "to_lower": lambda text: text.lower(),
    "concat": lambda *parts: ("".join(parts) if all(isinstance(p, str) for p in parts)
                              else [x for p in parts for x in p]),
    "ends_with": lambda text, suffix: text.lower().endswith(suffix.lower()),
    "substring": lambda text, start, length: text[start:start + length],
    "union": _union,
    "intersection": lambda *arrays: [x for x in _dedupe(list(arrays[0])) if all(x in a for a in arrays[1:])],
    "replace": lambda text, old, new: text.replace(old, new),
    "take": lambda value, count: value[:count],
    "join": lambda items, delimiter: delimiter.join(items),
    "first": lambda value: value[0] if value else None,
    "last": lambda value: value[-1] if value else None,
    FAIL_STAND_IN_TYPE: _fail,
}

_OPERATORS: dict[str, Callable[..., Any]] = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "greater_than": lambda a, b: a > b,
    "less_than": lambda a, b: a < b,
    "substract": lambda a, b: a - b,  # pycep's spelling
    "add": lambda a, b: a + b,
}


class Evaluator:
    def __init__(self, bicep: BicepFile, params: dict[str, Any], context: dict[str, Any]) -> None:
        self.bicep = bicep
        self.context = context
        self.params: dict[str, Any] = {}
        for name, declared in bicep.parameters.items():
            if name in params:
                self.params[name] = params[name]
            elif declared.get("default") is not None:
                self.params[name] = self._literal_default(declared["default"])
        self.cache: dict[str, Any] = {}

    def _literal_default(self, value: Any) -> Any:
        return self.eval(value, {})

    def variable(self, name: str) -> Any:
        if name not in self.cache:
            self.cache[name] = self.eval(self.bicep.variables[name]["value"], {})
        return self.cache[name]

    def eval(self, node: Any, local: dict[str, Any]) -> Any:
        if node is None or isinstance(node, (bool, int)):
            return node
        if isinstance(node, str):
            if node in local:
                return local[node]
            if node in self.params:
                return self.params[node]
            if node in self.bicep.variables:
                return self.variable(node)
            return node
        if isinstance(node, list):
            return [self.eval(item, local) for item in node]
        if "loop_type" in node:
            detail = node["loop_type"]["detail"]
            return [self.eval(node["config"], {**local, detail["item_name"]: item})
                    for item in self.eval(detail["array_name"], local)]
        if "operator" in node:
            return self._operator(node["operator"], local)
        if "function" in node:
            return self._function(node["function"], local)
        return {key: self.eval(value, local) for key, value in node.items()}

    def _operator(self, operator: dict[str, Any], local: dict[str, Any]) -> Any:
        kind, operands = operator["type"], operator["operands"]
        if kind == "conditional":
            branch = "true_value" if self.eval(operands["condition"], local) else "false_value"
            return self.eval(operands[branch], local)
        if kind == "and":
            return bool(self.eval(operands["operand_1"], local)) and bool(self.eval(operands["operand_2"], local))
        if kind == "or":
            return bool(self.eval(operands["operand_1"], local)) or bool(self.eval(operands["operand_2"], local))
        if kind == "not":
            return not self.eval(operands["bool_value"], local)
        if kind == "property_accessor":
            return self.eval(operands["operand_1"], local)[operands["operand_2"]]
        if kind == "index_accessor":
            return self.eval(operands["operand_1"], local)[self.eval(operands["operand_2"], local)]
        if kind in _OPERATORS:
            return _OPERATORS[kind](self.eval(operands["operand_1"], local), self.eval(operands["operand_2"], local))
        raise NotImplementedError(f"operator {kind}")

    def _function(self, function: dict[str, Any], local: dict[str, Any]) -> Any:
        kind = function["type"]
        if kind in ("subscription", "environment", "tenant"):
            result: Any = dict(self.context.get(kind, {}))
        elif kind in _FUNCTIONS:
            arguments = [self.eval(v, local) for v in function["parameters"].values()]
            result = _FUNCTIONS[kind](*arguments)
        else:
            raise NotImplementedError(f"function {kind}")
        if "index" in function:
            result = result[function["index"]]
        if "property_name" in function:
            result = result[function["property_name"]]
        return result
