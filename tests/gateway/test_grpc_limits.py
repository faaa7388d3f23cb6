"""Property-based tests (hypothesis) of every gRPC method of every service, at the limits.

Each request message is generated from its protobuf descriptor: integers at the int32 /
int64 / uint bounds, NaN and infinite floats, empty and very long repeated fields, NUL,
control characters, astral characters and 200,000-character strings, unknown enum values.
Every call must end in OK or a status that names the caller's fault (INVALID_ARGUMENT,
NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE, RESOURCE_EXHAUSTED): never INTERNAL or
UNKNOWN (a bug), nor UNAVAILABLE / DEADLINE_EXCEEDED (every service is up and has 60 s).

Unpaired surrogates cannot be put in a Python protobuf string, so invalid UTF-8 is sent as
raw bytes to one method of each service: INVALID_ARGUMENT
(services.common.server.RefuseUndecodable).

Its own Redis and services (the writes are fuzzed too), the session's embedding model.
Bounded: ``LIMIT_EXAMPLES`` per method (``ARXIVQA_LIMIT_EXAMPLES`` raises it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from gateway_stack import API_KEY, Stack, start_gateway, start_services
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from arxivqa.embedder.v1 import embedder_pb2
from arxivqa.gateway.v1 import gateway_pb2
from arxivqa.graph.v1 import graph_pb2
from arxivqa.qa.v1 import qa_pb2
from arxivqa.retriever.v1 import retriever_pb2
from services.devtools.redis_server import LocalRedis

pytestmark = pytest.mark.slow

LIMIT_EXAMPLES = int(os.environ.get("ARXIVQA_LIMIT_EXAMPLES", "12"))
CALL_TIMEOUT = 60.0
LONG_SCALARS = 10_000  # a "very long" repeated scalar field
LONG_MESSAGES = 300  # a long repeated message field (each one is generated in full)
ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
SERVICES = {
    "embedder": embedder_pb2.DESCRIPTOR.services_by_name["Embedder"],
    "retriever": retriever_pb2.DESCRIPTOR.services_by_name["Retriever"],
    "graph": graph_pb2.DESCRIPTOR.services_by_name["CitationGraph"],
    "qa": qa_pb2.DESCRIPTOR.services_by_name["Reader"],
    "gateway": gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
}

I32, I64 = 2**31 - 1, 2**63 - 1
U32, U64 = 2**32 - 1, 2**64 - 1
_F = FieldDescriptor


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = [lo, lo + 1, -1, 0, 1, 2, 3, 10, 1000, hi - 1, hi]
    return st.one_of(st.sampled_from([e for e in edges if lo <= e <= hi]), st.integers(lo, hi))


def _floats(width: int) -> st.SearchStrategy[float]:
    edges = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 1e-45, 3.4e38, -3.4e38]
    if width == 64:
        edges += [1e308, -1e308, 5e-324]
    return st.one_of(st.sampled_from(edges), st.floats(width=width))  # type: ignore[arg-type]


SHORT_STRINGS = st.one_of(
    st.sampled_from(["", " ", "\x00", "a\x00b", "|", "\U0001f4a5", "1412.6980"]),
    st.text(max_size=8),
)
STRINGS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\x1b[31m",
            "|",
            "{}*@-$",
            "1412.6980",
            "hep-th/9901001",
            "\U0001f4a5" * 50,
            "\ufeff\u200b",
            "x" * 200_000,
        ]
    ),
    st.text(max_size=40),
)


def _scalar(field: FieldDescriptor, short: bool) -> st.SearchStrategy[Any]:
    t = field.type
    if t in (_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32):
        return _ints(-(2**31), I32)
    if t in (_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64):
        return _ints(-(2**63), I64)
    if t in (_F.TYPE_UINT32, _F.TYPE_FIXED32):
        return _ints(0, U32)
    if t in (_F.TYPE_UINT64, _F.TYPE_FIXED64):
        return _ints(0, U64)
    if t == _F.TYPE_FLOAT:
        return _floats(32)
    if t == _F.TYPE_DOUBLE:
        return _floats(64)
    if t == _F.TYPE_BOOL:
        return st.booleans()
    if t == _F.TYPE_STRING:
        return SHORT_STRINGS if short else STRINGS
    if t == _F.TYPE_BYTES:
        if short:
            return st.binary(max_size=8)
        return st.one_of(st.just(b""), st.binary(max_size=64), st.just(b"\xff" * 100_000))
    if t == _F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        # Unknown values: proto3 enums are open, a client can send any int32.
        return st.sampled_from([*known, -1, max(known) + 1, 999, -(2**31), I32])
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


def _value(field: FieldDescriptor, depth: int, short: bool) -> st.SearchStrategy[Any]:
    if field.type == _F.TYPE_MESSAGE:
        return message_strategy(field.message_type, depth + 1, short=short)
    return _scalar(field, short)


def _field(field: FieldDescriptor, depth: int, short: bool) -> st.SearchStrategy[Any]:
    element = _value(field, depth, short)
    if not field.is_repeated:
        return element
    if short:  # inside a long list already: keep the message small
        return st.lists(element, max_size=2)
    long = LONG_MESSAGES if field.type == _F.TYPE_MESSAGE else LONG_SCALARS
    # The long list repeats one short element (200,000-character strings stay single).
    return st.one_of(
        st.just([]),
        st.lists(element, min_size=1, max_size=4),
        _value(field, depth, short=True).map(lambda v: [v] * long),
    )


def message_strategy(
    descriptor: Descriptor, depth: int = 0, *, short: bool = False
) -> st.SearchStrategy[Any]:
    """Messages of this type with any subset of fields set to values at the limits.

    ``short``: strings and lists stay short (the elements of a very long repeated field).
    """
    cls = GetMessageClass(descriptor)
    if depth > 3 or descriptor.full_name.startswith("google.protobuf."):
        return st.just(cls())
    fields = {
        f.name: _field(f, depth, short)
        for f in descriptor.fields
        if not (f.message_type is not None and f.message_type.GetOptions().map_entry)
    }

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        msg = cls()
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []
        for name in chosen:
            value = draw(fields[name])
            f = descriptor.fields_by_name[name]
            if f.is_repeated:
                getattr(msg, name).extend(value)
            elif f.type == _F.TYPE_MESSAGE:
                getattr(msg, name).CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return build()


@pytest.fixture(scope="module")
def limits_stack(
    tmp_path_factory: pytest.TempPathFactory, embedder_model: Any, reader_dir: Path
) -> Iterator[Stack]:
    if os.environ.get("ARXIVQA_TEST_REDIS_URL"):
        pytest.skip("ARXIVQA_TEST_REDIS_URL is set: the fuzzed writes need a Redis of their own")
    redis = LocalRedis(data_dir=tmp_path_factory.mktemp("limits-redis")).start()
    services = start_services(redis.url, embedder_model=embedder_model, reader_dir=reader_dir)
    stack = start_gateway(services)
    try:
        yield stack
    finally:
        stack.stop_all()
        redis.stop()


def _target(stack: Stack, service: str) -> str:
    return stack.grpc_target if service == "gateway" else stack.target(service)


def _call(channel: grpc.Channel, method: MethodDescriptor, messages: list[Any]) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    kw: dict[str, Any] = {
        "request_serializer": lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
        "response_deserializer": lambda b: b,
    }
    opts: dict[str, Any] = {"timeout": CALL_TIMEOUT, "metadata": [("x-api-key", API_KEY)]}
    try:
        if method.client_streaming and method.server_streaming:
            list(channel.stream_stream(path, **kw)(iter(messages), **opts))
        elif method.client_streaming:
            channel.stream_unary(path, **kw)(iter(messages), **opts)
        elif method.server_streaming:
            list(channel.unary_stream(path, **kw)(messages[0], **opts))
        else:
            channel.unary_unary(path, **kw)(messages[0], **opts)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        assert code in ACCEPTABLE, f"{path}: {code.name}: {exc.details()}"
        return code
    return grpc.StatusCode.OK


METHODS = [
    pytest.param(name, method.name, id=f"{name}.{method.name}")
    for name, service in SERVICES.items()
    for method in service.methods
]


@pytest.mark.parametrize(("service", "method_name"), METHODS)
def test_requests_at_the_limits_never_end_in_internal_or_unknown(
    limits_stack: Stack, service: str, method_name: str
) -> None:
    method = SERVICES[service].methods_by_name[method_name]
    strategy = message_strategy(method.input_type)
    if method.client_streaming:
        requests = st.lists(strategy, min_size=0, max_size=3)
    else:
        requests = strategy.map(lambda m: [m])
    channel = grpc.insecure_channel(
        _target(limits_stack, service),
        options=[("grpc.max_send_message_length", 256 * 1024 * 1024)],
    )

    @given(requests)
    @settings(
        max_examples=LIMIT_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(messages: list[Any]) -> None:
        _call(channel, method, messages)

    try:
        run()
    finally:
        channel.close()


def _with_invalid_utf8(descriptor: Descriptor) -> bytes:
    """A serialized message whose first string field holds an unpaired surrogate (CESU)."""
    for f in descriptor.fields:
        if f.type == _F.TYPE_STRING:
            payload = b"a\xed\xa0\x80b"  # U+D800 encoded as if it were a character
            key = (f.number << 3) | 2
            assert key < 128
            return bytes([key, len(payload)]) + payload
    raise AssertionError(f"{descriptor.full_name} has no string field")


@pytest.mark.parametrize(
    ("service", "method_name"),
    [
        ("embedder", "Embed"),
        ("retriever", "Search"),
        ("graph", "Subgraph"),
        ("qa", "Answer"),
        ("gateway", "Search"),
        ("gateway", "Ingest"),
    ],
)
def test_an_unpaired_surrogate_is_invalid_argument(
    limits_stack: Stack, service: str, method_name: str
) -> None:
    method = SERVICES[service].methods_by_name[method_name]
    raw = _with_invalid_utf8(method.input_type)
    with pytest.raises(Exception):  # noqa: B017 - must not parse: the check is real
        GetMessageClass(method.input_type).FromString(raw)
    with grpc.insecure_channel(_target(limits_stack, service)) as channel:
        assert _call(channel, method, [raw]) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_huge_id_is_invalid_argument_with_a_short_message(limits_stack: Stack) -> None:
    """Found by the run above: the graph quoted a 200,000-character id in its status message,
    grpc dropped the oversized trailer, and the gateway answered INTERNAL."""
    huge = "x" * 200_000
    request = gateway_pb2.CitationPathRequest(from_id=huge, to_id="1412.6980")
    with pytest.raises(grpc.RpcError) as exc:
        limits_stack.stub.CitationPath(request, timeout=30)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.value.details()
    assert len(exc.value.details()) < 3000
