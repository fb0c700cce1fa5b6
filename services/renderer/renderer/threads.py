"""One multi-threaded torch thread per replica: the batch thread.

torch runs its CPU ops on OpenMP (GNU libgomp, shipped in the torch wheel). Each thread that calls into torch
with more than one intra-op thread gets an OpenMP thread team of its own, kept until that thread ends, and
libgomp's idle threads spin between parallel regions only while the process holds no more OpenMP threads
than it has CPUs; past that, every thread of every team sleeps on a futex at every region. A second team (the
model loaded on one thread, the batches run on another) thus made the same work about 2x slower on a 2-CPU
machine than on a lone main thread (docs/renderer.md, "Threads", has the measurements). So in a replica the
batch thread alone runs torch on several threads; every other thread (loading, adapter files, evictions)
runs it on one and never makes a team.

torch's thread count is per thread once a thread has called into torch; before that, a thread takes the
process-wide count, which `torch.set_num_threads` sets as well as the calling thread's.
"""

from __future__ import annotations

import torch


def run_torch_here(threads: int) -> None:
    """The calling thread runs torch's ops on `threads` intra-op threads from now on."""
    torch.set_num_threads(threads)
    torch.get_num_threads()  # the thread's first call into torch: from here on the count is its own


def single_threaded_elsewhere() -> None:
    """The calling thread, and every thread that first calls into torch after this, run torch on one thread.

    A thread that already ran torch (the batch thread) keeps its own count."""
    torch.set_num_threads(1)
