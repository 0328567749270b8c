"""The public methods the sandbox answers and how a call's arguments bind to their parameters.

JSON-RPC's execute_kw passes positional `args` (a recordset method's first one is its ids) and
keyword `kwargs`; JSON-2 passes only named arguments plus `ids` and `context`. Both bind here,
and both fail the way Python would (TypeError) for a missing, repeated or unknown argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.erp.sandbox.exceptions import AccessError, BadArgumentsError, NotFoundError
from connectors.erp.sandbox.schema import model as model_named

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Method:
    name: str
    on_records: bool  # a recordset method (ids first) rather than an @api.model one
    params: tuple[tuple[str, Any], ...]  # (name, default); _NO_DEFAULT marks a required one
    models: frozenset[str] | None = None  # None: every model

    def accepts(self, model: str) -> bool:
        return self.models is None or model in self.models


def _m(name: str, on_records: bool, *params: tuple[str, Any], models: tuple[str, ...] | None = None) -> Method:
    return Method(name, on_records, params, frozenset(models) if models else None)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        _m("search_read", False, ("domain", None), ("fields", None), ("offset", 0), ("limit", None),
           ("order", None), ("load", "_classic_read")),
        _m("search", False, ("domain", _NO_DEFAULT), ("offset", 0), ("limit", None), ("order", None)),
        _m("search_count", False, ("domain", None), ("limit", None)),
        _m("read", True, ("fields", None), ("load", "_classic_read")),
        _m("create", False, ("vals_list", _NO_DEFAULT)),
        _m("write", True, ("vals", _NO_DEFAULT)),
        _m("fields_get", False, ("allfields", None), ("attributes", None)),
        _m("action_confirm", True, models=("sale.order",)),
        _m("action_cancel", True, models=("sale.order",)),
        _m("context_get", False, models=("res.users",)),
    )
}


@dataclass(frozen=True)
class BoundCall:
    method: Method
    ids: list[int]
    arguments: dict[str, Any]


def find(model: str, name: str) -> Method:
    """The method, or the error Odoo gives: for an unknown model, a private name, an unknown method."""
    if model_named(model) is None:
        raise UnknownModelError(f"Object {model} doesn't exist")
    if name.startswith("_"):
        raise AccessError(f"Private methods (such as '{name}') cannot be called remotely.")
    method = METHODS.get(name)
    if method is None or not method.accepts(model):
        raise UnknownMethodError(f"The method '{model}.{name}' does not exist")
    return method


class _IndexArgumentError(BadArgumentsError):
    name = "builtins.IndexError"


class UnknownModelError(NotFoundError):
    """Over JSON-RPC Odoo says UserError("Object x doesn't exist"); JSON-2 answers 404."""

    rpc_name = "odoo.exceptions.UserError"


class UnknownMethodError(NotFoundError):
    rpc_name = "builtins.AttributeError"


def _ids(value: Any) -> list[int]:
    if value is None or value is False:
        return []
    if isinstance(value, bool):
        raise BadArgumentsError(f"invalid ids: {value!r}")
    if isinstance(value, int):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return list(value)
    raise BadArgumentsError(f"invalid ids: {value!r}")


def _fill(method: Method, named: dict[str, Any]) -> dict[str, Any]:
    known = {name for name, _ in method.params}
    unknown = sorted(set(named) - known)
    if unknown:
        raise BadArgumentsError(f"{method.name}() got an unexpected keyword argument '{unknown[0]}'")
    result: dict[str, Any] = {}
    for name, default in method.params:
        if name in named:
            result[name] = named[name]
        elif default is _NO_DEFAULT:
            raise BadArgumentsError(f"{method.name}() missing 1 required positional argument: '{name}'")
        else:
            result[name] = default
    return result


def bind_positional(method: Method, args: Sequence[Any], kwargs: Mapping[str, Any]) -> BoundCall:
    """execute_kw(..., args, kwargs): ids from args[0] for recordset methods, the rest in order."""
    rest = list(args)
    if method.name == "create" and not rest:
        # Odoo's create wrapper reads args[0] to tell one dict from a list: keyword-only values fail.
        raise _IndexArgumentError("list index out of range")
    ids: list[int] = []
    if method.on_records:
        if not rest:
            raise BadArgumentsError(f"{method.name}() missing 1 required positional argument: 'self' (the record ids)")
        ids = _ids(rest.pop(0))
    if len(rest) > len(method.params):
        raise BadArgumentsError(
            f"{method.name}() takes {len(method.params) + 1} positional arguments but {len(rest) + 1} were given"
        )
    named: dict[str, Any] = {}
    for (name, _), value in zip(method.params, rest, strict=False):
        named[name] = value
    for name, value in kwargs.items():
        if name in named:
            raise BadArgumentsError(f"{method.name}() got multiple values for argument '{name}'")
        named[name] = value
    return BoundCall(method, ids, _fill(method, named))


def bind_named(method: Method, body: Mapping[str, Any]) -> BoundCall:
    """A JSON-2 body: `ids`, `context` and the method's parameters by name."""
    named = {k: v for k, v in body.items() if k not in ("ids", "context")}
    ids = _ids(body.get("ids")) if method.on_records else []
    return BoundCall(method, ids, _fill(method, named))
