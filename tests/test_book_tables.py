"""The tables that chapters output (``display(Markdown(...))``) render as HTML tables in the built book.

myst-nb parses Markdown outputs as CommonMark by default, which has no tables: the tuning table,
the results table and the comparison with the paper then show as one paragraph of pipes.
``nb_render_markdown_format: myst`` in _config.yml fixes that; this test builds chapter 9 alone,
executed in ci mode from the committed results (about a minute), and reads its HTML page.
"""
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "notebooks/11_benchmark_elasticity"
#: A Markdown table row or separator line, as it reads when the table was not parsed.
PIPE_TEXT = re.compile(r"\|\s*:?-{3,}:?\s*\||\|\s*(method|setting)\s*\||\|\s*this book\s*\|")


class Page(HTMLParser):
    """The tables of an HTML page (each a list of rows of cell texts) and its prose: the visible text outside
    tables, ``<pre>`` blocks (code cells and text outputs), scripts and styles."""

    SKIP = {"pre", "script", "style", "table"}

    def __init__(self):
        super().__init__()
        self.tables, self.prose, self._skip, self._cell = [], [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        if tag in self.SKIP:
            self._skip.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag in self.SKIP and tag in self._skip:
            while self._skip.pop() != tag:
                pass

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if not self._skip:
            self.prose.append(data)


@pytest.mark.skipif(shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) is None,
                    reason="jupyter-book is not installed (pip install -e '.[book]')")
def test_benchmark_tables_render_as_html_tables(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "force"  # not the cache of a build in the repository
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": CHAPTER}))
    env = dict(os.environ, LAMPINN_MODE="ci", LAMPINN_STATIC="1", LAMPINN_RESULTS=str(ROOT / "results"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    exe = Path(sys.executable).parent / "jupyter-book"
    # No -W: this book of one chapter has no pages for the chapter's links to other chapters.
    run = subprocess.run(
        [str(exe), "build", str(ROOT), "--config", str(tmp_path / "_config.yml"), "--toc", str(tmp_path / "_toc.yml"),
         "--path-output", str(tmp_path)],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    page = Page()
    page.feed((tmp_path / "_build" / "html" / f"{CHAPTER}.html").read_text())

    headers = [table[0] for table in page.tables if table]
    assert any(h[0] == "setting" and h[1].startswith("Adam rate ") for h in headers), headers  # the tuning table
    assert any(h[:2] == ["method", "unseen mean MSE"] for h in headers), headers  # the main results
    assert any(h[:2] == ["", "change from the row above"] for h in headers), headers  # the walk from the paper's protocol
    paper = [t for t in page.tables if t and t[0][:2] == ["method", "unseen mean MSE"] and "oracle" in t[0][2]]
    assert len(paper) == 1 and len(paper[0]) == 12, [h[:3] for h in headers]  # the paper run: eleven methods
    tuning = next(t for t in page.tables if t and t[0][0] == "setting")
    assert len(tuning) == 5 and all(len(row) == len(tuning[0]) for row in tuning)

    pipes = [line.strip() for line in "".join(page.prose).splitlines() if PIPE_TEXT.search(line)]
    assert not pipes, f"Markdown table text outside any <table>: {pipes[:3]}"
