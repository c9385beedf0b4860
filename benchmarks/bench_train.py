"""Benchmarks of the training step (run: ``python benchmarks/bench_train.py [--size 227]``).

1. One siamese training step (20 pairs = 40 images, fresh noise, SGD momentum with the bias x2
   learning rate) in JAX (the jitted step of ``vpl_jax.train``) against a PyTorch eager
   implementation of the same step (Caffe AlexNet conv1-5 with groups and LRN, a zero 9216 -> 1
   readout, BCE-with-logits on h_t - h_r). Target: ratio >= 1.0. PyTorch is optional.
2. K = 4 conditions in one vmapped program against 4 sequential single-condition steps:
   per-condition throughput ratio. Target >= 0.95 on CPU.
3. Peak resident memory of a K = 4 and a K = 1 run (separate subprocesses, ``ru_maxrss``), and the
   per-condition increment that tells how K should be chosen for a given memory.

Ratios are measured in the same run; the machine is shared, so absolute times vary. The step
is timed in interleaved rounds in one process, and with ``--isolated R`` also each kind in a
process of its own (R rounds in turn: no other framework's threads beside it).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

from vpl_jax import alexnet, siamese, train


def _config(
    size: int, batching: str = "auto", conv_gradient: str | None = None
) -> train.TrainConfig:
    config = train.TrainConfig(
        image_size=size, test_pairs=20, fold_pairs=20, condition_batching=batching
    )
    if conv_gradient is None:
        return config
    arch = dataclasses.replace(config.arch, conv_gradient=conv_gradient)
    return dataclasses.replace(config, arch=arch)


def _conditions(k: int) -> train.Condition:
    return train.Condition.create(np.linspace(0.0, 150.0, k), 5.0, 20.0, 0.5, 5.0)


def _jax_step_runner(size: int, k: int, batching: str = "auto", conv_gradient: str | None = None):
    """Returns (run_one_step, compile_seconds) for K conditions in one program."""
    config = _config(size, batching, conv_gradient)
    backbone = alexnet.init_params(jax.random.key(0))
    initial = siamese.init_model(backbone, config.arch, size)
    programs = train.compiled_programs(config, None)
    keys = jax.random.split(jax.random.key(1), k)
    conds = _conditions(k)
    train_keys, _, templates, states = programs.setup(keys, conds, initial)
    box = {"states": states}

    def one():
        box["states"], metrics = programs.step(train_keys, conds, box["states"], templates)
        jax.block_until_ready(metrics["loss"])

    t0 = time.perf_counter()
    one()
    return one, time.perf_counter() - t0


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _torch_step_runner(size: int):
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self, readout_size: int):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 96, 11, stride=4)
            self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
            self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
            self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
            self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
            self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
            self.pool = nn.MaxPool2d(3, 2)
            self.readout = nn.Linear(readout_size, 1)
            nn.init.zeros_(self.readout.weight)
            nn.init.zeros_(self.readout.bias)

        def forward(self, x):
            x = self.pool(self.lrn(torch.relu(self.conv1(x))))
            x = self.pool(self.lrn(torch.relu(self.conv2(x))))
            x = torch.relu(self.conv3(x))
            x = torch.relu(self.conv4(x))
            x = self.pool(torch.relu(self.conv5(x)))
            return self.readout(x.flatten(1))[:, 0]

    net = Net(siamese.readout_size(image_size=size))
    weights_, biases = [], []
    for name, p in net.named_parameters():
        (biases if name.endswith("bias") else weights_).append(p)
    opt = torch.optim.SGD(
        [{"params": weights_, "lr": 1e-4}, {"params": biases, "lr": 2e-4}], momentum=0.9
    )
    templates = torch.rand(3, 1, size, size) * 255
    labels = (torch.arange(20) % 2 == 0).float()
    loss_fn = nn.BCEWithLogitsLoss()

    def one():
        ref = templates[0].expand(20, 1, size, size)
        tgt = torch.where(labels[:, None, None, None] > 0, templates[1], templates[2])
        x = 0.5 * (torch.cat([ref, tgt]) - 125.0) + 5.0 * torch.randn(40, 1, size, size)
        h = net(x)
        loss = loss_fn(h[20:] - h[:20], labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return one, torch.__version__, torch.get_num_threads()


def _step_child(what: str, size: int, repeats: int) -> None:
    """Time one step kind alone in this process; print its median in ms as JSON."""
    if what == "torch":
        fn = _torch_step_runner(size)[0]
    else:
        fn = _jax_step_runner(size, 1, conv_gradient=what)[0]
    print(json.dumps({"what": what, "ms": 1e3 * _time(fn, repeats)}))


def _isolated(size: int, repeats: int, rounds: int, with_torch: bool) -> None:
    """Each step kind in its own process (no framework beside it), the kinds in turn per round."""
    if with_torch and importlib.util.find_spec("torch") is None:
        print("[isolated] PyTorch is not installed: no baseline ratio")
        with_torch = False
    kinds = ["xla", "forward"] + (["torch"] if with_torch else [])
    times = {k: [] for k in kinds}
    for _ in range(rounds):
        for kind in kinds:
            cmd = [sys.executable, __file__, "--step-child", kind, "--size", str(size)]
            cmd += ["--repeats", str(repeats)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode:
                raise RuntimeError(f"step child {kind} failed: {out.stderr[-2000:]}")
            times[kind].append(json.loads(out.stdout.strip().splitlines()[-1])["ms"])
    for kind, t in times.items():
        label = "PyTorch eager" if kind == "torch" else f"JAX, conv_gradient={kind!r}"
        print(
            f"[isolated] {label}: {statistics.median(t):.0f} ms/step (median of {len(t)} "
            f"processes, each the median of {repeats} steps: "
            + ", ".join(f"{x:.0f}" for x in t)
            + ")"
        )
    if "torch" in times:
        for kind in ("xla", "forward"):
            per = [b / a for a, b in zip(times[kind], times["torch"], strict=True)]
            print(
                f"[isolated] ratio JAX (conv_gradient={kind!r}) / PyTorch throughput = "
                f"{statistics.median(per):.2f}x (median per round)"
            )
    load = os.getloadavg()
    print(f"[isolated] load average after {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def _memory_child(size: int, k: int, steps: int) -> None:
    """Run K conditions for a few steps plus one evaluation; print RSS figures in MiB as JSON.

    ``after_compile`` is the resident memory once both programs are compiled and have run (the
    steady state of a long run). The peak (including compilation) is sampled by the parent: Linux
    carries ``ru_maxrss`` across ``exec``, so the child's own figure would include the parent's.
    """
    import psutil

    rss = lambda: psutil.Process().memory_info().rss / 2**20  # noqa: E731
    base = rss()
    config = _config(size)
    backbone = alexnet.init_params(jax.random.key(0))
    initial = siamese.init_model(backbone, config.arch, size)
    programs = train.compiled_programs(config, None)
    conds = _conditions(k)
    train_keys, test_keys, templates, states = programs.setup(
        jax.random.split(jax.random.key(1), k), conds, initial
    )
    for _ in range(steps):
        states, metrics = programs.step(train_keys, conds, states, templates)
    jax.block_until_ready(metrics["loss"])
    jax.block_until_ready(
        programs.accuracies(test_keys, conds, states.params, templates["test"], 0)
    )
    print(json.dumps({"k": k, "base": base, "after_compile": rss()}))


def _memory(size: int, k: int, steps: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--memory-child",
        str(k),
        "--size",
        str(size),
        "--steps",
        str(steps),
    ]
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child, peak = psutil.Process(proc.pid), 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, child.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"memory child failed: {err[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak"] = peak
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=227, help="image side in px (227 = paper)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--k", type=int, default=4, help="conditions per program")
    parser.add_argument("--steps", type=int, default=3, help="steps in the memory subprocesses")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: torch,vmap,memory")
    parser.add_argument(
        "--isolated",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also time each step in its own process (no other framework loaded), ROUNDS "
        "rounds in turn (0 = not)",
    )
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--step-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.size, args.memory_child, args.steps)
        return
    if args.step_child:
        _step_child(args.step_child, args.size, args.repeats)
        return
    skip = set(filter(None, args.skip.split(",")))
    load = os.getloadavg()
    print(
        f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; images {args.size}x{args.size}"
    )

    one, compile_s = _jax_step_runner(args.size, 1)
    runners = {"JAX": one}
    print(
        f"[step] JAX (the library's step, conv_gradient={_config(args.size).arch.conv_gradient!r}): "
        f"first call incl. compile {compile_s:.0f} s"
    )
    other = "forward" if _config(args.size).arch.conv_gradient == "xla" else "xla"
    runners[f"JAX, conv_gradient={other!r}"] = _jax_step_runner(args.size, 1, conv_gradient=other)[
        0
    ]
    if "torch" not in skip:
        try:
            torch_one, version, threads = _torch_step_runner(args.size)
        except ImportError:
            print(
                "[step] PyTorch is not installed (pip install 'vpl-jax[bench]'): no baseline ratio"
            )
        else:
            runners[f"PyTorch {version} eager ({threads} threads)"] = torch_one
    # Interleaved rounds: every runner once per round, so that load changes hit all alike; the
    # order rotates each round and each timing starts after a 0.3 s pause, so that no runner
    # always follows PyTorch's OpenMP threads while they still spin (measured: up to 25 %).
    for fn in runners.values():
        fn()
    times = {name: [] for name in runners}
    names = list(runners)
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(0.3)
            t0 = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in med.items():
        print(
            f"[step] {name}: {t * 1e3:.0f} ms/step = {40 / t:.1f} images/s (median of {args.repeats})"
        )
    t_jax = med["JAX"]
    for name in list(runners)[1:]:
        per_round = [b / a for a, b in zip(times["JAX"], times[name], strict=True)]
        print(
            f"[step] ratio JAX / {name} throughput = {statistics.median(per_round):.2f}x (median per round)"
        )
    load = os.getloadavg()
    print(f"[step] load average after the timing {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")

    if args.isolated:
        _isolated(args.size, args.repeats, args.isolated, "torch" not in skip)

    if "vmap" not in skip:
        k = args.k
        many, compile_k = _jax_step_runner(args.size, k)
        t_k = _time(many, args.repeats)
        ratio = k * t_jax / t_k
        print(
            f"[vmap] K={k} unrolled in one program: {t_k * 1e3:.0f} ms/step for {k} conditions "
            f"(compile {compile_k:.0f} s); {k} sequential single steps: {k * t_jax * 1e3:.0f} ms"
        )
        print(
            f"[vmap] per-condition throughput ratio K={k} / sequential = {ratio:.2f} (target >= 0.95)"
        )
        vec, compile_v = _jax_step_runner(args.size, k, "vectorized")
        t_v = _time(vec, max(2, args.repeats // 2))
        print(
            f"[vmap] K={k} plain vmap (grouped convolutions): {t_v * 1e3:.0f} ms/step, ratio "
            f"{k * t_jax / t_v:.2f} (compile {compile_v:.0f} s)"
        )

    if "memory" not in skip:
        m1 = _memory(args.size, 1, args.steps)
        mk = _memory(args.size, args.k, args.steps)
        for m in (m1, mk):
            print(
                f"[memory] K={m['k']}: resident {m['after_compile']:.0f} MiB after compiling and running "
                f"(jax imported: {m['base']:.0f} MiB), peak {m['peak']:.0f} MiB (incl. compilation)"
            )
        per = (mk["after_compile"] - m1["after_compile"]) / (args.k - 1)
        fixed = m1["after_compile"] - per
        print(
            f"[memory] about {per:.0f} MiB per extra condition in the steady state (fixed part "
            f"{fixed:.0f} MiB): K <= (memory - {fixed:.0f} MiB) / {per:.0f} MiB, and keep headroom "
            f"for the compile peak"
        )


if __name__ == "__main__":
    main()
