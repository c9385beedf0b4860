"""The analysis report of a run: every figure the run's data support and the paper's headline results.

`analyze(run_dir)` reads a run folder (`vpl_jax.experiment`), computes the analyses of seed 000's
Experiment 1 (`vpl_jax.analysis.behaviour`, `.plasticity`, `.tuning`, `.physiology`), writes the
figures the run's data support (`vpl_jax.figures`) and ``report.md``: for each headline result of
the spec's section 8, the measured numbers next to the paper's and a verdict,

* ``reproduced`` -- the measured effect has the paper's direction and significance (alpha 0.01),
* ``not reproduced`` -- it has not,
* ``not testable`` -- the run lacks what the test needs (e.g. one reference orientation, no 10 deg
  condition, no 1 deg / 5 deg networks, too few included units, or Experiment 2), with the reason.

Weights other than ImageNet-trained AlexNet (the bundled default, random weights) are named at the
top of the report: verdicts then say what holds *for those weights*, not whether the paper's
network reproduces. Nothing is filled in for a condition the run lacks.

Run folder outputs (in ``<run_dir>/analysis`` unless ``out_dir`` is given)::

    report.md           the verdict table, the run's facts, links to the figures
    headlines.csv       the same table, machine-readable
    figure_2.png ...    one PNG per paper figure the data support
    units.csv           the tuning unit table (when tuning curves were recorded)
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ALPHA = 0.01

_VERDICTS = ("reproduced", "not reproduced", "not testable")


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "nan"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _entry(item, claim, paper, verdict, measured, note="") -> dict:
    if verdict not in _VERDICTS:
        raise ValueError(f"verdict must be one of {_VERDICTS}, got {verdict!r}")
    return {
        "item": item,
        "claim": claim,
        "measured": measured,
        "paper": paper,
        "verdict": verdict,
        "note": note,
    }


def _yes(ok: bool) -> str:
    return "reproduced" if ok else "not reproduced"


def _effect(item, claim, paper, r, sign: int, alpha: float, measured: str) -> dict:
    """Verdict of a one-term effect: reproduced iff sign(beta) == sign and p < alpha; the note
    says when the direction matches but the effect is not significant (small runs)."""
    same = bool(np.sign(r.beta) == sign)
    ok = same and r.p < alpha
    note = (
        "" if ok else ("same direction as the paper, p >= alpha" if same else "opposite direction")
    )
    return _entry(item, claim, paper, _yes(ok), measured, note)


def _row(table: pd.DataFrame, **match) -> pd.Series | None:
    sel = table
    for k, v in match.items():
        if isinstance(v, float) and math.isnan(v):
            sel = sel[sel[k].isna()]
        else:
            sel = sel[sel[k] == v]
    return None if sel.empty else sel.iloc[0]


def _term_text(r) -> str:
    return f"beta={_fmt(r.beta)}, t={_fmt(r.t)}, p={_fmt(r.p)}, R2_term={_fmt(r.r2_term)}"


# --------------------------------------------------------------------------------------------
# Headline results 1-3 (behaviour and layer change), from the results Dataset


def behaviour_headlines(ds, *, alpha: float = ALPHA, symmetric: bool = True) -> list[dict]:
    """Section 8, item 1 (behaviour), measured on a results Dataset.

    Accuracies are the per-fold symmetrised ``max(m, 1 - m)`` of the paper's code
    (``accuracy_sym``, spec 4.1) unless ``symmetric`` is False (plain mean p(correct)).

    Returns:
        Dicts with keys ``item, claim, measured, paper, verdict, note``.
    """
    from vpl_jax.analysis import behaviour

    out = []
    seps = np.unique(ds.separation_deg.values)
    acc_var = "accuracy_sym" if symmetric else "accuracy"
    sep_var = "separation_accuracy_sym" if symmetric else "separation_accuracy"

    # 1a: coarser separation -> higher iteration-1 accuracy.
    claim = "coarser training separation gives higher iteration-1 accuracy"
    paper = "Fig. 2A: initial accuracy rises with separation"
    if len(seps) < 2:
        out.append(_entry("1a", claim, paper, "not testable", "one separation in this run"))
    else:
        acc1 = ds[acc_var].sel(test="trained").isel(iteration=1)
        frame = pd.DataFrame(
            {"accuracy": acc1.values, "log_sep": np.log(ds.separation_deg.values.astype(float))}
        )
        r = behaviour.ols_table(frame, "accuracy ~ log_sep", ["log_sep"], alpha=alpha).iloc[0]
        if not r.testable:
            out.append(_entry("1a", claim, paper, "not testable", r.reason))
        else:
            out.append(
                _effect("1a", claim, paper, r, 1, alpha, "OLS acc@1 ~ log sep: " + _term_text(r))
            )

    # 1b: transfer index dips, then rises.
    claim = "the transfer index drops first, then rises slowly (every transfer test)"
    paper = "Fig. 2A bottom"
    ti = behaviour.transfer_index(ds, variable=acc_var).mean("condition")
    its = ds.iteration.values
    parts, oks = [], []
    for test in ti.test.values:
        curve = ti.sel(test=test).values[1:]  # from iteration 1 (only the readout moved)
        if len(curve) < 3 or not np.all(np.isfinite(curve)):
            continue
        k = int(np.argmin(curve))
        dip = curve[0] - curve[k]
        rise = curve[-1] - curve[k]
        oks.append(0 < k < len(curve) - 1 and dip > 0 and rise > 0)
        parts.append(
            f"{test}: TI {curve[0]:.3f} (it 1) -> min {curve[k]:.3f} (it {its[1 + k]}) "
            f"-> {curve[-1]:.3f} (it {its[-1]})"
        )
    if not parts:
        out.append(_entry("1b", claim, paper, "not testable", "too few evaluation points"))
    else:
        out.append(
            _entry(
                "1b",
                claim,
                paper,
                _yes(all(oks)),
                "; ".join(parts),
                "reproduced if the minimum of the mean TI lies strictly inside the curve in every test",
            )
        )

    # 1c: final transfer accuracy rises with log separation.
    claim = "final transfer accuracy rises with log training separation (every transfer test)"
    paper = "Fig. 2B: p < 0.0001, R2 ~0.2 in all conditions"
    table = behaviour.final_transfer_regression(ds, variable=acc_var, alpha=alpha)
    if not table.testable.all():
        out.append(_entry("1c", claim, paper, "not testable", table.reason.iloc[0]))
    else:
        ok = bool(((table.beta > 0) & (table.p < alpha)).all())
        measured = "; ".join(f"{r.test}: {_term_text(r)}" for r in table.itertuples())
        out.append(_entry("1c", claim, paper, _yes(ok), measured))

    # 1d: 5x5 matrices.
    table = behaviour.separation_regression(ds, variable=sep_var, alpha=alpha)
    for item, term, sign, claim, paper in (
        (
            "1d",
            "log_test_sep",
            1,
            "5x5 matrices: strong positive effect of log test separation",
            "Fig. 2C: p < 0.0001, R2 >= 0.35 in all conditions",
        ),
        (
            "1e",
            "log_train_sep",
            -1,
            "5x5 matrices: weaker negative effect of log training separation",
            "Fig. 2C: p < 0.0001, R2 ~0.05 (0.018 for ori+90)",
        ),
    ):
        rows = table[table.term == term]
        if rows.empty or not rows.testable.all():
            reason = "no rows" if rows.empty else rows.reason.iloc[0]
            out.append(_entry(item, claim, paper, "not testable", reason))
            continue
        ok = bool(((np.sign(rows.beta) == sign) & (rows.p < alpha)).all())
        measured = "; ".join(f"{r.test}: {_term_text(r)}" for r in rows.itertuples())
        out.append(_entry(item, claim, paper, _yes(ok), measured))

    # 1f: transfer to +45 exceeds +90.
    claim = "transfer to +45 deg exceeds transfer to +90 deg (final accuracy)"
    paper = "Fig. 2B/C"
    final = behaviour.final_accuracy(ds, variable=acc_var)
    a45 = final.sel(test="ori+45").values
    a90 = final.sel(test="ori+90").values
    if len(a45) < 2:
        out.append(_entry("1f", claim, paper, "not testable", "fewer than 2 conditions"))
    else:
        from scipy.stats import wilcoxon

        diff = a45 - a90
        if np.allclose(diff, 0):
            out.append(_entry("1f", claim, paper, "not reproduced", "no difference"))
        else:
            p = float(wilcoxon(a45, a90, alternative="greater").pvalue)
            measured = (
                f"mean final accuracy ori+45 {a45.mean():.3f} vs ori+90 {a90.mean():.3f}; "
                f"one-sided Wilcoxon p={_fmt(p)} (n={len(a45)})"
            )
            out.append(_entry("1f", claim, paper, _yes(p < alpha), measured))
    return out


def plasticity_headlines(ds, *, alpha: float = ALPHA) -> list[dict]:
    """Section 8, items 2-3 (layer change and peak-speed iteration), measured on a Dataset."""
    from vpl_jax.analysis import plasticity

    out = []
    reg = plasticity.final_change_regressions(ds, alpha=alpha)

    def terms(model):
        return reg[reg.model == model].set_index("term")

    log_model = terms("log_main_effects")
    claim = "larger change at finer precision and in lower layers (log d_rel1 ~ log sep + layer)"
    paper = "beta_logsep = -1.0 (R2 0.66), beta_layer = -0.15 (R2 0.13)"
    if log_model.empty or not log_model.testable.all():
        reason = "no rows" if log_model.empty else log_model.reason.iloc[0]
        out.append(_entry("2a", claim, paper, "not testable", reason))
    else:
        s, lay = log_model.loc["log_sep"], log_model.loc["layer"]
        ok = s.beta < 0 and s.p < alpha and lay.beta < 0 and lay.p < alpha
        measured = f"log sep: {_term_text(s)}; layer: {_term_text(lay)}"
        out.append(_entry("2a", claim, paper, _yes(ok), measured))

    lin = terms("linear_interaction")
    claim = "positive separation x layer interaction: plasticity moves to lower layers at high precision"
    paper = "beta = +0.00010, t = 49.23, p = 0.0"
    if lin.empty or "log_sep:layer" not in lin.index or not lin.testable.all():
        reason = "no rows" if lin.empty else lin.reason.iloc[0]
        out.append(_entry("2b", claim, paper, "not testable", reason))
    else:
        r = lin.loc["log_sep:layer"]
        out.append(_effect("2b", claim, paper, r, 1, alpha, _term_text(r)))

    claim = "relative to 10 deg, lower layers grow by a larger factor at the finest precision (except layer 5)"
    paper = "Fig. 3D"
    ratio = plasticity.ratio_to_separation(ds)
    finest = float(np.min(ds.separation_deg.values))
    if not ratio.attrs.get("testable", True) or finest >= 10.0:
        out.append(
            _entry(
                "2c",
                claim,
                paper,
                "not testable",
                ratio.attrs.get("reason") or "no separation finer than 10 deg",
            )
        )
    else:
        sel = ratio.where(ratio.separation_deg == finest, drop=True)
        layers = [f"conv{i}" for i in range(1, 5)]
        values = sel.sel(layer=layers).values  # (conditions, 4)
        ok_rows = np.isfinite(values).all(axis=1)
        if ok_rows.sum() < 1:
            out.append(_entry("2c", claim, paper, "not testable", "no finite ratios"))
        else:
            from scipy.stats import kendalltau

            v = values[ok_rows]
            layer_idx = np.tile(np.arange(1, 5), (len(v), 1))
            tau, p = kendalltau(layer_idx.ravel(), v.ravel())
            means = v.mean(axis=0)
            measured = (
                f"at {finest:g} deg, mean ratio to 10 deg for layers 1-4: "
                + ", ".join(f"{m:.2f}" for m in means)
                + f"; Kendall tau(layer, ratio) = {tau:.2f}, p={_fmt(p)} (n={v.size})"
            )
            ok = tau < 0 and p < alpha
            out.append(
                _entry("2c", claim, paper, _yes(ok), measured, "reproduced if tau < 0 at p < alpha")
            )

    psi = plasticity.psi_regressions(ds, alpha=alpha)
    inter = psi[psi.model == "main_effects"].set_index("term")
    claim = "peak-speed iteration is later at finer precision"
    paper = "beta = -46.02 per log separation (with interaction), -37.24 (main effects), p = 0.0"
    if inter.empty or not inter.testable.all():
        reason = "no rows" if inter.empty else inter.reason.iloc[0]
        out.append(_entry("3a", claim, paper, "not testable", reason))
    else:
        r = inter.loc["log_sep"]
        out.append(_effect("3a", claim, paper, r, -1, alpha, "main effects: " + _term_text(r)))

    per = psi[psi.model == "per_separation"]
    claim = "layer has a negative effect on PSI (higher layers earlier) only at 0.5 and 1.0 deg"
    paper = "Fig. 3B: p < 0.0001 at 0.5 and 1.0 deg only"
    if per.empty or not per.testable.any():
        out.append(_entry("3b", claim, paper, "not testable", "no per-separation regressions"))
    else:
        parts, ok = [], True
        for r in per.itertuples():
            if not r.testable:
                parts.append(f"{r.separation:g} deg: not testable ({r.reason})")
                continue
            sig_neg = r.beta < 0 and r.p < alpha
            parts.append(f"{r.separation:g} deg: beta={_fmt(r.beta)}, p={_fmt(r.p)}")
            ok &= sig_neg if r.separation <= 1.0 else not sig_neg
        out.append(_entry("3b", claim, paper, _yes(ok), "; ".join(parts)))
    return out


def experiment2_headlines() -> list[dict]:
    """Section 8, item 5: Experiment 2 (Gabor vs faces) is not part of an Experiment 1 run."""
    return [
        _entry(
            "5",
            "Gabor vs face: freezing from layer 2 impairs Gabor, from layer 4 faces; layer x task interaction",
            "Fig. 5",
            "not testable",
            "Experiment 2 (face morphs, frozen-layer runs) is not part of this run; the face "
            "images (Photoface) are restricted",
        )
    ]


# --------------------------------------------------------------------------------------------
# Writing


def _markdown_table(rows: list[dict]) -> str:
    head = "| item | claim | paper | measured | verdict |\n|---|---|---|---|---|\n"

    def cell(text) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    body = "".join(
        f"| {cell(r['item'])} | {cell(r['claim'])} | {cell(r['paper'])} | {cell(r['measured'])}"
        + (f" ({cell(r['note'])})" if r.get("note") else "")
        + f" | **{r['verdict']}** |\n"
        for r in rows
    )
    return head + body


def _weights_caveat(ds) -> str:
    source = str(ds.attrs.get("weights", "?"))
    if int(ds.attrs.get("weights_random", 0)):
        return (
            f"Weights: `{source}` -- **random weights**, not a pretrained network. Verdicts say what "
            "holds for these weights; they do not test the paper's ImageNet-trained AlexNet."
        )
    note = str(ds.attrs.get("weights_note", ""))
    if "default" in str(ds.attrs.get("weights_requested", "")) or "default_weights" in source:
        return (
            f"Weights: `{source}` -- the bundled default, pretrained here on 15 natural photos "
            "(docs/pretrain.md), **not ImageNet-trained Caffe AlexNet**. Verdicts say what holds "
            "for these weights; whether the paper's network reproduces needs converted ImageNet "
            "weights (`vpl-jax weights convert`)."
        )
    return f"Weights: `{source}`" + (f" ({note})" if note else "")


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """Settings of `analyze` (validated on construction).

    Attributes:
        tuning: record tuning curves (needs the run's final params); False skips Figs. 4, 6-10.
        num_orientations: orientations of the tuning grid over 180 deg (100 in the paper).
        num_noise: noise samples per orientation (50 in the paper).
        seed: seed of the tuning noise.
        batch_size: images per forward block when recording.
    """

    tuning: bool = True
    num_orientations: int = 100
    num_noise: int = 50
    seed: int = 0
    batch_size: int = 250

    def __post_init__(self):
        for name, low in (("num_orientations", 8), ("num_noise", 2), ("batch_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"AnalysisOptions.{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"AnalysisOptions.seed must be an int >= 0, got {self.seed!r}")


def _log(message: str, progress: bool) -> None:
    if progress:
        print(f"[analyze] {message}", file=sys.stderr, flush=True)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def analyze(
    run_dir,
    *,
    out_dir=None,
    options: AnalysisOptions = AnalysisOptions(),
    progress: bool = True,
) -> Path:
    """Analyse a run folder: figures, headline verdicts and ``report.md``.

    Args:
        run_dir: a finished run folder (``results.nc`` and ``config.json``).
        out_dir: where to write (default ``<run_dir>/analysis``).
        options: tuning-curve settings (`AnalysisOptions`).
        progress: print what is being done on stderr.

    Returns:
        The path of ``report.md``.

    Raises:
        ValueError: ``run_dir`` is not a finished run folder.
    """
    from vpl_jax import experiment, figures

    run = Path(run_dir)
    if not (run / "results.nc").exists() or not (run / "config.json").exists():
        raise ValueError(
            f"run_dir {run} is not a finished run folder (needs results.nc and config.json; "
            "run `vpl-jax run` or `vpl-jax sweep` first)"
        )
    out = Path(out_dir) if out_dir is not None else run / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    ds = experiment.load_results(run)
    config = experiment.RunConfig.from_dict(json.loads((run / "config.json").read_text())["run"])

    written, skipped = [], []
    _log("behaviour and layer change", progress)
    rows = behaviour_headlines(ds) + plasticity_headlines(ds) + experiment2_headlines()
    for name, make in (("figure_2", figures.figure_2), ("figure_3", figures.figure_3)):
        _save(make(ds), out / f"{name}.png")
        written.append(name)

    tuning = None
    if options.tuning:
        from vpl_jax.analysis import tuning_run

        _log("tuning curves of the naive and trained networks", progress)
        tuning = tuning_run.record_run(run, ds, config, options, progress=progress)
        if tuning.reason:
            skipped.append(f"tuning analyses: {tuning.reason}")
            tuning = None
    else:
        skipped.append("tuning analyses (Figs. 4, 6-10): switched off (--no-tuning)")

    if tuning is None:
        rows.append(
            _entry(
                "4",
                "Fisher information gains (top layers, finest precision, centred on TO)",
                "Fig. 4",
                "not testable",
                "no tuning curves",
            )
        )
        for item in ("6", "7", "8", "9", "10"):
            rows.append(
                _entry(
                    item,
                    "electrophysiology comparison / initial sensitivity",
                    f"Figs. 6-10 (item {item})",
                    "not testable",
                    "no tuning curves",
                )
            )
    else:
        from vpl_jax.analysis import physiology

        tuning.units.to_csv(out / "units.csv", index=False)
        rows += tuning_run.fisher_headlines(tuning, alpha=ALPHA)
        rows += physiology.headline_results(
            tuning.units,
            curves=tuning.curves,
            layer_table=tuning.layer_table,
            unit_level_table=tuning.unit_level_table,
        )
        _save(figures.figure_4(tuning.fisher), out / "figure_4.png")
        written.append("figure_4")
        for name, make in (
            ("figure_6", lambda: figures.figure_6(tuning.units, tuning.curves)),
            ("figure_7", lambda: figures.figure_7(tuning.units)),
            ("figure_8", lambda: figures.figure_8(tuning.units)),
            ("figure_9", lambda: figures.figure_9(tuning.units, tuning.curves)),
            (
                "figure_10",
                lambda: figures.figure_10(
                    tuning.layer_table, tuning.unit_level_table, tuning.units
                ),
            ),
        ):
            _save(make(), out / f"{name}.png")
            written.append(name)

    pd.DataFrame(rows).to_csv(out / "headlines.csv", index=False)
    text = _report_text(ds, config, rows, written, skipped, tuning)
    path = out / "report.md"
    path.write_text(text)
    _log(f"wrote {path}", progress)
    return path


def _report_text(ds, config, rows, written, skipped, tuning) -> str:
    counts = pd.Series([r["verdict"] for r in rows]).value_counts()
    grid = config.grid
    lines = [
        f"# Analysis of run `{ds.attrs.get('preset', '?')}`",
        "",
        _weights_caveat(ds),
        "",
        f"Conditions: {ds.sizes['condition']} ({len(grid.reference_deg)} reference orientations x "
        f"{len(grid.separation_deg)} separations {list(grid.separation_deg)} deg x "
        f"{len(grid.wavelength_px)} wavelengths x {len(grid.contrast)} contrasts x "
        f"{len(grid.noise_sd)} noise levels); {config.train.num_iterations} iterations at "
        f"{config.train.image_size} px; {len(ds.iteration)} evaluation points; "
        f"{config.train.test_pairs} test pairs. The paper: 2880 conditions, 1000 iterations at 227 px.",
        "",
        "Verdicts: "
        + ", ".join(f"{counts.get(v, 0)} {v}" for v in _VERDICTS)
        + f" (alpha = {ALPHA}; see `vpl_jax.report` for the rules).",
        "",
        "## Headline results (spec section 8)",
        "",
        _markdown_table(rows),
    ]
    if tuning is not None:
        lines += ["", "## Tuning protocol", "", tuning.description]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in skipped]
    lines += ["", "## Figures", ""]
    for name in written:
        lines += [f"### {name.replace('_', ' ').title()}", "", f"![{name}]({name}.png)", ""]
    return "\n".join(lines) + "\n"
