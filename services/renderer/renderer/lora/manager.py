"""The adapter manager: one adapter id through three bounded tiers, blob store -> host RAM -> device slot.

* blob tier: the adapter id -> blob key registry (`register`), read through the blob store;
* host tier: `HostAdapterCache`, an LRU of parsed adapters (CPU tensors);
* device tier: `SlotAllocator` (adapter id -> slot, LRU among slots the running batch does not pin)
  over the UNet's `AdapterBank` and, for adapters that trained the text encoders too, a bank per text
  encoder; an adapter holds the same slot number in every bank.

``with manager.batch([...adapter ids...]):`` pins the batch's adapters in slots for one pipeline call;
``with manager.text_batch(...):`` points the text encoders at them while prompts are encoded;
``manager.evict(adapter_id)`` forgets an adapter in every tier (deletion, retraining).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from headshots_common.blobstore import BlobNotFound, BlobStore
from renderer.lora.adapter_file import ParsedAdapter, load_adapter_bytes, load_adapter_file
from renderer.lora.bank import AdapterBank


class HostAdapterCache:
    """The host tier: an LRU of parsed adapters (CPU tensors) by adapter id, `capacity` entries."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items: OrderedDict[str, ParsedAdapter] = OrderedDict()
        self.hits = self.misses = self.evictions = 0

    def get(self, adapter_id: str, loader: Callable[[], ParsedAdapter] | None = None) -> ParsedAdapter | None:
        """The cached adapter (a hit), else `loader()` cached and returned (a miss), else None."""
        if adapter_id in self._items:
            self._items.move_to_end(adapter_id)
            self.hits += 1
            return self._items[adapter_id]
        self.misses += 1
        if loader is None:
            return None
        adapter = loader()  # may raise: nothing is cached then
        self.put(adapter_id, adapter)
        return adapter

    def put(self, adapter_id: str, adapter: ParsedAdapter) -> None:
        self._items[adapter_id] = adapter
        self._items.move_to_end(adapter_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.evictions += 1

    def pop(self, adapter_id: str) -> ParsedAdapter | None:
        return self._items.pop(adapter_id, None)

    def __contains__(self, adapter_id: object) -> bool:
        return adapter_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    @property
    def stats(self) -> dict[str, int]:
        return dict(
            size=len(self._items), capacity=self.capacity, hits=self.hits, misses=self.misses, evictions=self.evictions
        )


class SlotAllocator:
    """The device tier's bookkeeping: adapter id -> slot 1..num_slots, evicting the least recently used
    slot that no running batch pins."""

    def __init__(self, num_slots: int):
        self.num_slots = num_slots
        self._by_id: OrderedDict[str, int] = OrderedDict()  # LRU order, oldest first
        self._free: list[int] = list(range(num_slots, 0, -1))
        self._pins: dict[str, int] = {}
        self.hits = self.misses = self.evictions = 0

    def lookup(self, adapter_id: str) -> int | None:
        return self._by_id.get(adapter_id)

    def acquire(self, adapter_id: str, pinned: Iterable[str] = ()) -> tuple[int, bool, str | None]:
        """(slot, needs_load, evicted adapter id or None). RuntimeError when every slot is pinned."""
        if adapter_id in self._by_id:
            self._by_id.move_to_end(adapter_id)
            self.hits += 1
            return self._by_id[adapter_id], False, None
        self.misses += 1
        if self._free:
            slot = self._free.pop()
            self._by_id[adapter_id] = slot
            return slot, True, None
        keep = set(pinned) | {k for k, n in self._pins.items() if n > 0}
        for victim, slot in self._by_id.items():
            if victim not in keep:
                del self._by_id[victim]
                self._by_id[adapter_id] = slot
                self.evictions += 1
                return slot, True, victim
        raise RuntimeError(f"all {self.num_slots} adapter slots are pinned by the running batch")

    def can_acquire(self, adapter_id: str, pinned: Iterable[str] = ()) -> bool:
        if adapter_id in self._by_id or self._free:
            return True
        keep = set(pinned) | {k for k, n in self._pins.items() if n > 0}
        return any(victim not in keep for victim in self._by_id)

    def release(self, adapter_id: str) -> int | None:
        """Forget an adapter; its slot becomes free (the caller zeroes it)."""
        slot = self._by_id.pop(adapter_id, None)
        self._pins.pop(adapter_id, None)
        if slot is not None:
            self._free.append(slot)
        return slot

    def pin(self, adapter_ids: Iterable[str]) -> None:
        for a in adapter_ids:
            self._pins[a] = self._pins.get(a, 0) + 1

    def unpin(self, adapter_ids: Iterable[str]) -> None:
        for a in adapter_ids:
            if self._pins.get(a, 0) > 1:
                self._pins[a] -= 1
            else:
                self._pins.pop(a, None)

    def resident(self) -> dict[str, int]:
        return dict(self._by_id)


class AdapterManager:
    """The three tiers of every adapter: blob key (registry), host RAM (cache), device slot (bank).

    Thread-safe for its bookkeeping; the caller keeps slots from changing under a running forward pass.
    """

    def __init__(
        self,
        bank: AdapterBank,
        blobs: BlobStore | None = None,
        host_capacity: int = 64,
        text_banks: Mapping[str, AdapterBank] | None = None,
    ):
        self.bank = bank
        self.text_banks = dict(text_banks or {})  # text encoder name -> its bank, same slot count as the UNet's
        if any(b.num_slots != bank.num_slots for b in self.text_banks.values()):
            raise ValueError("every bank needs as many slots as the UNet's")
        self.blobs = blobs
        self.cache = HostAdapterCache(host_capacity)
        self.slots = SlotAllocator(bank.num_slots)
        self.file_loads = 0  # cold loads: blob store -> host RAM
        self._blob_keys: dict[str, str] = {}  # the blob tier: adapter id -> its file's key
        self._with_text_layers: set[str] = set()  # adapters that change the text encoders' output
        self._lock = threading.RLock()

    @property
    def banks(self) -> list[AdapterBank]:
        return [self.bank, *self.text_banks.values()]

    # -- the blob tier -----------------------------------------------------------------------------------------
    def register(self, adapter_id: str, blob_key: str) -> None:
        """Where the adapter's file is; call `evict` first when the id now names another file (retrained)."""
        with self._lock:
            self._blob_keys[adapter_id] = blob_key

    def blob_key(self, adapter_id: str) -> str | None:
        with self._lock:
            return self._blob_keys.get(adapter_id)

    def _load_file(self, adapter_id: str) -> ParsedAdapter:
        key = self.blob_key(adapter_id)
        if key is None:
            raise ValueError(f"adapter {adapter_id!r} is not registered (evicted?)")
        if self.blobs is None:  # no blob store: the key is a file path (tests, benchmarks)
            adapter = load_adapter_file(key, adapter_id=adapter_id)
        else:
            try:
                data = self.blobs.get(key)  # into memory only: no copy on local disk outlives a deletion
            except BlobNotFound as exc:
                raise ValueError(f"adapter {adapter_id!r}: blob {key!r} not found") from exc
            adapter = load_adapter_bytes(data, adapter_id=adapter_id, source=key)
        for component in adapter.text_layers:
            if component not in self.text_banks:
                raise ValueError(
                    f"adapter {adapter_id!r} has LoRA layers for {component}, which the base model does not have"
                )
        for bank in self.banks:
            bank.validate(adapter)  # fail before it is cached or takes a slot
        with self._lock:
            if adapter.text_layers:
                self._with_text_layers.add(adapter_id)
            self.file_loads += 1
        return adapter

    def changes_text_encoders(self, adapter_id: str) -> bool:
        """Whether the adapter (read at least once) trained the text encoders: its prompts encode differently."""
        with self._lock:
            return adapter_id in self._with_text_layers

    # -- the host tier -----------------------------------------------------------------------------------------
    def _parsed(self, adapter_id: str) -> ParsedAdapter:
        adapter = self.cache.get(adapter_id, lambda: self._load_file(adapter_id))
        assert adapter is not None  # a loader either returns an adapter or raises
        return adapter

    def prefetch(self, adapter_id: str) -> bool:
        """Make sure the adapter is in a slot or host RAM; True if it already was.

        The file is read and validated WITHOUT holding the manager's lock, so a request's
        adapter load never delays the batch loop; a bad file raises ValueError here.
        """
        with self._lock:
            if self.slots.lookup(adapter_id) is not None or self.cache.get(adapter_id) is not None:
                return True
        adapter = self._load_file(adapter_id)
        with self._lock:
            self.cache.put(adapter_id, adapter)
        return False

    def is_loaded(self, adapter_id: str) -> bool:
        """Whether the adapter is in a device slot or in host RAM."""
        with self._lock:
            return self.slots.lookup(adapter_id) is not None or adapter_id in self.cache

    # -- the device tier ---------------------------------------------------------------------------------------
    def ensure(self, adapter_id: str, pinned: Iterable[str] = ()) -> int:
        """The adapter's slot, loading it (host cache, else file) and evicting LRU if needed."""
        with self._lock:
            slot = self.slots.lookup(adapter_id)
            if slot is not None:
                self.slots.acquire(adapter_id)  # refresh LRU
                return slot
            if not self.slots.can_acquire(adapter_id, pinned):
                raise RuntimeError(f"all {self.bank.num_slots} adapter slots are pinned by the running batch")
            adapter = self._parsed(adapter_id)  # ValueError here leaves every slot untouched
            slot, _, _ = self.slots.acquire(adapter_id, pinned)
            try:
                for bank in self.banks:
                    bank.load(slot, adapter)
            except Exception:
                self.slots.release(adapter_id)
                for bank in self.banks:
                    bank.clear(slot)
                raise
            return slot

    @contextmanager
    def batch(
        self,
        adapter_ids: Sequence[str | None],
        multipliers: Sequence[float] | None = None,
        *,
        guidance_doubles_batch: bool = True,
        num_images_per_prompt: int = 1,
    ) -> Iterator[torch.Tensor | None]:
        """One UNet batch: per-prompt adapter ids (None = base model), pinned for its duration."""
        ids = [a for a in adapter_ids if a]
        with self._lock:
            self.slots.pin(ids)
            try:
                slots = [self.ensure(a, pinned=ids) if a else 0 for a in adapter_ids]
            except BaseException:
                self.slots.unpin(ids)
                raise
        try:
            with self.bank.batch_slots(
                slots,
                multipliers,
                guidance_doubles_batch=guidance_doubles_batch,
                num_images_per_prompt=num_images_per_prompt,
            ) as s:
                yield s
        finally:
            with self._lock:
                self.slots.unpin(ids)

    @contextmanager
    def text_batch(
        self, adapter_ids: Sequence[str | None], multipliers: Sequence[float] | None = None
    ) -> Iterator[None]:
        """Point the text encoders at per-prompt adapters (None: the base encoder) while prompts are encoded.

        Call inside `batch`: the adapters must already hold their slots.
        """
        if not self.text_banks:
            yield
            return
        with self._lock:
            held = {a: self.slots.lookup(a) for a in adapter_ids if a}
        slots = [held[a] or 0 if a else 0 for a in adapter_ids]
        if None in held.values():
            raise RuntimeError(f"adapters {[a for a, s in held.items() if s is None]} hold no slot")
        banks = list(self.text_banks.values())
        for bank in banks:
            bank.set_batch_slots(slots, multipliers)
        try:
            yield
        finally:
            for bank in banks:
                bank.clear_batch()

    # -- every tier --------------------------------------------------------------------------------------------
    def evict(self, adapter_id: str) -> int:
        """Forget an adapter in every tier and zero its slot (deletion, retraining); returns how many tiers held it."""
        with self._lock:
            registered = self._blob_keys.pop(adapter_id, None) is not None
            cached = self.cache.pop(adapter_id) is not None
            self._with_text_layers.discard(adapter_id)
            slot = self.slots.release(adapter_id)
            if slot is not None:
                for bank in self.banks:
                    bank.clear(slot)
            return int(registered) + int(cached) + int(slot is not None)

    def resident(self) -> list[str]:
        """Every adapter id some tier holds (registered, in host RAM or in a slot)."""
        with self._lock:
            return sorted(set(self._blob_keys) | set(self.cache.keys()) | set(self.slots.resident()))

    @property
    def stats(self) -> dict[str, Any]:
        return dict(
            cache=self.cache.stats,
            slot_hits=self.slots.hits,
            slot_misses=self.slots.misses,
            slot_evictions=self.slots.evictions,
            resident=self.slots.resident(),
            file_loads=self.file_loads,
        )
