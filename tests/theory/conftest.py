"""Theory tests compare closed forms to 1e-8 and beyond: run them all in float64.

(The ``compilations`` fixture, used by the recompilation tests, is in ``tests/conftest.py``.)
"""

from __future__ import annotations

import jax
import pytest


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield
