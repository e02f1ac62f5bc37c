"""The book builds with warnings as errors (structure, cross-references, citations).

The chapters are not executed here: nbval runs them in ci mode, and `make book` executes them
in default mode.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) is None,
                    reason="jupyter-book is not installed (pip install -e '.[book]')")
def test_book_builds_without_warnings(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    exe = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run(
        [str(exe), "build", str(ROOT), "--config", str(tmp_path / "_config.yml"), "--path-output", str(tmp_path), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    html = tmp_path / "_build" / "html"
    pages = [f"notebooks/{p.stem}.html" for p in (ROOT / "notebooks").glob("*.ipynb")]
    for page in ("book/intro.html", "book/glossary.html", "book/api.html", "book/references.html", *pages):
        assert (html / page).exists(), page
