"""The engine: many people's requests in one batch, adapter tiers, failures and eviction."""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest
import torch
from lora_helpers import sd_pipe

from headshots.v1 import renderer_service_pb2 as pb
from headshots_common import blob_layout
from headshots_common.blobstore import LocalBlobStore
from headshots_common.styles import NEGATIVE_PROMPT, STYLES
from renderer.engine import AdapterEvicted, EngineSettings, RenderEngine

STEPS = 2
GREY_LEVELS = 2  # uint8 images: batch composition moves CPU float sums by ~1e-6, i.e. at most a grey level


@pytest.fixture
def blobs(tmp_path, lora_files) -> LocalBlobStore:
    store = LocalBlobStore(tmp_path / "blobs")
    for name, path in lora_files.items():
        store.put(adapter_key(name), path.read_bytes())
    return store


def adapter_key(name: str) -> str:
    return blob_layout.adapter_key(name, 1)


@pytest.fixture
def make_engine(tiny_model, blobs):
    engines = []

    def make(**settings) -> RenderEngine:
        engine = RenderEngine(sd_pipe(tiny_model), blobs, EngineSettings(default_steps=STEPS, **settings))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def request(adapter: str | None, seeds, style: str = "corporate-navy") -> pb.RenderRequest:
    ref = pb.AdapterRef(adapter_id=adapter, adapter_key=adapter_key(adapter)) if adapter else None
    return pb.RenderRequest(
        subject_phrase="sks person", adapter=ref, items=[pb.RenderItem(style_id=style, seed=s) for s in seeds]
    )


def submit_all(engine: RenderEngine, requests: dict[str, pb.RenderRequest]) -> dict[str, queue.Queue]:
    out = {}
    for name, req in requests.items():
        out[name] = queue.Queue()
        engine.submit(req, lambda image, result, q=out[name]: q.put(result))
    return out


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_one_batch_of_three_people_equals_rendering_each_alone_with_diffusers(make_engine, tiny_model, lora_files):
    engine = make_engine(max_batch=8, max_wait_s=1.0)
    requests = {"a1": request("a1", [11]), "a3": request("a3", [22]), "base": request(None, [33])}
    results = {name: q.get(timeout=120) for name, q in submit_all(engine, requests).items()}
    assert engine.batch_sizes == [3], "the three adapters shared one denoising batch"

    prompt = STYLES["corporate-navy"].prompt("sks person")
    for name, seed in [("a1", 11), ("a3", 22), ("base", 33)]:
        reference = sd_pipe(tiny_model)  # diffusers' standard single-adapter path
        if name != "base":
            path = lora_files[name]
            reference.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="ref")
        alone = reference(
            prompt=prompt,
            negative_prompt=NEGATIVE_PROMPT,
            num_inference_steps=STEPS,
            guidance_scale=5.0,
            generator=torch.Generator().manual_seed(seed),
        ).images[0]
        assert np.abs(pixels(results[name].image) - pixels(alone)).max() <= GREY_LEVELS, name
    assert np.abs(pixels(results["a1"].image) - pixels(results["base"].image)).mean() > 1  # adapters show


def test_a_persons_request_stays_in_one_batch_so_the_first_people_are_done_first(make_engine):
    """Three people's 3-image requests, batches of 8: the first two share the first batch whole and are done
    before the third's images start, instead of every request waiting for the last batch."""
    engine = make_engine(max_batch=8, max_wait_s=1.0)
    done: queue.Queue = queue.Queue()
    for name, seeds in [("a1", [1, 2, 3]), ("a2", [4, 5, 6]), ("a3", [7, 8, 9])]:
        engine.submit(request(name, seeds), lambda image, result, name=name: done.put((name, result)))
    finished = [done.get(timeout=120) for _ in range(9)]
    assert all(not isinstance(result, Exception) for _, result in finished)
    assert engine.batch_sizes == [6, 3]
    assert sorted(name for name, _ in finished[:6]) == ["a1"] * 3 + ["a2"] * 3


