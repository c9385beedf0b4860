"""Shared test configuration.

Every test runs with ``jax_numpy_rank_promotion="raise"`` so silent broadcasting fails, and with
the Agg matplotlib backend (no screen here). Theory tests additionally run in float64
(see ``tests/theory/conftest.py``); library code stays float32 by default.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import contextlib  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _strict_rank_promotion():
    with jax.numpy_rank_promotion("raise"):
        yield


@pytest.fixture(autouse=True)
def _no_global_x64_switch():
    """A test that switches float64 on globally (not by the ``jax.enable_x64`` context) would
    change the dtypes of every later test in its worker: restore it and fail that test."""
    before = bool(jax.config.jax_enable_x64)
    yield
    after = bool(jax.config.jax_enable_x64)
    if after != before:
        jax.config.update("jax_enable_x64", before)
        pytest.fail(f"the test left jax_enable_x64 = {after} (was {before})")


@pytest.fixture
def key():
    """A fixed typed PRNG key; tests split it into named subkeys."""
    return jax.random.key(0)


class _CompileLog(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record):
        match = re.match(r"Compiling (?:jit|pjit)\((.*?)\)", record.getMessage())
        if match:
            self.names.append(match.group(1))


@contextlib.contextmanager
def _count_compilations():
    """Names of the functions XLA compiles inside the block (``jax.log_compiles``, public)."""
    handler = _CompileLog()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield handler.names
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def compilations():
    """``with compilations() as names: ...`` lists the functions compiled inside the block.

    The public way to test "a second call does not recompile": warm up, then assert that the
    jitted entry point's name is not in ``names`` after calling it again with new values.
    """
    return _count_compilations
