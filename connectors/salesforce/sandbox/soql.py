"""A SOQL parser: SELECT fields (parent paths too) or COUNT(), WHERE, ORDER BY, LIMIT and OFFSET."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.salesforce.sandbox.api_errors import ApiError, refuse
from connectors.salesforce.sandbox.values import parse_datetime

_TOKENS = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_RANGE_LITERALS = ("TODAY", "YESTERDAY", "TOMORROW", "THIS_MONTH", "LAST_N_DAYS", "NEXT_N_DAYS")
_CLAUSES = ("FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "FOR", "USING")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int

    def word(self) -> str:
        return self.text.upper() if self.kind == "name" else ""


@dataclass(frozen=True)
class Path:
    """A field as written: `Name`, or through parents, `Account.Owner.Name`."""

    parts: tuple[str, ...]
    position: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    """A value in a filter: kind is string, number, boolean, null, date, datetime or range."""

    kind: str
    value: Any


@dataclass(frozen=True)
class Comparison:
    path: Path
    op: str
    literal: Literal


@dataclass(frozen=True)
class Membership:
    path: Path
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: Path
    pattern: str


@dataclass(frozen=True)
class Junction:
    op: str  # AND or OR
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Negation:
    expr: Expr


Expr = Comparison | Membership | Like | Junction | Negation


@dataclass(frozen=True)
class Ordering:
    path: Path
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    select: tuple[Path, ...]
    count: bool
    sobject: str
    where: Expr | None
    order: tuple[Ordering, ...]
    limit: int | None
    offset: int | None
    text: str


def malformed(text: str, position: int, message: str) -> ApiError:
    """MALFORMED_QUERY with the caret Salesforce draws under the offending token."""
    return refuse(
        400,
        "MALFORMED_QUERY",
        f"\n{text}\n{' ' * position}^\nERROR at Row:1:Column:{position + 1}\n{message}",
    )


def tokenize(text: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKENS.match(text, position)
        if match is None:
            raise malformed(text, position, f"unexpected token: '{text[position]}'")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    return tokens


def _unescape(quoted: str) -> str:
    body = quoted[1:-1]
    out = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            # \_ and \% stay escaped: they mean a literal _ or % inside LIKE patterns
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def date_range(word: str, now: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) of a relative date literal, in UTC (the org's time zone here)."""
    name, _, count = word.upper().partition(":")
    today = _day_start(now.astimezone(UTC).date())
    day = timedelta(days=1)
    n = int(count) if count else 0
    ranges = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "THIS_MONTH": (
            today.replace(day=1),
            (today.replace(day=28) + 4 * day).replace(day=1),
        ),
    }
    if name in ("LAST_N_DAYS", "NEXT_N_DAYS") and not count:
        return None
    return ranges.get(name)


