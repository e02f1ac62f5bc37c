"""scripts/execute_chapters.py: chapters run side by side land in the cache that `jupyter-book build` reads, so the
build executes nothing again; a failing chapter is named and makes the script exit 1."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).parent / "jupyter-book"
spec = importlib.util.spec_from_file_location("execute_chapters", ROOT / "scripts" / "execute_chapters.py")
ec = importlib.util.module_from_spec(spec)
sys.modules["execute_chapters"] = ec  # the worker processes find _execute by this name
spec.loader.exec_module(ec)


def book(tmp_path: Path, second_cell: str) -> Path:
    """A two-chapter book whose cells append a line to runs.txt each time they execute."""
    for name, code in (("one", "print(1 + 1)"), ("two", second_cell)):
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell(f"# Chapter {name}"),
            nbformat.v4.new_code_cell(f"open('runs.txt', 'a').write('{name}\\n')\n{code}")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    (tmp_path / "index.md").write_text("# A book\n")
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "index", "parts": [
        {"caption": "Chapters", "chapters": [{"file": "one"}, {"file": "two"}]}]}))
    (tmp_path / "_config.yml").write_text(yaml.safe_dump({"title": "t", "only_build_toc_files": True,
                                                          "execute": {"execute_notebooks": "cache", "timeout": 60}}))
    return tmp_path


def test_the_book_toc_lists_every_chapter():
    assert [p.name for p in ec.chapters()] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert {p.stem for p in ec.chapters()} >= set(ec.LONGEST_FIRST)  # a renamed chapter would silently lose its place


@pytest.mark.skipif(not JB.exists(), reason="jupyter-book is not installed (pip install -e '.[book]')")
def test_cached_chapters_are_not_executed_again_by_the_build(tmp_path, capsys):
    root = book(tmp_path, "print(2 + 2)")
    cache = root / "_build" / ".jupyter_cache"
    assert ec.execute(ec.chapters(root), cache, jobs=2, timeout=60) == 0
    assert sorted((root / "runs.txt").read_text().split()) == ["one", "two"]
    assert "2 of 2 chapters executed, 2 at a time" in capsys.readouterr().out
    assert ec.execute(ec.chapters(root), cache, jobs=2, timeout=60) == 0  # nothing changed: nothing runs
    assert "one.ipynb: cached, not run again" in capsys.readouterr().out
    run = subprocess.run([str(JB), "build", str(root), "-W"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted((root / "runs.txt").read_text().split()) == ["one", "two"]  # the build ran neither again
    assert "4" in (root / "_build" / "html" / "two.html").read_text()


def test_a_failing_chapter_is_named_and_counted(tmp_path, capsys):
    root = book(tmp_path, "raise ValueError('bad chapter')")
    assert ec.execute(ec.chapters(root), root / "cache", jobs=1, timeout=60) == 1
    out = capsys.readouterr().out
    assert "two.ipynb: FAILED" in out and "bad chapter" in out and "1 of 2 chapters executed" in out


def test_jobs_follow_the_threads(monkeypatch):
    monkeypatch.setattr(ec.os, "cpu_count", lambda: 4)
    monkeypatch.setenv("LAMPINN_THREADS", "2")
    assert ec.default_jobs() == 2
    monkeypatch.setenv("LAMPINN_THREADS", "8")
    assert ec.default_jobs() == 1
    with pytest.raises(SystemExit):
        ec.main(["--jobs", "0"])
