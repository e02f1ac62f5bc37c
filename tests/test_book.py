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


def test_binder_environment_installs_the_cpu_build_of_pytorch():
    """environment.yml (Binder, conda): PyTorch from conda-forge's CPU-only build, with pyproject.toml's bound, so that
    pip finds torch satisfied and pulls no CUDA wheel; everything else from pyproject.toml through the package."""
    import re

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    bound = re.search(r'"torch(>=[\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"pytorch-cpu{bound}" in conda and not any(re.match(r"(py)?torch\b(?!-cpu)", d) for d in conda)
    assert pip == ["-e .[book,test]"]
