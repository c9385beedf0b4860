"""The run folder: its paths, the config record, the results file and the checkpoints.

This module owns the layout of a run folder and nothing else: it stores and reads JSON records,
pytrees of arrays and the results Dataset, and checks what it reads. It knows no config type
(callers pass JSON-able dicts) and no training code, so every system (Experiment 1 and 2
sweeps, the CNN population, ...) stores its runs through it.

Layout::

    config.json                  the run's config record (a resumed run must match it)
    results.nc                   one xarray Dataset (netCDF3, scipy backend)
    results.nc.json              sha256 of results.nc, checked on load
    summary.txt                  a text summary
    checkpoints/initial_params   orbax checkpoint (+ initial_params.json manifest)
    checkpoints/chunk_NNNNN      orbax checkpoint of chunk NNNNN (+ chunk_NNNNN.json manifest)
    analysis/                    the report and its figures

A checkpoint is written atomically by orbax, then its manifest (sha256 of every leaf, plus any
provenance the caller adds) is written last: the manifest marks it finished. Reading checks the
manifest; anything unreadable or not matching raises `CheckpointError` naming the path.

Examples:
    >>> import tempfile, numpy as np
    >>> from vpl_jax import runs
    >>> folder = tempfile.mkdtemp()
    >>> path = runs.chunk_path(folder, 0)
    >>> runs.is_finished(path)
    False
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from theory.checks import InputError

__all__ = [
    "ANALYSIS_DIR",
    "CONFIG_FILE",
    "CheckpointError",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "RunFolderError",
    "analysis_dir",
    "chunk_path",
    "config_path",
    "initial_params_path",
    "is_finished",
    "load_results",
    "read_config_record",
    "read_manifest",
    "restore_tree",
    "results_path",
    "save_results",
    "save_tree",
    "tree_digest",
    "write_config_record",
    "write_text",
]

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.nc"
SUMMARY_FILE = "summary.txt"
ANALYSIS_DIR = "analysis"


class CheckpointError(InputError):
    """A finished checkpoint (or the results file) cannot be read or fails its checksum.

    Bad input (the run folder), so the command line reports it in one line.
    """


class RunFolderError(InputError):
    """The run folder cannot be used: it holds another run, or it cannot be written."""


# --------------------------------------------------------------------------------------------
# Paths


def config_path(out_dir) -> Path:
    return Path(out_dir) / CONFIG_FILE


def results_path(out_dir) -> Path:
    return Path(out_dir) / RESULTS_FILE


def analysis_dir(out_dir) -> Path:
    return Path(out_dir) / ANALYSIS_DIR


def chunk_path(out_dir, index: int) -> Path:
    """The checkpoint of chunk ``index`` (its manifest is ``<path>.json``)."""
    return Path(out_dir) / "checkpoints" / f"chunk_{index:05d}"


def initial_params_path(out_dir) -> Path:
    return Path(out_dir) / "checkpoints" / "initial_params"


def _manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def is_finished(path) -> bool:
    """True when the checkpoint at ``path`` was completely written (its manifest exists)."""
    return _manifest_path(Path(path)).exists()


# --------------------------------------------------------------------------------------------
# Writing with clear errors


def _unwritable(path: Path, err: OSError) -> RunFolderError:
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.ENOTDIR: "a parent is not a folder",
        errno.EEXIST: "a file is in the way",
    }.get(err.errno, err.strerror or type(err).__name__)
    return RunFolderError(f"cannot write {path}: {reason}")


def write_text(path, text: str) -> None:
    """Write ``text`` atomically (temporary file, then rename); OS errors become `RunFolderError`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        raise _unwritable(path, err) from None


# --------------------------------------------------------------------------------------------
# Config record


def write_config_record(out_dir, record: Mapping[str, Any], *, compare: tuple[str, ...]) -> None:
    """Write ``config.json``, or check that the existing one agrees on the ``compare`` keys.

    Raises:
        RunFolderError: the folder holds a run whose record differs on one of ``compare``, or
            ``config.json`` is unreadable, or the folder cannot be written.
    """
    path = config_path(out_dir)
    if path.exists():
        previous = read_config_record(out_dir)
        for part in compare:
            if previous.get(part) != record.get(part):
                raise RunFolderError(
                    f"{Path(out_dir)} already holds a run with a different {part} ({path}); "
                    f"resume with the same config and weights, or choose another output folder"
                )
        return
    write_text(path, json.dumps(dict(record), indent=1))


def read_config_record(out_dir) -> dict:
    """The ``config.json`` record of a run folder.

    Raises:
        RunFolderError: the file is missing or is not valid JSON (naming the file).
    """
    path = config_path(out_dir)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFolderError(
            f"{path} does not exist: {Path(out_dir)} is not a run folder"
        ) from None
    except (OSError, ValueError) as err:
        raise RunFolderError(f"{path} is not a readable config record ({err})") from None


