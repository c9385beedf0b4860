"""Where the time of the siamese training step goes, per layer and per op kind.

Each piece of the step is timed as its own jitted program at the step's shapes (20 pairs = 40
images of ``--size`` px through the Caffe AlexNet, the readout, the loss and SGD with momentum):
forward convolutions, backward by input, backward by kernel (for ``ArchSpec.conv_gradient``
``"xla"`` and ``"forward"``), LRN and max-pooling forward+backward, the readout and loss
forward+backward (``alexnet.max_pool``'s rule and XLA's ``select_and_scatter``), the pixel
noise, and the optimiser update. The rounds are interleaved; the
medians are printed with their share of the sum of the pieces, beside the whole jitted step
(``vpl_jax.train``), whose time is less than the sum when XLA fuses pieces (ReLU, bias, LRN and
pooling into their neighbours).

Usage: ``python benchmarks/profile_train.py [--size 227] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from vpl_jax import alexnet, siamese, train

ARCH = alexnet.CAFFE_ALEXNET
BATCH = 40


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def xla_rule_pool(x, window, stride):
    """Max-pooling as ``lax.reduce_window`` differentiated by JAX's own rule."""
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, stride, stride, 1), "VALID"
    )


def pieces(size: int) -> dict:
    """``{(layer, kind): (fn, args)}`` of jitted programs at the step's shapes."""
    rng = np.random.default_rng(0)
    shapes = alexnet.layer_shapes(ARCH, size)
    params = alexnet.init_params(jax.random.key(0), ARCH)
    out = {}
    h_in, c_in = (size, size), ARCH.in_channels
    prev = None
    for i, conv in enumerate(ARCH.convs, start=1):
        x = jnp.asarray(rng.normal(size=(BATCH, *h_in, c_in)), jnp.float32)
        p = params[conv.name]
        dy = jnp.asarray(rng.normal(size=(BATCH, *shapes[conv.name])), jnp.float32)
        for gradient in alexnet.CONV_GRADIENTS:

            def f(x, w, b, conv=conv, gradient=gradient):
                return alexnet.conv_layer(x, w, b, conv, gradient=gradient)

            tag = "" if gradient == "xla" else " (forward-conv gradients)"
            if gradient == "xla":
                out[(conv.name, "forward conv")] = (jax.jit(f), (x, p["w"], p["b"]))
            if i > 1:
                dx = jax.jit(lambda x, w, b, dy, f=f: jax.vjp(lambda x: f(x, w, b), x)[1](dy))
                out[(conv.name, "backward by input" + tag)] = (dx, (x, p["w"], p["b"], dy))
            dw = jax.jit(lambda x, w, b, dy, f=f: jax.vjp(lambda w: f(x, w, b), w)[1](dy))
            out[(conv.name, "backward by kernel" + tag)] = (dw, (x, p["w"], p["b"], dy))
        a = jnp.asarray(np.abs(rng.normal(size=(BATCH, *shapes[conv.name]))) * 30, jnp.float32)
        if conv.lrn:
            lrn = lambda a: alexnet.lrn(a, ARCH.lrn_size, ARCH.lrn_alpha, ARCH.lrn_beta)  # noqa: E731
            fb = jax.jit(lambda a, lrn=lrn: jax.vjp(lrn, a)[1](a))
            out[(f"norm{i}", "LRN fwd+bwd")] = (fb, (a,))
        if conv.pool:
            pool = lambda a: alexnet.max_pool(a, ARCH.pool_window, ARCH.pool_stride)  # noqa: E731
            fb = jax.jit(lambda a, pool=pool: jax.vjp(pool, a)[1](pool(a)))
            out[(f"pool{i}", "max-pool fwd+bwd")] = (fb, (a,))
            old = lambda a: xla_rule_pool(a, ARCH.pool_window, ARCH.pool_stride)  # noqa: E731
            fb = jax.jit(lambda a, pool=old: jax.vjp(pool, a)[1](pool(a)))
            out[(f"pool{i}", "max-pool fwd+bwd (XLA's rule)")] = (fb, (a,))
            prev = f"pool{i}"
        else:
            prev = conv.name
        h_in, c_in = shapes[prev][:2], shapes[prev][2]
    feats = jnp.asarray(rng.normal(size=(BATCH, *shapes[prev])), jnp.float32)
    w_r = jnp.asarray(1e-3 * rng.normal(size=(int(np.prod(shapes[prev])), 1)), jnp.float32)
    labels = jnp.asarray(np.arange(BATCH // 2) % 2, jnp.float32)

    def readout_loss(w, f):
        h = f.reshape(BATCH, -1) @ w
        d = h[BATCH // 2 :, 0] - h[: BATCH // 2, 0]
        return jnp.mean(jnp.logaddexp(0.0, d) - labels * d)

    out[("readout", "readout + loss fwd+bwd")] = (
        jax.jit(jax.grad(readout_loss, argnums=(0, 1))),
        (w_r, feats),
    )
    noise = jax.jit(lambda k: jax.random.normal(k, (BATCH, size, size, 1)))
    out[("input", "pixel noise")] = (noise, (jax.random.key(1),))
    tree = siamese.init_model(params, ARCH, size)
    mom = jax.tree.map(jnp.zeros_like, tree)

    def sgd(p, m, g):
        m = jax.tree.map(lambda m, g: 0.9 * m - 1e-4 * g, m, g)
        return jax.tree.map(jnp.add, p, m), m

    out[("all", "optimiser (SGD momentum)")] = (jax.jit(sgd), (tree, mom, tree))
    return out


def step_runner(size: int, conv_gradient: str, xla_pool_rule: bool = False):
    """One jitted training step; ``xla_pool_rule``: max-pooling differentiated by XLA's own rule
    (``select_and_scatter``) instead of ``alexnet.max_pool``'s (patched in while tracing, under
    another architecture name so that no traced program is shared)."""
    arch = dataclasses.replace(ARCH, conv_gradient=conv_gradient)
    if xla_pool_rule:
        arch = dataclasses.replace(arch, name="caffe_alexnet_xla_pool_rule")
    config = train.TrainConfig(image_size=size, test_pairs=20, fold_pairs=20, arch=arch)
    backbone = alexnet.init_params(jax.random.key(0))
    programs = train.compiled_programs(config, None)
    conds = train.Condition.create(np.array([30.0]), 5.0, 20.0, 0.5, 5.0)
    keys, _, templates, states = programs.setup(
        jax.random.split(jax.random.key(1), 1), conds, siamese.init_model(backbone, arch, size)
    )
    box = {"states": states}

    def one():
        box["states"], metrics = programs.step(keys, conds, box["states"], templates)
        return metrics["loss"]

    if xla_pool_rule:
        saved = alexnet.max_pool
        alexnet.max_pool = xla_rule_pool
        try:
            jax.block_until_ready(one())  # traced and compiled with XLA's rule
        finally:
            alexnet.max_pool = saved
    return one


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=227)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"training-step profile, {BATCH} images of {args.size} px; jax {jax.__version__}")
    print(load() + " (start)")
    runs = {key: (lambda f=f, a=a: f(*a)) for key, (f, a) in pieces(args.size).items()}
    runs[("step", "whole step, conv_gradient='xla'")] = step_runner(args.size, "xla")
    runs[("step", "whole step, conv_gradient='forward'")] = step_runner(args.size, "forward")
    runs[("step", "whole step, XLA's max-pool rule")] = step_runner(args.size, "xla", True)
    for fn in runs.values():  # compile and warm up
        jax.block_until_ready(fn())
    times = {key: [] for key in runs}
    for _ in range(args.rounds):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[key].append(time.perf_counter() - t0)
    med = {key: 1e3 * float(np.median(t)) for key, t in times.items()}
    print(load() + f" (after {args.rounds} interleaved rounds)")
    alternatives = ("forward-conv", "XLA's rule")
    base = {
        k: v for k, v in med.items() if k[0] != "step" and not any(a in k[1] for a in alternatives)
    }
    total = sum(base.values())
    print(f"\n{'layer':8s} {'piece':44s} {'ms':>8s} {'share':>7s}")
    for key, ms in med.items():
        if key[0] == "step":
            continue
        share = f"{ms / total:6.1%}" if key in base else "   alt."
        print(f"{key[0]:8s} {key[1]:44s} {ms:8.1f} {share}")
    kinds = {}
    for (_, kind), ms in base.items():
        kinds[kind] = kinds.get(kind, 0.0) + ms
    print("\nper op kind (XLA gradients):")
    for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:44s} {ms:8.1f} ms {ms / total:6.1%}")
    fwd_alt = sum(ms for (_, kind), ms in med.items() if "forward-conv" in kind)
    xla_bwd = sum(ms for (_, kind), ms in base.items() if kind.startswith("backward"))
    print(f"  backward convolutions: XLA {xla_bwd:.1f} ms, forward-conv form {fwd_alt:.1f} ms")
    print(f"\nsum of the pieces {total:.1f} ms")
    for key, ms in med.items():
        if key[0] == "step":
            print(f"{key[1]:44s} {ms:8.1f} ms = {BATCH / ms * 1e3:.1f} images/s")


if __name__ == "__main__":
    main()