def test_one_persons_pack_runs_in_a_batch_of_its_own_and_equals_diffusers_rendering_it_in_one_call(
    make_engine, tiny_model, lora_files
):
    engine = make_engine(max_batch=2, max_request_batch=8, max_wait_s=0.2)
    seeds = [21, 22, 23]
    rendered = sorted(engine.render(request("a3", seeds)), key=lambda r: r.seed)
    assert engine.batch_sizes == [3], "more than a batch holds, so alone and in one call"

    reference = sd_pipe(tiny_model)
    path = lora_files["a3"]
    reference.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="ref")
    prompt = STYLES["corporate-navy"].prompt("sks person")
    expected = reference(
        prompt=[prompt] * 3,
        negative_prompt=[NEGATIVE_PROMPT] * 3,
        num_inference_steps=STEPS,
        guidance_scale=5.0,
        generator=[torch.Generator().manual_seed(s) for s in seeds],
    ).images
    for got, want in zip(rendered, expected, strict=True):
        assert np.abs(pixels(got.image) - pixels(want)).max() <= GREY_LEVELS


def test_adapters_cycle_through_two_slots_under_pressure(make_engine):
    engine = make_engine(max_batch=2, max_wait_s=0.2, adapter_slots=2, adapter_cache_capacity=2)
    first = [r.image for r in engine.render(request("a1", [5]))]
    names = ["a2", "a3", "a4", "a1"]
    results = submit_all(engine, {n: request(n, [5, 6]) for n in names})
    images = {n: [results[n].get(timeout=120) for _ in range(2)] for n in names}
    assert all(not isinstance(r, Exception) for rs in images.values() for r in rs)
    stats = engine.stats()
    assert stats["slot_evictions"] >= 2 and stats["slots_used"] == 2 and stats["adapters_cached"] == 2
    assert engine.adapters.cache.evictions >= 2 and stats["adapter_file_loads"] >= 5  # a1 was read again
    assert max(engine.batch_sizes) == 2 and len(set(engine.adapters.slots.resident().values())) == 2
    again = next(r.image for r in images["a1"] if r.seed == 5)
    assert np.abs(pixels(again) - pixels(first[0])).max() <= GREY_LEVELS  # reloaded into another slot: same image


def test_a_bad_adapter_fails_only_its_own_requests(make_engine, blobs):
    engine = make_engine(max_batch=8, max_wait_s=1.0)
    blobs.put(adapter_key("bad"), b"\x00not safetensors" * 8)
    with pytest.raises(ValueError, match="cannot read LoRA file"):  # caught at submit: never reaches a batch
        engine.submit(
            pb.RenderRequest(
                adapter=pb.AdapterRef(adapter_id="bad", adapter_key=(adapter_key("bad"))),
                items=[pb.RenderItem(style_id="tech-grey")],
            ),
            lambda *_: None,
        )

    # A file that goes bad after submit (evicted from host RAM, then corrupted) fails at batch start, alone.
    results = submit_all(engine, {"a1": request("a1", [1, 2]), "a2": request("a2", [3])})
    engine.adapters.cache.pop("a2")
    blobs.put(adapter_key("a2"), b"corrupt")
    got = {
        name: [q.get(timeout=120) for _ in range(n)]
        for name, q, n in [("a1", results["a1"], 2), ("a2", results["a2"], 1)]
    }
    assert isinstance(got["a2"][0], ValueError)
    assert all(not isinstance(r, Exception) for r in got["a1"])
    assert engine.batch_sizes == [2] and engine.adapters.slots.lookup("a2") is None


