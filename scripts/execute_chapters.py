"""Execute the book's chapters side by side and put them in Jupyter Book's cache, so ``make book`` uses every core.

Jupyter Book 1.x executes the chapters one after another, each in one kernel; the chapters train small networks
on one thread (``lampinn.settings.threads``), so on a 2-core machine half of it sits idle. This script runs
``--jobs`` chapters at once in the same way Jupyter Book would (each in its own folder, with the timeout of
``_config.yml``), and stores every executed chapter in the cache that ``jupyter-book build`` then reads
(``_build/.jupyter_cache``; a chapter already there, unchanged, is skipped). It prints each chapter's run time.
A chapter that fails or runs a cell past the timeout is named with its traceback, and the script exits 1.

    python scripts/execute_chapters.py [--jobs N] [--cache DIR]

``--jobs`` defaults to the machine's cores divided by the threads each chapter uses (``LAMPINN_THREADS`` or
``OMP_NUM_THREADS``, else 1), so that the chapters never ask for more threads than there are cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

ROOT = Path(__file__).resolve().parents[1]
#: Chapters started before the others because they run longest (idle 2-core machine, default mode: chapter 8
#: 170 s, 3 151 s, 13 111 s, the rest 6-93 s), so that the cores finish together rather than one waiting on a
#: long chapter started last.
LONGEST_FIRST = ("08_lampinn_end_to_end", "03_one_network_per_task", "14_your_own_pde")


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in book order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def default_jobs() -> int:
    """Cores divided by the threads each chapter uses (at least 1)."""
    from lampinn.settings import threads

    return max(1, (os.cpu_count() or 1) // threads())


def _execute(path: str, timeout: int) -> tuple[str, nbformat.NotebookNode, float, str | None]:
    """Run one notebook in its folder; (path, executed notebook, seconds, traceback or None)."""
    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), allow_errors=False, timeout=timeout,
                                 meta_override=True)
    return path, nb, result.time, result.exc_string if result.err is not None else None


def execute(paths: list[Path], cache_dir: Path, jobs: int, timeout: int) -> int:
    """Execute every notebook of ``paths`` not in the cache at ``cache_dir``, ``jobs`` at a time; the number that
    failed."""
    cache = get_cache(str(cache_dir))
    todo = []
    for p in paths:
        try:
            cache.match_cache_notebook(nbformat.read(p, as_version=4))
            print(f"{p.name}: cached, not run again", flush=True)
        except KeyError:
            todo.append(p)
    todo.sort(key=lambda p: LONGEST_FIRST.index(p.stem) if p.stem in LONGEST_FIRST else len(LONGEST_FIRST))
    failed, start = 0, time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_execute, str(p), timeout) for p in todo]
        for future in as_completed(futures):
            path, nb, seconds, error = future.result()
            name = Path(path).name
            if error is not None:
                failed += 1
                print(f"{name}: FAILED after {seconds:.0f} s (a cell raised or ran past {timeout} s):\n{error}",
                      flush=True)
                continue
            cache.cache_notebook_bundle(CacheBundleIn(nb, path, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"{name}: {seconds:.0f} s", flush=True)
    print(f"{len(todo) - failed} of {len(todo)} chapters executed, {jobs} at a time, in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=None, help="chapters at once (default: cores / threads)")
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter of _toc.yml")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs {args.jobs} is not a number of processes; expected a whole number >= 1")
    timeout = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]
    paths = [p.resolve() for p in args.notebooks] or chapters()
    return 1 if execute(paths, args.cache, args.jobs or default_jobs(), timeout) else 0


if __name__ == "__main__":
    sys.exit(main())
