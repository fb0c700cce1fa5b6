import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from headshots.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FailureReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_REASON_UNSPECIFIED: _ClassVar[FailureReason]
    FAILURE_REASON_BAD_PHOTOS: _ClassVar[FailureReason]
    FAILURE_REASON_OUT_OF_MEMORY: _ClassVar[FailureReason]
    FAILURE_REASON_CANCELLED: _ClassVar[FailureReason]
    FAILURE_REASON_INTERNAL: _ClassVar[FailureReason]
    FAILURE_REASON_ADAPTER_UNAVAILABLE: _ClassVar[FailureReason]
    FAILURE_REASON_STALLED: _ClassVar[FailureReason]
FAILURE_REASON_UNSPECIFIED: FailureReason
FAILURE_REASON_BAD_PHOTOS: FailureReason
FAILURE_REASON_OUT_OF_MEMORY: FailureReason
FAILURE_REASON_CANCELLED: FailureReason
FAILURE_REASON_INTERNAL: FailureReason
FAILURE_REASON_ADAPTER_UNAVAILABLE: FailureReason
FAILURE_REASON_STALLED: FailureReason

class Event(_message.Message):
    __slots__ = ("event_id", "occur_time", "order_id", "order_submitted", "order_deleted", "render_requested", "photo_received", "training_progress", "training_completed", "training_failed", "render_progress", "render_completed", "render_failed", "caches_purged", "cache_holder_present")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_DELETED_FIELD_NUMBER: _ClassVar[int]
    RENDER_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    PHOTO_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FAILED_FIELD_NUMBER: _ClassVar[int]
    RENDER_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RENDER_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    RENDER_FAILED_FIELD_NUMBER: _ClassVar[int]
    CACHES_PURGED_FIELD_NUMBER: _ClassVar[int]
    CACHE_HOLDER_PRESENT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occur_time: _timestamp_pb2.Timestamp
    order_id: str
    order_submitted: OrderSubmitted
    order_deleted: OrderDeleted
    render_requested: RenderRequested
    photo_received: PhotoReceived
    training_progress: TrainingProgress
    training_completed: TrainingCompleted
    training_failed: TrainingFailed
    render_progress: RenderProgress
    render_completed: RenderCompleted
    render_failed: RenderFailed
    caches_purged: CachesPurged
    cache_holder_present: CacheHolderPresent
    def __init__(self, event_id: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., order_id: _Optional[str] = ..., order_submitted: _Optional[_Union[OrderSubmitted, _Mapping]] = ..., order_deleted: _Optional[_Union[OrderDeleted, _Mapping]] = ..., render_requested: _Optional[_Union[RenderRequested, _Mapping]] = ..., photo_received: _Optional[_Union[PhotoReceived, _Mapping]] = ..., training_progress: _Optional[_Union[TrainingProgress, _Mapping]] = ..., training_completed: _Optional[_Union[TrainingCompleted, _Mapping]] = ..., training_failed: _Optional[_Union[TrainingFailed, _Mapping]] = ..., render_progress: _Optional[_Union[RenderProgress, _Mapping]] = ..., render_completed: _Optional[_Union[RenderCompleted, _Mapping]] = ..., render_failed: _Optional[_Union[RenderFailed, _Mapping]] = ..., caches_purged: _Optional[_Union[CachesPurged, _Mapping]] = ..., cache_holder_present: _Optional[_Union[CacheHolderPresent, _Mapping]] = ...) -> None: ...

class OrderSubmitted(_message.Message):
    __slots__ = ("tenant_id", "photo_keys", "subject_class", "training_profile", "render_spec", "resubmitted")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_KEYS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_CLASS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_PROFILE_FIELD_NUMBER: _ClassVar[int]
    RENDER_SPEC_FIELD_NUMBER: _ClassVar[int]
    RESUBMITTED_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    photo_keys: _containers.RepeatedScalarFieldContainer[str]
    subject_class: str
    training_profile: _common_pb2.TrainingProfile
    render_spec: _common_pb2.RenderSpec
    resubmitted: bool
    def __init__(self, tenant_id: _Optional[str] = ..., photo_keys: _Optional[_Iterable[str]] = ..., subject_class: _Optional[str] = ..., training_profile: _Optional[_Union[_common_pb2.TrainingProfile, str]] = ..., render_spec: _Optional[_Union[_common_pb2.RenderSpec, _Mapping]] = ..., resubmitted: _Optional[bool] = ...) -> None: ...

class RenderRequested(_message.Message):
    __slots__ = ("render_id", "adapter_key", "subject_phrase", "render_spec", "existing_count")
    RENDER_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_KEY_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PHRASE_FIELD_NUMBER: _ClassVar[int]
    RENDER_SPEC_FIELD_NUMBER: _ClassVar[int]
    EXISTING_COUNT_FIELD_NUMBER: _ClassVar[int]
    render_id: str
    adapter_key: str
    subject_phrase: str
    render_spec: _common_pb2.RenderSpec
    existing_count: int
    def __init__(self, render_id: _Optional[str] = ..., adapter_key: _Optional[str] = ..., subject_phrase: _Optional[str] = ..., render_spec: _Optional[_Union[_common_pb2.RenderSpec, _Mapping]] = ..., existing_count: _Optional[int] = ...) -> None: ...

