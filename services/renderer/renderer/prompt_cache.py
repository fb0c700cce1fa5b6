"""Prompt embeddings computed once per distinct prompt, not once per image.

Every headshot prompt is a catalogue style applied to a subject phrase ("sks woman"), and every
image shares the one negative prompt, so a replica sees a few dozen distinct prompts however many
tenants it serves. The text encoder is shared by all tenants (adapters are UNet-only, see
`lora_bank`), so an embedding depends on the prompt text alone: `PromptEmbeddingCache` encodes a
batch's missing prompts in one call through the pipeline's own `encode_prompt` and hands the
pipeline ready embeddings (`prompt_embeds=...`), which it uses exactly as if it had encoded them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import torch

# What `encode_prompt` returns, in order, as the pipeline call's keyword arguments:
# StableDiffusionPipeline returns the first two, StableDiffusionXLPipeline all four.
EMBEDDING_ARGUMENTS = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                       "negative_pooled_prompt_embeds")


class PromptEmbeddingCache:
    """LRU of per-prompt embeddings, keyed by (prompt, negative prompt, classifier-free guidance)."""

    def __init__(self, pipe, capacity: int = 256):
        if capacity < 1:
            raise ValueError("the prompt embedding cache needs a capacity of at least 1")
        self.pipe = pipe
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str, bool], tuple[torch.Tensor | None, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @torch.no_grad()
    def pipeline_arguments(self, prompts: Sequence[str], negative_prompts: Sequence[str],
                           cfg: bool) -> dict[str, torch.Tensor]:
        """The embedding keyword arguments for one pipeline call over `prompts` (one image each)."""
        if len(prompts) != len(negative_prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(negative_prompts)} negative prompts")
        keys = [(p, n, cfg) for p, n in zip(prompts, negative_prompts)]
        with self._lock:
            rows = {key: self._entries.get(key) for key in dict.fromkeys(keys)}
            missing = [key for key, row in rows.items() if row is None]
            # A miss is an encoding: images sharing a prompt in one batch cost one between them.
            self.hits, self.misses = self.hits + len(keys) - len(missing), self.misses + len(missing)
            if missing:
                rows.update(zip(missing, self._encode(missing, cfg)))
            for key in rows:
                if key in self._entries:
                    self._entries.move_to_end(key)
                else:
                    self._entries[key] = rows[key]
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        columns = zip(*(rows[key] for key in keys))
        return {name: None if column[0] is None else torch.cat(column)
                for name, column in zip(EMBEDDING_ARGUMENTS, columns)}

    def _encode(self, keys: list[tuple[str, str, bool]], cfg: bool) -> list[tuple[torch.Tensor | None, ...]]:
        outputs = self.pipe.encode_prompt(
            prompt=[k[0] for k in keys], negative_prompt=[k[1] for k in keys], device=self.pipe.device,
            num_images_per_prompt=1, do_classifier_free_guidance=cfg)
        return [tuple(None if t is None else t[i:i + 1].clone() for t in outputs) for i in range(len(keys))]

    def stats(self) -> dict[str, float | int]:
        lookups = self.hits + self.misses
        return dict(prompts_cached=len(self._entries), prompt_cache_hit_rate=self.hits / lookups if lookups else 0.0)
