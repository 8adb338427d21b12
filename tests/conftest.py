"""Shared fixtures and helpers for the boltzkit test suite."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator (tests must be reproducible)."""
    return np.random.default_rng(20261123)