def test_evict_drops_the_adapter_from_every_tier_and_its_queued_images(make_engine):
    engine = make_engine(max_batch=2, max_request_batch=2, max_wait_s=0.05, adapter_slots=2)
    list(engine.render(request("a1", [1])))
    slot = engine.adapters.slots.lookup("a1")
    assert slot and "a1" in engine.adapters.cache and engine.prefetch(request("a1", []).adapter)

    hold = threading.Event()
    original = engine._run_batch
    engine._run_batch = lambda batch: (hold.wait(30), original(batch))  # keep a1's next images queued
    results = submit_all(engine, {"a1": request("a1", [2, 3, 4, 5, 6])})
    assert engine.evict("a1") > 0
    hold.set()
    outcomes = [results["a1"].get(timeout=120) for _ in range(5)]
    assert sum(isinstance(r, AdapterEvicted) for r in outcomes) >= 3  # the queued ones
    assert all(isinstance(r, Exception) for r in outcomes)  # the batch already taken finds it gone too
    engine._run_batch = original

    assert engine.adapters.slots.lookup("a1") is None and "a1" not in engine.adapters.cache
    assert engine.adapters.blob_key("a1") is None and engine.bank.slot_adapter[slot] is None
    for layer in engine.bank.layers.values():
        assert not layer.A[slot].any() and not layer.B[slot].any() and layer.scale[slot] == 0
    assert engine.evict("a1") == 0


def test_repeated_prompts_are_encoded_once_and_render_the_same_images(make_engine):
    engine = make_engine(max_batch=4, max_wait_s=0.5)
    first = sorted(engine.render(request("a1", [7, 8], style="tech-grey")), key=lambda r: r.seed)
    assert engine.stats()["prompts_cached"] == 1  # one style, one subject: one distinct prompt
    again = sorted(engine.render(request("a2", [7], style="tech-grey")), key=lambda r: r.seed)
    again += sorted(engine.render(request("a1", [7, 8], style="tech-grey")), key=lambda r: r.seed)
    stats = engine.stats()
    assert stats["prompts_cached"] == 1 and stats["prompt_cache_hit_rate"] == pytest.approx(4 / 5)
    for before, after in zip(first, again[1:]):
        assert np.array_equal(pixels(before.image), pixels(after.image))  # the cached embedding is the same


def test_an_sdxl_base_renders_through_the_engine_as_through_diffusers(tmp_path):
    from diffusers import StableDiffusionXLPipeline

    from headshots_tools.tinymodel import generate_tiny_base_model

    model = generate_tiny_base_model(tmp_path / "tiny-sdxl", "sdxl")
    pipe = StableDiffusionXLPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    engine = RenderEngine(pipe, LocalBlobStore(tmp_path / "blobs"), EngineSettings(default_steps=STEPS))
    try:
        rendered = [r.image for r in engine.render(request(None, [5]))]
    finally:
        engine.close()
    reference = StableDiffusionXLPipeline.from_pretrained(model)(
        prompt=STYLES["corporate-navy"].prompt("sks person"),
        negative_prompt=NEGATIVE_PROMPT,
        num_inference_steps=STEPS,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(5),
    ).images[0]
    assert np.abs(pixels(rendered[0]) - pixels(reference)).max() <= GREY_LEVELS
    assert engine.stats()["prompts_cached"] == 1


def test_a_request_samples_with_the_scheduler_it_names_and_an_unknown_one_is_refused(make_engine):
    """A fixed look (a team's) names its sampler: the same seed with another scheduler is another image, the base
    model's own scheduler named is the default, and a name the model cannot use is refused at submit."""
    engine = make_engine(max_batch=1, max_wait_s=0.01)
    own = type(engine.pipe.scheduler).__name__
    # The sampler a team's look names (compatibles come in no fixed order; not every one renders 4-step batches).
    other = "EulerDiscreteScheduler" if own != "EulerDiscreteScheduler" else "DDIMScheduler"
    assert other in {c.__name__ for c in engine.pipe.scheduler.compatibles}

    def render(sampler: str) -> np.ndarray:
        req = request(None, [7])
        req.sampler = sampler
        (result,) = [q.get(timeout=120) for q in submit_all(engine, {"one": req}).values()]
        return pixels(result.image)

    default, named_own, swapped = render(""), render(own), render(other)
    assert np.array_equal(default, named_own)
    assert not np.array_equal(default, swapped)
    assert np.array_equal(render(""), default)  # the base scheduler is back for the next batch
    unknown = request(None, [7])
    unknown.sampler = "NoSuchScheduler"
    with pytest.raises(ValueError, match="unknown sampler"):
        engine.submit(unknown, lambda image, result: None)