class PhotoReceived(_message.Message):
    __slots__ = ("tenant_id", "photo_id", "quarantine_key")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_KEY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    photo_id: str
    quarantine_key: str
    def __init__(self, tenant_id: _Optional[str] = ..., photo_id: _Optional[str] = ..., quarantine_key: _Optional[str] = ...) -> None: ...

class OrderDeleted(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class TrainingProgress(_message.Message):
    __slots__ = ("step", "total_steps", "loss", "eta_seconds")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    loss: float
    eta_seconds: float
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., loss: _Optional[float] = ..., eta_seconds: _Optional[float] = ...) -> None: ...

class TrainingCompleted(_message.Message):
    __slots__ = ("adapter_key", "manifest_key", "base_model", "subject_phrase", "steps", "seconds", "render_spec", "likeness")
    ADAPTER_KEY_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_KEY_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PHRASE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    RENDER_SPEC_FIELD_NUMBER: _ClassVar[int]
    LIKENESS_FIELD_NUMBER: _ClassVar[int]
    adapter_key: str
    manifest_key: str
    base_model: str
    subject_phrase: str
    steps: int
    seconds: float
    render_spec: _common_pb2.RenderSpec
    likeness: float
    def __init__(self, adapter_key: _Optional[str] = ..., manifest_key: _Optional[str] = ..., base_model: _Optional[str] = ..., subject_phrase: _Optional[str] = ..., steps: _Optional[int] = ..., seconds: _Optional[float] = ..., render_spec: _Optional[_Union[_common_pb2.RenderSpec, _Mapping]] = ..., likeness: _Optional[float] = ...) -> None: ...

class TrainingFailed(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: FailureReason
    message: str
    def __init__(self, reason: _Optional[_Union[FailureReason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class RenderProgress(_message.Message):
    __slots__ = ("images_done", "images_total", "eta_seconds")
    IMAGES_DONE_FIELD_NUMBER: _ClassVar[int]
    IMAGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    images_done: int
    images_total: int
    eta_seconds: float
    def __init__(self, images_done: _Optional[int] = ..., images_total: _Optional[int] = ..., eta_seconds: _Optional[float] = ...) -> None: ...

class RenderCompleted(_message.Message):
    __slots__ = ("headshots", "render_id", "quality")
    HEADSHOTS_FIELD_NUMBER: _ClassVar[int]
    RENDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    headshots: _containers.RepeatedCompositeFieldContainer[_common_pb2.Headshot]
    render_id: str
    quality: QualityReport
    def __init__(self, headshots: _Optional[_Iterable[_Union[_common_pb2.Headshot, _Mapping]]] = ..., render_id: _Optional[str] = ..., quality: _Optional[_Union[QualityReport, _Mapping]] = ...) -> None: ...

class QualityReport(_message.Message):
    __slots__ = ("generated", "delivered", "rejected", "gated", "consistency", "shortfall", "top_up_rounds")
    class RejectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    GATED_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    TOP_UP_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    generated: int
    delivered: int
    rejected: _containers.ScalarMap[str, int]
    gated: bool
    consistency: float
    shortfall: _containers.RepeatedCompositeFieldContainer[StyleShortfall]
    top_up_rounds: int
    def __init__(self, generated: _Optional[int] = ..., delivered: _Optional[int] = ..., rejected: _Optional[_Mapping[str, int]] = ..., gated: _Optional[bool] = ..., consistency: _Optional[float] = ..., shortfall: _Optional[_Iterable[_Union[StyleShortfall, _Mapping]]] = ..., top_up_rounds: _Optional[int] = ...) -> None: ...

class StyleShortfall(_message.Message):
    __slots__ = ("style_id", "wanted", "delivered", "main_reason")
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    WANTED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    MAIN_REASON_FIELD_NUMBER: _ClassVar[int]
    style_id: str
    wanted: int
    delivered: int
    main_reason: str
    def __init__(self, style_id: _Optional[str] = ..., wanted: _Optional[int] = ..., delivered: _Optional[int] = ..., main_reason: _Optional[str] = ...) -> None: ...

class RenderFailed(_message.Message):
    __slots__ = ("reason", "message", "render_id")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RENDER_ID_FIELD_NUMBER: _ClassVar[int]
    reason: FailureReason
    message: str
    render_id: str
    def __init__(self, reason: _Optional[_Union[FailureReason, str]] = ..., message: _Optional[str] = ..., render_id: _Optional[str] = ...) -> None: ...

class CachesPurged(_message.Message):
    __slots__ = ("purged_by", "entries", "entries_kept")
    PURGED_BY_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_KEPT_FIELD_NUMBER: _ClassVar[int]
    purged_by: str
    entries: int
    entries_kept: int
    def __init__(self, purged_by: _Optional[str] = ..., entries: _Optional[int] = ..., entries_kept: _Optional[int] = ...) -> None: ...

class CacheHolderPresent(_message.Message):
    __slots__ = ("holder", "interval_s", "stopping")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    STOPPING_FIELD_NUMBER: _ClassVar[int]
    holder: str
    interval_s: float
    stopping: bool
    def __init__(self, holder: _Optional[str] = ..., interval_s: _Optional[float] = ..., stopping: _Optional[bool] = ...) -> None: ...
