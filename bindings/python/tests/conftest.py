"""Shared fixtures. The suite runs against the *installed* wheel (see
test_install.py), never the source tree."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

import topgun_storage as tg
from helpers import T0

# Deterministic property tests: derandomized, no example database written
# into the repository, no timing-based deadline on the shared CI machine.
settings.register_profile(
    "topgun",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("topgun")


@pytest.fixture
def clock() -> tg.ManualClock:
    return tg.ManualClock(T0)


@pytest.fixture
def store(clock: tg.ManualClock) -> tg.Storage:
    return tg.Storage(clock=clock)
