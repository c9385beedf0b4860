"""Benchmark: the cost of the frozen layers k in an Experiment 2 training step.

One training step of one condition (a vmap over ``C = 1`` condition, as the reduced run's chunks)
of the Gabor and of the face task (landmark-warped morphs computed inside the step), each with
``k = 0`` (all five conv layers learn) and ``k = 5`` (only the readout learns), at ``--size``
px (67, the reduced preset's) with the default weights. The four programs are compiled first
(the compile times are printed), then timed *interleaved*: ``--rounds`` rounds, each running
``--steps`` steps of every program in turn, so that a change of the machine's load hits all
four alike. Printed: the median wall time per step of each program over the rounds, the ratio
k = 5 / k = 0 per task (the baseline is the k = 0 step measured in the same run), the
face / Gabor ratio at k = 0, and the load average before and after.

The programs are built from the same public pieces as `vpl_jax.experiment2`'s step programs:
`vpl_jax.train.sample_pairs` (Gabor) or `vpl_jax.experiment2.face_batch` (faces), then
`vpl_jax.train.train_step` with ``TrainConfig.frozen_layers = k`` (static: XLA drops the
gradient computations of the frozen layers).

Usage: ``python benchmarks/bench_experiment2.py [--size 67] [--steps 10] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from vpl_jax import experiment, experiment2, faces, siamese, train


def _programs(config: experiment2.Experiment2Config, size: int):
    """``{(task, k): (step, args)}`` with ``step(*args) -> (states, losses)`` jitted."""
    tc = dataclasses.replace(config.train, image_size=size)
    backbone, _ = experiment.resolve_weights("default", tc.arch)
    initial = siamese.init_model(backbone, tc.arch, size)
    cond = experiment2.conditions(config, [0])  # Gabor: reference 0, the preset's separation
    face_set = faces.bundled_faces(
        jax.random.key(config.faces.seed), config.faces.num_male, config.faces.num_female, size=size
    )
    fold = faces.cv_folds(face_set.sex)[0]
    bank = faces.face_bank(face_set)
    pairs = jnp.asarray(fold.train_pairs)[None]
    dissimilarity = jnp.asarray([4], jnp.int32)
    keys = jax.random.split(jax.random.key(0), 1)
    out = {}
    for k in (0, 5):
        ck = dataclasses.replace(tc, frozen_layers=k)
        triplet = jax.vmap(lambda c, ck=ck: train.make_templates(c, config=ck)["test"][0])(cond)

        def gabor(keys, conds, states, triplets, ck=ck):
            def one(key, c, state, trip):
                key = jax.random.fold_in(key, state.step)
                batch = train.sample_pairs(key, trip, c, ck.batch_pairs)
                return train.train_step(state, batch, condition=c, config=ck)

            return jax.vmap(one)(keys, conds, states, triplets)

        def face(keys, conds, states, pairs, dissimilarity, ck=ck):
            def one(key, c, state, p, d):
                key = jax.random.fold_in(key, state.step)
                batch = experiment2.face_batch(
                    key, bank, p, d, c, num_trials=ck.batch_pairs, warp=True
                )
                return train.train_step(state, batch, condition=c, config=ck)

            return jax.vmap(one)(keys, conds, states, pairs, dissimilarity)

        states = jax.vmap(lambda c, ck=ck: train.init_state(c, initial, config=ck))(cond)
        out[("gabor", k)] = (jax.jit(gabor), [keys, cond, states, triplet])
        out[("face", k)] = (jax.jit(face), [keys, cond, states, pairs, dissimilarity])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=67)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} CPUs")
    config = experiment2.preset("cpu-exp2")
    programs = _programs(config, args.size)
    for name, (step, state_args) in programs.items():
        start = time.perf_counter()
        states, metrics = step(*state_args)
        jax.block_until_ready(metrics["loss"])
        state_args[2] = states
        print(f"compile + first step {name[0]:5s} k={name[1]}: {time.perf_counter() - start:.1f} s")
    times = {name: [] for name in programs}
    for _ in range(args.rounds):
        for name, (step, state_args) in programs.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                states, metrics = step(*state_args)
                state_args[2] = states
            jax.block_until_ready(metrics["loss"])
            times[name].append((time.perf_counter() - start) / args.steps)
    med = {name: float(np.median(t)) for name, t in times.items()}
    for name, t in med.items():
        spread = f"{min(times[name]) * 1e3:.0f}-{max(times[name]) * 1e3:.0f}"
        print(f"step {name[0]:5s} k={name[1]}: {t * 1e3:.0f} ms median (rounds {spread} ms)")
    for task in ("gabor", "face"):
        print(f"ratio {task} k=5 / k=0: {med[(task, 5)] / med[(task, 0)]:.2f}")
    print(f"ratio face / gabor at k=0: {med[('face', 0)] / med[('gabor', 0)]:.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
