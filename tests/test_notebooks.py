"""The chapters as stored: numbered, without outputs, each opening with the Colab set-up cell."""
import ast
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
    assert captions == ["Foundations", "Meta-learning", "LAM-PINN", "Benchmarks", "Going further", "Conclusions", "Appendix"]
    for f in files:
        assert (ROOT / f).with_suffix(".ipynb").exists() or (ROOT / f).with_suffix(".md").exists(), f
    assert {f"notebooks/{p.stem}" for p in NOTEBOOKS} <= set(files)


def test_package_version_matches_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M).group(1) == lampinn.__version__


class _Runs:
    """Stands in for subprocess.run in the Colab cell: records each command, fails those named in ``fail``."""

    def __init__(self, fail=()):
        self.commands, self.fail = [], fail

    def __call__(self, cmd, **kwargs):
        self.commands.append(cmd)
        failed = any(word in cmd for word in self.fail)
        return type("Done", (), {"returncode": 1 if failed else 0, "stderr": "fatal: could not reach host" if failed else ""})()


def run_colab_cell(monkeypatch, runs, cloned=False, in_colab=True):
    import os
    import subprocess
    import sys
    import types

    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", runs)
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda p: cloned if str(p).startswith("/content/") else real_isdir(p))
    exec(first_code_cell(NOTEBOOKS[0]), {})


def test_colab_cell_outside_colab_does_nothing(monkeypatch):
    runs = _Runs()
    run_colab_cell(monkeypatch, runs, in_colab=False)
    assert runs.commands == [] and lampinn.settings.results_folder() is None


def test_colab_cell_clones_then_installs_from_the_clone_and_reads_its_results(monkeypatch):
    runs = _Runs()
    run_colab_cell(monkeypatch, runs)
    assert [c[0] for c in runs.commands] == ["git", runs.commands[1][0]] and "clone" in runs.commands[0]
    assert runs.commands[1][-1] == "/content/lampinn-book" and "install" in runs.commands[1]
    assert str(lampinn.settings.results_folder()) == "/content/lampinn-book/results"


def test_colab_cell_says_what_failed_and_a_rerun_recovers(monkeypatch):
    with pytest.raises(RuntimeError, match=r"could not clone the book .*rerun this cell"):
        run_colab_cell(monkeypatch, _Runs(fail=("clone",)))
    with pytest.raises(RuntimeError, match="could not install the package"):
        run_colab_cell(monkeypatch, _Runs(fail=("install",)))
    runs = _Runs()  # rerun after a failed install: the clone is there, the install runs again
    run_colab_cell(monkeypatch, runs, cloned=True)
    assert len(runs.commands) == 1 and "install" in runs.commands[0]


