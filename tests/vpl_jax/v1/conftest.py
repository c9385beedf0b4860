"""Shared simulated populations for the v1 tests (built once per session, a few seconds each)."""

from __future__ import annotations

import jax
import pytest

from theory import natural_images
from vpl_jax.v1 import simulate


@pytest.fixture(scope="session")
def photos():
    """Two bundled photos at half resolution (offline, from scikit-image)."""
    return natural_images.load_photos(("camera", "astronaut"), scale=0.5)


@pytest.fixture(scope="session")
def paper_sim(photos):
    """The paper's noise level (target ratio 0.2-0.37, 2 and 4 repeats), 30 neurons, 500 images."""
    config = simulate.SimConfig(num_sources=100, num_neurons=30)
    return simulate.simulate(jax.random.key(0), config, photos=photos)


@pytest.fixture(scope="session")
def clean_sim(photos):
    """Half simple, half complex cells, reliable (ratio 0.6-0.7, 4 repeats), small receptive
    fields (0.10-0.14 cycles/px, 0.4-0.5 periods SD): for the tiny model fits."""
    config = simulate.SimConfig(
        num_sources=120,
        num_neurons=12,
        cell_fractions=(0.5, 0.5, 0.0),
        ratio_range=(0.6, 0.7),
        fraction_two_repeats=0.0,
        mean_count=3.0,
        freq_range=(0.1, 0.14),
        sigma_cycles=(0.4, 0.5),
    )
    return simulate.simulate(jax.random.key(1), config, photos=photos)
