"""The analysis report of a run: every figure the run's data support and the paper's headline results.

`analyze(run_dir)` reads a run folder (`vpl_jax.runs`), computes the analyses of Experiment 1 of
Wenliang & Seitz (2018), "Deep neural networks for modeling visual perceptual learning"
(`vpl_jax.analysis.behaviour`, `.plasticity`, `.tuning_run`, `.physiology`), writes the figures the
run's data support (`vpl_jax.figures`) and ``report.md``: for each headline result, the measured
numbers next to the paper's and a verdict (`vpl_jax.headlines`),

* ``reproduced`` -- the measured effect has the paper's direction and significance (alpha 0.01),
* ``not reproduced`` -- it has not,
* ``not testable`` -- the run lacks what the test needs (e.g. one reference orientation, no 10 deg
  condition, no 1 deg / 5 deg networks, too few included units, or Experiment 2), with the reason.

This is the only module that combines the run folder, the analyses, the figures and the verdicts.

Weights other than ImageNet-trained AlexNet (the bundled default, random weights) are named at the
top of the report: verdicts then say what holds *for those weights*, not whether the paper's
network reproduces. Nothing is filled in for a condition the run lacks.

Run folder outputs (in ``<run_dir>/analysis`` unless ``out_dir`` is given)::

    report.md           the verdict table, the run's facts, links to the figures
    headlines.csv       the same table, machine-readable
    figure_2.png ...    one PNG per paper figure the data support
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
from vpl_jax import experiment, figures, headlines, runs
from vpl_jax.analysis import tuning_run
from vpl_jax.analysis.significance import ALPHA
from vpl_jax.headlines import VERDICTS

__all__ = ["AnalysisOptions", "analyze", "write_overview"]


def _markdown_table(rows: list[dict]) -> str:
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
                raise InputError(f"AnalysisOptions.{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"AnalysisOptions.seed must be an int >= 0, got {self.seed!r}")


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
        progress: progress bars on stderr.

    Returns:
        The path of ``report.md``.

    Raises:
        InputError: ``run_dir`` is not a finished run folder.
        CheckpointError: its results or checkpoints are damaged.
    """
    run = Path(run_dir)
    if not runs.results_path(run).exists() or not runs.config_path(run).exists():
        raise InputError(
            f"run_dir {run} is not a finished run folder (needs results.nc and config.json; "
            "run `vpl-jax run` or `vpl-jax sweep` first)"
        )
    out = Path(out_dir) if out_dir is not None else runs.analysis_dir(run)
    out.mkdir(parents=True, exist_ok=True)
    ds = runs.load_results(run)
    config = experiment.RunConfig.from_dict(runs.read_config_record(run)["run"])

    steps = tqdm(total=3, desc="analysis", unit="step", disable=not progress)
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
    rows = (
        headlines.behaviour_headlines(ds)
        + headlines.plasticity_headlines(ds)
        + headlines.experiment2_headlines()
    )
    for name, make in (("figure_2", figures.figure_2), ("figure_3", figures.figure_3)):
        _save(make(ds), out / f"{name}.png")
        written.append(name)
    steps.update()

    tuning = None
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
                progress=progress,
            )
            if tuning.reason:
                skipped.append(f"tuning analyses: {tuning.reason}")
                tuning = None
    else:
        skipped.append("tuning analyses (Figs. 4, 6-10): switched off (--no-tuning)")
    steps.update()

    steps.set_postfix_str("verdicts and figures")
    if tuning is None:
        rows.append(
            headlines.verdict_row(
                "4",
                "Fisher information gains (top layers, finest precision, centred on TO)",
                "Fig. 4",
                "not testable",
                "no tuning curves",
            )
        )
        for item in ("6", "7", "8", "9", "10"):
            rows.append(
                headlines.verdict_row(
                    item,
                    "electrophysiology comparison / initial sensitivity",
                    f"Figs. 6-10 (item {item})",
                    "not testable",
                    "no tuning curves",
                )
            )
    else:
        tuning.units.to_csv(out / "units.csv", index=False)
        rows += headlines.fisher_headlines(tuning.fisher, alpha=ALPHA)
        rows += headlines.physiology_headlines(
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
    steps.update()
    steps.close()

    pd.DataFrame(rows, columns=headlines.Verdict._fields).to_csv(out / "headlines.csv", index=False)
    text = _report_text(ds, config, rows, written, skipped, tuning)
    path = out / "report.md"
    runs.write_text(path, text)
    return path


def _report_text(ds, config, rows, written, skipped, tuning) -> str:
    counts = pd.Series([r.verdict for r in rows]).value_counts()
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
        + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
        + f" (alpha = {ALPHA}; see `vpl_jax.headlines` for the rules).",
        "",
        "## Headline results",
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