class _Parser:
    def __init__(self, text: str, now: datetime) -> None:
        self.text = text
        self.now = now
        self.tokens = tokenize(text)
        self.index = 0

    # -- token helpers -------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def fail(self, token: Token | None, message: str | None = None) -> ApiError:
        if token is None:
            return malformed(self.text, len(self.text), message or "unexpected end of query")
        return malformed(self.text, token.position, message or f"unexpected token: '{token.text}'")

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail(None)
        self.index += 1
        return token

    def accept(self, word: str) -> bool:
        token = self.peek()
        if token is not None and (token.word() == word or (token.kind != "name" and token.text == word)):
            self.index += 1
            return True
        return False

    def expect(self, word: str) -> Token:
        token = self.peek()
        if not self.accept(word):
            raise self.fail(token)
        return self.tokens[self.index - 1]

    def path(self) -> Path:
        token = self.next()
        if token.kind != "name" or token.word() in _CLAUSES:
            raise self.fail(token)
        return Path(tuple(token.text.split(".")), token.position)

    # -- grammar -------------------------------------------------------------------------------

    def query(self) -> Query:
        self.expect("SELECT")
        count = False
        select: list[Path] = []
        token = self.peek()
        nxt = self.peek(1)
        if token is not None and token.word() == "COUNT" and nxt is not None and nxt.text == "(":
            self.index += 2
            self.expect(")")
            count = True
        else:
            select.append(self.path())
            while self.accept(","):
                select.append(self.path())
            after = self.peek()
            if after is not None and after.text == "(":
                raise self.fail(after, "aggregate functions and subqueries are not supported here")
        self.expect("FROM")
        sobject = self.next()
        if sobject.kind != "name" or "." in sobject.text:
            raise self.fail(sobject)
        where = self.condition() if self.accept("WHERE") else None
        order: list[Ordering] = []
        if self.accept("ORDER"):
            self.expect("BY")
            order.append(self.ordering())
            while self.accept(","):
                order.append(self.ordering())
        limit = self.integer() if self.accept("LIMIT") else None
        offset = self.integer() if self.accept("OFFSET") else None
        if self.peek() is not None:
            raise self.fail(self.peek())
        return Query(tuple(select), count, sobject.text, where, tuple(order), limit, offset, self.text)

    def integer(self) -> int:
        token = self.next()
        if token.kind != "number" or not token.text.isdigit():
            raise self.fail(token)
        return int(token.text)

    def ordering(self) -> Ordering:
        path = self.path()
        descending = False
        if self.accept("DESC"):
            descending = True
        else:
            self.accept("ASC")
        nulls_last = descending  # Salesforce's default: nulls first ascending, last descending
        if self.accept("NULLS"):
            if self.accept("LAST"):
                nulls_last = True
            else:
                self.expect("FIRST")
                nulls_last = False
        return Ordering(path, descending, nulls_last)

    def condition(self) -> Expr:
        parts = [self.unary()]
        op = ""
        while True:
            token = self.peek()
            word = token.word() if token else ""
            if word not in ("AND", "OR"):
                break
            if op and word != op:
                # SOQL refuses AND and OR mixed at one level without parentheses
                raise self.fail(token)
            op = word
            self.index += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Junction(op, tuple(parts))

    def unary(self) -> Expr:
        if self.accept("NOT"):
            return Negation(self.unary())
        if self.accept("("):
            inner = self.condition()
            self.expect(")")
            return inner
        return self.predicate()

    def predicate(self) -> Expr:
        path = self.path()
        token = self.next()
        word = token.word()
        if token.kind == "op":
            return Comparison(path, "!=" if token.text == "<>" else token.text, self.literal())
        if word == "LIKE":
            pattern = self.next()
            if pattern.kind != "string":
                raise self.fail(pattern)
            return Like(path, _unescape(pattern.text))
        negated = False
        if word == "NOT":
            negated = True
            token = self.next()
            word = token.word()
        if word == "IN":
            self.expect("(")
            literals = [self.literal()]
            while self.accept(","):
                literals.append(self.literal())
            self.expect(")")
            return Membership(path, tuple(literals), negated)
        raise self.fail(token)

    def literal(self) -> Literal:
        token = self.next()
        if token.kind == "string":
            return Literal("string", _unescape(token.text))
        if token.kind == "number":
            return Literal("number", float(token.text))
        if token.kind == "date":
            return Literal("date", date.fromisoformat(token.text))
        if token.kind == "datetime":
            return Literal("datetime", parse_datetime(token.text))
        word = token.word()
        if word in ("TRUE", "FALSE"):
            return Literal("boolean", word == "TRUE")
        if word == "NULL":
            return Literal("null", None)
        if token.kind == "name" and word.partition(":")[0] in _RANGE_LITERALS:
            span = date_range(word, self.now)
            if span is not None:
                return Literal("range", span)
        raise self.fail(token)


def parse(text: str, now: datetime) -> Query:
    """The parsed query; ApiError(400, MALFORMED_QUERY) when Salesforce would not understand it."""
    if not text.strip():
        raise refuse(400, "MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    return _Parser(text, now).query()
