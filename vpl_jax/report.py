"""The analysis report of a run: every figure the run's data support and the paper's headline results.

`analyze(run_dir)` reads a run folder (`vpl_jax.runs`), computes the analyses of Wenliang & Seitz
(2018), "Deep neural networks for modeling visual perceptual learning"
(`vpl_jax.analysis.behaviour`, `.plasticity`, `.tuning_run`, `.physiology`, `.experiment2`,
`vpl_jax.psychophysics`), writes the figures the run's data support (`vpl_jax.figures`) and
``report.md``: for each headline result, the measured numbers next to the paper's and a verdict
(`vpl_jax.headlines`, rules in docs/analysis.md),

* ``reproduced`` -- the effect has the paper's direction at p < 0.01 (a null claim: equivalence
  within a stated margin),
* ``not reproduced`` -- it has not (a null claim: a significant effect),
* ``not testable`` -- the run cannot answer: the networks of a separation did not learn (the
  learning gate), too few networks or units to reach the level, too little power for
  equivalence, a condition the run lacks, or the other experiment; with the reason.

Accuracy is the paper's mean p(correct) (its Eq. 1); the report lists the items whose verdict
changes under the authors' symmetrised ``max(m, 1 - m)``. Tuning gradients follow the paper's
procedure unless ``AnalysisOptions(gradient="exact")``. A run whose Dataset has a ``task``
coordinate is an Experiment 2 run: the report then holds Fig. 5 and the item-5 verdicts.

This is the only module that combines the run folder, the analyses, the figures and the verdicts.

Weights other than ImageNet-trained AlexNet (the bundled default, random weights) are named at the
top of the report: verdicts then say what holds *for those weights*, not whether the paper's
network reproduces. Nothing is filled in for a condition the run lacks.

Run folder outputs (in ``<run_dir>/analysis`` unless ``out_dir`` is given)::

    report.md           the verdict table, the run's facts, links to the figures
    headlines.csv       the same table, machine-readable
    figure_2.png ...    one PNG per paper figure the data support (psychophysics.png too)
    units.csv           the tuning unit table (when tuning curves were recorded)

`write_overview` draws ``learning_curves.png`` of any run folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from theory.checks import InputError
from vpl_jax import experiment, figures, headlines, psychophysics, runs
from vpl_jax.analysis import theory_fit, tuning_run
from vpl_jax.analysis.significance import ALPHA, format_number, format_p
from vpl_jax.headlines import VERDICTS
from vpl_jax.train import Condition

__all__ = ["GRADIENT_OPTIONS", "AnalysisOptions", "analyze", "write_overview"]

#: ``AnalysisOptions.gradient`` -> the tuning-gradient estimator of `vpl_jax.analysis.tuning_run`.
GRADIENT_OPTIONS = {"paper": "smoothed", "exact": "jacfwd"}

_EXP1_ITEMS = {
    "1": "behaviour (Fig. 2)",
    "2": "layer change (Fig. 3)",
    "3": "peak-speed iteration (Fig. 3B)",
    "4": "Fisher information (Fig. 4)",
    "6": "layer 2 vs Schoups (Fig. 6)",
    "7": "layers 2-3 vs Ghose (Fig. 7)",
    "8": "layer 5 vs Raiguel (Fig. 8)",
    "9": "layer 5 vs Yang & Maunsell (Fig. 9)",
    "10": "initial sensitivity, Eq. 7 (Fig. 10)",
}


def _markdown_table(rows: list) -> str:
    head = "| item | claim | paper | measured | verdict |\n|---|---|---|---|---|\n"

    def cell(text) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    body = "".join(
        f"| {cell(r.item)} | {cell(r.claim)} | {cell(r.paper)} | {cell(r.measured)}"
        + (f" ({cell(r.note)})" if r.note else "")
        + f" | **{r.verdict}** |\n"
        for r in rows
    )
    return head + body


def _frame_table(frame: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, bool | np.bool_):
            return "yes" if v else "no"
        if isinstance(v, float | np.floating):
            return format_number(float(v))
        return str(v)

    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return head + "".join(
        "| " + " | ".join(cell(v) for v in row) + " |\n"
        for row in frame.itertuples(index=False, name=None)
    )


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
        gradient: tuning gradients: ``"paper"`` (default; the paper's derivative filter of the
            smoothed mean response, as its code does) or ``"exact"`` (``jax.jacfwd`` through the
            Gabor); `GRADIENT_OPTIONS`.
        psychophysics: compute the ideal observer, thresholds and efficiency of the run.
    """

    tuning: bool = True
    num_orientations: int = 100
    num_noise: int = 50
    seed: int = 0
    batch_size: int = 250
    gradient: str = "paper"
    psychophysics: bool = True

    def __post_init__(self):
        for name, low in (("num_orientations", 8), ("num_noise", 2), ("batch_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise InputError(f"AnalysisOptions.{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"AnalysisOptions.seed must be an int >= 0, got {self.seed!r}")
        if self.gradient not in GRADIENT_OPTIONS:
            raise InputError(
                f"AnalysisOptions.gradient must be one of {sorted(GRADIENT_OPTIONS)}, got "
                f"{self.gradient!r}"
            )

    @property
    def tuning_gradient(self) -> str:
        """The `vpl_jax.analysis.tuning_run.record_run` name of ``gradient``."""
        return GRADIENT_OPTIONS[self.gradient]


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=110)
    _close(fig)


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def write_overview(run_dir, ds) -> Path:
    """Draw ``learning_curves.png`` of a run (`vpl_jax.figures.learning_curves`) in its folder."""
    path = Path(run_dir) / "learning_curves.png"
    fig = figures.learning_curves(ds)
    fig.savefig(path, dpi=120)
    _close(fig)
    return path


def _tuning_params(run: Path, ds, selection: tuning_run.TuningSelection):
    """The initial params and the stacked final params of the selected networks, or a reason.

    ``selection.indices`` are positions on ``ds.condition``, whose values are the run's
    condition numbers (they differ once unhealthy conditions are left out)."""
    initial_path = runs.initial_params_path(run)
    if not runs.is_finished(initial_path):
        return None, None, "the run folder has no initial params checkpoint"
    initial = runs.restore_tree(initial_path)
    numbers = ds.condition.values[selection.indices]
    finals = [experiment.load_final_params(run, int(i)) for i in numbers]
    return initial, jax.tree.map(lambda *xs: np.stack(xs), *finals), ""


def _check_run(run: Path) -> None:
    if not runs.results_path(run).exists() or not runs.config_path(run).exists():
        raise InputError(
            f"run_dir {run} is not a finished run folder (needs results.nc and config.json; "
            "run `vpl-jax run` or `vpl-jax sweep` first)"
        )


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
        options: tuning-curve, gradient and psychophysics settings (`AnalysisOptions`).
        progress: progress bars on stderr.

    Returns:
        The path of ``report.md``.

    Raises:
        InputError: ``run_dir`` is not a finished run folder, or every condition is unhealthy.
        CheckpointError: its results or checkpoints are damaged.
    """
    run = Path(run_dir)
    _check_run(run)
    if not isinstance(options, AnalysisOptions):
        raise InputError(f"options must be an AnalysisOptions, got {type(options).__name__}")
    out = Path(out_dir) if out_dir is not None else runs.analysis_dir(run)
    ds = runs.load_results(run)
    if "task" in ds.coords:
        out.mkdir(parents=True, exist_ok=True)
        return _analyze_experiment2(ds, out)
    config = experiment.RunConfig.from_dict(runs.read_config_record(run)["run"])
    out.mkdir(parents=True, exist_ok=True)

    steps = tqdm(total=4, desc="analysis", unit="step", disable=not progress)
    written, skipped = [], []
    unhealthy = experiment.health_table(ds)
    if len(unhealthy):
        skipped += [
            f"condition {r.condition} ({r.label}) left out of every analysis: {r.problem}"
            for r in unhealthy.itertuples()
        ]
        keep = np.setdiff1d(np.arange(ds.sizes["condition"]), unhealthy.condition.to_numpy())
        ds = ds.isel(condition=keep)
        if ds.sizes["condition"] == 0:
            raise InputError(
                f"every condition of {run} is non-finite or degenerate: nothing to analyse"
            )
    steps.set_postfix_str("behaviour and layer change")
    gate = headlines.learning_gate(ds)
    rows = (
        headlines.behaviour_headlines(ds, gate=gate)
        + headlines.plasticity_headlines(ds, gate=gate)
        + headlines.experiment2_headlines()
    )
    symmetric = []
    if "accuracy_sym" in ds.data_vars:
        by_item = {r.item: r for r in rows}
        for r in headlines.behaviour_headlines(ds, gate=gate, symmetric=True):
            if r.item in by_item and r.verdict != by_item[r.item].verdict:
                symmetric.append((by_item[r.item], r))
    for name, make in (("figure_2", figures.figure_2), ("figure_3", figures.figure_3)):
        _save(make(ds), out / f"{name}.png")
        written.append(name)
    alpha_beta = theory_fit.fit_alpha_beta(ds)
    if alpha_beta.quality["testable"]:
        _save(figures.theory_fit_figure(fit=alpha_beta), out / "theory_fit.png")
        written.append("theory_fit")
    else:
        skipped.append(f"alpha/beta model beside the run: {alpha_beta.quality['reason']}")
    steps.update()

    steps.set_postfix_str("psychophysics")
    psycho = []
    if options.psychophysics:
        psycho, made, why = _psychophysics(ds, config, out)
        written += made
        skipped += why
    else:
        skipped.append("psychophysics: switched off")
    steps.update()

    tuning, tuning_gate = None, None
    if options.tuning:
        steps.set_postfix_str("tuning curves of the naive and trained networks")
        selection = tuning_run.select_tuning_conditions(ds)
        initial, finals, reason = _tuning_params(run, ds, selection)
        if reason:
            skipped.append(f"tuning analyses: {reason}")
        else:
            tuning = tuning_run.record_run(
                ds,
                config.train,
                selection,
                initial,
                finals,
                num_orientations=options.num_orientations,
                num_noise=options.num_noise,
                seed=options.seed,
                batch_size=options.batch_size,
                gradient=options.tuning_gradient,
                progress=progress,
            )
            tuning_gate = headlines.learning_gate(ds.isel(condition=selection.indices))
            if tuning.reason:
                skipped.append(f"tuning analyses: {tuning.reason}")
                tuning = None
    else:
        skipped.append("tuning analyses (Figs. 4, 6-10): switched off (--no-tuning)")
    steps.update()

    steps.set_postfix_str("verdicts and figures")
    if tuning is None:
        for item in ("4", "6", "7", "8", "9", "10"):
            rows.append(
                headlines.not_testable(item, _EXP1_ITEMS[item], f"item {item}", "no tuning curves")
            )
    else:
        tuning.units.to_csv(out / "units.csv", index=False)
        rows += headlines.fisher_headlines(tuning.fisher, alpha=ALPHA, gate=tuning_gate)
        rows += headlines.physiology_headlines(
            tuning.units,
            curves=tuning.curves,
            layer_table=tuning.layer_table,
            unit_level_table=tuning.unit_level_table,
            gate=tuning_gate,
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
    steps.update()
    steps.close()

    pd.DataFrame(rows, columns=headlines.Verdict._fields).to_csv(out / "headlines.csv", index=False)
    text = _report_text(
        ds, config, rows, written, skipped, tuning, gate, tuning_gate, symmetric, psycho, options,
        alpha_beta=alpha_beta,
    )  # fmt: skip
    path = out / "report.md"
    runs.write_text(path, text)
    return path


# --------------------------------------------------------------------------------------------
# Psychophysics of the run


def _conditions(ds) -> Condition:
    return Condition.create(
        *(
            np.asarray(ds[f].values, np.float32)
            for f in ("reference_deg", "separation_deg", "wavelength_px", "contrast", "noise_sd")
        ),
        learning_rate=np.asarray(ds["learning_rate"].values, np.float32),
    )


_CELL_FIELDS = ("reference_deg", "wavelength_px", "contrast", "noise_sd", "learning_rate")


def _cell_accuracy(ds, cells: pd.DataFrame, seps) -> np.ndarray:
    """``(cells, iteration, separation)`` trained-test accuracy (mean p(correct))."""
    frame = pd.DataFrame({f: np.asarray(ds[f].values, float) for f in _CELL_FIELDS})
    sep = np.asarray(ds.separation_deg.values, float)
    acc = np.asarray(ds["accuracy"].sel(test="trained").values, float)
    out = np.full((len(cells), acc.shape[1], len(seps)), np.nan)
    for ci, cell in enumerate(cells[list(_CELL_FIELDS)].itertuples(index=False)):
        mask = np.all(frame.values == np.asarray(cell, float), axis=1)
        for j, s in enumerate(seps):
            idx = np.flatnonzero(mask & (sep == s))
            if idx.size == 1:
                out[ci, :, j] = acc[idx[0]]
    return out


def _psychophysics(ds, config, out: Path) -> tuple[list[str], list[str], list[str]]:
    """Report lines, figures written and skip reasons of the psychophysics section."""
    lines, written, skipped = [], [], []
    tc = config.train
    n_trials = tc.test_pairs
    table = psychophysics.dprime_table(_conditions(ds), config=tc)
    final = np.asarray(ds["accuracy"].sel(test="trained").isel(iteration=-1).values, float)
    table["final_accuracy"] = final
    table["network_dprime"] = psychophysics.dprime_from_accuracy(final, n_trials)
    positive = table.dprime.to_numpy(float) > 0
    eff = np.full(len(table), np.nan)
    eff[positive] = psychophysics.efficiency(
        final[positive], table.dprime.to_numpy(float)[positive], n_trials
    )
    table["efficiency"] = eff
    lines += [
        "Ideal observer of each trained condition (known templates, Gaussian pixel noise: "
        "d' = c ||T_cw - T_ccw|| / sigma, p(correct) = Phi(d'/2); `vpl_jax.psychophysics`), the "
        f"network's final accuracy on the trained test ({n_trials} test pairs), its d' = "
        "2 Phi^-1(accuracy) and its efficiency (d'_net / d'_ideal)^2 (a lower bound where the "
        "accuracy is at ceiling):",
        "",
        _frame_table(
            table[
                [
                    "reference_deg",
                    "separation_deg",
                    "wavelength_px",
                    "contrast",
                    "noise_sd",
                    "dprime",
                    "ideal_accuracy",
                    "final_accuracy",
                    "network_dprime",
                    "efficiency",
                ]
            ]
        ),
    ]
    seps = np.unique(np.asarray(ds.separation_deg.values, float))
    if seps.size < 2:
        skipped.append("psychometric thresholds: the run has one training separation")
        return lines, written, skipped
    try:
        cells, thr = psychophysics.run_thresholds(ds, n_trials=n_trials)
    except InputError as err:
        skipped.append(f"psychometric thresholds: {err}")
        return lines, written, skipped
    continuous = dataclasses.replace(tc, quantize=False)
    ideal_thr = []
    for cell in cells.itertuples(index=False):
        cond = Condition.create(
            cell.reference_deg, 1.0, cell.wavelength_px, cell.contrast, cell.noise_sd,
            learning_rate=cell.learning_rate,
        )  # fmt: skip
        ideal_thr.append(
            psychophysics.ideal_threshold(cond, config=continuous)
            if cell.noise_sd > 0
            else float("nan")
        )
    rows = []
    for i, cell in enumerate(cells.itertuples(index=False)):
        t, lo, hi = thr.threshold[i, -1], thr.ci_low[i, -1], thr.ci_high[i, -1]
        teff = (
            float(psychophysics.threshold_efficiency(t, ideal_thr[i]))
            if np.isfinite(t) and t > 0 and np.isfinite(ideal_thr[i])
            else float("nan")
        )
        rows.append(
            {
                "reference_deg": cell.reference_deg,
                "wavelength_px": cell.wavelength_px,
                "contrast": cell.contrast,
                "noise_sd": cell.noise_sd,
                "threshold_deg": t,
                "ci_low": lo,
                "ci_high": hi,
                "in_range": bool(thr.in_range[i, -1]),
                "ideal_threshold_deg": ideal_thr[i],
                "threshold_efficiency": teff,
            }
        )
    lines += [
        "",
        "75 % thresholds at the last iteration: a Weibull psychometric function of the final "
        "accuracy of the networks of one stimulus cell against their training separation "
        f"(maximum likelihood, {n_trials} trials per point, 95 % profile-likelihood interval; "
        "`psychophysics.run_thresholds`), the ideal observer's threshold of the continuous "
        "stimulus, and the efficiency (t_ideal / t_net)^2:",
        "",
        _frame_table(pd.DataFrame(rows)),
    ]
    first = cells.iloc[0]
    cond = Condition.create(
        first.reference_deg, 1.0, first.wavelength_px, first.contrast, first.noise_sd,
        learning_rate=first.learning_rate,
    )  # fmt: skip
    grid = np.geomspace(seps[0] / 4.0, seps[-1] * 1.5, 40)
    _, ideal_acc = psychophysics.ideal_curve(cond, grid, config=tc)
    acc = _cell_accuracy(ds, cells, seps)
    labels = [
        f"ref {c.reference_deg:g}, lambda {c.wavelength_px:g}, c {c.contrast:g}, sd {c.noise_sd:g}"
        for c in cells.itertuples(index=False)
    ]
    fig = figures.psychophysics_figure(
        seps,
        acc[:, -1, :],
        n_trials,
        labels=labels,
        ideal=(grid, ideal_acc),
        iterations=np.maximum(np.asarray(ds.iteration.values, float), 0.5),
        thresholds=thr,
        ideal_threshold=ideal_thr[0] if np.isfinite(ideal_thr[0]) else None,
    )
    _save(fig, out / "psychophysics.png")
    written.append("psychophysics")
    lines += [
        "",
        f"The figure's ideal curve and ideal threshold are those of the first cell ({labels[0]}).",
    ]
    return lines, written, skipped


# --------------------------------------------------------------------------------------------
# Experiment 2 runs


def _healthy_experiment2(ds):
    keep = np.ones(ds.sizes["condition"], bool)
    if "finite" in ds:
        keep &= ds.finite.values.astype(bool).all(axis=1)
    if "degenerate" in ds:
        keep &= ~ds.degenerate.values.astype(bool)
    return ds.isel(condition=np.flatnonzero(keep)), int((~keep).sum())


def _analyze_experiment2(ds, out: Path) -> Path:
    ds, dropped = _healthy_experiment2(ds)
    if ds.sizes["condition"] == 0:
        raise InputError("every condition of this Experiment 2 run is non-finite or degenerate")
    rows = headlines.experiment2_headlines(ds)
    why = (
        "an Experiment 2 run (Gabor vs face, frozen layers): the Experiment 1 items need the "
        "Experiment 1 grid"
    )
    rows += [headlines.not_testable(i, c, f"item {i}", why) for i, c in _EXP1_ITEMS.items()]
    _save(figures.figure_5(ds), out / "figure_5.png")
    pd.DataFrame(rows, columns=headlines.Verdict._fields).to_csv(out / "headlines.csv", index=False)
    counts = pd.Series([r.verdict for r in rows]).value_counts()
    tasks = sorted({str(t) for t in ds.task.values})
    lines = [
        f"# Analysis of Experiment 2 run `{ds.attrs.get('preset', '?')}`",
        "",
        _weights_caveat(ds),
        "",
        f"Conditions: {ds.sizes['condition']} (tasks {', '.join(tasks)}; frozen layers "
        f"{sorted(set(np.asarray(ds.frozen_layers.values).tolist()))}); "
        f"{len(ds.iteration)} evaluation points"
        + (f"; {dropped} non-finite or degenerate conditions left out" if dropped else "")
        + ". Accuracy: mean p(correct) on the test pairs (the paper's Eq. 1).",
        "",
        "Verdicts: "
        + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
        + f" (alpha = {ALPHA}; rules in docs/analysis.md).",
        "",
        "## Headline results",
        "",
        _markdown_table(rows),
        "",
        "## Figures",
        "",
        "### Figure 5",
        "",
        "![figure_5](figure_5.png)",
        "",
    ]
    path = out / "report.md"
    runs.write_text(path, "\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# The report


def _gate_lines(gate: pd.DataFrame, title: str) -> list[str]:
    table = gate.assign(
        p_chance=[format_p(p) for p in gate.p_chance],
    ).rename(columns={"separation_deg": "separation (deg)", "mean_final": "mean final accuracy"})
    return [f"{title}: {gate.attrs.get('criterion', '')}.", "", _frame_table(table)]


def _report_text(
    ds, config, rows, written, skipped, tuning, gate, tuning_gate, symmetric, psycho, options,
    *, alpha_beta: theory_fit.AlphaBetaFit,
) -> str:  # fmt: skip
    counts = pd.Series([r.verdict for r in rows]).value_counts()
    grid = config.grid
    gradient = tuning_run.GRADIENTS[options.tuning_gradient]
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
        "Accuracy: the paper's mean p(correct) of the correct label (its Eq. 1; `accuracy`). "
        f"Tuning gradients: `{options.gradient}` -- {gradient}.",
        "",
        "Verdicts: "
        + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
        + f" (alpha = {ALPHA}; the rules are in docs/analysis.md and `vpl_jax.headlines`).",
        "",
        *_gate_lines(gate, "Learning gate (all networks)"),
    ]
    if tuning_gate is not None:
        lines += [
            "",
            *_gate_lines(tuning_gate, "Learning gate of the tuning networks (items 4, 6-10)"),
        ]
    lines += ["", "## Headline results", "", _markdown_table(rows)]
    lines += ["", "## Under the symmetrised metric", ""]
    if symmetric:
        lines += [
            "With the authors' per-fold symmetrised accuracy max(m, 1 - m) (`accuracy_sym`) "
            "instead of the paper's mean p(correct) these verdicts change:",
            "",
            "| item | paper's metric | symmetrised | symmetrised measured |",
            "|---|---|---|---|",
        ]
        for a, b in symmetric:
            measured = str(b.measured).replace("|", "\\|")
            lines.append(f"| {a.item} | {a.verdict} | {b.verdict} | {measured} |")
    else:
        lines.append("No verdict changes with the authors' symmetrised accuracy max(m, 1 - m).")
    if psycho:
        lines += ["", "## Psychophysics", "", *psycho]
    if tuning is not None:
        lines += ["", "## Tuning protocol", "", tuning.description]
    lines += [
        "",
        "## Saxe's alpha/beta model beside this run",
        "",
        "The two-layer reduction of Saxe's theory of perceptual learning dynamics (`theory.saxe`: "
        "the readout as beta, the conv stack as alpha) fitted to the measured layer change "
        "(`vpl_jax.analysis.theory_fit`). " + theory_fit.describe(alpha_beta),
    ]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in skipped]
    lines += ["", "## Figures", ""]
    for name in written:
        lines += [f"### {name.replace('_', ' ').title()}", "", f"![{name}]({name}.png)", ""]
    return "\n".join(lines) + "\n"
