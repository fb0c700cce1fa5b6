"""`python hanging_trainer.py`: `python -m trainer`, except that a job hangs for good once it reaches step
HEADSHOTS_TEST_HANG_AT_STEP, as on a hung GPU kernel or a dead-locked data loader: the step never returns."""

import os
import threading

from trainer import __main__ as trainer_main
from trainer.reporting import JobReporter

HANG_AT_STEP = int(os.environ["HEADSHOTS_TEST_HANG_AT_STEP"])
real_step = JobReporter.step


def step_then_hang(self, step: int, *rest) -> None:  # on the training thread, after each step
    real_step(self, step, *rest)
    if step == HANG_AT_STEP:
        threading.Event().wait()


if __name__ == "__main__":
    JobReporter.step = step_then_hang  # type: ignore[method-assign]
    trainer_main.main()
