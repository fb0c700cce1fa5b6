"""`python -m renderer.healthcheck [--max-age S]`: exit 0 while the dispatcher's loop beats (its probes)."""

from headshots_common.lifecycle import heartbeat_of, probe
from renderer.config import DISPATCHER_PROCESS_NAME, load

if __name__ == "__main__":
    probe(heartbeat_of(load().shared.var_dir, DISPATCHER_PROCESS_NAME))
