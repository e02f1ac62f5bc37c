"""How to tell whether meta-training worked (chapter 8): saturation, loss scales and meta-validation.

A meta-trained network cannot be judged by how well it fits its own training tasks before
adaptation: with K gate patterns it can express at most K fields. What matters is how fast it
adapts to tasks it did not train on. :func:`meta_validation` measures exactly that, on training
tasks held out of meta-training, so that every meta-training choice is made without looking at
the unseen or out-of-distribution tasks. Two cheaper diagnostics say *why* a network adapts
slowly: :func:`saturation` (tanh units stuck at +-1 pass no gradient) and :func:`loss_scales`
(a term that is orders of magnitude larger than the others decides the training alone).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from .pde import Family, evaluate

#: Rows of the 27-task training design held out by :func:`meta_validation`: the six tasks (a, b, c) with
#: c = (a + b) mod 3 and a != b, so every level of every parameter appears twice, and the central task
#: (which the basis and the transfer baseline are pretrained on) stays in meta-training.
VALIDATION_TASKS = (4, 8, 10, 15, 20, 21)


def saturation(model: nn.Module, x: torch.Tensor, gates: torch.Tensor | None = None, threshold: float = 0.99) -> list[float]:
    """The share of tanh units with ``|activation| > threshold`` in each hidden tanh layer, over the points ``x``.

    For a :class:`~lampinn.nn.ModularPINN` the layers are its meta network's (``gates`` as given, default
    its own); for an :class:`~lampinn.nn.MLP` every hidden layer. A freshly initialised network is near 0;
    a share near 1 means the layer passes almost no gradient.
    """
    modular = hasattr(model, "meta")
    layers = model.meta if modular else getattr(model, "net", model)
    tanhs = [m for m in layers.modules() if isinstance(m, nn.Tanh)]
    if not tanhs:
        raise ValueError(f"{type(model).__name__} has no tanh layers to inspect")
    shares: list[float] = []
    hooks = [t.register_forward_hook(lambda _m, _i, out: shares.append(float((out.abs() > threshold).float().mean())))
             for t in tanhs]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x, gates) if modular else model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return shares


def loss_scales(family: Family, model, points: dict[str, torch.Tensor], tasks: np.ndarray) -> dict[str, np.ndarray]:
    """Each weighted loss term of ``model`` on each task, ``{term: (T,) array}``: which term dominates where.

    ``model`` is a network or a callable ``x -> u``; the weights are the family's.
    """
    tasks = np.atleast_2d(tasks)
    out: dict[str, list[float]] = {}
    for theta in tasks:
        terms = family.loss_terms(model, points, theta)
        for name, value in terms.items():
            out.setdefault(name, []).append(float(family.loss_weights.get(name, 1.0) * value.detach()))
    return {k: np.array(v) for k, v in out.items()}


@dataclass
class MetaValidation:
    """The meta-validation of one LAM-PINN configuration: the adapted MSE of every held-out task, the
    mean adaptation loss curve, the meta-trained network and what it cost."""

    tasks: np.ndarray
    mse: np.ndarray
    curve: np.ndarray
    model: object
    seconds: float

    @property
    def score(self) -> float:
        """The criterion: the mean MSE over the held-out tasks after B/10 adaptation iterations."""
        return float(self.mse.mean())


def split(family: Family, held_out: tuple[int, ...] = VALIDATION_TASKS) -> tuple[np.ndarray, np.ndarray]:
    """The training design split into (meta-training tasks, held-out meta-validation tasks)."""
    tasks = family.train_tasks()
    bad = [i for i in held_out if not 0 <= i < len(tasks)]
    if bad or not held_out:
        raise ValueError(f"held_out rows {list(held_out)} must be some of 0..{len(tasks) - 1}")
    keep = np.setdiff1d(np.arange(len(tasks)), held_out)
    return tasks[keep], tasks[list(held_out)]


def meta_validation(config, family: Family, held_out: tuple[int, ...] = VALIDATION_TASKS, **changes) -> MetaValidation:
    """Meta-train LAM-PINN with ``config`` (plus ``changes``) on the training tasks outside ``held_out``,
    adapt it to each held-out task for B/10 iterations, and score the adapted MSE.

    Looks at training tasks only: use it to choose any meta-training setting.
    """
    from .core import LAMPINN

    train_tasks, val_tasks = split(family, held_out)
    start = time.perf_counter()
    model = LAMPINN(replace(config, **changes)).meta_train(family, tasks=train_tasks)
    adapted = [model.adapt(theta) for theta in val_tasks]
    mse = np.array([evaluate(a.model, family, t)["mse"] for a, t in zip(adapted, val_tasks)])
    curve = np.mean([a.history.total for a in adapted], axis=0)
    return MetaValidation(val_tasks, mse, curve, model, time.perf_counter() - start)


def finetune_validation(family: Family, protocol, held_out: tuple[int, ...] = VALIDATION_TASKS) -> np.ndarray:
    """The baseline of meta-validation: fine-tuning the central-task network for B/10 on each held-out task
    (``methods.run("transfer", ...)``); returns each task's MSE."""
    from .methods import run

    return run("transfer", family, split(family, held_out)[1], protocol).mse


__all__ = ["VALIDATION_TASKS", "MetaValidation", "finetune_validation", "loss_scales", "meta_validation", "saturation",
           "split"]
