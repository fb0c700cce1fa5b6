import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.longrunning import operations_pb2 as _operations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
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
    __slots__ = ("name", "uid", "state", "package", "style_ids", "subject_class", "retention", "progress", "photos_accepted", "headshots_ready", "failure_reason", "create_time", "update_time", "submit_time", "complete_time", "delete_time", "readiness", "delivery", "shortfall", "accept_time", "photos", "test_mode")
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
    class Delivery(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DELIVERY_UNSPECIFIED: _ClassVar[Order.Delivery]
        DELIVERY_COMPLETE: _ClassVar[Order.Delivery]
        DELIVERY_SHORT: _ClassVar[Order.Delivery]
    DELIVERY_UNSPECIFIED: Order.Delivery
    DELIVERY_COMPLETE: Order.Delivery
    DELIVERY_SHORT: Order.Delivery
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
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_TIME_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    TEST_MODE_FIELD_NUMBER: _ClassVar[int]
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
    delivery: Order.Delivery
    shortfall: _containers.RepeatedCompositeFieldContainer[StyleShortfall]
    accept_time: _timestamp_pb2.Timestamp
    photos: _containers.RepeatedCompositeFieldContainer[Photo]
    test_mode: bool
    def __init__(self, name: _Optional[str] = ..., uid: _Optional[str] = ..., state: _Optional[_Union[Order.State, str]] = ..., package: _Optional[str] = ..., style_ids: _Optional[_Iterable[str]] = ..., subject_class: _Optional[str] = ..., retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., progress: _Optional[_Union[OrderProgress, _Mapping]] = ..., photos_accepted: _Optional[int] = ..., headshots_ready: _Optional[int] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., readiness: _Optional[_Union[OrderReadiness, _Mapping]] = ..., delivery: _Optional[_Union[Order.Delivery, str]] = ..., shortfall: _Optional[_Iterable[_Union[StyleShortfall, _Mapping]]] = ..., accept_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., photos: _Optional[_Iterable[_Union[Photo, _Mapping]]] = ..., test_mode: _Optional[bool] = ...) -> None: ...

class Photo(_message.Message):
    __slots__ = ("name", "uid", "filename", "state", "reason_code", "message", "face", "width", "height")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Photo.State]
        STATE_UPLOADING: _ClassVar[Photo.State]
        STATE_CHECKING: _ClassVar[Photo.State]
        STATE_ACCEPTED: _ClassVar[Photo.State]
        STATE_REJECTED: _ClassVar[Photo.State]
    STATE_UNSPECIFIED: Photo.State
    STATE_UPLOADING: Photo.State
    STATE_CHECKING: Photo.State
    STATE_ACCEPTED: Photo.State
    STATE_REJECTED: Photo.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    uid: str
    filename: str
    state: Photo.State
    reason_code: str
    message: str
    face: FaceBox
    width: int
    height: int
    def __init__(self, name: _Optional[str] = ..., uid: _Optional[str] = ..., filename: _Optional[str] = ..., state: _Optional[_Union[Photo.State, str]] = ..., reason_code: _Optional[str] = ..., message: _Optional[str] = ..., face: _Optional[_Union[FaceBox, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

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

class StyleShortfall(_message.Message):
    __slots__ = ("style_id", "wanted", "delivered", "reason", "message")
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    WANTED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    style_id: str
    wanted: int
    delivered: int
    reason: str
    message: str
    def __init__(self, style_id: _Optional[str] = ..., wanted: _Optional[int] = ..., delivered: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("order", "reason", "photos_deleted", "headshots_deleted", "blobs_deleted", "blob_keys_sha256", "remaining_blobs", "delete_time", "cache_purges", "uid", "cache_purges_pending", "complete", "check_time")
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
    CACHE_PURGES_PENDING_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
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
    cache_purges_pending: _containers.RepeatedScalarFieldContainer[str]
    complete: bool
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, order: _Optional[str] = ..., reason: _Optional[str] = ..., photos_deleted: _Optional[int] = ..., headshots_deleted: _Optional[int] = ..., blobs_deleted: _Optional[int] = ..., blob_keys_sha256: _Optional[str] = ..., remaining_blobs: _Optional[int] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cache_purges: _Optional[_Iterable[_Union[CachePurge, _Mapping]]] = ..., uid: _Optional[str] = ..., cache_purges_pending: _Optional[_Iterable[str]] = ..., complete: _Optional[bool] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CachePurge(_message.Message):
    __slots__ = ("purged_by", "entries", "purge_time", "entries_kept")
    PURGED_BY_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    PURGE_TIME_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_KEPT_FIELD_NUMBER: _ClassVar[int]
    purged_by: str
    entries: int
    purge_time: _timestamp_pb2.Timestamp
    entries_kept: int
    def __init__(self, purged_by: _Optional[str] = ..., entries: _Optional[int] = ..., purge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entries_kept: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("filename", "accepted", "photo_id", "reason_code", "message", "state")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    accepted: bool
    photo_id: str
    reason_code: str
    message: str
    state: Photo.State
    def __init__(self, filename: _Optional[str] = ..., accepted: _Optional[bool] = ..., photo_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., message: _Optional[str] = ..., state: _Optional[_Union[Photo.State, str]] = ...) -> None: ...

class UploadPhotosResponse(_message.Message):
    __slots__ = ("results", "accepted")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PhotoResult]
    accepted: int
    def __init__(self, results: _Optional[_Iterable[_Union[PhotoResult, _Mapping]]] = ..., accepted: _Optional[int] = ...) -> None: ...

class AcceptOrderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("name", "generated", "delivered", "rejected", "gated", "consistency", "likeness", "quality", "shortfall", "top_up_rounds")
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
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    TOP_UP_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    generated: int
    delivered: int
    rejected: _containers.ScalarMap[str, int]
    gated: bool
    consistency: float
    likeness: ScoreStats
    quality: ScoreStats
    shortfall: _containers.RepeatedCompositeFieldContainer[StyleShortfall]
    top_up_rounds: int
    def __init__(self, name: _Optional[str] = ..., generated: _Optional[int] = ..., delivered: _Optional[int] = ..., rejected: _Optional[_Mapping[str, int]] = ..., gated: _Optional[bool] = ..., consistency: _Optional[float] = ..., likeness: _Optional[_Union[ScoreStats, _Mapping]] = ..., quality: _Optional[_Union[ScoreStats, _Mapping]] = ..., shortfall: _Optional[_Iterable[_Union[StyleShortfall, _Mapping]]] = ..., top_up_rounds: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("name", "read_offset")
    NAME_FIELD_NUMBER: _ClassVar[int]
    READ_OFFSET_FIELD_NUMBER: _ClassVar[int]
    name: str
    read_offset: int
    def __init__(self, name: _Optional[str] = ..., read_offset: _Optional[int] = ...) -> None: ...

class DownloadHeadshotResponse(_message.Message):
    __slots__ = ("content_type", "total_bytes", "data", "sha256")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    total_bytes: int
    data: bytes
    sha256: str
    def __init__(self, content_type: _Optional[str] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

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

class ApiKey(_message.Message):
    __slots__ = ("name", "kind", "create_time", "expire_time", "revoke_time", "active", "current")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ApiKey.Kind]
        KIND_API_KEY: _ClassVar[ApiKey.Kind]
        KIND_PERSONAL_TOKEN: _ClassVar[ApiKey.Kind]
    KIND_UNSPECIFIED: ApiKey.Kind
    KIND_API_KEY: ApiKey.Kind
    KIND_PERSONAL_TOKEN: ApiKey.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ApiKey.Kind
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    active: bool
    current: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ApiKey.Kind, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ..., current: _Optional[bool] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("api_keys", "next_page_token", "total_size")
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    next_page_token: str
    total_size: int
    def __init__(self, api_keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeletePhotoRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteApiKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Team(_message.Message):
    __slots__ = ("name", "display_name", "seats", "retention", "look", "seats_used", "headshots_delivered", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    LOOK_FIELD_NUMBER: _ClassVar[int]
    SEATS_USED_FIELD_NUMBER: _ClassVar[int]
    HEADSHOTS_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    seats: int
    retention: _duration_pb2.Duration
    look: TeamLook
    seats_used: int
    headshots_delivered: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., seats: _Optional[int] = ..., retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., look: _Optional[_Union[TeamLook, _Mapping]] = ..., seats_used: _Optional[int] = ..., headshots_delivered: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TeamLook(_message.Message):
    __slots__ = ("style_id", "style_display_name", "backdrop_hex", "prompt", "negative_prompt", "sampler", "num_inference_steps", "guidance_scale", "seed_base")
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    STYLE_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BACKDROP_HEX_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SEED_BASE_FIELD_NUMBER: _ClassVar[int]
    style_id: str
    style_display_name: str
    backdrop_hex: str
    prompt: str
    negative_prompt: str
    sampler: str
    num_inference_steps: int
    guidance_scale: float
    seed_base: int
    def __init__(self, style_id: _Optional[str] = ..., style_display_name: _Optional[str] = ..., backdrop_hex: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., sampler: _Optional[str] = ..., num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., seed_base: _Optional[int] = ...) -> None: ...

class CreateTeamRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: Team
    def __init__(self, team: _Optional[_Union[Team, _Mapping]] = ...) -> None: ...

class SetTeamLookRequest(_message.Message):
    __slots__ = ("name", "style_id", "backdrop_hex", "attire", "lighting", "framing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    BACKDROP_HEX_FIELD_NUMBER: _ClassVar[int]
    ATTIRE_FIELD_NUMBER: _ClassVar[int]
    LIGHTING_FIELD_NUMBER: _ClassVar[int]
    FRAMING_FIELD_NUMBER: _ClassVar[int]
    name: str
    style_id: str
    backdrop_hex: str
    attire: str
    lighting: str
    framing: str
    def __init__(self, name: _Optional[str] = ..., style_id: _Optional[str] = ..., backdrop_hex: _Optional[str] = ..., attire: _Optional[str] = ..., lighting: _Optional[str] = ..., framing: _Optional[str] = ...) -> None: ...

class TeamInviteLink(_message.Message):
    __slots__ = ("name", "token", "join_url", "max_uses", "email_domain", "expire_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    JOIN_URL_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    EMAIL_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    token: str
    join_url: str
    max_uses: int
    email_domain: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., token: _Optional[str] = ..., join_url: _Optional[str] = ..., max_uses: _Optional[int] = ..., email_domain: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTeamInviteLinkRequest(_message.Message):
    __slots__ = ("parent", "max_uses", "valid_days", "email_domain")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    EMAIL_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    max_uses: int
    valid_days: int
    email_domain: str
    def __init__(self, parent: _Optional[str] = ..., max_uses: _Optional[int] = ..., valid_days: _Optional[int] = ..., email_domain: _Optional[str] = ...) -> None: ...

class TeamMember(_message.Message):
    __slots__ = ("name", "display_name", "email", "state", "picks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PICKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    email: str
    state: str
    picks: _containers.RepeatedCompositeFieldContainer[TeamPick]
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., email: _Optional[str] = ..., state: _Optional[str] = ..., picks: _Optional[_Iterable[_Union[TeamPick, _Mapping]]] = ...) -> None: ...

class TeamPick(_message.Message):
    __slots__ = ("name", "state", "style")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    style: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., style: _Optional[str] = ...) -> None: ...

class SetTeamPickStateRequest(_message.Message):
    __slots__ = ("name", "state")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...

class ListTeamMembersRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTeamMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token", "total_size")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[TeamMember]
    next_page_token: str
    total_size: int
    def __init__(self, members: _Optional[_Iterable[_Union[TeamMember, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ExportTeamPicksRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class ExportTeamPicksResponse(_message.Message):
    __slots__ = ("content_type", "total_bytes", "data")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    total_bytes: int
    data: bytes
    def __init__(self, content_type: _Optional[str] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class DownloadTeamPickRequest(_message.Message):
    __slots__ = ("name", "read_offset")
    NAME_FIELD_NUMBER: _ClassVar[int]
    READ_OFFSET_FIELD_NUMBER: _ClassVar[int]
    name: str
    read_offset: int
    def __init__(self, name: _Optional[str] = ..., read_offset: _Optional[int] = ...) -> None: ...

class DownloadTeamPickResponse(_message.Message):
    __slots__ = ("content_type", "total_bytes", "data", "sha256")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    total_bytes: int
    data: bytes
    sha256: str
    def __init__(self, content_type: _Optional[str] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class DeleteTeamMemberRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteTeamMemberResponse(_message.Message):
    __slots__ = ("receipts",)
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[DeletionReceipt]
    def __init__(self, receipts: _Optional[_Iterable[_Union[DeletionReceipt, _Mapping]]] = ...) -> None: ...

class GetTeamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTeamsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTeamsResponse(_message.Message):
    __slots__ = ("teams", "next_page_token", "total_size")
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedCompositeFieldContainer[Team]
    next_page_token: str
    total_size: int
    def __init__(self, teams: _Optional[_Iterable[_Union[Team, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteTeamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteTeamResponse(_message.Message):
    __slots__ = ("receipts",)
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[DeletionReceipt]
    def __init__(self, receipts: _Optional[_Iterable[_Union[DeletionReceipt, _Mapping]]] = ...) -> None: ...

class SetTeamRetentionRequest(_message.Message):
    __slots__ = ("name", "retention")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    retention: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TeamInvitation(_message.Message):
    __slots__ = ("name", "kind", "email", "email_domain", "max_uses", "uses", "expire_time", "revoke_time", "create_time")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[TeamInvitation.Kind]
        KIND_EMAIL: _ClassVar[TeamInvitation.Kind]
        KIND_LINK: _ClassVar[TeamInvitation.Kind]
    KIND_UNSPECIFIED: TeamInvitation.Kind
    KIND_EMAIL: TeamInvitation.Kind
    KIND_LINK: TeamInvitation.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: TeamInvitation.Kind
    email: str
    email_domain: str
    max_uses: int
    uses: int
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[TeamInvitation.Kind, str]] = ..., email: _Optional[str] = ..., email_domain: _Optional[str] = ..., max_uses: _Optional[int] = ..., uses: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTeamInvitationRequest(_message.Message):
    __slots__ = ("parent", "email", "valid_days")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    email: str
    valid_days: int
    def __init__(self, parent: _Optional[str] = ..., email: _Optional[str] = ..., valid_days: _Optional[int] = ...) -> None: ...

class DeleteTeamInvitationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemindTeamMembersRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemindTeamMembersResponse(_message.Message):
    __slots__ = ("reminded",)
    REMINDED_FIELD_NUMBER: _ClassVar[int]
    reminded: int
    def __init__(self, reminded: _Optional[int] = ...) -> None: ...

class GetTeamUsageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class TeamUsage(_message.Message):
    __slots__ = ("seats", "seats_used", "headshots_delivered")
    SEATS_FIELD_NUMBER: _ClassVar[int]
    SEATS_USED_FIELD_NUMBER: _ClassVar[int]
    HEADSHOTS_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    seats: int
    seats_used: int
    headshots_delivered: int
    def __init__(self, seats: _Optional[int] = ..., seats_used: _Optional[int] = ..., headshots_delivered: _Optional[int] = ...) -> None: ...
