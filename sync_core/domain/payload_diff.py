"""What a person's edit changes in a dead letter's payload: field by field, before and after."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class FieldChange:
    """One field an edit adds, removes or changes."""

    field: str
    kind: Kind
    before: Any = None
    after: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "kind": self.kind, "before": self.before, "after": self.after}

    def line(self) -> str:
        """The change as one line of a unified diff's body: `- field: old` / `+ field: new`."""
        before, after = _shown(self.before), _shown(self.after)
        if self.kind == "added":
            return f"+ {self.field}: {after}"
        if self.kind == "removed":
            return f"- {self.field}: {before}"
        return f"- {self.field}: {before}\n+ {self.field}: {after}"


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """The fields `after` adds to, removes from or changes in `before`, by field name."""
    changes: list[FieldChange] = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            changes.append(FieldChange(name, "removed", before=before[name]))
        elif name not in before:
            changes.append(FieldChange(name, "added", after=after[name]))
        elif _shown(before[name]) != _shown(after[name]):
            changes.append(FieldChange(name, "changed", before=before[name], after=after[name]))
    return changes


def unified(changes: list[FieldChange]) -> str:
    """The changes as diff lines, for the confirm dialog and the audit log."""
    return "\n".join(change.line() for change in changes)


def parse_payload(text: str) -> dict[str, Any]:
    """A payload a person typed: a JSON object; ValueError saying what is wrong otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise ValueError(f"the payload is not valid JSON: {error.msg} ({where})") from None
    if not isinstance(value, dict):
        raise ValueError("the payload must be a JSON object of field -> value")
    return value
