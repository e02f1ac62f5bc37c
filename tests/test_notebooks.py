"""The chapters as stored: numbered, without outputs, each opening with the Colab set-up cell."""
import json
import re
from pathlib import Path

import pytest
import yaml

import lampinn

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_chapters():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has outputs"


def first_code_cell(path):
    nb = json.loads(path.read_text())
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_colab_setup_of_this_book(path):
    """In Colab: clone the book's repository at _config.yml's branch, install the package from that checkout, and
    read results/ from it through lampinn.settings (the one module that reads the environment)."""
    nb = json.loads(path.read_text())
    assert nb["cells"][0]["cell_type"] == "markdown"
    first = first_code_cell(path)
    assert "google.colab" in first and "pip" in first and '"--branch", BOOK_REF, BOOK_REPOSITORY' in first
    assert "lampinn.settings.set_results(" in first and "environ" not in first
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert re.findall(r'^BOOK_REPOSITORY, BOOK_REF = "([^"]+)", "([^"]+)"$', first, re.M) == [(repository["url"], repository["branch"])]


def test_every_chapter_has_the_same_setup_cell():
    assert len({first_code_cell(path) for path in NOTEBOOKS}) == 1


def test_toc_lists_exactly_the_existing_chapters_and_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    captions = [part["caption"] for part in toc["parts"]]
    assert captions == ["Foundations", "Meta-learning", "LAM-PINN", "Benchmarks", "Going further", "Appendix"]
    for f in files:
        assert (ROOT / f).with_suffix(".ipynb").exists() or (ROOT / f).with_suffix(".md").exists(), f
    assert {f"notebooks/{p.stem}" for p in NOTEBOOKS} <= set(files)


def test_package_version_matches_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M).group(1) == lampinn.__version__


#: The longest code line a chapter shows. Measured in headless Chromium at a 1280 px window: a code
#: cell is about 670 px wide, which holds 79 characters of the theme's 14 px monospace, and 89 at
#: the 0.77rem (12.3 px) that _static/code_cells.css sets for code cells.
CODE_WIDTH = 88


def test_code_cells_use_the_font_size_the_width_was_measured_with():
    css = (ROOT / "_static" / "code_cells.css").read_text()
    assert re.search(r"div\.cell_input div\.highlight pre \{\s*font-size: 0\.77rem;", css)


# Chapter 13 is being rewritten on another branch, which wraps its lines: drop the mark once merged.
WRAPPED = [pytest.param(p, marks=pytest.mark.xfail(reason="chapter 13: lines wrapped on its own branch"))
           if p.name.startswith("13_") else p for p in NOTEBOOKS]


@pytest.mark.parametrize("path", WRAPPED, ids=lambda p: p.name)
def test_code_lines_fit_the_book_page(path):
    """Every line of a code cell the book shows fits a code cell at 1280 px: the reader sees it whole.
    Cells tagged remove-cell (the Colab set-up) are not shown."""
    nb = json.loads(path.read_text())
    long = [(cell.get("id"), line) for cell in nb["cells"]
            if cell["cell_type"] == "code" and "remove-cell" not in cell["metadata"].get("tags", [])
            for line in "".join(cell["source"]).splitlines() if len(line) > CODE_WIDTH]
    assert not long, f"{path.name}: {len(long)} code lines over {CODE_WIDTH} characters, first {long[0]}"
