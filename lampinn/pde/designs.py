"""How the fixed unseen and out-of-distribution task sets were drawn.

Both are drawn once with a seeded Latin hypercube and then stored in each family's module as
literal data, so that a change of SciPy cannot move the benchmark. ``python -m
lampinn.pde.designs FAMILY`` prints them again; a test checks the stored sets match.

Draws happen in *unit coordinates*: each parameter mapped linearly onto [0, 1] across its
design range, or logarithmically for the family's ``log_params`` (Burgers' viscosity spans a
decade and its training levels are nearly geometric).
"""
from __future__ import annotations

import sys
import zlib

import numpy as np

from .base import Family, latin_hypercube
from .burgers import Burgers
from .elasticity import Elasticity
from .helmholtz import Helmholtz

SEED = 2026
OOD_SCALE = 1.3


def to_unit(family: Family, tasks: np.ndarray) -> np.ndarray:
    """Map tasks ``(n, P)`` to unit coordinates (0 and 1 are the design bounds)."""
    out = np.empty_like(np.asarray(tasks, dtype=float))
    for i, name in enumerate(family.param_names):
        lo, hi, v = *family.bounds[name], np.asarray(tasks, dtype=float)[:, i]
        if name in family.log_params:
            lo, hi, v = np.log(lo), np.log(hi), np.log(v)
        out[:, i] = (v - lo) / (hi - lo)
    return out


def from_unit(family: Family, unit: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_unit`."""
    out = np.empty_like(unit)
    for i, name in enumerate(family.param_names):
        lo, hi = family.bounds[name]
        if name in family.log_params:
            out[:, i] = np.exp(np.log(lo) + unit[:, i] * (np.log(hi) - np.log(lo)))
        else:
            out[:, i] = lo + unit[:, i] * (hi - lo)
    return out


def _round(tasks: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round to ``digits`` significant digits, so the stored tasks read cleanly."""
    return np.array([[float(f"{v:.{digits}g}") for v in row] for row in tasks])


def _draw(family: Family, scale: float, n: int, seed: int) -> np.ndarray:
    margin = (scale - 1) / 2
    seed += zlib.crc32(family.name.encode()) % 1000  # each family its own stream, stable across runs
    unit = latin_hypercube([(-margin, 1 + margin)] * len(family.param_names), n, seed)
    tasks = _round(from_unit(family, unit))
    valid = []
    for row in tasks:
        try:
            family.validate(row)
            valid.append(row)
        except ValueError:
            pass
    return np.array(valid)


def draw_unseen(family: Family, n: int = 10, seed: int = SEED, min_distance: float = 0.1) -> np.ndarray:
    """``n`` tasks inside the bounds, each at least ``min_distance`` (unit coordinates) from every training task."""
    candidates = _draw(family, 1.0, 20 * n, seed)
    dist = np.linalg.norm(to_unit(family, candidates)[:, None] - to_unit(family, family.train_tasks())[None], axis=-1)
    inside = np.array([family.in_bounds(c) for c in candidates])
    return candidates[(dist.min(axis=1) >= min_distance) & inside][:n]


def draw_ood(family: Family, n: int = 10, seed: int = SEED) -> np.ndarray:
    """``n`` tasks inside the 130% box (in unit coordinates) and outside the design box."""
    candidates = _draw(family, OOD_SCALE, 20 * n, seed + 1)
    return candidates[[not family.in_bounds(c) for c in candidates]][:n]


def solution_distances(family: Family, tasks: np.ndarray) -> np.ndarray:
    """Pairwise relative distances ``||u_a - u_b|| / mean(||u_a||, ||u_b||)`` between reference solutions.

    Computed on the evaluation grid with the metric's quantity (``family.metric_values``); 0 means
    the same solution, about 1.4 two unrelated solutions of equal size, 2 two opposite ones.
    """
    fields = np.array([family.metric_values(family.reference(t).values).ravel() for t in tasks])
    norms = np.linalg.norm(fields, axis=1)
    diff = np.linalg.norm(fields[:, None] - fields[None], axis=-1)
    return diff / np.maximum((norms[:, None] + norms[None]) / 2, np.finfo(float).tiny)


def main(argv: list[str] | None = None) -> None:
    """Print the draws of the named benchmark families, in the form stored in their modules."""
    families = {f.name: f for f in (Burgers(), Helmholtz(), Elasticity())}
    for name in argv if argv is not None else sys.argv[1:]:
        fam = families.get(name.lower())
        if fam is None:
            raise SystemExit(f"unknown family {name!r}; expected one of {', '.join(sorted(families))}")
        for label, tasks in (("unseen", draw_unseen(fam)), ("ood", draw_ood(fam))):
            rows = ", ".join("(" + ", ".join(f"{v:g}" for v in row) + ")" for row in tasks)
            print(f"{name} {label} = ({rows})")


if __name__ == "__main__":
    main()
