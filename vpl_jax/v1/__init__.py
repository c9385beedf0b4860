"""Predicting macaque V1 responses to natural images (Cadena et al. 2019, PLoS Comput Biol).

Modules, in layer order: `data` (the published data layout, preprocessing, splits, variances),
`simulate` (a ground-truth V1 population), `readouts` (read-outs, output nonlinearities, the
Poisson loss and the penalties), `models` (feature stacks, GLMs, LNP, the data-driven CNN),
`fit` (the paper's training schedule), `metrics` (FEV, statistics, in-silico tuning),
`presets`, `figures`, `bench` (simulate / fit / evaluate a run folder) and `commands`
(``vpl-jax v1 ...``).
"""

from vpl_jax.v1 import (
    bench,
    commands,
    data,
    figures,
    fit,
    metrics,
    models,
    presets,
    readouts,
    simulate,
)

__all__ = [
    "bench",
    "commands",
    "data",
    "figures",
    "fit",
    "metrics",
    "models",
    "presets",
    "readouts",
    "simulate",
]
