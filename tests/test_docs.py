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
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs" / "examples").glob("*.md")),
]
#: Pages written for users must not point at the project's internal files or machines.
INTERNAL = {
    "a link to the project's internal spec, notes or paper files": re.compile(
        r"(?<![\w./$~-])(\.\./)*shared/(spec|notes|seeds|DESIGN|STYLE)|\bspec/[\w-]+\.md"
        r"|\bnotes/[\w-]+\.md|\bDESIGN(\.md| name)|\bSTYLE\.md"
    ),
    "a paper named by its internal seed number": re.compile(r"\bseeds? 00[0-9]\b", re.I),
    "a path of the machine the package was built on": re.compile(
        r"/work/|/home/\w+|/root/|/tmp/pytest|/usr/local/\S*python|\.venv/bin/python"
    ),
    "a note from the developers to themselves": re.compile(
        r"not mine to edit|\bhelper engineer|\bspec derivation|\(derivation \d|derivation \d\)",
        re.I,
    ),
    "a stale statement": re.compile(
        r"do not exist yet|Until they exist|\(and later pretrain\)", re.I
    ),
}
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


def internal_references(text: str) -> list[str]:
    """``"line N: what (match)"`` for every internal reference of `INTERNAL` in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in INTERNAL.items():
            for match in pattern.finditer(line):
                found.append(f"line {number}: {what} ({match.group(0)!r})")
    return found


def test_internal_reference_finder_sees_planted_ones():
    planted = (
        "See ../shared/spec/vpl-dnn.md and shared/notes/cpu.md.\n"
        "As seed 003 shows, run /work/venv/bin/python here; not mine to edit.\n"
        "The default weights do not exist yet (derivation 5).\n"
    )
    found = internal_references(planted)
    assert len(found) == 7, found
    clean = (
        "Wenliang & Seitz (2018) train with --seed 3 into $SCRATCH/runs/shared-grid; see "
        "docs/training.md, the seeds of the noise, and --out runs/demo.\n"
    )
    assert internal_references(clean) == []


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_docs_speak_to_users(page):
    found = internal_references(page.read_text())
    assert found == [], f"{page.relative_to(ROOT)}: " + "; ".join(found)


def test_every_example_page_is_run_and_linked():
    examples = sorted((ROOT / "docs" / "examples").glob("*.md"))
    assert {p.name for p in examples} >= {"index.md", "sweep.md", "tuning.md", "theory.md"}
    index = (ROOT / "docs" / "examples" / "index.md").read_text()
    for page in examples:
        assert page in PAGES
        if page.name != "index.md":
            assert f"({page.name})" in index, f"{page.name} is not linked from the index"
            assert python_blocks(page.read_text()), f"{page.name} has no python block"
    assert "docs/examples/index.md" in (ROOT / "README.md").read_text()
    assert "docs/references.md" in (ROOT / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_documented_snippets_run(page, tmp_path):
    run_page(page, tmp_path)
