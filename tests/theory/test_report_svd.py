"""Smoke test of theory.report_svd.run on a tiny configuration (figures, CSV, JSON, numbers)."""

import csv
import json

import numpy as np
import pytest

from theory import report_svd

TINY = dict(
    depths=(1,),
    photo_names=("camera", "coins"),
    patch_size=4,
    num_patches=3000,
    num_steps=40,
    record_every=4,
    num_freqs=4,
    num_phases=4,
)


def test_tiny_run_writes_every_figure_and_consistent_numbers(tmp_path):
    summary = report_svd.run(tmp_path, progress=False, **TINY)
    for name in (
        "pca_spectrum.png",
        "pc_learning_curves.png",
        "half_time_vs_variance.png",
        "threshold_curves.png",
        "acuity.png",
        "alignment.png",
        "sv_closed_forms_vs_gd.png",
    ):
        path = tmp_path / name
        assert path.stat().st_size > 1000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.with_suffix(".pdf").read_bytes()[:4] == b"%PDF", name
        checks = summary["figures"][path.stem]  # fit for a paper
        assert checks["overlapping_tick_labels"] == 0 and checks["legends_over_data"] == 0, name
        letters = checks["panel_letters"]
        assert letters in ("", "AB", "ABC", "ABCD"[: len(letters)]), (name, letters)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["size"] == "reduced" and on_disk["photos"] == ["camera", "coins"]
    assert on_disk["pca"]["gamma"] == pytest.approx(summary["pca"]["gamma"])
    assert np.isfinite(on_disk["pca"]["gamma"])
    # the closed-form half-time ratio t(lam)/t(2 lam) is exactly 2 at every depth
    for ratio in on_disk["sv_vs_gd"]["half_time_ratio_lam_2lam"].values():
        assert ratio == pytest.approx(2.0, rel=1e-12)
    for err in on_disk["sv_vs_gd"]["max_abs_error"].values():
        assert err < 0.02  # GD at lr 0.01 vs the closed form, O(lr)
    with (tmp_path / "half_times.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16  # depths x PCs
    assert {r["depth"] for r in rows} == {"1"}
    with (tmp_path / "summary.csv").open() as fh:
        keys = {r["key"] for r in csv.DictReader(fh)}
    assert {"pca.gamma", "acuity.1.r2", "alignment_final.1", "half_time.1.pcs_learned"} <= keys


def test_depths_must_include_one(tmp_path):
    with pytest.raises(ValueError, match=r"depths must include 1"):
        report_svd.run(tmp_path, progress=False, depths=(2,))
