"""API error codes: the one owner of the stable strings in `{"error": {"code", "message"}}`.

Handlers raise `ApiError`; the API turns it into the envelope with the status below; the client
raises it again on the other side; the CLI maps codes to exit codes (nocraven.exitcodes).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    ORIGIN_REFUSED = "origin_refused"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_AVAILABLE = "not_available"  # the capability is not part of this build yet
    CONFLICT = "conflict"
    PROFILE_REFUSED = "profile_refused"  # a VPN profile that cannot be used; the message names the line
    BUSY = "busy"  # at capacity right now (e.g. too many diagnostics running); retry later
    PORT_IN_USE = "port_in_use"
    UNAVAILABLE = "unavailable"  # the component exists but is not running right now
    TIMEOUT = "timeout"
    TOO_SLOW = "too_slow"  # a stream reader fell too far behind and was cut off
    UNREACHABLE = "unreachable"  # (client side) no engine answers on the socket
    WRITE_FAILED = "write_failed"  # the engine could not write a file it was given (permissions, disk)
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.ORIGIN_REFUSED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_AVAILABLE: 501,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PROFILE_REFUSED: 422,
    ErrorCode.BUSY: 429,
    ErrorCode.PORT_IN_USE: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.TOO_SLOW: 503,
    ErrorCode.UNREACHABLE: 503,
    ErrorCode.WRITE_FAILED: 500,
    ErrorCode.INTERNAL: 500,
}


class ApiError(Exception):
    """A refusal or failure a person can act on: what happened, to what, and what to do."""

    def __init__(self, code: ErrorCode | str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        known = code in ErrorCode._value2member_map_
        # A newer engine may send codes this client does not know: keep them as plain strings.
        self.code: ErrorCode | str = ErrorCode(code) if known else code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS.get(ErrorCode(code), 500) if known else 500

    def envelope(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": str(self.code), "message": self.message}}


def not_available(capability: str) -> ApiError:
    return ApiError(ErrorCode.NOT_AVAILABLE, f"{capability} is not available in this build")
