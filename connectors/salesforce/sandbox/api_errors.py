"""Errors the sandbox answers with, in Salesforce's shapes: a list of {message, errorCode, fields}."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SfError:
    """One error as Salesforce reports it; a record-level failure may carry several."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def rest(self) -> dict[str, Any]:
        """The REST API's shape (`errorCode`)."""
        return {"message": self.message, "errorCode": self.code, "fields": list(self.fields)}

    def record(self) -> dict[str, Any]:
        """The shape inside sObject Collections results (`statusCode`)."""
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def bulk(self) -> str:
        """The `sf__Error` column of a Bulk API 2.0 failed-results CSV."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


@dataclass
class ApiError(Exception):
    """A whole request refused with `status` and the errors listed in the body."""

    status: int
    errors: Sequence[SfError] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} " + "; ".join(f"{e.code}: {e.message}" for e in self.errors))

    def body(self) -> list[dict[str, Any]]:
        return [e.rest() for e in self.errors]


def refuse(status: int, code: str, message: str, fields: Sequence[str] = ()) -> ApiError:
    """An ApiError with a single error."""
    return ApiError(status, (SfError(code, message, tuple(fields)),))


def not_found() -> ApiError:
    return refuse(404, "NOT_FOUND", "The requested resource does not exist")


def bad_json(detail: str) -> ApiError:
    return refuse(400, "JSON_PARSER_ERROR", detail)


class RecordRejectedError(Exception):
    """One record could not be written; the request may go on with the others."""

    def __init__(self, errors: Sequence[SfError], status: int = 400) -> None:
        super().__init__("; ".join(f"{e.code}: {e.message}" for e in errors))
        self.errors = tuple(errors)
        self.status = status
