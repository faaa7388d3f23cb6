"""Domain errors -> gRPC statuses at the servicer boundary (each error names its code)."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from services.common import errors

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def status_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC code a domain error names (``grpc_status``); INTERNAL for anything else."""
    if isinstance(exc, errors.ServiceError):
        return grpc.StatusCode[exc.grpc_status]
    return grpc.StatusCode.INTERNAL


# Status details travel in a trailer, and grpc drops a call whose metadata exceeds 16 KiB
# (the caller sees RESOURCE_EXHAUSTED "Stream removed" instead of the real status). A
# message quoting the caller's input (a 200,000-character id) is cut well below that.
MAX_DETAILS_CHARS = 2000


def details(message: str) -> str:
    if len(message) <= MAX_DETAILS_CHARS:
        return message
    return message[:MAX_DETAILS_CHARS] + f"... ({len(message)} characters, cut)"


def _abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    code = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        # Never leak a traceback to the caller; it goes to the log, with the trace id.
        log.error("unhandled error in %s", method, exc_info=exc)
        context.abort(code, f"internal error in {method}; see the service log")
    context.abort(code, details(str(exc)))


def check_deadline(context: grpc.ServicerContext, what: str = "the request") -> None:
    """Raise DeadlineExceeded when the caller's deadline has already passed."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise errors.DeadlineExceeded(f"deadline exceeded before {what} finished")


def handle_errors(func: F) -> F:
    """Decorate a servicer method (unary or streaming) so domain errors become statuses.

    ``context.abort`` raises an exception that gRPC recognises; anything that is not a
    ``ServiceError`` becomes INTERNAL with a short message and a logged traceback.
    """
    method = func.__qualname__

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            try:
                yield from func(self, request, context)
            except Exception as exc:
                if _is_abort(exc):
                    raise
                _abort(context, exc, method)

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return func(self, request, context)
        except Exception as exc:
            if _is_abort(exc):
                raise
            _abort(context, exc, method)

    return wrapper  # type: ignore[return-value]


def _is_abort(exc: BaseException) -> bool:
    # grpc's context.abort() raises a bare ``Exception()``; let it through untouched.
    return type(exc) is Exception and not exc.args
