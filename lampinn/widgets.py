"""Interactive explorers for the chapters, with a static fallback where widgets cannot run."""
from __future__ import annotations

import io
import threading
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .book import interactive, plot_adaptation, plot_reference
from .core import LAMPINN, Adapted
from .pde import Family
from .protocol import central_task


def _sliders(family: Family, theta: np.ndarray) -> dict:
    """One slider per parameter over the 130% box (staying physical for the positive ones)."""
    import ipywidgets as w

    sliders = {}
    for name, value in zip(family.param_names, theta):
        lo, hi = family.bounds[name]
        pad = 0.15 * (hi - lo)
        low = max(lo - pad, lo / 2) if name in family.positive else lo - pad
        sliders[name] = w.FloatSlider(value=value, min=low, max=hi + pad, step=(hi - lo) / 200, description=name,
                                      readout_format=".4g", continuous_update=False)
    return sliders


def reference_explorer(family: Family, theta: Sequence[float] | None = None, static: bool | None = None):
    """Sliders for the task parameters (over the 130% box) redrawing the reference solution.

    The sliders start at ``theta`` (default: the family's central task, :func:`lampinn.protocol.central_task`,
    the middle level of every parameter of the training design). Where widgets cannot run (``static=True``,
    or :func:`lampinn.book.interactive` is false) it draws the figure for ``theta``, saying under it whether
    that is the central task, and returns ``None``.
    """
    centre = central_task(family)
    theta = centre if theta is None else family.validate(theta)
    if static if static is not None else not interactive():
        fig, ax = plt.subplots(figsize=(5.5, 4))
        plot_reference(ax, family, theta)
        which = "the central task of the training design" if np.array_equal(theta, centre) else "a task"
        ax.text(0.01, -0.18, f"static figure: {which} (sliders in a live notebook)", transform=ax.transAxes,
                fontsize=10)
        plt.show()
        return None

    import ipywidgets as w
    from IPython.display import display

    sliders = _sliders(family, theta)
    out = w.Output()

    def redraw(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5.5, 4))
            values = [s.value for s in sliders.values()]
            plot_reference(ax, family, values)
            inside = "inside" if family.in_bounds(values) else "outside"
            ax.text(0.01, -0.18, f"{inside} the design box", transform=ax.transAxes, fontsize=10)
            plt.show()

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    box = w.VBox([w.HBox(list(sliders.values())), out])
    display(box)
    return box


class _Stopped(Exception):
    """Raised from the adaptation's callback when the explorer's stop button is pressed."""


def adaptation_explorer(model: LAMPINN, theta: Sequence[float] | None = None, iters: int | None = None,
                        static: bool | None = None):
    """Pick a task with sliders (inside or outside the design box), adapt the meta-trained ``model`` to it
    (``iters`` steps, default B/10, with a progress bar and a stop button) and see the reference, the
    prediction, the error field and the routing gates.

    Where widgets cannot run (``static=True``, or :func:`lampinn.book.interactive` is false) it adapts to
    ``theta`` (default: the first unseen task), draws the same figure and returns the :class:`~lampinn.core.Adapted`.
    """
    family = model.family
    theta = family.unseen_tasks()[0] if theta is None else family.validate(theta)
    iters = model.config.adapt_budget if iters is None else iters
    if static if static is not None else not interactive():
        adapted = model.adapt(theta, iters)
        plot_adaptation(family, theta, adapted)
        plt.show()
        return adapted

    import ipywidgets as w
    from IPython.display import Image, display
    from matplotlib.figure import Figure

    sliders = _sliders(family, np.asarray(theta))
    go, stop = w.Button(description="adapt", button_style="primary"), w.Button(description="stop", disabled=True)
    bar, status, out = w.IntProgress(min=0, max=iters, description="steps"), w.Label(), w.Output()
    stopping = threading.Event()

    def tick(step: int) -> None:
        bar.value = step
        if stopping.is_set():
            raise _Stopped

    def work(task: np.ndarray) -> None:
        try:
            adapted: Adapted = model.adapt(task, iters, callback=tick)
        except _Stopped:
            status.value = f"stopped after {bar.value} of {iters} steps"
        except Exception as err:  # shown, not lost in a thread
            status.value = f"{type(err).__name__}: {err}"
        else:
            fig = plot_adaptation(family, task, adapted, fig=Figure(figsize=(10, 7.5)))
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=80)
            out.clear_output()
            out.append_display_data(Image(data=png.getvalue()))
            inside = "inside" if family.in_bounds(task) else "outside"
            status.value = f"{iters} steps in {adapted.seconds:.1f} s; task {inside} the design box"
        finally:
            go.disabled, stop.disabled = False, True

    def start(_=None) -> None:
        task = np.array([s.value for s in sliders.values()])
        stopping.clear()
        go.disabled, stop.disabled, bar.value, status.value = True, False, 0, "adapting..."
        threading.Thread(target=work, args=(task,), daemon=True).start()

    go.on_click(start)
    stop.on_click(lambda _: stopping.set())
    box = w.VBox([w.HBox(list(sliders.values())), w.HBox([go, stop, bar, status]), out])
    display(box)
    start()
    return box
