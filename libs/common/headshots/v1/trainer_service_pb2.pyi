import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from headshots.v1 import common_pb2 as _common_pb2
from headshots.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainingState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAINING_STATE_UNSPECIFIED: _ClassVar[TrainingState]
    TRAINING_STATE_QUEUED: _ClassVar[TrainingState]
    TRAINING_STATE_RUNNING: _ClassVar[TrainingState]
    TRAINING_STATE_SUCCEEDED: _ClassVar[TrainingState]
    TRAINING_STATE_FAILED: _ClassVar[TrainingState]
    TRAINING_STATE_CANCELLED: _ClassVar[TrainingState]
TRAINING_STATE_UNSPECIFIED: TrainingState
TRAINING_STATE_QUEUED: TrainingState
TRAINING_STATE_RUNNING: TrainingState
TRAINING_STATE_SUCCEEDED: TrainingState
TRAINING_STATE_FAILED: TrainingState
TRAINING_STATE_CANCELLED: TrainingState

class Training(_message.Message):
    __slots__ = ("name", "state", "done", "progress", "result", "error", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: TrainingState
    done: bool
    progress: _events_pb2.TrainingProgress
    result: _events_pb2.TrainingCompleted
    error: _events_pb2.TrainingFailed
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[TrainingState, str]] = ..., done: _Optional[bool] = ..., progress: _Optional[_Union[_events_pb2.TrainingProgress, _Mapping]] = ..., result: _Optional[_Union[_events_pb2.TrainingCompleted, _Mapping]] = ..., error: _Optional[_Union[_events_pb2.TrainingFailed, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubmitTrainingRequest(_message.Message):
    __slots__ = ("request_id", "order_id", "tenant_id", "photo_keys", "subject_class", "training_profile", "render_spec")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_KEYS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_CLASS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_PROFILE_FIELD_NUMBER: _ClassVar[int]
    RENDER_SPEC_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    order_id: str
    tenant_id: str
    photo_keys: _containers.RepeatedScalarFieldContainer[str]
    subject_class: str
    training_profile: _common_pb2.TrainingProfile
    render_spec: _common_pb2.RenderSpec
    def __init__(self, request_id: _Optional[str] = ..., order_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., photo_keys: _Optional[_Iterable[str]] = ..., subject_class: _Optional[str] = ..., training_profile: _Optional[_Union[_common_pb2.TrainingProfile, str]] = ..., render_spec: _Optional[_Union[_common_pb2.RenderSpec, _Mapping]] = ...) -> None: ...

class SubmitTrainingResponse(_message.Message):
    __slots__ = ("training",)
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    training: Training
    def __init__(self, training: _Optional[_Union[Training, _Mapping]] = ...) -> None: ...

class GetTrainingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTrainingResponse(_message.Message):
    __slots__ = ("training",)
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    training: Training
    def __init__(self, training: _Optional[_Union[Training, _Mapping]] = ...) -> None: ...

class CancelTrainingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CancelTrainingResponse(_message.Message):
    __slots__ = ("training",)
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    training: Training
    def __init__(self, training: _Optional[_Union[Training, _Mapping]] = ...) -> None: ...

class WatchTrainingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchTrainingResponse(_message.Message):
    __slots__ = ("training",)
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    training: Training
    def __init__(self, training: _Optional[_Union[Training, _Mapping]] = ...) -> None: ...