def test_set_book_home_rewrites_both_places_and_nothing_else(tmp_path):
    """scripts/set_book_home.py URL REF: what a fork runs to move the book (README, "Publishing a fork")."""
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("set_book_home", ROOT / "scripts" / "set_book_home.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shutil.copy(ROOT / "_config.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    url, ref = "https://github.com/someone/my-fork", "course-2027"
    script.main([url + ".git", ref, "--root", str(tmp_path)])
    config = yaml.safe_load((tmp_path / "_config.yml").read_text())
    assert config["repository"]["url"] == url and config["repository"]["branch"] == ref
    old = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert {**old, "repository": {**old["repository"], "url": url, "branch": ref}} == config
    for path in NOTEBOOKS:
        before, after = path.read_text().splitlines(), (tmp_path / "notebooks" / path.name).read_text().splitlines()
        assert [(a, b) for a, b in zip(before, after) if a != b] == [
            (next(line for line in before if "BOOK_REPOSITORY, BOOK_REF =" in line),
             f'    "BOOK_REPOSITORY, BOOK_REF = \\"{url}\\", \\"{ref}\\"\\n",')
        ] and len(before) == len(after), path.name
    readme = (tmp_path / "README.md").read_text()
    assert f"colab.research.google.com/github/someone/my-fork/blob/{ref}/notebooks/" in readme
    assert f"({url}/actions/workflows/test.yml/badge.svg)" in readme and "lampinn/lampinn-book" not in readme
    with pytest.raises(SystemExit, match="is not an https URL"):
        script.main(["my-fork", ref, "--root", str(tmp_path)])


#: The longest code line a chapter shows. Measured in headless Chromium at a 1280 px window: a code
#: cell is about 670 px wide, which holds 79 characters of the theme's 14 px monospace, and 89 at
#: the 0.77rem (12.3 px) that _static/code_cells.css sets for code cells.
CODE_WIDTH = 88


def test_code_cells_use_the_font_size_the_width_was_measured_with():
    css = (ROOT / "_static" / "code_cells.css").read_text()
    assert re.search(r"div\.cell_input div\.highlight pre \{\s*font-size: 0\.77rem;", css)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_book_page(path):
    """Every line of a code cell the book shows fits a code cell at 1280 px: the reader sees it whole.
    Cells tagged remove-cell (the Colab set-up) are not shown."""
    nb = json.loads(path.read_text())
    long = [(cell.get("id"), line) for cell in nb["cells"]
            if cell["cell_type"] == "code" and "remove-cell" not in cell["metadata"].get("tags", [])
            for line in "".join(cell["source"]).splitlines() if len(line) > CODE_WIDTH]
    assert not long, f"{path.name}: {len(long)} code lines over {CODE_WIDTH} characters, first {long[0]}"



def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def shown(cell):
    """Whether the page shows the cell's code (unfolded): not for remove-cell, remove-input and hide-input."""
    return not {"remove-cell", "remove-input", "hide-input"} & set(cell["metadata"].get("tags", []))


def only_checks(cell):
    """A cell of asserts (and the names they use), which shows nothing of its own."""
    body = ast.parse("".join(cell["source"])).body
    return any(isinstance(s, ast.Assert) for s in body) and all(isinstance(s, (ast.Assert, ast.Assign)) for s in body)


def only_draws(cell):
    """A cell that draws a figure and does nothing else a reader needs: no print, display, check or training."""
    text = "".join(cell["source"])
    busy = ("print(", "display(", "assert", "train(", ".run(", "meta_train(", "adapt(", "pretrain(", "cluster(", "readapt(")
    return "plt.show()" in text and not any(word in text for word in busy)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checks_of_committed_numbers_are_not_in_the_readers_path(path):
    """A chapter that reads results/ checks its prose's claims about the committed numbers in cells whose code the
    page does not show; whether re-adapting the committed model reproduces its errors is a test
    (tests/test_results.py), not a chapter's assert."""
    cells = code_cells(path)
    reads = ("results.load(", "load(f)", "meta_validation(f)", "load_candidate(")
    if not any(word in "".join(c["source"]) for c in cells for word in reads):
        return
    for cell in cells:
        assert not (shown(cell) and only_checks(cell)), \
            f"{path.name}: cell {cell['id']} checks committed numbers in the reader's path; tag it remove-input"
        text = "".join(cell["source"])
        assert not ("readapt(" in text and "assert" in text), f"{path.name}: cell {cell['id']} asserts a re-adaptation"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figure_only_cells_fold_their_code(path):
    """The reader sees a figure, and can unfold the matplotlib plumbing behind it (hide-input)."""
    drawing = [c["id"] for c in code_cells(path) if only_draws(c) and shown(c)]
    assert not drawing, f"{path.name}: cells {drawing} only draw a figure; tag them hide-input"


def test_wide_figures_use_the_full_page_width():
    """A figure drawn 11 inches wide or more (multi-panel) is tagged full-width: squeezed into the text column its
    labels end up a few pixels tall (screenshots at 1280 px); the chapters' matplotlibrc sets legible fonts."""
    assert "font.size" in (ROOT / "notebooks" / "matplotlibrc").read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            widths = [float(w) for w in re.findall(r"figsize=\((\d+(?:\.\d+)?)", source)]
            if cell["cell_type"] == "code" and (any(w >= 11 for w in widths) or "readapt(" in source):
                assert "full-width" in cell["metadata"].get("tags", []), f"{path.name} cell {i}"