# --------------------------------------------------------------------------------------------
# Checkpoints


def tree_digest(tree) -> dict[str, str]:
    """``{leaf path: sha256 of dtype, shape and bytes}`` for every leaf of ``tree``."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    out = {}
    for path, leaf in flat:
        arr = np.ascontiguousarray(np.asarray(leaf))
        digest = hashlib.sha256(f"{arr.dtype.str}:{arr.shape}".encode())
        digest.update(arr.tobytes())
        out[jax.tree_util.keystr(path)] = digest.hexdigest()
    return out


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.StandardCheckpointer()


def save_tree(path, tree: dict, *, provenance: Mapping[str, Any] | None = None) -> None:
    """Atomic orbax save of ``tree``, then its manifest (the 'finished' marker), written last.

    Args:
        path: the checkpoint folder (replaced if an unfinished attempt is there).
        tree: a dict pytree of arrays.
        provenance: JSON-able facts stored in the manifest (e.g. hashes of the config and
            weights that produced the tree), returned by `read_manifest`.

    Raises:
        RunFolderError: the folder cannot be written (disk full, read-only, ...).
    """
    path = Path(path)
    try:
        if path.exists():  # an unfinished previous attempt (no manifest): start over
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ckpt = _checkpointer()
        try:
            ckpt.save(path.resolve(), tree)
            ckpt.wait_until_finished()
        finally:
            ckpt.close()
    except OSError as err:
        raise _unwritable(path, err) from None
    except Exception as err:  # orbax wraps OS errors in its own types
        cause = err
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise _unwritable(path, cause) from None
    manifest = {"sha256": tree_digest(tree)}
    if provenance:
        manifest["provenance"] = dict(provenance)
    write_text(_manifest_path(path), json.dumps(manifest, indent=1))


def read_manifest(path) -> dict:
    """The manifest of a finished checkpoint (``{"sha256": ..., "provenance": ...}``).

    Raises:
        CheckpointError: the manifest is missing or unreadable.
    """
    path = Path(path)
    manifest = _manifest_path(path)
    try:
        record = json.loads(manifest.read_text())
        record["sha256"]  # noqa: B018 -- must be there
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"checkpoint manifest {manifest} is unreadable ({err}); delete {path} and "
            f"{manifest.name} to recompute it"
        ) from None
    return record


def restore_tree(path) -> dict:
    """Read a finished checkpoint and check it against its manifest.

    Returns:
        The tree with NumPy leaves.

    Raises:
        CheckpointError: missing or unreadable manifest, unreadable checkpoint, or a checksum
            that does not match.
    """
    path = Path(path)
    hint = f"delete {path} and {_manifest_path(path).name} to recompute it"
    expected = read_manifest(path)["sha256"]
    ckpt = _checkpointer()
    try:
        tree = ckpt.restore(path.resolve())
    except Exception as err:  # orbax/tensorstore raise many types for damaged files
        raise CheckpointError(
            f"checkpoint {path} is corrupted or incomplete "
            f"({type(err).__name__}: {str(err)[:300]}); {hint}"
        ) from None
    finally:
        ckpt.close()
    tree = jax.tree.map(np.asarray, tree)
    if tree_digest(tree) != expected:
        raise CheckpointError(f"checkpoint {path} does not match its sha256 manifest; {hint}")
    return tree


# --------------------------------------------------------------------------------------------
# Results


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_results(out_dir, ds) -> Path:
    """Write the results Dataset to ``results.nc`` (atomically) with its sha256 beside it.

    Raises:
        RunFolderError: the folder cannot be written.
    """
    path = results_path(out_dir)
    tmp = path.with_name(path.name + ".tmp")
    try:
        ds.to_netcdf(tmp, engine="scipy")
        digest = _file_sha256(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise _unwritable(path, err) from None
    write_text(path.with_name(path.name + ".json"), json.dumps({"sha256": digest}))
    return path


def load_results(out_dir):
    """The results Dataset of a run folder, checked against its sha256 when one was written.

    Raises:
        RunFolderError: no results file.
        CheckpointError: the file does not match its checksum or cannot be read.
    """
    import xarray as xr

    path = results_path(out_dir)
    if not path.exists():
        raise RunFolderError(f"{path} does not exist: the run has not finished")
    record = path.with_name(path.name + ".json")
    if record.exists():
        try:
            expected = json.loads(record.read_text())["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CheckpointError(f"{record} is unreadable ({err})") from None
        if _file_sha256(path) != expected:
            raise CheckpointError(
                f"{path} does not match its sha256 ({record.name}): the file was changed or "
                f"damaged; delete both and rerun the sweep in the same folder to rebuild it"
            )
    try:
        return xr.load_dataset(path, engine="scipy")
    except Exception as err:  # noqa: BLE001 -- netCDF readers raise many types
        raise CheckpointError(f"{path} cannot be read ({type(err).__name__}: {err})") from None
