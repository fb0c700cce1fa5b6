"""The batch scheduler: fill, compatibility, fairness between adapters, waiting, cancelling."""

from __future__ import annotations

import threading
import time

from renderer.scheduler import BatchKey, BatchScheduler, QueuedRequest

KEY = BatchKey(128, 128, 12, 5.0)


def request(adapter_id: str, n: int, key: BatchKey = KEY, results: list | None = None) -> QueuedRequest:
    return QueuedRequest(
        adapter_id=adapter_id,
        key=key,
        items=[f"{adapter_id}{i}" for i in range(n)],
        on_result=lambda image, result: results.append((image, result)) if results is not None else None,
    )


def adapters_of(batch) -> list[str]:
    return [image.request.adapter_id for image in batch]


def test_a_batch_mixes_whole_requests_of_many_adapters_round_robin_up_to_max_batch():
    scheduler = BatchScheduler(max_batch=4, max_wait_s=0)
    for adapter_id, n in [("a", 3), ("b", 1), ("c", 2)]:
        scheduler.submit(request(adapter_id, n))
    assert adapters_of(scheduler.next_batch()) == ["a", "a", "a", "b"]
    assert [t.item for t in scheduler.next_batch()] == ["c0", "c1"]  # c's whole request, which did not fit
    assert scheduler.depth == 0 and scheduler.mean_batch_size == 3.0


def test_a_request_that_fits_a_batch_is_never_spread_across_batches():
    """8 people's 4-image requests, batches of 8: each batch holds two whole requests, taken in turn, so the
    first people are done after the first batch instead of everyone at the end."""
    scheduler = BatchScheduler(max_batch=8, max_wait_s=0)
    for adapter_id in "abcdefgh":
        scheduler.submit(request(adapter_id, 4))
    scheduler.submit(request("a", 4))  # a's second request waits its turn behind everyone's first
    batches = [adapters_of(scheduler.next_batch()) for _ in range(5)]
    assert batches == [[p] * 4 + [q] * 4 for p, q in ("ab", "cd", "ef", "gh")] + [["a"] * 4]


def test_a_request_bigger_than_a_batch_runs_alone_in_equal_batches_and_others_wait_one_of_them():
    scheduler = BatchScheduler(max_batch=4, max_wait_s=0, max_request_batch=16)
    scheduler.submit(request("pack", 40))
    assert adapters_of(scheduler.next_batch()) == ["pack"] * 14  # 40 in three equal batches of at most 16
    scheduler.submit(request("small", 1))  # arrives while the pack's first batch renders
    assert adapters_of(scheduler.next_batch()) == ["small"]  # a pack's batch holds no one else
    assert [len(scheduler.next_batch()) for _ in range(2)] == [13, 13]
    scheduler.submit(request("whole", 12))
    assert len(scheduler.next_batch()) == 12  # a pack that fits max_request_batch runs in one call, as diffusers does


def test_an_adapter_with_many_images_does_not_delay_one_with_few_beyond_one_batch():
    scheduler = BatchScheduler(max_batch=4, max_wait_s=0)
    scheduler.submit(request("big", 200))
    first = scheduler.next_batch()
    assert adapters_of(first) == ["big"] * 4  # alone, it fills the batch
    scheduler.submit(request("small", 4))  # arrives while big's first batch renders
    assert adapters_of(scheduler.next_batch()) == ["small"] * 4  # small is done one batch after it arrived
    assert adapters_of(scheduler.next_batch()) == ["big"] * 4
    assert scheduler.depth == 200 - 8


def test_only_compatible_items_share_a_batch():
    scheduler = BatchScheduler(max_batch=8, max_wait_s=0)
    scheduler.submit(request("a", 2, BatchKey(128, 128, 12, 5.0)))
    scheduler.submit(request("b", 2, BatchKey(256, 256, 12, 5.0)))
    scheduler.submit(request("c", 2, BatchKey(128, 128, 12, 5.0)))
    first, second = scheduler.next_batch(), scheduler.next_batch()
    assert sorted(adapters_of(first)) == ["a", "a", "c", "c"] and {t.request.key for t in first} == {KEY}
    assert adapters_of(second) == ["b", "b"]


def test_max_adapters_bounds_the_adapters_of_one_batch():
    scheduler = BatchScheduler(max_batch=8, max_wait_s=0, max_adapters=2)
    for adapter_id in "abc":
        scheduler.submit(request(adapter_id, 4))
    assert set(adapters_of(scheduler.next_batch())) == {"a", "b"}


def test_waits_up_to_max_wait_for_other_adapters_then_runs_partial():
    scheduler = BatchScheduler(max_batch=4, max_wait_s=0.3)
    scheduler.submit(request("a", 1))
    threading.Timer(0.05, lambda: scheduler.submit(request("b", 1))).start()
    started = time.monotonic()
    batch = scheduler.next_batch()
    waited = time.monotonic() - started
    assert adapters_of(batch) == ["a", "b"] and 0.25 <= waited < 2.0  # the partial batch waited max_wait
    scheduler.submit(request("c", 4))
    started = time.monotonic()
    assert len(scheduler.next_batch()) == 4 and time.monotonic() - started < 0.2  # a full batch does not wait


def test_a_burst_still_arriving_joins_the_batch_but_a_trickle_cannot_hold_it_forever():
    scheduler = BatchScheduler(max_batch=8, max_wait_s=0.3)  # lingers at most 1.2 s
    scheduler.submit(request("a", 1))
    for i, adapter_id in enumerate("bcd", start=1):  # each within max_wait of the one before, the last after it
        threading.Timer(0.2 * i, lambda t=adapter_id: scheduler.submit(request(t, 1))).start()
    started = time.monotonic()
    batch = scheduler.next_batch()
    assert adapters_of(batch) == ["a", "b", "c", "d"], "the burst kept the batch open"
    assert 0.85 <= time.monotonic() - started < 1.15  # closed max_wait after the last arrival

    stop = threading.Event()

    def trickle():  # one request every 0.1 s: never a pause of max_wait
        for i in range(40):
            if stop.wait(0.1):
                return
            scheduler.submit(request(f"t{i}", 1))

    scheduler = BatchScheduler(max_batch=64, max_wait_s=0.3)
    scheduler.submit(request("first", 1))
    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    batch = scheduler.next_batch()
    stop.set()
    assert 1.1 <= time.monotonic() - started < 1.6 and 8 <= len(batch) <= 14  # the linger cap: 4 x max_wait


def test_cancel_and_close():
    scheduler = BatchScheduler(max_batch=4, max_wait_s=0)
    doomed, kept = request("a", 3), request("b", 1)
    scheduler.submit(doomed)
    scheduler.submit(kept)
    assert len(scheduler.cancel(lambda j: j is doomed)) == 3 and doomed.cancelled
    assert adapters_of(scheduler.next_batch()) == ["b"]
    threading.Timer(0.05, scheduler.close).start()
    assert scheduler.next_batch() == []
