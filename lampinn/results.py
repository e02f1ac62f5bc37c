"""Reading committed benchmark results (``results/``): the folder, the result files, the meta-trained
models, each run's tuning, and the paper's published numbers.

Reading results imports no training code: chapters 9-12 and ``lampinn headline`` start fast, and a
reader can inspect ``results/`` without PyTorch doing anything. (:func:`load_model` loads a
LAM-PINN, so it imports :mod:`lampinn.core` when called.)
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import settings

if TYPE_CHECKING:
    from .core import LAMPINN

#: The paper's Table 1 (average MSE on its 10 unseen tasks): another implementation, and for Burgers
#: and Helmholtz other family definitions, so only elasticity's absolute values compare.
PUBLISHED = {
    "helmholtz": {"lampinn": 0.145, "transfer": 4.36, "maml": 4.06},
    "burgers": {"lampinn": 0.0588, "transfer": 0.508, "maml": 0.709},
    "elasticity": {"lampinn": 1.14e-3, "transfer": 3.54e-2, "maml": 2.91e-2},
}
#: The order of the families in the generated tables.
FAMILY_ORDER = ("burgers", "helmholtz", "elasticity")


def results_dir(folder: str | os.PathLike | None = None) -> Path:
    """The folder of committed results: ``folder``; else :func:`lampinn.settings.results_folder`
    (``LAMPINN_RESULTS``); else the first ``results/`` holding a result file in the working directory
    or above it; else the one beside the package."""
    if folder is None:
        folder = settings.results_folder()
    if folder is not None:
        return Path(folder)
    here = Path.cwd().resolve()
    for base in (here, *here.parents, Path(__file__).resolve().parents[1]):
        if any((base / "results").glob("*.json")):
            return base / "results"
    raise FileNotFoundError("no results/ folder with result files here or above; set LAMPINN_RESULTS=DIR "
                            "(or run from a clone of the book's repository)")


def load(family: str, folder: str | os.PathLike | None = None) -> dict:
    """The committed benchmark result of ``family`` (``results/FAMILY.json``)."""
    path = results_dir(folder) / f"{family}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with: lampinn benchmark {family} --mode full --out {path.parent}")
    return json.loads(path.read_text())


def committed(folder: str | os.PathLike | None = None) -> list[dict]:
    """The result files present in the results folder, in :data:`FAMILY_ORDER`; at least one."""
    folder = results_dir(folder)
    results = [load(f, folder) for f in FAMILY_ORDER if (folder / f"{f}.json").exists()]
    if not results:
        raise FileNotFoundError(f"{folder}: no result files ({', '.join(f + '.json' for f in FAMILY_ORDER)})")
    return results


def with_tuning(model: LAMPINN, tuning: dict) -> LAMPINN:
    """A copy of ``model`` that adapts with the ``"lampinn"`` setting of a run's ``tuning`` (as is, if none)."""
    from dataclasses import replace

    if "lampinn" not in tuning.get("lr", {}):
        return model
    return replace(model, config=replace(model.config, adapt_lr=tuning["lr"]["lampinn"]),
                   family=model.family.scaled(tuning["weight"]["lampinn"]))


def load_model(family: str, folder: str | os.PathLike | None = None, method: str = "lampinn", seed: int = 0,
               device: str | None = None) -> LAMPINN:
    """The meta-trained LAM-PINN (or ablation) the committed benchmark of ``family`` adapted from, set to adapt
    as it did there (the run's tuned rate and loss weights, see :func:`with_tuning`)."""
    from .core import LAMPINN

    folder = results_dir(folder)
    model = LAMPINN.load(folder / f"{family}.models" / f"{method}-seed{seed}.pt", device)
    return with_tuning(model, load(family, folder).get("tuning", {}))


__all__ = ["FAMILY_ORDER", "PUBLISHED", "committed", "load", "load_model", "results_dir", "with_tuning"]
