"""The compile-count fixture of conftest.py sees compilations and their absence."""

import jax
import jax.numpy as jnp


def test_fixture_sees_compiles(compilations):
    f = jax.jit(lambda x: x * 2)
    with compilations() as names:
        f(jnp.ones(3))
    assert "<lambda>" in names
    x = jnp.ones(3) + 1
    with compilations() as names:
        f(x)
    assert "<lambda>" not in names
    with compilations() as names:
        f(jnp.ones(5))
    assert names.count("<lambda>") == 1
