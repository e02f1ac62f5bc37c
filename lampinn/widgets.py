"""Interactive explorers for the chapters, with a static fallback where widgets cannot run."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .book import interactive, plot_reference
from .pde import Family


def reference_explorer(family: Family, theta: Sequence[float] | None = None, static: bool | None = None):
    """Sliders for the task parameters (over the 130% box) redrawing the reference solution.

    Where widgets cannot run (``static=True``, or :func:`lampinn.book.interactive` is false) it
    draws the figure for ``theta`` (default: the centre of the design box) and returns ``None``.
    """
    theta = np.array([np.mean(family.bounds[n]) for n in family.param_names]) if theta is None else family.validate(theta)
    if static if static is not None else not interactive():
        fig, ax = plt.subplots(figsize=(5.5, 4))
        plot_reference(ax, family, theta)
        plt.show()
        return None

    import ipywidgets as w
    from IPython.display import display

    sliders = {}
    for name, value in zip(family.param_names, theta):
        lo, hi = family.bounds[name]
        pad = 0.15 * (hi - lo)
        low = max(lo - pad, lo / 2) if name in family.positive else lo - pad  # stay physical
        sliders[name] = w.FloatSlider(value=value, min=low, max=hi + pad, step=(hi - lo) / 200, description=name,
                                      readout_format=".4g", continuous_update=False)
    out = w.Output()

    def redraw(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5.5, 4))
            values = [s.value for s in sliders.values()]
            plot_reference(ax, family, values)
            inside = "inside" if family.in_bounds(values) else "outside"
            ax.text(0.01, -0.18, f"{inside} the design box", transform=ax.transAxes, fontsize=8)
            plt.show()

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    box = w.VBox([w.HBox(list(sliders.values())), out])
    display(box)
    return box
