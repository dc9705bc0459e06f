"""Fixtures of the data tests (tests/data mirrors ads_jax/data)."""

from __future__ import annotations

import pytest

from ads_jax.data import load_dataset


@pytest.fixture(scope="session")
def digits():
    """The built-in digits `Dataset` (loaded once for every data test module; never mutated)."""
    return load_dataset("digits")
