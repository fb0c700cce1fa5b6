"""Headshots trainer: turns an order's selfies into a per-person LoRA adapter.

The modules, one concern each (outermost first):
- `__main__`: the process: workers (one per device), the gRPC service, metrics, signals;
- `worker`: the Kafka loop of one worker: poll, pause while a job runs, commit, give up a stalled job;
- `orders`: one order to a published outcome, exactly once in effect (leases, duplicates, outages, failures);
- `training_run`: one job's training: class images, resume, the out-of-memory retry, adapter, manifest;
- `reporting`: a running job's progress events, record writes and cancel checks, off the training thread;
- `threads`: the worker's one torch thread, its thread count from the container's CPU quota;
- `training`: the warm engine (pipeline, LoRA layers, caches) and its loop; `TrainingParams` built in one place
  (`training_params`);
- `lora`: the LoRA layers the engine trains; `photos`: selfies with their stored face boxes, crops;
- `priors`: prior preservation's class images; `training_jobs`: job records, leases, checkpoints;
- `grpc_service`: TrainerService; `config`: settings; `metrics`: Prometheus; `healthcheck`: liveness.
"""
