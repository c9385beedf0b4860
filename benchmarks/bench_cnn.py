"""Benchmark of one training step of the 7-layer CNN (run: ``python benchmarks/bench_cnn.py``).

1. K networks (default 4) in one vmapped program (``vpl_jax.cnn.train``: the host loop's jitted
   step, with per-network unrolled passes and with plain vmap) against K sequential jitted
   single-network steps, all in JAX. One step = gather a batch of 32 uint8 images, /255 minus the
   mean image, random shift (+-3 px, nearest fill) and flip, Conv->ReLU->BN x6, FC, softmax
   cross-entropy, backward, Adam.
2. The same step in PyTorch eager (if torch is installed): the same network (BatchNorm momentum
   0.01 in PyTorch's convention = Keras 0.99, eps 1e-3), augmentation and Adam, K networks one
   after the other.

Printed: seconds per network-step (median of repeats) and the ratios, measured in the same run,
with the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from vpl_jax.cnn import train


def _interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds per call of each function, the variants taking turns in every round (so a
    shared machine's load changes hit them alike)."""
    for fn in fns.values():
        fn()  # compile / warm up
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in out.items()}


def _jax_runner(k: int, batching: str, images, mean):
    config = train.TrainConfig(epochs=1, batching=batching)
    nets = [train.Network("bench", i) for i in range(k)]
    keys, cond = train.conditions(nets)
    box = {"state": train.init_states(keys, config=config)}
    labels = jnp.zeros((k, images.shape[0]), jnp.int32)
    idx = jnp.tile(jnp.arange(32)[None], (k, 1))

    def one():
        box["state"] = train.step_networks(
            box["state"], keys, cond, images, labels, idx, mean, config=config
        )
        jax.block_until_ready(box["state"].loss_sum)

    return one


def _torch_model():
    from torch import nn

    layers, cin = [], 3
    for f, s in zip((32, 32, 64, 64, 128, 128), (1, 2, 1, 2, 1, 2), strict=True):
        layers += [
            nn.Conv2d(cin, f, 3, stride=s),
            nn.ReLU(),
            nn.BatchNorm2d(f, eps=1e-3, momentum=0.01),
        ]
        cin = f
    layers += [
        nn.Flatten(),
        nn.Linear(128, 512),
        nn.ReLU(),
        nn.BatchNorm1d(512, eps=1e-3, momentum=0.01),
        nn.Linear(512, 10),
    ]
    return nn.Sequential(*layers)


def _torch_runner(k: int, images: np.ndarray, mean: np.ndarray):
    import torch

    models = [_torch_model() for _ in range(k)]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-8) for m in models]
    x_all = torch.from_numpy(images)
    mean_t = torch.from_numpy(mean).permute(2, 0, 1)
    labels = torch.zeros(32, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    ar = torch.arange(32)

    def augment(x):
        d = torch.round((torch.rand(32, 2, generator=gen) * 2 - 1) * 3.2).long()
        rows = (ar[None] - d[:, :1]).clamp(0, 31)
        cols = (ar[None] - d[:, 1:]).clamp(0, 31)
        flip = torch.rand(32, generator=gen) < 0.5
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        n = torch.arange(32)[:, None, None]
        return x[n, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)

    def one():
        for m, opt in zip(models, opts, strict=True):
            idx = torch.randint(0, x_all.shape[0], (32,), generator=gen)
            x = x_all[idx].permute(0, 3, 1, 2).float() / 255.0 - mean_t
            x = augment(x)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(m(x), labels)
            loss.backward()
            opt.step()

    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=4, help="K networks")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    k = args.networks
    rng = np.random.default_rng(0)
    images_np = rng.integers(0, 256, (512, 32, 32, 3), dtype=np.uint8)
    mean_np = (images_np.mean(0) / 255.0).astype(np.float32)
    images, mean = jnp.asarray(images_np), jnp.asarray(mean_np)
    print(
        f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
        f"jax {jax.__version__} ({jax.default_backend()})"
    )
    runners = {
        "vmap, unrolled": (_jax_runner(k, "unrolled", images, mean), k),
        "vmap, vectorized": (_jax_runner(k, "vectorized", images, mean), k),
    }
    singles = [_jax_runner(1, "unrolled", images, mean) for _ in range(k)]
    runners["sequential jit"] = (lambda: [s() for s in singles], k)
    try:
        import torch

        runners["torch eager"] = (_torch_runner(k, images_np, mean_np), k)
        torch_note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_note = "torch not installed: no PyTorch baseline"
    t = _interleaved({name: fn for name, (fn, _) in runners.items()}, args.repeats)
    t = {name: v / runners[name][1] for name, v in t.items()}
    print(f"load average after: {os.getloadavg()[0]:.2f}; {torch_note}")
    print(f"\none training step (batch 32), seconds per network, K = {k}:")
    for name, v in t.items():
        print(f"  {name:<18} {v * 1e3:8.1f} ms")
    base = t["sequential jit"]
    print("\nratios (higher is faster):")
    print(f"  vmap unrolled vs sequential:   {base / t['vmap, unrolled']:.2f}")
    print(f"  vmap vectorized vs sequential: {base / t['vmap, vectorized']:.2f}")
    if "torch eager" in t:
        print(f"  vmap unrolled vs torch eager:  {t['torch eager'] / t['vmap, unrolled']:.2f}")
        print(f"  sequential jit vs torch eager: {t['torch eager'] / base:.2f}")


if __name__ == "__main__":
    main()
