"""Tests of vpl_jax.experiment2: configs, conditions and keys, face trials, the engine, the run
folder (resume), the results layout and input errors.

Training runs use a tiny 5-layer stack of AlexNet's structure (4 channels per layer, 32-px
images, random weights) and the smoke-exp2 conditions, so that compilation stays cheap; the
programs are the real ones (`vpl_jax.train`'s step, optimiser, metrics).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import alexnet, experiment, experiment2, faces, runs, train
from vpl_jax.analysis import experiment2 as analysis

_C = alexnet.ConvSpec
TINY = alexnet.ArchSpec(  # AlexNet's five layers, 4 channels, no LRN: compiles in seconds
    name="tiny_test",
    in_channels=1,
    input_size=32,
    convs=(
        _C("conv1", 4, kernel=3, stride=2, pool=True),
        _C("conv2", 4, kernel=3, padding=1),
        _C("conv3", 4, kernel=3, padding=1),
        _C("conv4", 4, kernel=3, padding=1),
        _C("conv5", 4, kernel=3, padding=1, pool=True),
    ),
)
TINY_TRAIN = train.TrainConfig(
    arch=TINY,
    image_size=32,
    num_iterations=3,
    num_eval_points=2,
    batch_pairs=4,
    test_pairs=8,
    fold_pairs=4,
    test_separations=(10.0,),
)
WEIGHTS = "random:0"


def _smoke(**changes) -> experiment2.Experiment2Config:
    """The smoke-exp2 conditions on the tiny stack (learning rate 1e-3 so 3 steps move weights).

    Face morphs are blends here (landmark warps are tested in `test_face_test_frames_...`).
    """
    base = experiment2.preset("smoke-exp2")
    faces_config = dataclasses.replace(base.faces, warp=False)  # blends: cheaper to compile
    changes = {"train": TINY_TRAIN, "learning_rate": 1e-3, "faces": faces_config, **changes}
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One uninterrupted smoke run (both tasks, k = 0 and 5) with its final params."""
    config = _smoke(keep_params=True)
    out = tmp_path_factory.mktemp("smoke")
    ds = experiment2.sweep(config, out_dir=out, weights=WEIGHTS, progress=False)
    return config, out, ds


# --------------------------------------------------------------------------------------------
# Configs, conditions, keys


def test_presets_are_the_papers_design():
    paper = experiment2.preset("paper-exp2")
    table = experiment2.condition_table(paper)
    assert len(table) == 720
    for task in ("gabor", "face"):
        sub = table[table.task == task]
        assert len(sub) == 360
        assert sorted(set(sub.frozen_layers)) == [0, 1, 2, 3, 4, 5]
        assert sorted(set(sub.dissimilarity)) == [1, 2, 3, 4, 5]
        assert sub.reference.nunique() == 12
    gabor = table[table.task == "gabor"]
    assert sorted(set(gabor.reference)) == [float(a) for a in range(0, 180, 15)]
    sep = dict(zip(gabor.dissimilarity, gabor.target_distance, strict=True))
    assert sep == {1: 0.5, 2: 1.0, 3: 2.0, 4: 5.0, 5: 10.0}
    face = table[table.task == "face"]
    off = dict(zip(face.dissimilarity, face.target_distance, strict=True))
    assert off == pytest.approx({1: 0.05, 2: 0.10, 3: 0.15, 4: 0.25, 5: 0.50}, abs=1e-12)
    assert sorted(set(face.reference)) == list(range(12))
    assert (paper.contrast, paper.noise_sd, paper.wavelength_px) == (0.5, 5.0, 20.0)
    assert paper.train.image_size == 227 and paper.train.num_iterations == 1000
    assert paper.train.eval_iterations == train.eval_iterations(1000, 20)
    assert paper.train.batch_pairs == 20 and paper.faces.test_trials == "pairs"
    assert (paper.faces.num_male, paper.faces.num_female) == (647, 74)
    # every chunk holds one task and one k
    for chunk in experiment2.chunk_plan(paper):
        rows = table.iloc[chunk.conditions]
        assert set(rows.task) == {chunk.task} and set(rows.frozen_layers) == {chunk.frozen_layers}
    cpu = experiment2.preset("cpu-exp2")
    assert cpu.train.image_size == 67 and set(cpu.tasks) == {"gabor", "face"}
    for name in experiment2.PRESETS:
        config = experiment2.preset(name)
        assert experiment2.Experiment2Config.from_dict(config.to_dict()) == config
        # a run in the paper's size units keeps the record it had before TrainConfig.size_units
        assert "size_units" not in config.to_dict()["train"]
    image_units = experiment2.apply_overrides(cpu, ["size_units=image"])
    assert image_units.to_dict()["train"]["size_units"] == "image"
    assert experiment2.Experiment2Config.from_dict(image_units.to_dict()) == image_units
    assert experiment2.config_sha256(image_units) != experiment2.config_sha256(cpu)


