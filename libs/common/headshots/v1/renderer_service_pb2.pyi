from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdapterRef(_message.Message):
    __slots__ = ("adapter_id", "adapter_key", "scale")
    ADAPTER_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_KEY_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    adapter_id: str
    adapter_key: str
    scale: float
    def __init__(self, adapter_id: _Optional[str] = ..., adapter_key: _Optional[str] = ..., scale: _Optional[float] = ...) -> None: ...

class RenderItem(_message.Message):
    __slots__ = ("style_id", "prompt", "negative_prompt", "seed")
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    style_id: str
    prompt: str
    negative_prompt: str
    seed: int
    def __init__(self, style_id: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class RenderRequest(_message.Message):
    __slots__ = ("request_id", "adapter", "subject_phrase", "items", "width", "height", "num_inference_steps", "guidance_scale", "sampler")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PHRASE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    adapter: AdapterRef
    subject_phrase: str
    items: _containers.RepeatedCompositeFieldContainer[RenderItem]
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    sampler: str
    def __init__(self, request_id: _Optional[str] = ..., adapter: _Optional[_Union[AdapterRef, _Mapping]] = ..., subject_phrase: _Optional[str] = ..., items: _Optional[_Iterable[_Union[RenderItem, _Mapping]]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., sampler: _Optional[str] = ...) -> None: ...

class RenderResponse(_message.Message):
    __slots__ = ("index", "style_id", "seed", "width", "height", "png")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STYLE_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    index: int
    style_id: str
    seed: int
    width: int
    height: int
    png: bytes
    def __init__(self, index: _Optional[int] = ..., style_id: _Optional[str] = ..., seed: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., png: _Optional[bytes] = ...) -> None: ...

class PrefetchAdapterRequest(_message.Message):
    __slots__ = ("adapter",)
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    adapter: AdapterRef
    def __init__(self, adapter: _Optional[_Union[AdapterRef, _Mapping]] = ...) -> None: ...

class PrefetchAdapterResponse(_message.Message):
    __slots__ = ("cached",)
    CACHED_FIELD_NUMBER: _ClassVar[int]
    cached: bool
    def __init__(self, cached: _Optional[bool] = ...) -> None: ...

class EvictAdapterRequest(_message.Message):
    __slots__ = ("adapter_id",)
    ADAPTER_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_id: str
    def __init__(self, adapter_id: _Optional[str] = ...) -> None: ...

class EvictAdapterResponse(_message.Message):
    __slots__ = ("evicted",)
    EVICTED_FIELD_NUMBER: _ClassVar[int]
    evicted: bool
    def __init__(self, evicted: _Optional[bool] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("images_rendered", "queue_depth", "adapters_cached", "mean_batch_size", "batches", "host_cache_capacity", "host_cache_hit_rate", "slots_used", "slots_total", "slot_hit_rate", "slot_evictions", "adapter_file_loads", "prompts_cached", "prompt_cache_hit_rate", "replica_id", "adapters_resident", "host_cache_evictions")
    IMAGES_RENDERED_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_CACHED_FIELD_NUMBER: _ClassVar[int]
    MEAN_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    HOST_CACHE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    HOST_CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    SLOTS_USED_FIELD_NUMBER: _ClassVar[int]
    SLOTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SLOT_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    SLOT_EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FILE_LOADS_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_CACHED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_RESIDENT_FIELD_NUMBER: _ClassVar[int]
    HOST_CACHE_EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    images_rendered: int
    queue_depth: int
    adapters_cached: int
    mean_batch_size: float
    batches: int
    host_cache_capacity: int
    host_cache_hit_rate: float
    slots_used: int
    slots_total: int
    slot_hit_rate: float
    slot_evictions: int
    adapter_file_loads: int
    prompts_cached: int
    prompt_cache_hit_rate: float
    replica_id: str
    adapters_resident: _containers.RepeatedScalarFieldContainer[str]
    host_cache_evictions: int
    def __init__(self, images_rendered: _Optional[int] = ..., queue_depth: _Optional[int] = ..., adapters_cached: _Optional[int] = ..., mean_batch_size: _Optional[float] = ..., batches: _Optional[int] = ..., host_cache_capacity: _Optional[int] = ..., host_cache_hit_rate: _Optional[float] = ..., slots_used: _Optional[int] = ..., slots_total: _Optional[int] = ..., slot_hit_rate: _Optional[float] = ..., slot_evictions: _Optional[int] = ..., adapter_file_loads: _Optional[int] = ..., prompts_cached: _Optional[int] = ..., prompt_cache_hit_rate: _Optional[float] = ..., replica_id: _Optional[str] = ..., adapters_resident: _Optional[_Iterable[str]] = ..., host_cache_evictions: _Optional[int] = ...) -> None: ...
