"""The jaxtyping annotations of `vpl_jax` and `theory` are checked at test time.

Every docstring example of both packages runs again in a fresh interpreter with jaxtyping's
import hook and beartype on both packages, so a shape or dtype annotation that disagrees with
what a function really takes or returns fails here. (The error-path tests do not run under the
hook: there a wrong-typed argument must meet the package's own named error, not beartype's.)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Three groups of about equal cost, so that pytest-xdist runs them side by side.
_GROUPS = {
    "theory": ["theory"],
    "vpl_jax core": [
        "vpl_jax",
        "--ignore=vpl_jax/cnn",
        "--ignore=vpl_jax/codes",
        "--ignore=vpl_jax/v1",
        "--ignore=vpl_jax/networks",
    ],
    "vpl_jax subsystems": ["vpl_jax/cnn", "vpl_jax/codes", "vpl_jax/v1", "vpl_jax/networks"],
}


@pytest.mark.slow
@pytest.mark.parametrize("group", list(_GROUPS))
def test_docstring_examples_pass_under_the_jaxtyping_hook(group):
    env = dict(os.environ, MPLBACKEND="Agg")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-n0",
        "--doctest-modules",
        "--jaxtyping-packages=vpl_jax,theory,beartype.beartype",
        *_GROUPS[group],
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
