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

class OrderState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATE_UNSPECIFIED: _ClassVar[OrderState]
    ORDER_STATE_AWAITING_PHOTOS: _ClassVar[OrderState]
    ORDER_STATE_QUEUED: _ClassVar[OrderState]
    ORDER_STATE_TRAINING: _ClassVar[OrderState]
    ORDER_STATE_RENDERING: _ClassVar[OrderState]
    ORDER_STATE_COMPLETED: _ClassVar[OrderState]
    ORDER_STATE_FAILED: _ClassVar[OrderState]
    ORDER_STATE_DELETED: _ClassVar[OrderState]
ORDER_STATE_UNSPECIFIED: OrderState
ORDER_STATE_AWAITING_PHOTOS: OrderState
ORDER_STATE_QUEUED: OrderState
ORDER_STATE_TRAINING: OrderState
ORDER_STATE_RENDERING: OrderState
ORDER_STATE_COMPLETED: OrderState
ORDER_STATE_FAILED: OrderState
ORDER_STATE_DELETED: OrderState

class OrderProgress(_message.Message):
    __slots__ = ("stage", "percent", "eta_seconds")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    percent: int
    eta_seconds: float
    def __init__(self, stage: _Optional[str] = ..., percent: _Optional[int] = ..., eta_seconds: _Optional[float] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "state", "package", "style_ids", "progress", "photos_accepted", "headshots_ready", "failure_reason", "create_time", "update_time")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_IDS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    HEADSHOTS_READY_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    state: OrderState
    package: str
    style_ids: _containers.RepeatedScalarFieldContainer[str]
    progress: OrderProgress
    photos_accepted: int
    headshots_ready: int
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[str] = ..., state: _Optional[_Union[OrderState, str]] = ..., package: _Optional[str] = ..., style_ids: _Optional[_Iterable[str]] = ..., progress: _Optional[_Union[OrderProgress, _Mapping]] = ..., photos_accepted: _Optional[int] = ..., headshots_ready: _Optional[int] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateOrderRequest(_message.Message):
    __slots__ = ("request_id", "package", "style_ids", "retention_hours", "webhook_url")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_IDS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_HOURS_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    package: str
    style_ids: _containers.RepeatedScalarFieldContainer[str]
    retention_hours: int
    webhook_url: str
    def __init__(self, request_id: _Optional[str] = ..., package: _Optional[str] = ..., style_ids: _Optional[_Iterable[str]] = ..., retention_hours: _Optional[int] = ..., webhook_url: _Optional[str] = ...) -> None: ...

class CreateOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class UploadPhotosRequest(_message.Message):
    __slots__ = ("order_id", "filename", "content")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    filename: str
    content: bytes
    def __init__(self, order_id: _Optional[str] = ..., filename: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

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
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PhotoResult]
    def __init__(self, results: _Optional[_Iterable[_Union[PhotoResult, _Mapping]]] = ...) -> None: ...

class SubmitOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class SubmitOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class WatchOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class WatchOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class ListHeadshotsRequest(_message.Message):
    __slots__ = ("order_id", "page_size", "page_token")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    page_size: int
    page_token: str
    def __init__(self, order_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListHeadshotsResponse(_message.Message):
    __slots__ = ("headshots", "next_page_token")
    HEADSHOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    headshots: _containers.RepeatedCompositeFieldContainer[_common_pb2.Headshot]
    next_page_token: str
    def __init__(self, headshots: _Optional[_Iterable[_Union[_common_pb2.Headshot, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class DeleteOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...
