"""Theory tests compare closed forms to 1e-8 and beyond: run them all in float64.

Also the ``compilations`` fixture: a context manager that counts the XLA compilations JAX
performs inside it, through the public ``jax.log_compiles()`` switch and a handler on the
``"jax"`` loggers (no private jit caches).
"""

from __future__ import annotations

import contextlib
import logging

import jax
import pytest


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


class _CompileLog(logging.Handler):
    """Collects the names of the programs JAX compiles (its "Compiling <name> ..." records)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Compiling "):
            self.names.append(message.split(" ", 2)[1])


@contextlib.contextmanager
def count_compilations():
    """``with count_compilations() as names:`` -- ``names`` lists every program compiled inside."""
    handler = _CompileLog()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(min(previous or logging.WARNING, logging.WARNING))
    try:
        with jax.log_compiles(True):
            yield handler.names
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@pytest.fixture
def compilations():
    """The :func:`count_compilations` context manager (see the module docstring)."""
    return count_compilations