def test_chunk_conditions_and_num_chunks_follow_the_chunk_plan():
    config = dataclasses.replace(experiment2.preset("cpu-exp2"), chunk_size=5)
    plan = experiment2.chunk_plan(config)
    assert config.num_chunks == len(plan) == 2 * 6 * 2  # (task, k) groups of 6: chunks of 5, 1
    covered = np.concatenate([experiment2.chunk_conditions(config, c.index) for c in plan])
    np.testing.assert_array_equal(covered, np.arange(len(experiment2.condition_table(config))))
    for bad in (-1, len(plan), 1.5):
        with pytest.raises(InputError, match="chunk index"):
            experiment2.chunk_conditions(config, bad)


def test_unit_keys_shared_across_k_distinct_across_units_and_independent_of_the_grid():
    config = _smoke(frozen_layers=(0, 2, 5), folds=(0, 1, 2), dissimilarities=(1, 5))
    table = experiment2.condition_table(config)
    data = jax.random.key_data(experiment2.unit_keys(config))
    by_unit = {}
    for row, key in zip(table.itertuples(), np.asarray(data), strict=True):
        by_unit.setdefault((row.task, row.reference, row.dissimilarity), set()).add(key.tobytes())
    assert all(len(v) == 1 for v in by_unit.values())  # the k networks of a unit share a key
    assert len({next(iter(v)) for v in by_unit.values()}) == len(by_unit)  # units differ
    small = _smoke(frozen_layers=(5,), folds=(2,), dissimilarities=(5,), tasks=("face",))
    key_small = np.asarray(jax.random.key_data(experiment2.unit_keys(small)))[0]
    assert key_small.tobytes() in by_unit[("face", 2.0, 5)]


def test_overrides_are_parsed_and_routed():
    config = experiment2.apply_overrides(
        experiment2.preset("cpu-exp2"),
        [
            "frozen_layers=0,5",
            "tasks=face",
            "num_iterations=50",
            "face_warp=false",
            "face_per_sex=none",
            "references=0,45",
            "seed=3",
        ],
    )
    assert config.frozen_layers == (0, 5) and config.tasks == ("face",)
    assert config.train.num_iterations == 50 and config.train.frozen_layers == 0
    assert config.faces.warp is False and config.faces.per_sex is None
    assert config.references == (0.0, 45.0) and config.seed == 3


# --------------------------------------------------------------------------------------------
# Face trials


def _tiny_faces(config):
    face_set = experiment2.load_face_set(config)
    folds = faces.cv_folds(face_set.sex, num_folds=2)
    return face_set, folds, faces.face_bank(face_set)


@pytest.mark.parametrize("dissimilarity", [1, 2, 3, 4, 5])
def test_training_batches_use_the_papers_frames_from_training_pairs_only(key, dissimilarity):
    config = _smoke()
    face_set, folds, bank = _tiny_faces(config)
    fold = folds[1]
    clean = train.Condition.create(0.0, 0.1, 20.0, 1.0, 0.0)  # contrast 1, no noise: x = I - 125
    ref, target, labels = experiment2.face_batch(
        key, bank, fold.train_pairs, dissimilarity, clean, num_trials=12, warp=False
    )
    ref, target = np.asarray(ref[..., 0]) + 125.0, np.asarray(target[..., 0]) + 125.0
    assert np.asarray(labels).tolist() == [1.0, 0.0] * 6
    w = dict(zip(faces.FRAMES, faces.FRAME_MALE_WEIGHTS, strict=True))
    images = face_set.images.astype(np.float64)

    def blend(pair, weight):
        return weight * images[pair[0]] + (1 - weight) * images[pair[1]]

    test_ids = set(fold.test_male.tolist()) | set(fold.test_female.tolist())
    for i in range(12):
        # which pair is it? the reference is the 50 % blend of exactly one training pair
        errors = [np.abs(blend(p, w["R"]) - ref[i]).max() for p in fold.train_pairs]
        pair = fold.train_pairs[int(np.argmin(errors))]
        assert min(errors) < 1e-3
        assert not {int(pair[0]), int(pair[1])} & test_ids
        frame = f"M{dissimilarity}" if labels[i] else f"F{dissimilarity}"
        np.testing.assert_allclose(target[i], blend(pair, w[frame]), rtol=0, atol=1e-3)
    off = faces.DISSIMILARITY_OFFSETS[dissimilarity - 1]
    assert w[f"M{dissimilarity}"] == pytest.approx(0.5 + off)
    assert w[f"F{dissimilarity}"] == pytest.approx(0.5 - off)


