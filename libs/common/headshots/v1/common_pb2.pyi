from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class TrainingProfile(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAINING_PROFILE_UNSPECIFIED: _ClassVar[TrainingProfile]
    TRAINING_PROFILE_FAST: _ClassVar[TrainingProfile]
    TRAINING_PROFILE_STANDARD: _ClassVar[TrainingProfile]
    TRAINING_PROFILE_HIGH_QUALITY: _ClassVar[TrainingProfile]
TRAINING_PROFILE_UNSPECIFIED: TrainingProfile
TRAINING_PROFILE_FAST: TrainingProfile
TRAINING_PROFILE_STANDARD: TrainingProfile
TRAINING_PROFILE_HIGH_QUALITY: TrainingProfile

class RenderSpec(_message.Message):
    __slots__ = ("style_ids", "images_per_style")
    STYLE_IDS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_PER_STYLE_FIELD_NUMBER: _ClassVar[int]
    style_ids: _containers.RepeatedScalarFieldContainer[str]
    images_per_style: int
    def __init__(self, style_ids: _Optional[_Iterable[str]] = ..., images_per_style: _Optional[int] = ...) -> None: ...

class Headshot(_message.Message):
    __slots__ = ("key", "style_id", "seed", "width", "height", "likeness_score", "quality_score", "consistency_score", "gated")
    KEY_FIELD_NUMBER: _ClassVar[int]
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LIKENESS_SCORE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    GATED_FIELD_NUMBER: _ClassVar[int]
    key: str
    style_id: str
    seed: int
    width: int
    height: int
    likeness_score: float
    quality_score: float
    consistency_score: float
    gated: bool
    def __init__(self, key: _Optional[str] = ..., style_id: _Optional[str] = ..., seed: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., likeness_score: _Optional[float] = ..., quality_score: _Optional[float] = ..., consistency_score: _Optional[float] = ..., gated: _Optional[bool] = ...) -> None: ...
