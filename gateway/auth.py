"""The gateway's one API-key check, for both front doors.

The HTTP bridge calls :func:`check_api_key` on a write's ``X-API-Key`` header; the gRPC
facade runs it in :class:`ApiKeyInterceptor`, on the ``x-api-key`` metadata of the methods
that write, before the servicer sees the call. A missing or wrong key is
:class:`~services.common.errors.Unauthenticated` (HTTP 401, gRPC UNAUTHENTICATED) with the
same words on both; the key itself is never logged nor quoted.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection
from typing import Any

import grpc

from services.common import errors


def check_api_key(expected: str | None, given: str | None, *, carrier: str) -> None:
    """Raise Unauthenticated unless ``given`` is ``expected`` (no key configured: all pass).

    ``carrier`` names where the key travels, for the message ("X-API-Key header").
    """
    if expected is None:
        return
    # Compared as bytes: hmac.compare_digest refuses str with non-ASCII characters.
    if not given or not hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    ):
        what = "a wrong" if given else "no"
        raise errors.Unauthenticated(
            f"this operation writes data and needs an API key: the request carried {what} {carrier}"
        )


class ApiKeyInterceptor(grpc.ServerInterceptor):
    """Refuse a call to one of ``methods`` (full names, "/package.Service/Method") without
    the configured key in its ``x-api-key`` metadata; other methods pass untouched."""

    def __init__(self, api_key: str | None, methods: Collection[str]) -> None:
        self.api_key = api_key
        self.methods = frozenset(methods)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or self.api_key is None:
            return handler
        if handler_call_details.method not in self.methods:
            return handler
        metadata = handler_call_details.invocation_metadata or ()
        given = dict(metadata).get("x-api-key")
        try:
            check_api_key(
                self.api_key,
                given if isinstance(given, str) else None,
                carrier="x-api-key metadata",
            )
        except errors.Unauthenticated as exc:
            return _refusal(handler, str(exc))
        return handler


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that answers UNAUTHENTICATED, reading nothing."""

    def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
