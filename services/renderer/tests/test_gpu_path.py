"""The GPU path's settings, compile-friendliness of the mixed-LoRA modules, and the GPU benchmark's CPU smoke run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lora_helpers import sd_pipe
from torch import nn

from renderer.engine import EngineSettings, RenderEngine, resolve_dtype
from renderer.lora import AdapterBank, LoraLayerWeights, ParsedAdapter, install_mixed_lora

BENCH = Path(__file__).resolve().parents[3] / "bench" / "renderer" / "bench_renderer_gpu.py"


def test_dtype_and_compile_settings(monkeypatch):
    from renderer.config import load

    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cuda")) == torch.bfloat16
    with pytest.raises(ValueError, match="fp16, bf16 or fp32"):
        resolve_dtype("int8", torch.device("cuda"))
    config = load()
    assert (config.dtype, config.compile_unet, config.torch_threads) == ("auto", False, 0)  # compile is opt-in
    monkeypatch.setenv("HEADSHOTS_RENDER_DTYPE", "bf16")
    monkeypatch.setenv("HEADSHOTS_RENDER_COMPILE", "true")
    monkeypatch.setenv("HEADSHOTS_RENDER_THREADS", "4")
    assert (load().dtype, load().compile_unet, load().torch_threads) == ("bf16", True, 4)


def test_the_engine_renders_with_sdpa_attention(tiny_model, tmp_path):
    from headshots_common.blobstore import LocalBlobStore

    engine = RenderEngine(sd_pipe(tiny_model), LocalBlobStore(tmp_path), EngineSettings(default_steps=1))
    try:
        # diffusers' default processor on torch 2: F.scaled_dot_product_attention (flash/mem-efficient on CUDA)
        assert set(engine.attention) == {"AttnProcessor2_0"} and sum(engine.attention.values()) == 12
    finally:
        engine.close()


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.to_q = nn.Linear(16, 24)

    def forward(self, x):
        return torch.relu(self.to_q(x)) * 2


def _adapter(rank: int, seed: int) -> ParsedAdapter:
    g = torch.Generator().manual_seed(seed)
    return ParsedAdapter(
        {"to_q": LoraLayerWeights(torch.randn(rank, 16, generator=g), torch.randn(24, rank, generator=g), 0.5)},
        adapter_id=f"r{rank}",
    )


def test_mixed_lora_compiles_in_one_graph_and_a_new_adapter_mix_does_not_recompile():
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    block = _Block().eval()
    bank = install_mixed_lora(block, AdapterBank.from_unet(block, num_slots=3, r_max=4, static_rank=True))
    bank.load(1, _adapter(2, 1))
    bank.load(2, _adapter(4, 2))
    counter = CompileCounter()
    compiled = torch.compile(block, backend=counter, fullgraph=True)  # fullgraph: a graph break would raise
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        for mix in ([1, 2, 0], [2, 0, 1], [1, 1, 1], [0, 2, 2]):  # ranks differ per mix; shapes do not
            bank.set_batch_slots(mix)
            torch.testing.assert_close(compiled(x), block(x), rtol=0, atol=0)
            assert bank.layers["to_q"].batch_weights[0].shape == (3, 16, 4)
        assert counter.frame_count == 1, "one compiled graph serves every adapter mix"
        bank.load(3, _adapter(3, 3))  # a slot loaded mid-batch is seen by the next forward
        bank.set_batch_slots([3, 3, 3])
        torch.testing.assert_close(compiled(x), block(x), rtol=0, atol=0)
        assert counter.frame_count == 1
    bank.clear_batch()
    torch._dynamo.reset()


def test_gpu_bench_fails_clearly_without_cuda(tiny_model):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--base-model", tiny_model], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "CUDA is not available" in result.stderr and "--device cpu" in result.stderr


def test_gpu_bench_smoke_run_on_cpu_with_the_tiny_model(tiny_model, tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--device",
            "cpu",
            "--base-model",
            tiny_model,
            "--resolution",
            "64",
            "--steps",
            "2",
            "--requests-per-tenant",
            "1",
            "--pack-images",
            "2",
            "--repeats",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GPU: none" in result.stdout and "AttnProcessor2_0" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["renderer.gpu.mixed_over_nolora"]["value"] > 0
    for name in (
        "renderer.gpu.throughput_over_resident_diffusers",
        "renderer.gpu.throughput_over_resident_diffusers_4img",
        "renderer.gpu.throughput_over_resident_diffusers_packs",
        "renderer.gpu.throughput_over_ray_multiplexed",
        "renderer.gpu.images_per_s",
    ):
        assert figures[name]["value"] > 0, name
    assert "p95" in figures["renderer.gpu.images_per_s"]["note"]
    # Through gRPC, the renderer rendered the warm-up (8) and each mix once: 8 + 8x1 + 8x4 + 8 packs of 2.
    assert int(figures["_config"]["serving"]["renderer_stats"]["images_rendered"]) == 64
    assert figures["_config"]["lora_linears"] == 48
