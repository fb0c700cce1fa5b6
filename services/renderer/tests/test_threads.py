"""A replica's batches run on the process's only OpenMP team, so they run as fast as on a lone main thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from headshots_tools.ports import free_port

# A replica started as Ray Serve starts one (RendererDeployment.__init__ on its own thread), rendering twice at
# 256 px (big enough for torch to run its ops on both threads), with torch called on another thread in between
# (as the executor threads that read adapter files do); prints the voluntary context switches of the second render.
REPLICA = """
import asyncio, json, resource
from renderer.app import RendererDeployment
from headshots.v1 import renderer_service_pb2 as pb

async def main():
    replica = RendererDeployment.func_or_class()
    request = pb.RenderRequest(subject_phrase="sks person", height=256, width=256, num_inference_steps=2,
                               items=[pb.RenderItem(style_id="tech-grey", seed=s) for s in (1, 2)])

    async def render():
        return [r async for r in replica.Render(request)]

    await render()
    import torch
    await asyncio.get_running_loop().run_in_executor(None, lambda: torch.ones(4_000_000).add_(1).sum())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    await render()
    print(json.dumps({"voluntary_switches": resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before}))
    replica.adapter_events.stop()
    replica.metrics.stop()
    replica.engine.close()

asyncio.run(main())
"""


def test_a_replicas_batches_run_on_its_only_openmp_team_and_never_sleep_at_every_op(tiny_model, tmp_path):
    """torch gives every thread that calls it with several intra-op threads an OpenMP team of its own; past one
    team per CPU pair libgomp stops spinning between ops and puts every thread to sleep at each of them (two
    voluntary context switches an op, some 2,400 for this render; about 2x slower than the main thread on two
    CPUs). The replica keeps one team: the batch thread's."""
    env = {
        **os.environ,
        "HEADSHOTS_VAR_DIR": str(tmp_path / "var"),
        "HEADSHOTS_BASE_MODEL": tiny_model,
        "HEADSHOTS_BLOB_URL": f"file://{tmp_path / 'blobs'}",
        "HEADSHOTS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # no broker: not needed here
        "HEADSHOTS_DEVICE": "cpu",
        "HEADSHOTS_RENDER_THREADS": "2",
    }
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):  # libgomp's defaults, as in a replica
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", REPLICA], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    switches = json.loads(done.stdout.strip().splitlines()[-1])["voluntary_switches"]
    assert switches < 500, f"{switches} voluntary context switches: the batch thread's OpenMP threads sleep at each op"
