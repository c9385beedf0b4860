"""Tests for theory.report_saxe: the `vpl-jax theory saxe` report (figures, CSV, summary)."""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import report_saxe, saxe
from theory import tuning as tu

PNGS = (
    "alpha_beta_vs_t.png",
    "beta_over_alpha.png",
    "reverse_hierarchy.png",
    "within_layer_profile.png",
    "transfer.png",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    # module-scoped fixtures run outside the function-scoped conftest fixtures: set the same
    # configuration here (strict rank promotion, float64) so compiled programs are shared
    out = tmp_path_factory.mktemp("saxe")
    with jax.numpy_rank_promotion("raise"), jax.enable_x64(True):
        result = report_saxe.run(out, progress=False)
    return out, result


def test_files_exist_and_are_non_empty(report):
    out, result = report
    for name in (*PNGS, "reference_table.csv", "summary.json"):
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        assert str(path) in result["files"]
    for name in PNGS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_equals_closed_form_values(report):
    out, _ = report
    with (out / "reference_table.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["dtheta_deg"]) for r in rows] == [1.0, 2.0, 5.0, 10.0, 20.0, 45.0, 90.0]
    for row in rows:
        col = {k: float(x) for k, x in row.items()}
        task = tu.task_vectors(np.deg2rad(col["dtheta_deg"]))
        d = np.asarray(task.d)
        v = 0.5 * float(d @ d)  # independent of tuning.difficulty: v = ||d||^2 / 2
        np.testing.assert_allclose(col["v"], v, rtol=1e-12)
        # fixed point from u*^2 = (1 + sqrt(1 + 8 c^2/v^2)) / 2, c = 1
        u_star = np.sqrt((1 + np.sqrt(1 + 8 / v**2)) / 2)
        alpha_star, beta_star = (u_star - 1) / 2, 1 / (v * u_star)
        np.testing.assert_allclose(col["alpha_star"], alpha_star, rtol=1e-9)
        np.testing.assert_allclose(col["beta_star"], beta_star, rtol=1e-12)
        np.testing.assert_allclose(col["beta_over_alpha"], beta_star / alpha_star, rtol=1e-9)
        np.testing.assert_allclose(
            col["dW2_over_dW1"], beta_star / (np.sqrt(2) * alpha_star), rtol=1e-9
        )
        np.testing.assert_allclose(col["transfer_over_c_ab"], 1 / (1 + 2 * alpha_star), rtol=1e-12)
        # half-times: the closed form evaluated there gives half of each layer's change
        a_half, _ = saxe.closed_form(jnp.asarray(col["t_half_alpha"]), v)
        _, b_half = saxe.closed_form(jnp.asarray(col["t_half_beta"]), v)
        np.testing.assert_allclose(float(a_half), alpha_star / 2, rtol=1e-9)
        np.testing.assert_allclose(float(b_half), beta_star / 2, rtol=1e-9)
        assert col["t_half_beta"] < col["t_half_alpha"]
        offset = np.rad2deg(np.abs(np.argmax(np.abs(d)) * np.pi / 180 - np.pi / 4))
        assert col["most_changed_offset_deg"] == pytest.approx(offset, abs=1e-9)


def test_summary_agreement_numbers(report):
    out, result = report
    summary = json.loads((out / "summary.json").read_text())
    assert summary.keys() == result["summary"].keys()
    for key in ("dtheta_2", "dtheta_45"):
        assert summary[key]["max_abs_closed_form_minus_ode"] < 1e-8
        assert summary[key]["max_off_manifold_residual"] < 1e-9
        assert summary[key]["max_abs_gd_minus_theory"] < 2 * summary[key]["gd_lr"]
    for depth in (4, 5):
        deltas = summary[f"depth_{depth}"]["final_delta_gd"]
        assert np.all(np.diff(deltas) > 0)  # reverse hierarchy
    for entry in summary["transfer"].values():
        assert entry["max_abs_alpha_untrained_location"] == 0.0
        np.testing.assert_allclose(entry["transfer_gd"], entry["transfer_theory"], atol=5e-3)
        assert entry["savings_c_ab_0.5"]["saving"] > 0


def test_table_text_lists_every_task(report, capsys):
    _, result = report
    text = report_saxe.format_table(result["table"])
    assert len(text.splitlines()) == 8 and "β*/α*" in text


def test_figures_are_fit_for_a_paper(report):
    """PNG and PDF of every figure; legends explain every line and marker and sit beside the
    data; readable ticks; beta/alpha is drawn against t, one curve per reference task."""
    from theory import figure_style as fs

    out, result = report
    figs = result["figures"]
    assert tuple(figs) == report_saxe.FIGURES
    for name, fig in figs.items():
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF", name
        assert fs.overlapping_tick_labels(fig) == [], name
        assert fs.legend_overlaps(fig) == [], name
        assert fig.get_size_inches()[0] <= fs.TWO_COLUMNS + 1e-9, name
    assert fs.panel_letters(figs["alpha_beta_vs_t"]) == ["A", "B"]
    assert fs.panel_letters(figs["reverse_hierarchy"]) == ["A", "B"]
    n_tasks = len(result["table"]["dtheta_deg"])
    (ax,) = figs["beta_over_alpha"].axes
    assert ax.get_xlabel().startswith("t") and ax.get_xscale() == "log"
    curves = [line for line in ax.get_lines() if line.get_label().startswith("Δθ")]
    assert len(curves) == n_tasks
    finals = [line.get_ydata()[-1] for line in curves]  # distinct curves, not one collapsed
    np.testing.assert_allclose(finals, result["table"]["beta_over_alpha"], rtol=1e-3)
    assert len(ax.get_legend().legend_handles) == n_tasks + 2  # tasks, sqrt(2), fixed point
    for name, extra in (("reverse_hierarchy", "gradient descent"), ("transfer", "gradient")):
        for axis in figs[name].axes:
            labels = [t.get_text() for t in axis.get_legend().get_texts()]
            assert any(extra in label for label in labels), (name, labels)
