"""Fuzzed requests: random field values, built from the request messages' descriptors, sent to every method of
the partner API; none may answer UNKNOWN or INTERNAL (a client can cause neither)."""

import uuid

import grpc
import pytest
from google.api import resource_pb2
from google.longrunning import operations_pb2
from google.protobuf import descriptor as d
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings, strategies as st

from accounts.services import create_tenant_with_key
from headshots.partner.v1 import partner_api_pb2 as pb

from .support import complete_order

EXAMPLES_PER_METHOD = 100
SERVER_FAULTS = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
_INT_RANGES = {
    d.FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    d.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _name_kind(name: str) -> str:
    if name.startswith("operations/"):
        return "Operation"
    return "Headshot" if "/headshots/" in name else "Order"


def _field_kind(field: d.FieldDescriptor) -> str:
    """The kind of resource a name field takes, from its resource reference (AIP-122)."""
    if field.containing_type.full_name.startswith("google.longrunning"):
        return "Operation"
    return field.GetOptions().Extensions[resource_pb2.resource_reference].type.rpartition("/")[2]


def _scalar(field: d.FieldDescriptor, names: list[str], photo: bytes) -> st.SearchStrategy:
    if field.type == field.TYPE_STRING:
        text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
        if field.name in ("name", "parent"):  # mostly real names of the kind asked for, to reach past the checks
            fitting = st.sampled_from([n for n in names if _name_kind(n) == _field_kind(field)] or names)
            return st.one_of(fitting, fitting, fitting, st.sampled_from(names), text, st.just(""))
        plausible = st.sampled_from(["", "trial", "basic", "tech-grey", "person", "operations", "x" * 600, *names])
        return st.one_of(plausible, text, st.integers().map(str))
    if field.type == field.TYPE_BYTES:
        return st.one_of(st.binary(max_size=4096), st.just(photo), st.just(photo[: len(photo) // 2]))
    if field.type in _INT_RANGES:
        low, high = _INT_RANGES[field.type]
        return st.one_of(st.integers(low, high), st.sampled_from([0, 1, -1, low, high]))
    if field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
        return st.floats(width=32 if field.type == field.TYPE_FLOAT else 64)
    if field.type == field.TYPE_BOOL:
        return st.booleans()
    if field.type == field.TYPE_ENUM:  # proto3 enums are open: unknown numbers arrive too
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-5, 50))
    raise AssertionError(f"no strategy for {field.full_name}")


def messages(descriptor: d.Descriptor, names: list[str], photo: bytes, depth: int = 0) -> st.SearchStrategy:
    """Messages of `descriptor` with any subset of fields set to random (and some plausible) values."""
    fields = {}
    for field in descriptor.fields:
        if field.type == field.TYPE_MESSAGE:
            if depth >= 3:
                continue
            value = messages(field.message_type, names, photo, depth + 1)
        else:
            value = _scalar(field, names, photo)
        fields[field.name] = st.lists(value, max_size=4) if field.is_repeated else value
    message_class = GetMessageClass(descriptor)

    def build(values: dict):
        message = message_class()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            if field.is_repeated:
                getattr(message, name).extend(value)
            elif field.type == field.TYPE_MESSAGE:
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    # Names are nearly always sent (mostly real ones, by `_scalar`); every other field only sometimes.
    named = {k: v for k, v in fields.items() if k in ("name", "parent")}
    others = {k: v for k, v in fields.items() if k not in named}
    return st.fixed_dictionaries(named, optional=others).map(build)


def _call(channel, service: d.ServiceDescriptor, method: d.MethodDescriptor, request, auth):
    path = f"/{service.full_name}/{method.name}"
    serialize = GetMessageClass(method.input_type).SerializeToString
    deserialize = GetMessageClass(method.output_type).FromString
    if method.client_streaming:
        call = channel.stream_unary(path, request_serializer=serialize, response_deserializer=deserialize)
        return call(iter(request), metadata=auth, timeout=10)
    if method.server_streaming:
        call = channel.unary_stream(path, request_serializer=serialize, response_deserializer=deserialize)
        stream = call(request, metadata=auth, timeout=2)
        try:
            for _ in zip(range(3), stream):  # a few messages; a watch may go on
                pass
        finally:
            stream.cancel()
        return None
    call = channel.unary_unary(path, request_serializer=serialize, response_deserializer=deserialize)
    return call(request, metadata=auth, timeout=10)


def _methods():
    partner = pb.DESCRIPTOR.services_by_name["PartnerService"]
    operations = operations_pb2.DESCRIPTOR.services_by_name["Operations"]
    return [(service, method) for service in (partner, operations) for method in service.methods]


@pytest.fixture
def fuzz_partner(partner):
    """A partner without a quota, and names of its real resources, so that fuzzed requests reach past the
    name checks: a completed order with headshots, an order awaiting photos, names of nothing."""
    _, key = create_tenant_with_key("fuzzer")
    auth = [("authorization", f"Bearer {key}")]

    def create():
        request = pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=["tech-grey"]))
        return partner.stub.CreateOrder(request, metadata=auth)

    completed, awaiting = create(), create()
    complete_order(completed.uid, n=2)
    headshot = partner.stub.ListHeadshots(pb.ListHeadshotsRequest(parent=completed.name), metadata=auth).headshots[0]
    unknown = f"orders/{uuid.uuid4()}"
    names = [completed.name, awaiting.name, headshot.name, f"operations/{completed.uid}", unknown]
    return auth, [*names, f"{unknown}/headshots/{uuid.uuid4()}"]


@pytest.mark.parametrize(("service", "method"), _methods(), ids=lambda m: getattr(m, "name", ""))
def test_fuzzed_requests_never_answer_unknown_or_internal(partner, fuzz_partner, person_photos, service, method):
    auth, names = fuzz_partner
    photo = person_photos[0].read_bytes()
    single = messages(method.input_type, names, photo)
    requests = st.lists(single, max_size=3) if method.client_streaming else single

    @settings(
        max_examples=EXAMPLES_PER_METHOD,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=requests)
    def check(request):
        try:
            _call(partner.channel, service, method, request, auth)
        except grpc.RpcError as error:
            assert error.code() not in SERVER_FAULTS, f"{method.name}({request}) -> {error.code()}: {error.details()}"

    check()
