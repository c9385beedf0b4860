"""Benchmark: the bundled face generator and the in-step morphs of Experiment 2.

Printed (wall and process CPU seconds, measured in this run):

* rendering the paper's 647 + 74 identities at ``--size`` px (first call with compilation, then
  a warm call with new identities);
* `vpl_jax.faces.face_triplets` for one training batch (10 pairs x 3 frames = 20 trials), with
  the landmark warp and with the pixel blend, warm, and the host reference
  (`vpl_jax.faces.morph`, scikit-image) for one frame;
* a linear classifier (scikit-learn LogisticRegression on the pixels, 2x subsampled) trained on
  the training identities of fold 0 and scored on its 25 + 25 held-out identities, and the
  fraction of monotone steps of the decision value along the 11-frame morph rows of the
  held-out pairs (landmark warp).

``--figures DIR`` also writes ``faces_samples.png`` and ``faces_morph_row.png`` there (the
documentation's images: ``--figures docs/img``), from `vpl_jax.figures.experiment2.face_figures`.

Usage: ``python benchmarks/bench_faces.py [--size 227] [--seed 0] [--figures docs/img]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from vpl_jax import faces
from vpl_jax.figures.experiment2 import face_figures


def timed(fun):
    wall, cpu = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fun())
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=227)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", type=Path, default=None)
    args = parser.parse_args()
    key = jax.random.key(args.seed)

    fs, wall, cpu = timed(lambda: faces.bundled_faces(key, size=args.size))
    print(
        f"render 647 + 74 faces at {args.size} px, first call: {wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    _, wall, cpu = timed(lambda: faces.bundled_faces(jax.random.key(args.seed + 1), size=args.size))
    print(
        f"render 647 + 74 faces at {args.size} px, warm:       {wall:.2f} s wall, {cpu:.2f} s CPU"
    )

    fold = faces.cv_folds(fs.sex)[0]
    bank = faces.face_bank(fs)
    pairs = jnp.asarray(fold.train_pairs[:10])
    weights = faces.triplet_male_weights(3)
    for warp in (True, False):
        step = jax.jit(lambda p, w, warp=warp: faces.face_triplets(bank, p, w, warp=warp))
        timed(lambda step=step: step(pairs, weights))
        runs = [timed(lambda step=step: step(pairs, weights))[1:] for _ in range(3)]
        wall, cpu = np.median(np.asarray(runs), axis=0)
        print(
            f"face_triplets, 10 pairs x 3 frames ({'landmark warp' if warp else 'blend'}), warm: "
            f"{wall * 1e3:.0f} ms wall, {cpu * 1e3:.0f} ms CPU"
        )
    m, f = fold.train_pairs[0]
    _, wall, cpu = timed(
        lambda: faces.morph(fs.images[m], fs.images[f], 0.35, fs.landmarks[m], fs.landmarks[f])
    )
    print(f"host reference morph (scikit-image), one frame: {wall:.2f} s wall, {cpu:.2f} s CPU")

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def pixels(images):
        return np.asarray(images)[..., ::2, ::2].reshape(-1, np.asarray(images)[0, ::2, ::2].size)

    train = np.r_[fold.train_male, fold.train_female]
    test = np.r_[fold.test_male, fold.test_female]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    clf.fit(pixels(fs.images[train]), fs.sex[train])
    acc = clf.score(pixels(fs.images[test]), fs.sex[test])
    print(f"linear classifier, fold 0: held-out accuracy {acc:.3f} on {test.size} identities")
    row = jnp.asarray(faces.FRAME_MALE_WEIGHTS[::-1])
    test_pairs = jnp.asarray(fold.test_pairs[::25][:25])  # one pair per held-out male
    frames = np.asarray(faces.face_triplets(bank, test_pairs, row))
    dec = clf.decision_function(pixels(frames.reshape(-1, *frames.shape[2:]))).reshape(-1, 11)
    print(
        f"morph rows of {dec.shape[0]} held-out pairs: {np.mean(np.diff(dec, axis=1) > 0):.3f} of "
        f"the steps F5 -> M5 raise the decision value; mean rises monotonically: "
        f"{bool(np.all(np.diff(dec.mean(0)) > 0))}"
    )

    if args.figures is not None:
        args.figures.mkdir(parents=True, exist_ok=True)
        for stem, fig in face_figures(fs).items():
            fig.savefig(args.figures / f"{stem}.png", dpi=90)
            print(f"wrote {args.figures / f'{stem}.png'}")


if __name__ == "__main__":
    main()
