"""Domain errors -> gRPC statuses at the servicer boundary (each error names its code)."""

from __future__ import annotations

import collections
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


#: the trailer that carries a serialized ``google.rpc.Status`` (the gRPC richer error model)
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class _Status(
    collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status
):
    pass


def bad_request_status(message: str, field: str) -> grpc.Status:
    """INVALID_ARGUMENT with a ``google.rpc.BadRequest`` naming ``field`` in its trailer."""
    from google.protobuf import any_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2

    violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    return _Status(
        grpc.StatusCode.INVALID_ARGUMENT,
        message,
        ((STATUS_DETAILS_KEY, status.SerializeToString()),),
    )


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) pairs of a ``google.rpc.BadRequest`` in a call's trailer."""
    from google.rpc import error_details_pb2, status_pb2

    trailer = dict(error.trailing_metadata() or ())
    raw = trailer.get(STATUS_DETAILS_KEY)
    if not raw:
        return []
    found: list[tuple[str, str]] = []
    for detail in status_pb2.Status.FromString(raw).details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found += [(v.field, v.description) for v in bad.field_violations]
    return found


def _abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    code = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        # Never leak a traceback to the caller; it goes to the log, with the trace id.
        log.error("unhandled error in %s", method, exc_info=exc)
        context.abort(code, f"internal error in {method}; see the service log")
    field = getattr(exc, "field", None)
    if isinstance(exc, errors.InvalidArgument) and field:
        context.abort_with_status(bad_request_status(details(str(exc)), details(field)))
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
