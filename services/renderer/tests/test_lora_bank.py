"""The mixed-adapter bank: several users' LoRAs in one batched UNet forward equal diffusers' per-adapter path."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from lora_helpers import manager_for, sd_pipe

from renderer.lora import (
    AdapterBank,
    HostAdapterCache,
    MixedLoraLinear,
    SlotAllocator,
    install_mixed_lora,
    load_adapter_file,
    per_unet_sample,
)

# float32 on CPU. Measured: against diffusers' peft path on the same batch the bank agrees to <= 1e-6
# (mostly bit-exact); against a batch-of-1 render to ~1.3e-6 abs (CPU GEMM blocking depends on the
# batch size, diffusers' own batch-of-4 vs batch-of-1 outputs differ as much). Output magnitude ~1.
UNET_RTOL, UNET_ATOL = 1e-5, 1e-5
SINGLE_RTOL, SINGLE_ATOL = 1e-4, 1e-5
PIXEL_ATOL = 2e-3  # images as float [0, 1]; i.e. < 1/255 of a grey level


def _pipe(model: str):
    return sd_pipe(model)


@pytest.fixture(scope="module")
def adapters(lora_files) -> dict[str, Path]:
    return lora_files


def _reference_pipe(model: str, adapter: Path | None):
    pipe = _pipe(model)
    if adapter is not None:
        pipe.load_lora_weights(str(adapter.parent), weight_name=adapter.name, adapter_name="ref")
    return pipe


def _bank_pipe(model: str, num_slots: int = 4, r_max: int = 8):
    pipe = _pipe(model)
    bank = install_mixed_lora(pipe.unet, AdapterBank.from_unet(pipe.unet, num_slots=num_slots, r_max=r_max))
    return pipe, bank


def test_one_batched_forward_equals_per_adapter_diffusers(tiny_model, adapters):
    order = ["a1", None, "a2", "a3"]  # ranks 2, -, 4, 8 mixed in one batch
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(4, 4, 16, 16, generator=generator)
    text = torch.randn(4, 77, 32, generator=generator)
    timestep = torch.tensor(500)

    pipe, bank = _bank_pipe(tiny_model)
    manager = manager_for(bank, adapters, host_capacity=8)
    with torch.no_grad():
        bare = pipe.unet(sample, timestep, encoder_hidden_states=text).sample  # no batch set: fast path
        with manager.batch(order, guidance_doubles_batch=False) as slots:
            assert slots.tolist() == [1, 0, 2, 3]
            mixed = pipe.unet(sample, timestep, encoder_hidden_states=text).sample

    for i, name in enumerate(order):
        ref_unet = _reference_pipe(tiny_model, adapters[name] if name else None).unet
        with torch.no_grad():
            same_batch = ref_unet(sample, timestep, encoder_hidden_states=text).sample[i : i + 1]
            alone = ref_unet(sample[i : i + 1], timestep, encoder_hidden_states=text[i : i + 1]).sample
        torch.testing.assert_close(mixed[i : i + 1], same_batch, rtol=UNET_RTOL, atol=UNET_ATOL)
        torch.testing.assert_close(mixed[i : i + 1], alone, rtol=SINGLE_RTOL, atol=SINGLE_ATOL)
        if name:  # the adapters really change the output
            assert (mixed[i] - bare[i]).abs().max() > 1e-2
    torch.testing.assert_close(mixed[1], bare[1], rtol=0, atol=0)


def test_pipeline_renders_two_users_with_classifier_free_guidance_in_one_call(tiny_model, adapters):
    users = [("a1", "a photo of sks person, studio headshot", 11), ("a3", "a photo of sks person outdoors", 22)]
    kwargs = dict(num_inference_steps=3, guidance_scale=5.0, output_type="np")

    pipe, bank = _bank_pipe(tiny_model)
    manager = manager_for(bank, adapters)
    with manager.batch([u for u, _, _ in users], guidance_doubles_batch=True):
        together = pipe(
            prompt=[p for _, p, _ in users],
            negative_prompt=["blurry"] * 2,
            generator=[torch.Generator().manual_seed(s) for _, _, s in users],
            **kwargs,
        ).images

    for i, (user, prompt, seed) in enumerate(users):
        ref = _reference_pipe(tiny_model, adapters[user])
        alone = ref(
            prompt=prompt, negative_prompt="blurry", generator=torch.Generator().manual_seed(seed), **kwargs
        ).images[0]
        bare = _pipe(tiny_model)(
            prompt=prompt, negative_prompt="blurry", generator=torch.Generator().manual_seed(seed), **kwargs
        ).images[0]
        assert np.abs(together[i] - alone).max() < PIXEL_ATOL
        assert np.abs(alone - bare).max() > 10 * PIXEL_ATOL  # the adapter is visible in the image


def test_text_projections_are_computed_once_per_call_and_change_nothing(tiny_model, adapters):
    users = [("a1", "a photo of sks person, studio headshot", 11), ("a3", "a photo of sks person outdoors", 22)]
    kwargs = dict(
        prompt=[p for _, p, _ in users],
        negative_prompt=["blurry"] * 2,
        num_inference_steps=3,
        guidance_scale=5.0,
        output_type="np",
    )
    pipe, bank = _bank_pipe(tiny_model)
    manager = manager_for(bank, adapters)
    cross = [m for m in pipe.unet.modules() if isinstance(m, MixedLoraLinear) and m.text_projection]
    self_attention = [m for m in pipe.unet.modules() if isinstance(m, MixedLoraLinear) and not m.text_projection]
    assert cross and all(m.name.rsplit(".", 1)[-1] in ("to_k", "to_v") and ".attn2." in m.name for m in cross)
    assert not any(".attn2.to_k" in m.name or ".attn2.to_v" in m.name for m in self_attention)
    calls = {"n": 0}
    cross[0].base.register_forward_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))

    def render(reuse: bool):
        calls["n"] = 0
        with (
            manager.batch([u for u, _, _ in users], guidance_doubles_batch=True),
            bank.reuse_text_projections() if reuse else contextlib.nullcontext(),
        ):
            images = pipe(generator=[torch.Generator().manual_seed(s) for _, _, s in users], **kwargs).images
        return images, calls["n"]

    every_step, computed = render(reuse=False)
    assert computed == 3  # once per denoising step
    reused, computed = render(reuse=True)
    assert computed == 1 and bank.text_projections is None  # once per call; nothing kept after it
    np.testing.assert_array_equal(reused, every_step)


def test_a_reused_projection_follows_a_new_adapter_mix_or_new_text(tiny_model, adapters):
    pipe, bank = _bank_pipe(tiny_model)
    manager = manager_for(bank, adapters)
    layer = next(m for m in pipe.unet.modules() if isinstance(m, MixedLoraLinear) and m.text_projection)
    text = torch.randn(2, 77, layer.in_features, generator=torch.Generator().manual_seed(3))
    with torch.no_grad(), bank.reuse_text_projections():
        with manager.batch(["a1", "a2"], guidance_doubles_batch=False):
            first = layer(text).clone()
            assert layer(text) is layer(text)  # reused
        with manager.batch(["a3", None], guidance_doubles_batch=False):  # same tensor, another adapter mix
            other_mix = layer(text).clone()
            text.mul_(2)  # changed in place: not the same input any more
            doubled = layer(text)
    with torch.no_grad():
        with manager.batch(["a3", None], guidance_doubles_batch=False):
            torch.testing.assert_close(other_mix, layer(text / 2), rtol=0, atol=0)
            torch.testing.assert_close(doubled, layer(text), rtol=0, atol=0)
    assert (first - other_mix).abs().max() > 1e-3


def test_guidance_slot_order_and_batch_mismatch(tiny_model):
    assert per_unet_sample(torch.tensor([3, 0, 1])).tolist() == [3, 0, 1, 3, 0, 1]
    assert per_unet_sample(torch.tensor([3, 1]), True, 2).tolist() == [3, 3, 1, 1, 3, 3, 1, 1]
    assert per_unet_sample(torch.tensor([3, 1]), False).tolist() == [3, 1]
    pipe, bank = _bank_pipe(tiny_model)
    name = next(iter(bank.layers))
    torch.nn.init.normal_(bank.layers[name].A[1])
    bank.layers[name].ranks[1] = 8
    bank.set_batch_slots([1, 0], guidance_doubles_batch=True)
    with pytest.raises(RuntimeError, match="slot indices"):
        pipe.unet.get_submodule(name)(torch.randn(2, 5, bank.layers[name].in_features))


def test_loading_is_a_tensor_copy(tiny_model, adapters):
    pipe, bank = _bank_pipe(tiny_model)
    modules = {n: m for n, m in pipe.unet.named_modules() if isinstance(m, MixedLoraLinear)}
    # 6 transformer blocks (down 2, mid 1, up 3) x (attn1, attn2) x 4 projections, as many as the adapter has
    assert set(modules) == set(bank.layers) and len(modules) == 48 == len(load_adapter_file(adapters["a1"]).layers)
    tensor_ids = {
        n: (id(layer.A), id(layer.B), id(layer.scale), layer.A.data_ptr()) for n, layer in bank.layers.items()
    }

    adapter = load_adapter_file(adapters["a3"], adapter_id="a3")
    bank.load(2, adapter)
    bank.load(2, load_adapter_file(adapters["a1"], adapter_id="a1"))  # rank 8 -> rank 2: padding re-zeroed

    assert {n: m for n, m in pipe.unet.named_modules() if isinstance(m, MixedLoraLinear)} == modules
    assert all(pipe.unet.get_submodule(n) is m for n, m in modules.items())
    assert {
        n: (id(layer.A), id(layer.B), id(layer.scale), layer.A.data_ptr()) for n, layer in bank.layers.items()
    } == tensor_ids
    a1 = load_adapter_file(adapters["a1"])
    for name, layer in bank.layers.items():
        torch.testing.assert_close(layer.A[2, :2], a1.layers[name].A, rtol=0, atol=0)
        assert not layer.A[2, 2:].any() and not layer.B[2, :, 2:].any()
        assert not layer.A[0].any() and not layer.B[0].any() and layer.scale[0] == 0
        assert layer.scale[2] == 1.0  # alpha = r


def test_slot_lru_eviction_and_pinning(tiny_model, adapters):
    _, bank = _bank_pipe(tiny_model, num_slots=2)
    manager = manager_for(bank, adapters, host_capacity=3)
    assert manager.ensure("a1") == 1 and manager.ensure("a2") == 2
    assert manager.ensure("a1") == 1  # touch: a2 is now least recently used
    assert manager.ensure("a3") == 2  # evicts a2
    assert manager.slots.resident() == {"a1": 1, "a3": 2} and bank.slot_adapter[1:] == ["a1", "a3"]
    a3 = load_adapter_file(adapters["a3"])
    name = next(iter(bank.layers))
    torch.testing.assert_close(bank.layers[name].A[2], a3.layers[name].A, rtol=0, atol=0)

    with manager.batch(["a1", None, "a3"], guidance_doubles_batch=False):  # both slots pinned by the running batch
        with pytest.raises(RuntimeError, match="pinned"):
            manager.ensure("a4")
        assert manager.slots.resident() == {"a1": 1, "a3": 2}
    hits = manager.cache.hits
    assert manager.ensure("a2") == 1  # LRU unpinned slot; a2 comes back from host RAM
    assert manager.cache.hits == hits + 1
    assert manager.cache.stats["misses"] == 3 and len(manager.cache) == 3
    manager.ensure("a4")  # 4th adapter: host LRU drops a1
    assert "a1" not in manager.cache and manager.cache.evictions == 1

    allocator = SlotAllocator(2)
    assert allocator.acquire("x") == (1, True, None) and allocator.acquire("y") == (2, True, None)
    assert allocator.acquire("z", pinned=["x"]) == (2, True, "y")
    cache = HostAdapterCache(1)
    assert cache.get("k") is None and cache.misses == 1


def test_evict_zeroes_the_slot(tiny_model, adapters):
    _, bank = _bank_pipe(tiny_model, num_slots=2)
    manager = manager_for(bank, adapters)
    slot = manager.ensure("a2")
    other = manager.ensure("a3")
    before = {n: layer.A[other].clone() for n, layer in bank.layers.items()}
    manager.evict("a2")
    assert "a2" not in manager.cache and manager.slots.lookup("a2") is None and bank.slot_adapter[slot] is None
    for name, layer in bank.layers.items():
        assert not layer.A[slot].any() and not layer.B[slot].any() and layer.scale[slot] == 0
        torch.testing.assert_close(layer.A[other], before[name], rtol=0, atol=0)
    assert manager.ensure("a1") == slot  # the freed slot is reused


def test_corrupt_adapter_fails_alone(tiny_model, adapters, tmp_path):
    from safetensors.torch import load_file, save_file

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00not a safetensors file" * 10)
    good = load_file(str(adapters["a2"]))
    unknown = dict(
        good,
        **{
            "unet.mid_block.nonexistent.to_q.lora.down.weight": torch.zeros(4, 32),
            "unet.mid_block.nonexistent.to_q.lora.up.weight": torch.zeros(32, 4),
        },
    )
    save_file(unknown, str(tmp_path / "unknown.safetensors"))
    key = next(k for k in good if k.endswith("lora.up.weight"))
    mismatched = dict(good, **{key: torch.zeros(7, 4)})
    save_file(mismatched, str(tmp_path / "mismatched.safetensors"))
    save_file(dict(good, **{"text_encoder.layer.weight": torch.zeros(2)}), str(tmp_path / "te.safetensors"))
    files = dict(
        adapters,
        garbage=garbage,
        unknown=tmp_path / "unknown.safetensors",
        mismatched=tmp_path / "mismatched.safetensors",
        te=tmp_path / "te.safetensors",
    )

    _, bank = _bank_pipe(tiny_model, num_slots=2)
    manager = manager_for(bank, files)
    manager.ensure("a1")
    manager.ensure("a3")
    snapshot = {n: (layer.A.clone(), layer.B.clone(), layer.scale.clone()) for n, layer in bank.layers.items()}
    for bad, match in [
        ("garbage", "cannot read LoRA file"),
        ("unknown", "mid_block.nonexistent.to_q"),
        ("mismatched", key.replace(".", r"\.")),
        ("te", "text_encoder.layer.weight"),
    ]:
        with pytest.raises(ValueError, match=match):
            manager.ensure(bad)
        with pytest.raises(ValueError, match=match):
            with manager.batch(["a1", bad]):
                pass
    assert manager.slots.resident() == {"a1": 1, "a3": 2} and manager.slots._pins == {}
    for name, layer in bank.layers.items():
        for got, want in zip((layer.A, layer.B, layer.scale), snapshot[name]):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
    with pytest.raises(ValueError, match="out of range"):
        bank.load(0, load_adapter_file(adapters["a1"]))