def test_face_data_keeps_test_identities_out_of_training_and_tests_every_test_pair():
    config = _smoke()
    face_set, folds, bank = _tiny_faces(config)
    idx = np.flatnonzero(experiment2.condition_table(config).task == "face")
    data = experiment2.face_data(config, idx, bank, folds)
    table = experiment2.condition_table(config).iloc[idx]
    for c, fold_index in enumerate(table.reference.astype(int)):
        fold = folds[fold_index]
        train_ids = set(np.asarray(data.train_pairs[c]).ravel().tolist())
        test_ids = set(np.asarray(data.test_pairs[c]).ravel().tolist())
        assert not train_ids & test_ids
        np.testing.assert_array_equal(np.asarray(data.test_pairs[c]), fold.test_pairs)
        np.testing.assert_array_equal(np.asarray(data.train_pairs[c]), fold.train_pairs)
        labels = np.asarray(data.test_labels[c])
        assert labels.tolist() == [1.0, 0.0] * (len(labels) // 2)
    assert np.asarray(data.dissimilarity).tolist() == table.dissimilarity.tolist()
    # the paper's counts, from the same fold code the runs use
    paper = faces.cv_folds(np.r_[np.ones(647), np.zeros(74)])
    assert {f.train_pairs.shape[0] for f in paper} == {2401}
    assert {f.test_pairs.shape[0] for f in paper} == {625}


def test_face_test_frames_are_reference_and_labelled_target_with_warped_morphs(key):
    config = _smoke()
    face_set, folds, bank = _tiny_faces(config)
    pairs, labels = faces.evaluation_trials(folds[0].test_pairs)
    frames = experiment2.face_test_frames(bank, pairs, labels, 2, warp=True, batch=2)
    direct = faces.face_triplets(bank, pairs, faces.triplet_male_weights(2), warp=True)
    np.testing.assert_allclose(frames[:, 0], direct[:, 0], rtol=0, atol=1e-4)
    expect = np.where(labels[:, None, None] > 0, direct[:, 1], direct[:, 2])
    np.testing.assert_allclose(frames[:, 1], expect, rtol=0, atol=1e-4)


# --------------------------------------------------------------------------------------------
# Engine


def test_frozen_layers_are_bit_identical_after_training_for_every_k():
    config = _smoke(tasks=("gabor",), frozen_layers=(0, 1, 2, 3, 4, 5))
    backbone, _ = experiment.resolve_weights(WEIGHTS, TINY)
    layers = TINY_TRAIN.layer_names
    for chunk in experiment2.chunk_plan(config):
        k = chunk.frozen_layers
        result = experiment2.train_task(
            "gabor",
            experiment2.unit_keys(config, chunk.conditions),
            experiment2.conditions(config, chunk.conditions),
            backbone,
            config=dataclasses.replace(TINY_TRAIN, frozen_layers=k),
        )
        for i, name in enumerate(layers):
            for leaf, value in result.final_params[name].items():
                same = np.array_equal(value[0], result.initial_params[name][leaf])
                if i < k:
                    assert same, f"k={k}: {name}.{leaf} changed"
                elif leaf == "w":
                    assert not same, f"k={k}: {name}.w did not learn"
        change = result.layer_change[0, -1, :, 0]  # final d_rel1
        assert np.all(change[:k] == 0.0) and np.all(change[k:] > 0.0)


@pytest.mark.slow
def test_face_task_frozen_layers_are_bit_identical_after_training_for_every_k(tmp_path):
    """The face step programs (morphs inside the step) through the run folder: every chunk's
    stored final params keep layers 1..k bit for bit and change the others."""
    config = _smoke(tasks=("face",), folds=(0,), frozen_layers=(0, 1, 2, 3, 4, 5), keep_params=True)
    experiment2.sweep(config, out_dir=tmp_path, weights=WEIGHTS, progress=False)
    context = experiment2.prepare(config, out_dir=tmp_path, weights=WEIGHTS)
    initial = runs.restore_tree(runs.initial_params_path(tmp_path))
    layers = TINY_TRAIN.layer_names
    plan = experiment2.chunk_plan(config)
    assert sorted(c.frozen_layers for c in plan) == [0, 1, 2, 3, 4, 5]
    for chunk in plan:
        k = chunk.frozen_layers
        tree = experiment2.load_chunk(config, context, chunk.index)
        for i, name in enumerate(layers):
            for leaf, value in tree["final_params"][name].items():
                same = np.array_equal(np.asarray(value)[0], np.asarray(initial[name][leaf]))
                if i < k:
                    assert same, f"face k={k}: {name}.{leaf} changed"
                elif leaf == "w":
                    assert not same, f"face k={k}: {name}.w did not learn"
        change = tree["layer_change"][0, -1, :, 0]
        assert np.all(change[:k] == 0.0) and np.all(change[k:] > 0.0)


def test_gabor_k0_trains_exactly_as_the_experiment1_engine(smoke_run):
    config, out, ds = smoke_run
    context = experiment2.prepare(config, out_dir=out, weights=WEIGHTS)
    (chunk,) = [
        c for c in experiment2.chunk_plan(config) if (c.task, c.frozen_layers) == ("gabor", 0)
    ]
    mine = experiment2.load_chunk(config, context, chunk.index)
    exp1 = train.train_conditions(
        experiment2.unit_keys(config, chunk.conditions),
        experiment2.conditions(config, chunk.conditions),
        context.backbone,
        config=config.train,
    )
    for name in TINY_TRAIN.layer_names:
        for leaf in ("w", "b"):
            np.testing.assert_array_equal(
                mine["final_params"][name][leaf], exp1.final_params[name][leaf]
            )
    np.testing.assert_array_equal(mine["layer_change"], exp1.layer_change)
    np.testing.assert_array_equal(mine["train_loss"], exp1.train_loss)


# --------------------------------------------------------------------------------------------
# Run folder, resume, results


def test_resume_after_a_kill_equals_an_uninterrupted_run(smoke_run, tmp_path, monkeypatch):
    # the Gabor half of the smoke grid: its units have the same keys (grid-independent), so its
    # results must equal the Gabor conditions of the uninterrupted smoke run bit for bit
    full_config, _, uninterrupted = smoke_run
    config = dataclasses.replace(full_config, tasks=("gabor",))
    out = tmp_path / "run"
    assert (
        experiment2.sweep(config, out_dir=out, weights=WEIGHTS, progress=False, max_chunks=1)
        is None
    )
    assert experiment2.chunk_status(config, out) == [True, False]
    assert not runs.results_path(out).exists()
    partial = experiment2.finished_dataset(
        config, experiment2.prepare(config, out_dir=out, weights=WEIGHTS)
    )
    assert partial.attrs["finished_chunks"] == "1 of 2"
    assert partial.condition.values.tolist() == [0] and str(partial.task.values[0]) == "gabor"
    analysis.validate_dataset(partial, need_layer_change=True)
    # killed while chunk 1 was being written: orbax files but no manifest
    broken = runs.chunk_path(out, 1)
    broken.mkdir(parents=True)
    (broken / "partial").write_bytes(b"\x00" * 10)
    trained = []
    original = experiment2.train_task
    monkeypatch.setattr(
        experiment2,
        "train_task",
        lambda task, *a, **kw: trained.append(task) or original(task, *a, **kw),
    )
    resumed = experiment2.sweep(config, out_dir=out, weights=WEIGHTS, progress=False)
    assert trained == ["gabor"]  # chunk 0 was read back, not recomputed
    expected = uninterrupted.isel(condition=np.flatnonzero(uninterrupted.task.values == "gabor"))
    for name in ("accuracy", "accuracy_sym", "layer_change", "train_loss", "finite"):
        np.testing.assert_array_equal(resumed[name].values, expected[name].values)
    np.testing.assert_array_equal(partial.layer_change.values, expected.layer_change.values[:1])
    assert runs.load_results(out).identical(resumed)


def test_results_follow_the_experiment2_analysis_layout(smoke_run):
    config, out, ds = smoke_run
    analysis.validate_dataset(ds, need_layer_change=True)
    loaded = runs.load_results(out)
    assert loaded.identical(ds)
    table = experiment2.condition_table(config)
    assert ds.sizes == {
        "condition": len(table),
        "iteration": len(TINY_TRAIN.eval_iterations),
        "test": 1,
        "layer": 6,
        "measure": 4,
    }
    assert [str(t) for t in ds.task.values] == table.task.tolist()
    assert ds.frozen_layers.values.tolist() == table.frozen_layers.tolist()
    assert ds.iteration.values.tolist() == list(TINY_TRAIN.eval_iterations)
    for var in ("accuracy", "accuracy_sym"):
        assert ds[var].dims == ("condition", "iteration", "test")
        values = ds[var].values
        assert np.all((values >= 0) & (values <= 1))
    assert np.all(ds.finite.values == 1)
    # the readout-only networks: conv1-5 never change at any evaluation point
    k5 = ds.layer_change.isel(condition=np.flatnonzero(ds.frozen_layers.values == 5))
    assert np.all(k5.sel(layer=list(TINY_TRAIN.layer_names[:5])).values == 0.0)
    # every analysis of the paper's Fig. 5 runs on it
    res = analysis.analyze(ds)
    assert len(res.t95) == int(np.sum(table.frozen_layers == 0))
    assert set(res.drops.frozen_layers) == {5}
    assert set(res.full_accuracy.task) == {"gabor", "face"}
    assert set(res.proportions) == {0}
    props = res.proportions[0].groupby(["task", "reference", "dissimilarity"]).proportion.sum()
    np.testing.assert_allclose(props.values, 1.0, rtol=1e-6)
    summary = experiment2.summary_table(ds)
    assert "[gabor]" in summary and "[face]" in summary
    assert ds.attrs["faces"] == "bundled" and ds.attrs["weights"] == WEIGHTS


def test_a_folder_holding_another_run_is_refused(smoke_run):
    config, out, _ = smoke_run
    other = dataclasses.replace(config, seed=1)
    with pytest.raises(runs.RunFolderError, match="different run"):
        experiment2.prepare(other, out_dir=out, weights=WEIGHTS)


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"tasks": ("cats",)}, "tasks"),
        ({"dissimilarities": (0,)}, "dissimilarities"),
        ({"frozen_layers": (6,)}, "frozen_layers"),
        ({"folds": (12,)}, "folds"),
        ({"references": ()}, "references"),
        ({"contrast": 0.0}, "contrast"),
        ({"noise_sd": -1.0}, "noise_sd"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"train": dataclasses.replace(TINY_TRAIN, frozen_layers=2)}, "train.frozen_layers"),
        ({"train": dataclasses.replace(TINY_TRAIN, batch_pairs=5)}, "batch_pairs"),
        ({"wavelength_px": 1.0}, "wavelength_px"),
    ],
)
def test_bad_configs_raise_naming_the_field(changes, match):
    with pytest.raises(InputError, match=match):
        _smoke(**changes)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("colour=red", "unknown override key"),
        ("frozen_layers=0,x", "bad value for frozen_layers"),
        ("face_warp=maybe", "bad value for face_warp"),
        ("nokey", "key=value"),
        ("face_test_trials=some", "test_trials"),
    ],
)
def test_bad_overrides_raise(override, match):
    with pytest.raises(InputError, match=match):
        experiment2.apply_overrides(experiment2.preset("smoke-exp2"), [override])


