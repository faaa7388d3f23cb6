"""Domain errors shared by every service core, and the one table of what each one means.

Cores raise these (they know nothing about gRPC); each class names its gRPC status code
(``grpc_status``, the ``grpc.StatusCode`` member's name, so this module needs no grpc) and
its HTTP status (``http_status``). ``services.common.grpc_errors`` turns them into gRPC
statuses at a servicer boundary, the gateway's HTTP bridge into HTTP answers, and the
gateway's clients turn a downstream status back into the class that names it
(:func:`for_status`): the mapping is written here once. Messages are written for a person:
say what is wrong and what to do about it.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """Base class: an error whose message is safe and useful to show to the caller.

    Used as it is, it is a bug (gRPC INTERNAL, HTTP 500).
    """

    grpc_status: ClassVar[str] = "INTERNAL"
    http_status: ClassVar[int] = 500


class InvalidArgument(ServiceError, ValueError):
    """The request itself is wrong (gRPC INVALID_ARGUMENT, HTTP 400).

    ``field``: the request field at fault, as a path (``passages[2].text``, ``top_k``); a
    gRPC servicer then sends it as a typed ``google.rpc.BadRequest`` field violation beside
    the message, so a client can point at the field without parsing prose.
    """

    grpc_status = "INVALID_ARGUMENT"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ServiceError, LookupError):
    """A named thing does not exist (gRPC NOT_FOUND, HTTP 404)."""

    grpc_status = "NOT_FOUND"
    http_status = 404


class FailedPrecondition(ServiceError):
    """The system is not in a state where this can work (gRPC FAILED_PRECONDITION, HTTP 400)."""

    grpc_status = "FAILED_PRECONDITION"
    http_status = 400


class Unavailable(ServiceError):
    """A dependency (Redis, a model, another service) is down; retry later (UNAVAILABLE, 503)."""

    grpc_status = "UNAVAILABLE"
    http_status = 503


class DeadlineExceeded(ServiceError):
    """The caller's deadline passed before the work finished (DEADLINE_EXCEEDED, HTTP 504)."""

    grpc_status = "DEADLINE_EXCEEDED"
    http_status = 504


class Unauthenticated(ServiceError):
    """A write without the configured API key (gRPC UNAUTHENTICATED, HTTP 401)."""

    grpc_status = "UNAUTHENTICATED"
    http_status = 401


class ResourceExhausted(ServiceError):
    """A quota or capacity ran out; retry later or ask for less (RESOURCE_EXHAUSTED, 429)."""

    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 429


class TooLarge(ResourceExhausted):
    """A message is over a size limit; send less (gRPC RESOURCE_EXHAUSTED, HTTP 413)."""

    http_status = 413


# A status name -> the class a caller sees for it (a downstream status read back).
_BY_STATUS: dict[str, type[ServiceError]] = {
    cls.grpc_status: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        Unavailable,
        DeadlineExceeded,
        Unauthenticated,
        ResourceExhausted,
    )
}


def for_status(name: str) -> type[ServiceError]:
    """The domain error for a gRPC status name; :class:`ServiceError` (INTERNAL) for others."""
    return _BY_STATUS.get(name, ServiceError)
