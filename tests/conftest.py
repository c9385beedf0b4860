"""Shared test configuration.

Every test runs with ``jax_numpy_rank_promotion="raise"`` so silent broadcasting fails, and with
the Agg matplotlib backend (no screen here). Theory tests additionally run in float64
(see ``tests/theory/conftest.py``); library code stays float32 by default.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _strict_rank_promotion():
    with jax.numpy_rank_promotion("raise"):
        yield


@pytest.fixture
def key():
    """A fixed typed PRNG key; tests split it into named subkeys."""
    return jax.random.key(0)
