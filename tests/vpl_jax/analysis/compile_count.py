"""Count XLA compilations with public JAX machinery: ``jax.log_compiles`` and a logging handler.

With ``jax.log_compiles(True)`` JAX logs one ``"Compiling <name> with global shapes ..."``
record (logger ``jax``, level WARNING) for every program it compiles; a cache hit logs nothing.

    with compiles() as log:
        f(x)
    assert log.count() == 0            # nothing compiled at all
    assert log.count("_record") == 0   # or: no program whose name contains "_record"
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import jax

__all__ = ["CompileLog", "compiles"]

_COMPILING = re.compile(r"^Compiling (\S+)")


class CompileLog(logging.Handler):
    """A logging handler that keeps the names of the programs compiled while it is attached."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _COMPILING.match(record.getMessage())
        if match:
            self.names.append(match.group(1))

    def count(self, name_contains: str | None = None) -> int:
        """Compilations seen so far, all of them or those whose program name contains a string."""
        if name_contains is None:
            return len(self.names)
        return sum(name_contains in name for name in self.names)


@contextlib.contextmanager
def compiles() -> Iterator[CompileLog]:
    """Record the compilations inside the block (see the module docstring)."""
    log = CompileLog()
    logger = logging.getLogger("jax")
    old_level = logger.level
    logger.addHandler(log)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        with jax.log_compiles(True):
            yield log
    finally:
        logger.removeHandler(log)
        logger.setLevel(old_level)
