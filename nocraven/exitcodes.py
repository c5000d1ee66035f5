"""Process exit codes of every NoC Raven command (the CLI and the engine): the one enum, and the
one mapper from API errors to codes."""

from __future__ import annotations

from enum import IntEnum

from nocraven.errors import ApiError, ErrorCode


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the engine refused or failed
    USAGE = 2  # bad arguments or a bad config file
    UNREACHABLE = 3  # no engine answers on the socket
    PERMISSION = 4
    TIMEOUT = 5


def exit_code_for(error: ApiError) -> ExitCode:
    if error.code in (ErrorCode.FORBIDDEN, ErrorCode.UNAUTHORIZED, ErrorCode.ORIGIN_REFUSED):
        return ExitCode.PERMISSION
    if error.code == ErrorCode.TIMEOUT:
        return ExitCode.TIMEOUT
    if error.code == ErrorCode.BAD_REQUEST:
        return ExitCode.USAGE
    return ExitCode.FAILED
