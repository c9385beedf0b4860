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


@pytest.mark.slow
def test_docstring_examples_pass_under_the_jaxtyping_hook():
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
        "vpl_jax",
        "theory",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