def _write_faces(folder, n=3, landmarks=False):
    from PIL import Image

    rng = np.random.default_rng(0)
    for sex in ("male", "female"):
        (folder / sex).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(
                folder / sex / f"{i}.png"
            )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda tmp: _smoke(faces=dataclasses.replace(_smoke().faces, source=str(tmp / "none"))),
            "does not exist",
        ),
        (lambda tmp: _smoke(faces=dataclasses.replace(_smoke().faces, per_sex=7)), "per_sex"),
        (
            lambda tmp: _smoke(faces=dataclasses.replace(_smoke().faces, fold_trials=3)),
            "fold_trials",
        ),
        (
            lambda tmp: _smoke(
                faces=dataclasses.replace(_smoke().faces, source=str(tmp / "own"), warp=True)
            ),
            "landmarks",
        ),
    ],
)
def test_bad_faces_raise_before_anything_is_written(tmp_path, make, match):
    _write_faces(tmp_path / "own")
    out = tmp_path / "run"
    with pytest.raises(InputError, match=match):
        experiment2.prepare(make(tmp_path), out_dir=out, weights=WEIGHTS)
    assert not out.exists()


def test_bad_weights_and_folders_raise_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(InputError, match="no such file"):
        experiment2.prepare(_smoke(), out_dir=out, weights=str(tmp_path / "missing.npz"))
    assert not out.exists()
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(runs.RunFolderError, match="not a folder"):
        experiment2.prepare(_smoke(), out_dir=afile, weights=WEIGHTS)
    with pytest.raises(InputError, match="unknown Experiment 2 preset"):
        experiment2.preset("paper-exp3")
    with pytest.raises(InputError, match="face task needs"):
        experiment2.train_task(
            "face",
            jax.random.split(jax.random.key(0), 1),
            experiment2.conditions(_smoke(), [2]),
            {},
            config=TINY_TRAIN,
        )
    with pytest.raises(InputError, match="task must be"):
        experiment2.train_task("dots", jnp.zeros(1), None, {}, config=TINY_TRAIN)
