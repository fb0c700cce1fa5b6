"""Prompt embeddings computed once per distinct prompt, not once per image.

Every headshot prompt is a catalogue style applied to a subject phrase ("sks woman"), and every image
shares the one negative prompt, so a replica sees a few dozen distinct prompts however many people it
serves. `PromptEmbeddingCache` encodes a batch's missing prompts in one call through the pipeline's own
`encode_prompt` and hands the pipeline ready embeddings (`prompt_embeds=...`), which it uses exactly as
if it had encoded them. An adapter that trained the text encoders changes the embeddings: its prompts
are keyed by adapter (and scale) too, encoded with the text encoders pointed at it, and forgotten with it.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch

# What `encode_prompt` returns, in order, as the pipeline call's keyword arguments:
# StableDiffusionPipeline returns the first two, StableDiffusionXLPipeline all four.
EMBEDDING_ARGUMENTS = (
    "prompt_embeds",
    "negative_prompt_embeds",
    "pooled_prompt_embeds",
    "negative_pooled_prompt_embeds",
)

# (adapter id, LoRA scale) of an adapter that changes the text encoders; None encodes with the base encoders.
TextAdapter = tuple[str, float] | None
# Points the text encoders at per-prompt adapters while a batch of prompts is encoded.
TextEncoderSwitch = Callable[[Sequence[str | None], Sequence[float]], AbstractContextManager[Any]]


def _base_encoders(adapter_ids: Sequence[str | None], scales: Sequence[float]) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


class PromptEmbeddingCache:
    """LRU of per-prompt embeddings, keyed by (prompt, negative prompt, guidance, text adapter)."""

    def __init__(self, pipe, capacity: int = 256, text_encoders_for: TextEncoderSwitch = _base_encoders):
        if capacity < 1:
            raise ValueError("the prompt embedding cache needs a capacity of at least 1")
        self.pipe = pipe
        self.capacity = capacity
        self.text_encoders_for = text_encoders_for
        self._entries: OrderedDict[tuple[str, str, bool, TextAdapter], tuple[torch.Tensor | None, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @torch.no_grad()
    def pipeline_arguments(
        self,
        prompts: Sequence[str],
        negative_prompts: Sequence[str],
        classifier_free_guidance: bool,
        text_adapters: Sequence[TextAdapter] | None = None,
    ) -> dict[str, torch.Tensor | None]:
        """The embedding keyword arguments for one pipeline call over `prompts` (one image each)."""
        if len(prompts) != len(negative_prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(negative_prompts)} negative prompts")
        adapters = list(text_adapters) if text_adapters is not None else [None] * len(prompts)
        keys = [(p, n, classifier_free_guidance, a) for p, n, a in zip(prompts, negative_prompts, adapters)]
        with self._lock:
            rows: dict[tuple[str, str, bool, TextAdapter], tuple[torch.Tensor | None, ...] | None] = {
                key: self._entries.get(key) for key in dict.fromkeys(keys)
            }
            missing = [key for key, row in rows.items() if row is None]
            # A miss is an encoding: images sharing a prompt in one batch cost one between them.
            self.hits, self.misses = self.hits + len(keys) - len(missing), self.misses + len(missing)
            if missing:
                rows.update(zip(missing, self._encode(missing, classifier_free_guidance)))
            for key, row in rows.items():
                if key in self._entries:
                    self._entries.move_to_end(key)
                else:
                    assert row is not None  # encoded just above
                    self._entries[key] = row
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        columns = zip(*(rows[key] for key in keys))
        return {
            name: None if column[0] is None else torch.cat(column) for name, column in zip(EMBEDDING_ARGUMENTS, columns)
        }

    def forget_adapter(self, adapter_id: str) -> int:
        """Drop the embeddings an adapter's text encoders made (deletion, retraining); returns how many."""
        with self._lock:
            stale = [key for key in self._entries if key[3] is not None and key[3][0] == adapter_id]
            for key in stale:
                del self._entries[key]
        return len(stale)

    def _encode(
        self, keys: list[tuple[str, str, bool, TextAdapter]], classifier_free_guidance: bool
    ) -> list[tuple[torch.Tensor | None, ...]]:
        adapters = [k[3] for k in keys]
        with self.text_encoders_for([a[0] if a else None for a in adapters], [a[1] if a else 1.0 for a in adapters]):
            outputs = self.pipe.encode_prompt(
                prompt=[k[0] for k in keys],
                negative_prompt=[k[1] for k in keys],
                device=self.pipe.device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=classifier_free_guidance,
            )
        return [tuple(None if t is None else t[i : i + 1].clone() for t in outputs) for i in range(len(keys))]

    def stats(self) -> dict[str, float | int]:
        lookups = self.hits + self.misses
        return dict(prompts_cached=len(self._entries), prompt_cache_hit_rate=self.hits / lookups if lookups else 0.0)
