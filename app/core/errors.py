"""Exceptions with stable machine codes. No Flask here: one app-level handler renders them.

Every code is a member of ErrorCode (app/core/error_codes.py), the one list of codes.
"""

from __future__ import annotations

from app.core.error_codes import ErrorCode


class TouchpointError(Exception):
    """Base class: `code` is stable and documented; `message` is for people."""

    status = 400
    code = ErrorCode.BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: ErrorCode | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.extra = extra or {}
        self.headers: dict[str, str] = {}

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        error.update(self.extra)
        return {"error": error}

    @property
    def errors(self) -> list[TouchpointError]:
        """Every error this one reports: itself, or each field error of ValidationErrors."""
        return [self]


class BadRequest(TouchpointError):
    status = 400
    code = ErrorCode.BAD_REQUEST


class _NamedReason(TouchpointError):
    """A status with no generic code: each raise names its reason (`admin_only`,
    `already_redeemed`...), so the list of codes holds only codes the API answers."""

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode,
        field: str | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message, field=field, code=code, extra=extra)


class Unauthorized(_NamedReason):
    status = 401


class Forbidden(_NamedReason):
    status = 403


class NotFound(TouchpointError):
    status = 404
    code = ErrorCode.NOT_FOUND


class Conflict(_NamedReason):
    status = 409


class Gone(_NamedReason):
    status = 410


class ValidationError(TouchpointError):
    status = 422
    code = ErrorCode.VALIDATION_ERROR


class ValidationErrors(ValidationError):
    """Several field errors of one payload, found together (see validation.Collector).

    `code`, `message` and `field` are the first error's, so a client that reads one error
    reads what it did before; `errors` in the body lists every one.
    """

    def __init__(self, errors: list[ValidationError]) -> None:
        first = errors[0]
        super().__init__(first.message, field=first.field, code=first.code, extra=first.extra)
        self._errors = list(errors)

    @property
    def errors(self) -> list[TouchpointError]:
        return list(self._errors)

    def body(self) -> dict:
        body = super().body()
        body["error"]["errors"] = [error.body()["error"] for error in self._errors]
        return body


class RateLimited(TouchpointError):
    status = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, extra={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}
