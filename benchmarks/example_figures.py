"""Regenerate the figures of the example pages (docs/img/example_*.png) and time each page.

Runs every ```python block of each page of docs/examples/ in order, in a temporary folder (as
the test suite does), copies the ``example_*.png`` files the page writes into docs/img/, and
prints the page's wall time with the machine's load average. With ``--run RUN`` it also draws
`vpl_jax.figures.theory_fit.theory_fit_figure` of a run folder (e.g. ``runs/demo`` from
``vpl-jax run``) as docs/img/example_theory_fit_demo.png and prints the fit.

    python benchmarks/example_figures.py [--pages sweep,tuning,theory] [--run runs/demo]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def run_page(path: Path, workdir: Path) -> float:
    """Run the python blocks of ``path`` in ``workdir``; returns the wall time in seconds."""
    namespace = {"__name__": f"docs:{path.name}"}
    old = Path.cwd()
    start = time.perf_counter()
    os.chdir(workdir)
    try:
        for i, m in enumerate(_BLOCK.finditer(path.read_text())):
            code = compile(m.group(1), f"{path.name} [python block {i + 1}]", "exec")
            exec(code, namespace)  # noqa: S102
    finally:
        os.chdir(old)
        plt.close("all")
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="sweep,tuning,theory")
    parser.add_argument("--run", default=None, help="a run folder for the alpha/beta fit figure")
    args = parser.parse_args(argv)
    for name in [p for p in args.pages.split(",") if p]:
        page = ROOT / "docs" / "examples" / f"{name}.md"
        with tempfile.TemporaryDirectory() as tmp:
            seconds = run_page(page, Path(tmp))
            made = sorted(Path(tmp).glob("example_*.png"))
            for f in made:
                shutil.copy(f, IMG / f.name)
        load = os.getloadavg()[0]
        print(f"{page.name}: {seconds:.1f} s wall (load average {load:.1f}); wrote", end=" ")
        print(", ".join(f"docs/img/{f.name}" for f in made) or "nothing")
    if args.run:
        from vpl_jax import experiment
        from vpl_jax.analysis import theory_fit
        from vpl_jax.figures.theory_fit import theory_fit_figure

        ds = experiment.open_results(args.run)
        fit = theory_fit.fit_alpha_beta(ds)
        print(theory_fit.describe(fit))
        print(fit.table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        fig = theory_fit_figure(fit=fit)
        fig.savefig(IMG / "example_theory_fit_demo.png", dpi=130)
        plt.close(fig)
        print("wrote docs/img/example_theory_fit_demo.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
