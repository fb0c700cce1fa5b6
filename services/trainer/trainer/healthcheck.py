"""`python -m trainer.healthcheck [--max-age S]`: exit 0 while the worker's loop beats (liveness probe)."""

from headshots_common.lifecycle import heartbeat_of, probe
from trainer.config import load

if __name__ == "__main__":
    config = load()
    probe(heartbeat_of(config.shared.var_dir, config.process_name))
