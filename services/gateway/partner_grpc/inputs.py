"""gRPC requests validated by REST's own input serializers: one definition of what is valid, with the
serializer's field names mapped to the request's field paths in the error."""

from __future__ import annotations

from gateway.errors import InvalidArgument


def validated(serializer_class, data: dict, field_names: dict[str, str]) -> dict:
    """REST's input serializer run on a gRPC request; its errors named by the request's field paths."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        fields = {
            field_names.get(name, name): [str(p) for p in problems] for name, problems in serializer.errors.items()
        }
        raise InvalidArgument("invalid_argument", "the request has invalid fields", details={"fields": fields})
    return dict(serializer.validated_data)
