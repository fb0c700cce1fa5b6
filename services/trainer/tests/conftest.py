"""Fixtures of the trainer's tests."""

import pytest
from trainer_test_support import TrainingEvents


@pytest.fixture(scope="session")
def training_events(kafka_bootstrap):
    events = TrainingEvents(kafka_bootstrap)
    yield events
    events.close()
