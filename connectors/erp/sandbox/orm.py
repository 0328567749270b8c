"""The ORM over the store: search, read, create, write and fields_get, as Odoo's models answer them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from connectors.erp.sandbox import domain as domains
from connectors.erp.sandbox import sales
from connectors.erp.sandbox.exceptions import (
    AccessError,
    BadArgumentsError,
    InvalidValueError,
    MissingError,
    ValidationError,
)
from connectors.erp.sandbox.methods import BoundCall, UnknownModelError
from connectors.erp.sandbox.schema import MAGIC, Field, Model, model
from connectors.erp.sandbox.store import Row, Transaction
from connectors.erp.sandbox.values import to_store, to_wire

SYSTEM_UID = 1  # OdooBot: scheduled actions (the business clock) run as it
ADMIN_UID = 2  # the API key's user
SALES_UID = 3  # a salesperson: the seeded history is theirs


class Hooks(Protocol):
    """What the rest of the sandbox wants to hear about (the fault profile, the business clock)."""

    def rejection(self, model_name: str, record_id: int | None, values: Mapping[str, Any]) -> str | None:
        """A ValidationError message the fault profile wants this write to fail with, if any."""
        ...

    def order_confirmed(self, tx: Transaction, order_id: int) -> None: ...

    def order_cancelled(self, tx: Transaction, order_id: int) -> None: ...


def get_model(name: str) -> Model:
    found = model(name)
    if found is None:
        raise UnknownModelError(f"Object {name} doesn't exist")
    return found


class Env:
    """One call's view of the database: its transaction, its context and the hooks."""

    def __init__(self, tx: Transaction, hooks: Hooks, context: Mapping[str, Any] | None = None) -> None:
        self.tx = tx
        self.hooks = hooks
        self.context = dict(context or {})
        self.uid = tx.uid

    # -- the Lookup the domain evaluator needs ------------------------------------------------------

    def get(self, model_name: str, record_id: int) -> Row | None:
        return self.tx.get(model_name, record_id)

    def value(self, model_name: str, row: Row, name: str) -> Any:
        fld = get_model(model_name).fields[name]
        if fld.type == "one2many":
            assert fld.relation is not None
            assert fld.inverse is not None
            inverse = fld.inverse
            return sorted(r["id"] for r in self.tx.rows(fld.relation) if r.get(inverse) == row["id"])
        if name == "display_name":
            return self.display(model_name, row["id"])
        if name in row:
            return row[name]
        return list(fld.default or ()) if fld.type == "many2many" else fld.default

    def display(self, model_name: str, record_id: int) -> str:
        row = self.tx.get(model_name, record_id)
        if row is None:
            return f"{model_name},{record_id}"
        if model_name == "res.partner" and row.get("parent_id") and not row.get("is_company"):
            parent = self.tx.get("res.partner", row["parent_id"])
            if parent is not None:
                return f"{parent.get('name') or ''}, {row.get('name') or ''}"
        if model_name == "product.product" and row.get("default_code"):
            return f"[{row['default_code']}] {row.get('name') or ''}"
        text = row.get(get_model(model_name).rec_name)
        return str(text) if text not in (None, False) else f"{model_name},{record_id}"

    # -- dispatch -------------------------------------------------------------------------------------

    def call(self, model_name: str, bound: BoundCall) -> Any:
        get_model(model_name)
        args = bound.arguments
        name = bound.method.name
        if name == "search_read":
            ids = self.search(model_name, args["domain"], args["offset"], args["limit"], args["order"])
            return self.read(model_name, ids, args["fields"], args["load"])
        if name == "search":
            return self.search(model_name, args["domain"], args["offset"], args["limit"], args["order"])
        if name == "search_count":
            return len(self.search(model_name, args["domain"], 0, args["limit"], "id"))
        if name == "read":
            return self.read(model_name, bound.ids, args["fields"], args["load"])
        if name == "create":
            vals_list = args["vals_list"]
            if isinstance(vals_list, Mapping):
                return self.create(model_name, [vals_list])[0]
            if not isinstance(vals_list, list) or not all(isinstance(v, Mapping) for v in vals_list):
                raise BadArgumentsError("create() takes a dict of values or a list of them")
            return self.create(model_name, vals_list)
        if name == "write":
            if not isinstance(args["vals"], Mapping):
                raise BadArgumentsError("write() takes a dict of values")
            self.write(model_name, bound.ids, args["vals"])
            return True
        if name == "fields_get":
            return self.fields_get(model_name, args["allfields"], args["attributes"])
        if name == "action_confirm":
            self._existing(model_name, bound.ids)
            sales.confirm(self, bound.ids)
            return True
        if name == "action_cancel":
            self._existing(model_name, bound.ids)
            sales.cancel(self, bound.ids)
            return True
        if name == "context_get":
            return {"lang": "en_US", "tz": "Europe/Brussels", "uid": self.uid}
        raise AccessError(f"The method '{model_name}.{name}' is not available")  # pragma: no cover

    # -- the ORM methods --------------------------------------------------------------------------------

    def search(
        self, model_name: str, domain: Any, offset: Any = 0, limit: Any = None, order: Any = None
    ) -> list[int]:
        current = get_model(model_name)
        expression = domains.parse(model_name, domain)
        if not isinstance(offset, int) or (limit is not None and limit is not False and not isinstance(limit, int)):
            raise BadArgumentsError(f"invalid offset or limit: {offset!r}, {limit!r}")
        if order is not None and order is not False and not isinstance(order, str):
            raise BadArgumentsError(f"invalid order: {order!r}")
        terms = domains.order_terms(model_name, order or None)
        # Archived records are left out unless the domain asks about `active` or the context says so.
        skip_archived = (
            current.has_active and self.context.get("active_test", True) and not _mentions(domain, "active")
        )
        end = None if limit is None or limit is False else offset + int(limit)

        def kept(row: Row) -> bool:
            return not (skip_archived and row.get("active") is False) and domains.matches(
                self, model_name, row, expression
            )

        pinned = self._pinned(model_name, domain)
        if pinned is not None and end is not None and terms == [("id", False)]:
            found: list[int] = []  # in id order already: stop once the page is full
            for row in pinned:
                if len(found) >= end:
                    break
                if kept(row):
                    found.append(row["id"])
            return found[offset:end]
        rows = [r for r in (pinned if pinned is not None else self.tx.rows(model_name)) if kept(r)]
        ordered = domains.sort_rows(rows, terms)
        ids = [r["id"] for r in ordered]
        return ids[offset:end]

    def _pinned(self, model_name: str, domain: Any) -> Iterator[Row] | None:
        """The only rows a domain can match, in id order, when one of its ANDed terms pins `id`
        (`in`, `=`, `>`, `>=`): paging a large table by id then costs each page its own rows."""
        if not isinstance(domain, list | tuple) or any(isinstance(term, str) for term in domain):
            return None  # '|', '!' or '&' operators: every row is a candidate
        table = self.tx.table(model_name)
        for term in domain:
            if not isinstance(term, list | tuple) or len(term) != 3 or term[0] != "id":
                continue
            _, op, value = term
            if op in ("in", "=") and all(isinstance(v, int) for v in (value if op == "in" else [value])):
                wanted = sorted(set(value if op == "in" else [value]))
                return (table[i] for i in wanted if i in table)
            if op in (">", ">=") and isinstance(value, int) and not isinstance(value, bool):
                first = value + 1 if op == ">" else value
                return (table[i] for i in range(max(first, 1), self.tx.store.last_id(model_name) + 1) if i in table)
        return None

    def read(self, model_name: str, ids: Sequence[int], fields: Any = None, load: Any = "_classic_read") -> list[Row]:
        current = get_model(model_name)
        if fields in (None, False, []):
            names = list(current.fields)
        elif isinstance(fields, list) and all(isinstance(f, str) for f in fields):
            names = list(dict.fromkeys(fields))
            unknown = [n for n in names if n not in current.fields]
            if unknown:
                raise InvalidValueError(f"Invalid field {unknown[0]!r} on model {model_name!r}")
        else:
            raise BadArgumentsError(f"read() fields must be a list of field names, not {fields!r}")
        rows = self._existing(model_name, ids)
        display = self.display if load == "_classic_read" else None
        result = []
        for row in rows:
            record: Row = {"id": row["id"]}
            for name in names:
                if name != "id":
                    record[name] = to_wire(current.fields[name], self.value(model_name, row, name), display)
            result.append(record)
        return result

    def _existing(self, model_name: str, ids: Sequence[int]) -> list[Row]:
        rows = []
        for record_id in ids:
            row = self.tx.get(model_name, record_id)
            if row is None:
                raise MissingError(
                    "Record does not exist or has been deleted.\n"
                    f"(Record: {model_name}({record_id},), User: {self.uid})"
                )
            rows.append(row)
        return rows

    def create(self, model_name: str, vals_list: Sequence[Mapping[str, Any]]) -> list[int]:
        current = get_model(model_name)
        created = []
        for vals in vals_list:
            plain, commands = self._split(current, vals)
            values = {n: _default(f) for n, f in current.fields.items()
                      if n not in MAGIC and f.type != "one2many" and not f.computed}  # fmt: skip
            values.update(plain)
            values = sales.defaults(self, model_name, values, set(plain))
            self._check(current, values, None)
            record_id = self.tx.insert(model_name, values)
            for name, command_list in commands.items():
                self._commands(model_name, current.fields[name], record_id, command_list)
            sales.after_write(self, model_name, record_id)
            created.append(record_id)
        return created

    def write(self, model_name: str, ids: Sequence[int], vals: Mapping[str, Any]) -> None:
        current = get_model(model_name)
        rows = self._existing(model_name, ids)
        plain, commands = self._split(current, vals)
        for row in rows:
            self._check(current, {**row, **plain}, row["id"])
            self.tx.update(model_name, row["id"], plain)
            for name, command_list in commands.items():
                self._commands(model_name, current.fields[name], row["id"], command_list)
            sales.after_write(self, model_name, row["id"])

    def fields_get(self, model_name: str, allfields: Any = None, attributes: Any = None) -> dict[str, Any]:
        current = get_model(model_name)
        names = list(allfields) if allfields else list(current.fields)
        result: dict[str, Any] = {}
        for name in names:
            fld = current.field(name)
            if fld is None:
                continue  # Odoo leaves unknown names out
            described = fld.describe()
            if attributes:
                described = {k: v for k, v in described.items() if k in attributes}
            result[name] = described
        return result

    # -- values and commands -----------------------------------------------------------------------------

    def _split(self, current: Model, vals: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """Plain values converted for the store, and the x2many commands to run after."""
        plain: dict[str, Any] = {}
        commands: dict[str, list[Any]] = {}
        for name, value in vals.items():
            fld = current.field(name)
            if fld is None:
                raise InvalidValueError(f"Invalid field {name!r} on model {current.name!r}")
            if name in MAGIC or fld.computed:
                continue  # computed: Odoo ignores what a client writes there
            if fld.type in ("one2many", "many2many"):
                if not isinstance(value, list):
                    raise InvalidValueError(f"Wrong value for {current.name}.{name}: {value!r}")
                commands[name] = value
                continue
            stored = to_store(fld, value, current.name)
            if fld.type == "many2one" and stored is not None:
                assert fld.relation is not None
                if self.tx.get(fld.relation, stored) is None:
                    raise ValidationError(
                        "The operation cannot be completed: another model requires the record being deleted. "
                        f"If possible, archive it instead.\n\nModel: {current.description} ({current.name}), "
                        f"Field: {fld.string} ({name}), referenced record {fld.relation}({stored},) does not exist"
                    )
            plain[name] = stored
        return plain, commands

    def _check(self, current: Model, values: Mapping[str, Any], record_id: int | None) -> None:
        for name, fld in current.fields.items():
            if fld.required and values.get(name) in (None, "", False) and fld.type != "boolean":
                raise ValidationError(
                    "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n"
                    "- Delete: another model requires the record being deleted. If possible, archive it instead.\n\n"
                    f"Model: {current.description} ({current.name})\nField: {fld.string} ({name})"
                )
        if current.name == "res.partner" and values.get("name") in (None, "") and values.get("type") == "contact":
            raise ValidationError("Contacts require a name")
        rejected = self.hooks.rejection(current.name, record_id, values)
        if rejected:
            raise ValidationError(rejected)

    def _commands(self, model_name: str, fld: Field, record_id: int, commands: list[Any]) -> None:
        """Run x2many commands: (0, 0, vals) create, (1, id, vals) update, (2, id) delete, (3, id) unlink,
        (4, id) link, (5,) clear, (6, 0, ids) replace; a plain list of ids replaces a many2many."""
        assert fld.relation is not None
        if fld.type == "many2many":
            self._many2many(model_name, fld, record_id, commands)
            return
        relation, inverse = fld.relation, fld.inverse
        assert inverse is not None
        for command in commands:
            code, target, vals = _command(fld, command)
            if code == 0:
                self.create(relation, [{**vals, inverse: record_id}])
            elif code == 1:
                self.write(relation, [target], vals)
            elif code in (2, 3):
                self._existing(relation, [target])
                self.tx.delete(relation, target)
            elif code == 4:
                self.write(relation, [target], {inverse: record_id})
            else:  # 5 and 6
                keep = set(vals.get("ids", ())) if code == 6 else set()
                for child in [r["id"] for r in self.tx.rows(relation) if r.get(inverse) == record_id]:
                    if child not in keep:
                        self.tx.delete(relation, child)
                for child in sorted(keep):
                    self.write(relation, [child], {inverse: record_id})

    def _many2many(self, model_name: str, fld: Field, record_id: int, commands: list[Any]) -> None:
        assert fld.relation is not None
        row = self.tx.get(model_name, record_id)
        assert row is not None
        linked = list(row.get(fld.name) or [])
        if all(isinstance(c, int) and not isinstance(c, bool) for c in commands):
            linked = list(commands)
        else:
            for command in commands:
                code, target, vals = _command(fld, command)
                if code == 0:
                    linked.append(self.create(fld.relation, [vals])[0])
                elif code == 1:
                    self.write(fld.relation, [target], vals)
                elif code in (2, 3):
                    linked = [i for i in linked if i != target]
                elif code == 4:
                    linked = [*linked, target] if target not in linked else linked
                elif code == 5:
                    linked = []
                else:
                    linked = list(vals.get("ids", ()))
        self._existing(fld.relation, linked)
        self.tx.update(model_name, record_id, {fld.name: linked}, touch=False)


def _command(fld: Field, command: Any) -> tuple[int, int, dict[str, Any]]:
    """(code, target id, values) of one x2many command; for (6, 0, ids) the ids come as values['ids']."""
    if not isinstance(command, list | tuple) or not command or command[0] not in range(7):
        raise InvalidValueError(f"Invalid command {command!r} for {fld.name}")
    code = int(command[0])
    target = command[1] if len(command) > 1 else 0
    third = command[2] if len(command) > 2 else None
    if code in (1, 2, 3, 4) and (isinstance(target, bool) or not isinstance(target, int)):
        raise InvalidValueError(f"Invalid command {command!r} for {fld.name}")
    if code in (0, 1):
        if not isinstance(third, Mapping):
            raise InvalidValueError(f"Invalid command {command!r} for {fld.name}: values must be a dict")
        return code, int(target or 0), dict(third)
    if code == 6:
        if not isinstance(third, list | tuple):
            raise InvalidValueError(f"Invalid command {command!r} for {fld.name}: ids must be a list")
        return code, 0, {"ids": [int(i) for i in third]}
    return code, int(target or 0), {}


def _default(fld: Field) -> Any:
    if fld.type == "many2many":
        return list(fld.default or ())
    return fld.default


def _mentions(domain: Any, name: str) -> bool:
    if not isinstance(domain, list | tuple):
        return False
    return any(isinstance(t, list | tuple) and len(t) == 3 and t[0] == name for t in domain)
