import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.longrunning import operations_pb2 as _operations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Order(_message.Message):
    __slots__ = ("name", "uid", "state", "package", "style_ids", "subject_class", "retention", "progress", "photos_accepted", "headshots_ready", "failure_reason", "create_time", "update_time", "submit_time", "complete_time", "delete_time", "readiness")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Order.State]
        STATE_AWAITING_PHOTOS: _ClassVar[Order.State]
        STATE_QUEUED: _ClassVar[Order.State]
        STATE_TRAINING: _ClassVar[Order.State]
        STATE_RENDERING: _ClassVar[Order.State]
        STATE_COMPLETED: _ClassVar[Order.State]
        STATE_FAILED: _ClassVar[Order.State]
        STATE_DELETED: _ClassVar[Order.State]
    STATE_UNSPECIFIED: Order.State
    STATE_AWAITING_PHOTOS: Order.State
    STATE_QUEUED: Order.State
    STATE_TRAINING: Order.State
    STATE_RENDERING: Order.State
    STATE_COMPLETED: Order.State
    STATE_FAILED: Order.State
    STATE_DELETED: Order.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_IDS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_CLASS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    HEADSHOTS_READY_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    READINESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    uid: str
    state: Order.State
    package: str
    style_ids: _containers.RepeatedScalarFieldContainer[str]
    subject_class: str
    retention: _duration_pb2.Duration
    progress: OrderProgress
    photos_accepted: int
    headshots_ready: int
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    submit_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    readiness: OrderReadiness
    def __init__(self, name: _Optional[str] = ..., uid: _Optional[str] = ..., state: _Optional[_Union[Order.State, str]] = ..., package: _Optional[str] = ..., style_ids: _Optional[_Iterable[str]] = ..., subject_class: _Optional[str] = ..., retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., progress: _Optional[_Union[OrderProgress, _Mapping]] = ..., photos_accepted: _Optional[int] = ..., headshots_ready: _Optional[int] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., readiness: _Optional[_Union[OrderReadiness, _Mapping]] = ...) -> None: ...

class OrderReadiness(_message.Message):
    __slots__ = ("score", "advice")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ADVICE_FIELD_NUMBER: _ClassVar[int]
    score: int
    advice: _containers.RepeatedCompositeFieldContainer[PhotoAdvice]
    def __init__(self, score: _Optional[int] = ..., advice: _Optional[_Iterable[_Union[PhotoAdvice, _Mapping]]] = ...) -> None: ...

class PhotoAdvice(_message.Message):
    __slots__ = ("code", "message", "photo_filename")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FILENAME_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    photo_filename: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., photo_filename: _Optional[str] = ...) -> None: ...

