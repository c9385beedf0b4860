"""Every ```python block of README.md and docs/*.md runs, so a documented snippet that breaks
fails the suite.

The blocks of one page run in order in one namespace (a page is a session), in a temporary
working directory so files they write go there. Shell commands live in ```bash blocks and are
not run here (the commands are tested by tests/test_cli.py); a block fenced ```python skip needs
files the reader brings (weights, data sets) and is not run either.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def run_page(path: Path, workdir: Path) -> int:
    """Run the python blocks of ``path`` in order in one namespace; returns how many ran."""
    blocks = python_blocks(path.read_text())
    namespace = {"__name__": f"docs:{path.name}"}
    old = Path.cwd()
    x64 = bool(jax.config.jax_enable_x64)  # a page may switch it on, as scripts do
    os.chdir(workdir)
    try:
        for i, code in enumerate(blocks):
            exec(compile(code, f"{path.name} [python block {i + 1}]", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(old)
        plt.close("all")
        jax.config.update("jax_enable_x64", x64)
    return len(blocks)


def test_a_broken_snippet_fails(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text(
        "# A page\n\n```python\nx = 1 + 1\n```\n\n```bash\nnot python at all\n```\n\n"
        "```python\nassert x == 3, 'the documented result is wrong'\n```\n"
    )
    assert len(python_blocks(page.read_text())) == 2
    with pytest.raises(AssertionError, match="the documented result is wrong"):
        run_page(page, tmp_path)
    page.write_text('```python\nimport jax\njax.config.update("jax_enable_x64", True)\n```\n')
    before = bool(jax.config.jax_enable_x64)
    run_page(page, tmp_path)
    assert bool(jax.config.jax_enable_x64) == before  # a page's global switch does not leak
    page.write_text("```python\nfrom vpl_jax import no_such_module\n```\n")
    with pytest.raises(ImportError):
        run_page(page, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_documented_snippets_run(page, tmp_path):
    run_page(page, tmp_path)
