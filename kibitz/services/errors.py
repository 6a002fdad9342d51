"""What a service says when it refuses: a code for programs, a message for people."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class Invalid(ServiceError):
    status = 422


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class RateLimited(ServiceError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(
            "rate_limited", f"Too many requests. Please wait {retry_after} {unit} and try again."
        )
        self.retry_after = retry_after


class Unauthorized(ServiceError):
    status = 401


class UnsupportedMediaType(ServiceError):
    status = 415
