"""A payload edit, field by field: added, removed, changed; and what a person may type as a payload."""

from __future__ import annotations

import pytest

from sync_core.domain.payload_diff import FieldChange, diff, parse_payload, unified


def test_diff_names_each_field_an_edit_touches() -> None:
    before = {"email": "broken.example.com", "name": "Ada", "title": "CFO", "tags": ["a"]}
    after = {"email": "ada@example.com", "name": "Ada", "phone": "+49 30 1", "tags": ["a"]}
    assert diff(before, after) == [
        FieldChange("email", "changed", "broken.example.com", "ada@example.com"),
        FieldChange("phone", "added", after="+49 30 1"),
        FieldChange("title", "removed", before="CFO"),
    ]


def test_equal_values_are_no_change_whatever_their_key_order() -> None:
    assert diff({"a": {"x": 1, "y": 2}}, {"a": {"y": 2, "x": 1}}) == []
    assert diff({"a": 1}, {"a": 1.5}) == [FieldChange("a", "changed", 1, 1.5)]
    assert diff({"a": None}, {}) == [FieldChange("a", "removed", None)]


def test_unified_reads_like_a_diff() -> None:
    changes = diff({"email": "x", "title": "CFO"}, {"email": "y", "city": "Lyon"})
    assert unified(changes) == '+ city: "Lyon"\n- email: "x"\n+ email: "y"\n- title: "CFO"'
    assert changes[0].as_json() == {"field": "city", "kind": "added", "before": None, "after": "Lyon"}


def test_a_payload_is_a_json_object() -> None:
    assert parse_payload('{"email": "ada@example.com", "n": 2}') == {"email": "ada@example.com", "n": 2}
    with pytest.raises(ValueError, match=r"not valid JSON.*line 1"):
        parse_payload('{"email": ')
    with pytest.raises(ValueError, match="JSON object"):
        parse_payload('["email"]')
