from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

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
    __slots__ = ("style_ids", "images_per_style", "look")
    STYLE_IDS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_PER_STYLE_FIELD_NUMBER: _ClassVar[int]
    LOOK_FIELD_NUMBER: _ClassVar[int]
    style_ids: _containers.RepeatedScalarFieldContainer[str]
    images_per_style: int
    look: RenderLook
    def __init__(self, style_ids: _Optional[_Iterable[str]] = ..., images_per_style: _Optional[int] = ..., look: _Optional[_Union[RenderLook, _Mapping]] = ...) -> None: ...

class RenderLook(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "sampler", "num_inference_steps", "guidance_scale", "seed_base")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SEED_BASE_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    sampler: str
    num_inference_steps: int
    guidance_scale: float
    seed_base: int
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., sampler: _Optional[str] = ..., num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., seed_base: _Optional[int] = ...) -> None: ...

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

class PhotoAnalysis(_message.Message):
    __slots__ = ("face", "embedding", "model", "width", "height")
    FACE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    face: FaceBox
    embedding: _containers.RepeatedScalarFieldContainer[float]
    model: str
    width: int
    height: int
    def __init__(self, face: _Optional[_Union[FaceBox, _Mapping]] = ..., embedding: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class FaceBox(_message.Message):
    __slots__ = ("left", "top", "right", "bottom")
    LEFT_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    RIGHT_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_FIELD_NUMBER: _ClassVar[int]
    left: int
    top: int
    right: int
    bottom: int
    def __init__(self, left: _Optional[int] = ..., top: _Optional[int] = ..., right: _Optional[int] = ..., bottom: _Optional[int] = ...) -> None: ...
