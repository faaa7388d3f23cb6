"""Domain errors shared by every service core.

Cores raise these (they know nothing about gRPC); ``services.common.grpc_errors`` maps
them to status codes at the servicer boundary. Messages are written for a person: say
what is wrong and what to do about it.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: an error whose message is safe and useful to show to the caller."""


class InvalidArgument(ServiceError, ValueError):
    """The request itself is wrong (gRPC INVALID_ARGUMENT, HTTP 400)."""


class NotFound(ServiceError, LookupError):
    """A named thing does not exist (gRPC NOT_FOUND, HTTP 404)."""


class FailedPrecondition(ServiceError):
    """The system is not in a state where this can work (gRPC FAILED_PRECONDITION)."""


class Unavailable(ServiceError):
    """A dependency (Redis, a model, another service) is down; retry later (UNAVAILABLE)."""


class DeadlineExceeded(ServiceError):
    """The caller's deadline passed before the work finished (DEADLINE_EXCEEDED)."""