class OrderProgress(_message.Message):
    __slots__ = ("stage", "percent", "eta")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    stage: str
    percent: int
    eta: _duration_pb2.Duration
    def __init__(self, stage: _Optional[str] = ..., percent: _Optional[int] = ..., eta: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CreateOrderRequest(_message.Message):
    __slots__ = ("request_id", "order", "webhook_url")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    order: Order
    webhook_url: str
    def __init__(self, request_id: _Optional[str] = ..., order: _Optional[_Union[Order, _Mapping]] = ..., webhook_url: _Optional[str] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders", "next_page_token", "total_size")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    next_page_token: str
    total_size: int
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteOrderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeletionReceipt(_message.Message):
    __slots__ = ("order", "reason", "photos_deleted", "headshots_deleted", "blobs_deleted", "blob_keys_sha256", "remaining_blobs", "delete_time", "cache_purges", "uid")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_DELETED_FIELD_NUMBER: _ClassVar[int]
    HEADSHOTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    BLOBS_DELETED_FIELD_NUMBER: _ClassVar[int]
    BLOB_KEYS_SHA256_FIELD_NUMBER: _ClassVar[int]
    REMAINING_BLOBS_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    CACHE_PURGES_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    order: str
    reason: str
    photos_deleted: int
    headshots_deleted: int
    blobs_deleted: int
    blob_keys_sha256: str
    remaining_blobs: int
    delete_time: _timestamp_pb2.Timestamp
    cache_purges: _containers.RepeatedCompositeFieldContainer[CachePurge]
    uid: str
    def __init__(self, order: _Optional[str] = ..., reason: _Optional[str] = ..., photos_deleted: _Optional[int] = ..., headshots_deleted: _Optional[int] = ..., blobs_deleted: _Optional[int] = ..., blob_keys_sha256: _Optional[str] = ..., remaining_blobs: _Optional[int] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cache_purges: _Optional[_Iterable[_Union[CachePurge, _Mapping]]] = ..., uid: _Optional[str] = ...) -> None: ...

class CachePurge(_message.Message):
    __slots__ = ("purged_by", "entries", "purge_time")
    PURGED_BY_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    PURGE_TIME_FIELD_NUMBER: _ClassVar[int]
    purged_by: str
    entries: int
    purge_time: _timestamp_pb2.Timestamp
    def __init__(self, purged_by: _Optional[str] = ..., entries: _Optional[int] = ..., purge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadPhotosRequest(_message.Message):
    __slots__ = ("parent", "filename", "content")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    filename: str
    content: bytes
    def __init__(self, parent: _Optional[str] = ..., filename: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class PhotoResult(_message.Message):
    __slots__ = ("filename", "accepted", "photo_id", "reason_code", "message")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    accepted: bool
    photo_id: str
    reason_code: str
    message: str
    def __init__(self, filename: _Optional[str] = ..., accepted: _Optional[bool] = ..., photo_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class UploadPhotosResponse(_message.Message):
    __slots__ = ("results", "accepted")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PhotoResult]
    accepted: int
    def __init__(self, results: _Optional[_Iterable[_Union[PhotoResult, _Mapping]]] = ..., accepted: _Optional[int] = ...) -> None: ...

class SubmitOrderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchOrderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class Headshot(_message.Message):
    __slots__ = ("name", "uid", "style_id", "seed", "width", "height", "likeness_score", "create_time", "quality_score", "consistency_score", "gated")
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LIKENESS_SCORE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    GATED_FIELD_NUMBER: _ClassVar[int]
    name: str
    uid: str
    style_id: str
    seed: int
    width: int
    height: int
    likeness_score: float
    create_time: _timestamp_pb2.Timestamp
    quality_score: float
    consistency_score: float
    gated: bool
    def __init__(self, name: _Optional[str] = ..., uid: _Optional[str] = ..., style_id: _Optional[str] = ..., seed: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., likeness_score: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quality_score: _Optional[float] = ..., consistency_score: _Optional[float] = ..., gated: _Optional[bool] = ...) -> None: ...

class GetOrderReportRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ScoreStats(_message.Message):
    __slots__ = ("mean", "p10")
    MEAN_FIELD_NUMBER: _ClassVar[int]
    P10_FIELD_NUMBER: _ClassVar[int]
    mean: float
    p10: float
    def __init__(self, mean: _Optional[float] = ..., p10: _Optional[float] = ...) -> None: ...

class OrderReport(_message.Message):
    __slots__ = ("name", "generated", "delivered", "rejected", "gated", "consistency", "likeness", "quality")
    class RejectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    GATED_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    LIKENESS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    generated: int
    delivered: int
    rejected: _containers.ScalarMap[str, int]
    gated: bool
    consistency: float
    likeness: ScoreStats
    quality: ScoreStats
    def __init__(self, name: _Optional[str] = ..., generated: _Optional[int] = ..., delivered: _Optional[int] = ..., rejected: _Optional[_Mapping[str, int]] = ..., gated: _Optional[bool] = ..., consistency: _Optional[float] = ..., likeness: _Optional[_Union[ScoreStats, _Mapping]] = ..., quality: _Optional[_Union[ScoreStats, _Mapping]] = ...) -> None: ...

class ListHeadshotsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "style_id", "order_by")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    style_id: str
    order_by: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., style_id: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListHeadshotsResponse(_message.Message):
    __slots__ = ("headshots", "next_page_token", "total_size")
    HEADSHOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    headshots: _containers.RepeatedCompositeFieldContainer[Headshot]
    next_page_token: str
    total_size: int
    def __init__(self, headshots: _Optional[_Iterable[_Union[Headshot, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetHeadshotRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DownloadHeadshotRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DownloadHeadshotResponse(_message.Message):
    __slots__ = ("content_type", "total_bytes", "data")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    total_bytes: int
    data: bytes
    def __init__(self, content_type: _Optional[str] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class DownloadHeadshotArchiveRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class DownloadHeadshotArchiveResponse(_message.Message):
    __slots__ = ("content_type", "total_bytes", "data")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    total_bytes: int
    data: bytes
    def __init__(self, content_type: _Optional[str] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Render(_message.Message):
    __slots__ = ("uid", "style_id", "count", "state", "failure_reason", "create_time", "complete_time")
    UID_FIELD_NUMBER: _ClassVar[int]
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    uid: str
    style_id: str
    count: int
    state: str
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    def __init__(self, uid: _Optional[str] = ..., style_id: _Optional[str] = ..., count: _Optional[int] = ..., state: _Optional[str] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateRenderRequest(_message.Message):
    __slots__ = ("parent", "request_id", "style_id", "count")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    request_id: str
    style_id: str
    count: int
    def __init__(self, parent: _Optional[str] = ..., request_id: _Optional[str] = ..., style_id: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Style(_message.Message):
    __slots__ = ("id", "display_name", "backdrop", "attire", "lighting")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BACKDROP_FIELD_NUMBER: _ClassVar[int]
    ATTIRE_FIELD_NUMBER: _ClassVar[int]
    LIGHTING_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    backdrop: str
    attire: str
    lighting: str
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., backdrop: _Optional[str] = ..., attire: _Optional[str] = ..., lighting: _Optional[str] = ...) -> None: ...

class ListStylesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStylesResponse(_message.Message):
    __slots__ = ("styles",)
    STYLES_FIELD_NUMBER: _ClassVar[int]
    styles: _containers.RepeatedCompositeFieldContainer[Style]
    def __init__(self, styles: _Optional[_Iterable[_Union[Style, _Mapping]]] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("uid", "event_type", "url", "state", "attempts", "next_attempt_time", "create_time", "deliver_time", "payload", "attempt_log")
    UID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELIVER_TIME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_LOG_FIELD_NUMBER: _ClassVar[int]
    uid: str
    event_type: str
    url: str
    state: str
    attempts: int
    next_attempt_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    deliver_time: _timestamp_pb2.Timestamp
    payload: _struct_pb2.Struct
    attempt_log: _containers.RepeatedCompositeFieldContainer[WebhookAttempt]
    def __init__(self, uid: _Optional[str] = ..., event_type: _Optional[str] = ..., url: _Optional[str] = ..., state: _Optional[str] = ..., attempts: _Optional[int] = ..., next_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deliver_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., attempt_log: _Optional[_Iterable[_Union[WebhookAttempt, _Mapping]]] = ...) -> None: ...

class WebhookAttempt(_message.Message):
    __slots__ = ("attempt_time", "status_code", "error", "duration")
    ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    attempt_time: _timestamp_pb2.Timestamp
    status_code: int
    error: str
    duration: _duration_pb2.Duration
    def __init__(self, attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("webhook_deliveries",)
    WEBHOOK_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    webhook_deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    def __init__(self, webhook_deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ...) -> None: ...
