"""Tests for vpl_jax.figures.experiment2: Fig. 5 panels, legends, asterisks, "no data" notes, and
the face-sample and morph-row figures."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from matplotlib.figure import Figure

from theory.checks import InputError
from vpl_jax import faces
from vpl_jax.analysis import experiment2 as e2
from vpl_jax.figures import experiment2 as f2


@pytest.fixture(scope="module")
def planted():
    ds = e2.planted_dataset(0)
    return ds, e2.analyze(ds)


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_figure_5_panels_legends_and_asterisks(planted):
    ds, res = planted
    fig = f2.figure_5(ds, results=res)
    assert isinstance(fig, Figure)
    a_gabor, a_face, b_full, b_frozen = fig.axes[:4]
    assert a_gabor.get_title(loc="left").startswith("A  Gabor")
    assert "largest step at layer 3; significant from layer 2" in a_gabor.get_title(loc="left")
    assert "largest step at layer 5; significant from layer 4" in a_face.get_title(loc="left")
    assert b_full.get_title(loc="left").startswith("B  change proportions (fully plastic")
    assert "layer x task: F(4," in b_full.get_title(loc="left")
    assert [t.get_text() for t in b_frozen.get_xticklabels()] == ["2", "3", "4", "5"]
    for ax in (a_gabor, a_face, b_full, b_frozen):
        legend = ax.get_legend()
        assert legend is not None
        labels = [t.get_text() for t in legend.get_texts()]
        assert any("p < 0.01/" in lab for lab in labels)  # the asterisk has a legend entry
    assert any("dissimilarity 5" in t.get_text() for t in a_gabor.get_legend().get_texts())
    # one asterisk per significant post hoc layer
    for ax, k in ((b_full, 0), (b_frozen, 1)):
        assert _texts(ax).count("*") == int(res.posthoc[k].significant.sum())
    # panel A: one star marker per significant (k, dissimilarity) cell
    stars = sum(
        len(line.get_xdata())
        for line in a_gabor.get_lines()
        if line.get_marker() == "*" and len(line.get_xdata())
    )
    cells = res.drop_tests
    assert stars == int(cells[(cells.task == "gabor")].significant.sum())


def test_figure_5_says_no_data(planted):
    ds, _ = planted
    gabor_only = ds.isel(condition=np.flatnonzero(ds.task.values == "gabor"))
    fig = f2.figure_5(gabor_only)
    face_ax = fig.axes[1]
    assert any("no data: the run has no face conditions" in t for t in _texts(face_ax))
    assert "ANOVA not testable: needs both tasks" in fig.axes[2].get_title(loc="left")
    no_change = ds.drop_vars("layer_change")
    fig = f2.figure_5(no_change)
    assert any("no data: the run has no layer-change records" in t for t in _texts(fig.axes[2]))
    plastic_only = ds.isel(condition=np.flatnonzero(ds.frozen_layers.values == 0))
    fig = f2.figure_5(plastic_only)
    assert any("no data" in t for t in _texts(fig.axes[0]))
    assert any("no networks with 1 frozen layer" in t for t in _texts(fig.axes[3]))


@pytest.fixture(scope="module")
def small_set():
    return faces.bundled_faces(jax.random.key(0), 4, 3, size=96)  # the size of test_faces


def test_face_samples_and_morph_row(small_set):
    fig = f2.face_samples(small_set, per_sex=4)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 4 + 3 + 11  # 3 female faces exist: one panel says so
    assert (
        sum("no data: fewer than 4 female faces" in t for ax in fig.axes for t in _texts(ax)) == 1
    )
    np.testing.assert_allclose(images[0], small_set.images[0])
    row = f2.morph_row(small_set, (1, 5))
    frames = [ax.images[0].get_array() for ax in row.axes]
    assert [ax.get_title().split("\n")[0] for ax in row.axes] == list(faces.FRAMES)
    np.testing.assert_allclose(frames[0], small_set.images[1], atol=2e-3)  # M5: the male
    np.testing.assert_allclose(frames[-1], small_set.images[5], atol=2e-3)  # F5: the female
    blend = f2.morph_row(small_set, (1, 5), warp=False)
    mid = blend.axes[5].images[0].get_array()
    np.testing.assert_allclose(mid, 0.5 * (small_set.images[1] + small_set.images[5]), atol=1e-3)
    figs = f2.face_figures(small_set)
    assert set(figs) == {"faces_samples", "faces_morph_row"}


def test_face_figure_errors(small_set):
    with pytest.raises(InputError, match="per_sex must be in 1..12"):
        f2.face_samples(small_set, per_sex=0)
    with pytest.raises(InputError, match="must be a vpl_jax.faces.FaceSet"):
        f2.morph_row(small_set.images)
    with pytest.raises(InputError, match=r"pair must be \(male row, female row\)"):
        f2.morph_row(small_set, (5, 1))
