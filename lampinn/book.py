"""Small helpers the chapters share: consistently labelled field plots, and what chapters 9-11 show of a
committed benchmark run."""
from __future__ import annotations

import numpy as np

from . import settings
from .pde import evaluate, predict


def interactive() -> bool:
    """Whether widgets can be shown: inside a Jupyter kernel, and not a batch run (:func:`lampinn.settings.static`).

    Book builds and the nbval tests set ``LAMPINN_STATIC=1``; there the chapters draw static figures.
    """
    if settings.static():
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


def _metric_field(family, values: np.ndarray) -> tuple[np.ndarray, str]:
    """The quantity the metric compares, one value per point, and its axis label (for elasticity, |u|)."""
    scalar = values.shape[1] == 1
    field = np.asarray(family.metric_values(values)).reshape(len(values), -1)[:, 0]
    return field, (f"${family.output_names[0]}$" if scalar else "$|(" + ", ".join(family.output_names) + ")|$")


def task_title(family, theta) -> str:
    """``"nu=0.01, A=1, w=0.25"``: a task's parameters, for titles."""
    return ", ".join(f"{n}={v:.3g}" for n, v in zip(family.param_names, family.validate(theta)))


def plot_reference(ax, family, theta, *, cmap: str = "RdBu_r"):
    """Draw the reference solution of task ``theta``: the metric's quantity (for elasticity, the magnitude)."""
    sol = family.reference(theta)
    values, label = _metric_field(family, sol.values)
    x, y = family.input_names[:2]
    return plot_field(ax, sol, values, title=task_title(family, theta), label=label,
                      cmap=cmap if sol.values.shape[1] == 1 else "viridis", xlabel=f"${x}$", ylabel=f"${y}$")


def plot_adaptation(family, theta, adapted, fig=None):
    """Four panels, two by two, for an adapted LAM-PINN on task ``theta``: reference and prediction (on one
    colour scale that covers both, so neither saturates), absolute error (of the metric's quantity) and the
    routing gates. Draws on ``fig`` (default: a new pyplot figure, legible at a book page's width)."""
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(10, 7.5))
    axes = fig.subplots(2, 2).ravel()
    sol = family.reference(theta)
    true, label = _metric_field(family, sol.values)
    pred, _ = _metric_field(family, predict(adapted.model, sol.points))
    x, y = (f"${n}$" for n in family.input_names[:2])
    cmap = "RdBu_r" if sol.values.shape[1] == 1 else "viridis"
    both = np.concatenate([true, pred])
    if cmap == "viridis":
        lim = {"vmin": both.min(), "vmax": both.max()}
    else:  # diverging: centred on 0
        lim = {"vmin": -np.abs(both).max(), "vmax": np.abs(both).max()}
    plot_field(axes[0], sol, true, title="reference", label=label, cmap=cmap, xlabel=x, ylabel=y, **lim)
    plot_field(axes[1], sol, pred, title="LAM-PINN, adapted", label=label, cmap=cmap, xlabel=x, ylabel=y, **lim)
    mse = float(np.mean((pred - true) ** 2))
    plot_field(axes[2], sol, np.abs(pred - true), title=f"|error|, MSE {mse:.2e}", label="absolute error",
               cmap="magma", xlabel=x, ylabel=y)
    gates = np.asarray(adapted.gates)
    axes[3].bar(range(len(gates)), gates, color="tab:green")
    axes[3].set(ylim=(0, 1.05), xticks=range(len(gates)), xlabel="cluster", ylabel="gate", title="routing")
    fig.suptitle(task_title(family, theta))
    fig.tight_layout()
    return fig


# ---- what chapters 9-11 show of a committed benchmark run -----------------------------------------
def seed_zero(result: dict, method: str = "lampinn") -> np.ndarray:
    """``method``'s per-task MSE on the unseen tasks in seed 0's run (the seed of the committed checkpoints)."""
    m = result["methods"][method]
    return np.array(m["per_seed_mse"][0] if "per_seed_mse" in m else m["per_task_mse"], dtype=float)


def readapt(lam, result: dict, tasks: dict[str, int] | None = None) -> dict[str, dict]:
    """Adapt the committed meta-trained ``lam`` again to some unseen tasks (default: LAM-PINN's best and worst
    in ``result``, mean over seeds), draw each with :func:`plot_adaptation`, and print its error now and in the
    committed run of the same model (seed 0).

    Runs with the thread count in force (:func:`lampinn.settings.threads`, one by default). The committed
    Burgers and Helmholtz runs used one thread, elasticity's two, and one thread reproduces all three
    exactly (measured); another count changes the rounding, and a hundred steps on a hard task can amplify
    that (two threads changed Burgers' hardest task 2.6-fold). Returns, per label, the task index, the live
    and committed MSE, and the adapted network.
    """
    import matplotlib.pyplot as plt

    fam, unseen = lam.family, lam.family.unseen_tasks()
    mean = np.array(result["methods"]["lampinn"]["per_task_mse"], dtype=float)
    tasks = tasks or {"best": int(mean.argmin()), "worst": int(mean.argmax())}
    per_task = seed_zero(result)  # the committed model is seed 0's; results before per-seed MSE hold one seed
    out = {}
    for label, i in tasks.items():
        adapted = lam.adapt(unseen[i])
        live = evaluate(adapted.model, fam, unseen[i])["mse"]
        plot_adaptation(fam, unseen[i], adapted)
        plt.show()
        print(f"{label} task {i} ({task_title(fam, unseen[i])}): MSE {live:.3e} now, {per_task[i]:.3e} in the "
              f"committed run (seed 0); gates {np.round(adapted.gates.astype(float), 2).tolist()}")
        out[label] = {"task": i, "mse": live, "committed": float(per_task[i]), "model": adapted.model}
    return out


def plot_clusters(lam):
    """The cluster of each of the 27 training tasks, one panel per level of the third parameter; returns the figure."""
    import matplotlib.pyplot as plt

    labels, names = lam.clustering.labels, lam.family.param_names
    levels = [sorted(set(lam.tasks[:, j])) for j in range(3)]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    for a, level in zip(axes, levels[2]):
        grid = np.full((3, 3), np.nan)
        for (p0, p1, p2), lab in zip(lam.tasks, labels):
            if p2 == level:
                grid[levels[1].index(p1), levels[0].index(p0)] = lab
        a.imshow(grid, origin="lower", cmap="tab10", vmin=0, vmax=9)
        a.set(xticks=range(3), xticklabels=[f"{v:g}" for v in levels[0]], yticks=range(3),
              yticklabels=[f"{v:g}" for v in levels[1]], xlabel=names[0], title=f"{names[2]} = {level:g}")
        for (r, c), lab in np.ndenumerate(grid):
            a.text(c, r, f"{int(lab)}", ha="center", va="center", color="white", fontsize=12)
    axes[0].set_ylabel(names[1])
    c = lam.clustering
    fig.suptitle(f"cluster of each training task (K = {c.k}, silhouette {c.silhouette[c.k]:.2f}, "
                 f"mean ARI over seeds {np.mean(c.stability):.2f})")
    fig.tight_layout()
    return fig
