"""Exceptions with stable machine codes. No Flask here: one app-level handler renders them."""

from __future__ import annotations


class TouchpointError(Exception):
    """Base class: `code` is stable and documented; `message` is for people."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
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
    code = "bad_request"


class Unauthorized(TouchpointError):
    status = 401
    code = "unauthorized"


class Forbidden(TouchpointError):
    status = 403
    code = "forbidden"


class NotFound(TouchpointError):
    status = 404
    code = "not_found"


class Conflict(TouchpointError):
    status = 409
    code = "conflict"


class Gone(TouchpointError):
    status = 410
    code = "gone"


class ValidationError(TouchpointError):
    status = 422
    code = "validation_error"


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
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, extra={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}
