"""Small helpers the chapters share: the run mode and consistently labelled field plots."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

MODES = ("ci", "default", "full")


def mode() -> str:
    """The run mode from ``LAMPINN_MODE``: ``"ci"`` (tiny, for tests), ``"default"`` (the book) or ``"full"``."""
    value = os.environ.get("LAMPINN_MODE", "default")
    if value not in MODES:
        raise ValueError(f"LAMPINN_MODE={value!r} is not a mode; expected one of {', '.join(MODES)}")
    return value


def pick(ci: Any, default: Any, full: Any = None) -> Any:
    """The value for the current mode (``full`` falls back to ``default`` when not given)."""
    return {"ci": ci, "default": default, "full": default if full is None else full}[mode()]


def interactive() -> bool:
    """Whether widgets can be shown: inside a Jupyter kernel, and not a batch run (``LAMPINN_STATIC=1``).

    Book builds and the nbval tests set ``LAMPINN_STATIC=1``; there the chapters draw static figures.
    """
    if os.environ.get("LAMPINN_STATIC", "0") not in ("", "0"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def plot_field(
    ax, solution, values: np.ndarray | None = None, *, title: str = "", label: str = "", cmap: str = "RdBu_r",
    xlabel: str = "$x$", ylabel: str = "$y$", **kw,
):
    """Draw a 2-D field on ``solution``'s grid with labelled axes and a colour bar; returns the image.

    ``values`` (``(N,)``) defaults to the first component of ``solution.values``.
    """
    x, y = solution.axes[0], solution.axes[1]
    field = (solution.values[:, 0] if values is None else np.asarray(values)).reshape(solution.shape)
    if cmap in ("RdBu_r", "RdBu", "coolwarm") and "vmin" not in kw:  # diverging: centre the colours on 0
        kw["vmin"], kw["vmax"] = -np.abs(field).max(), np.abs(field).max()
    im = ax.imshow(field, origin="lower", aspect="auto", extent=(x[0], x[-1], y[0], y[-1]), cmap=cmap, **kw)
    ax.figure.colorbar(im, ax=ax, label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return im


def plot_reference(ax, family, theta, *, cmap: str = "RdBu_r"):
    """Draw the reference solution of task ``theta``: the metric's quantity (for elasticity, the magnitude)."""
    sol = family.reference(theta)
    scalar = sol.values.shape[1] == 1
    values = np.asarray(family.metric_values(sol.values)).reshape(len(sol.points), -1)[:, 0]
    label = f"${family.output_names[0]}$" if scalar else "$|(" + ", ".join(family.output_names) + ")|$"
    title = ", ".join(f"{n}={v:.3g}" for n, v in zip(family.param_names, family.validate(theta)))
    x, y = family.input_names[:2]
    return plot_field(ax, sol, values, title=title, label=label, cmap=cmap if scalar else "viridis",
                      xlabel=f"${x}$", ylabel=f"${y}$")
