"""The PINN training loop: Adam, an optional L-BFGS finish, every loss term kept, divergence caught.

The loop knows nothing about any PDE. It calls ``loss_fn(model)``, which returns a dict of named,
unweighted loss terms (for a family: ``lambda m: fam.loss_terms(m, points, theta)``), and
minimises ``sum(weights[name] * term)``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .loss import weighted_total
from .nn import default_device, seed_everything

LossFn = Callable[[nn.Module], Mapping[str, torch.Tensor]]


@dataclass
class History:
    """What happened in training: the weighted total and each unweighted term, per iteration (summed over tasks)."""

    total: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    optimizer: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: iteration -> what ``train``'s ``monitor`` returned there (e.g. each task's error against its reference)
    evaluations: dict[int, list[float]] = field(default_factory=dict)

    def record(self, total: float, terms: Mapping[str, float], optimizer: str) -> None:
        self.total.append(total)
        for name, value in terms.items():
            self.terms.setdefault(name, []).append(value)
        self.optimizer.append(optimizer)

    def __len__(self) -> int:
        return len(self.total)


class TrainingDiverged(RuntimeError):
    """Raised when a loss turns NaN or infinite; the model holds the last finite-loss parameters."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def train(
    model: nn.Module,
    loss_fn: LossFn,
    *,
    iters: int = 1000,
    lr: float = 1e-3,
    weights: Mapping[str, float] | None = None,
    lbfgs_iters: int = 0,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    history: History | None = None,
    param_groups: list[dict] | None = None,
    post_step: Callable[[], None] | None = None,
    plateau: tuple[float, int] | None = None,
    monitor: tuple[int, Callable[[], list[float]]] | None = None,
) -> History:
    """Train ``model`` in place on ``loss_fn`` for ``iters`` Adam steps, then ``lbfgs_iters`` L-BFGS steps.

    One iteration is one optimiser step. The history holds one entry per Adam step and one per
    L-BFGS loss evaluation (at most ``2 * lbfgs_iters``; L-BFGS may stop early once converged). ``device`` defaults to CUDA when available, else the CPU;
    the model is moved there (the points inside ``loss_fn`` must live on the same device).
    If a loss becomes NaN or infinite, the parameters of the last finite loss are restored and
    :class:`TrainingDiverged` is raised with the history so far.

    ``param_groups`` (Adam's, e.g. ``[{"params": gates, "lr": 0.3}, {"params": rest}]``) choose which
    parameters train and at what rate (default: every parameter that requires gradients, at ``lr``);
    ``post_step`` runs after every Adam step (e.g. to clamp parameters into range). ``plateau = (factor,
    patience)`` multiplies every group's rate by ``factor`` once the loss has not improved for more than
    ``patience`` Adam steps (PyTorch's ``ReduceLROnPlateau``, as the LAM-PINN authors' released code).
    """
    if iters < 0 or lbfgs_iters < 0:
        raise ValueError(f"iters and lbfgs_iters must be >= 0, got {iters} and {lbfgs_iters}")
    if lr <= 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive finite number, got {lr}")
    if seed is not None:
        seed_everything(seed)
    model.to(default_device(device))
    history = history if history is not None else History()
    groups = param_groups if param_groups is not None else [{"params": [p for p in model.parameters() if p.requires_grad]}]
    params = [p for g in groups for p in g["params"]]
    start = time.perf_counter()

    def evaluate() -> tuple[torch.Tensor, dict[str, float]]:
        terms = loss_fn(model)
        return weighted_total(terms, weights), {k: float(v.detach().sum()) for k, v in terms.items()}

    def check(total: torch.Tensor, terms: dict[str, float], last_good: list[torch.Tensor], name: str) -> None:
        if math.isfinite(float(total.detach())):
            return
        with torch.no_grad():
            for p, saved in zip(params, last_good):
                p.copy_(saved)
        history.seconds += time.perf_counter() - start
        bad = ", ".join(f"{k} = {v:.3g}" for k, v in terms.items())
        raise TrainingDiverged(
            f"training diverged at iteration {len(history)} ({name}): loss = {float(total.detach()):.3g} ({bad}); "
            f"parameters restored to the last finite-loss iteration",
            history,
        )

    def watch(done: int) -> None:
        if monitor is not None and (done % monitor[0] == 0 or done == iters) and done not in history.evaluations:
            history.evaluations[done] = list(monitor[1]())

    if monitor is not None and monitor[0] < 1:
        raise ValueError(f"monitor's interval must be >= 1 iteration, got {monitor[0]}")
    bar = tqdm(total=iters + lbfgs_iters, disable=not progress, desc="training", leave=False)
    last_good = [p.detach().clone() for p in params]

    def step(optimizer: torch.optim.Optimizer, name: str) -> torch.Tensor:
        """One loss evaluation and backward pass, shared by Adam's steps and L-BFGS's closure: check the loss,
        remember these parameters as the last good ones, record the loss."""
        optimizer.zero_grad(set_to_none=True)
        total, terms = evaluate()
        check(total, terms, last_good, name)
        for p, saved in zip(params, last_good):
            saved.copy_(p.detach())
        total.backward()
        history.record(float(total.detach()), terms, name)
        return total

    adam = torch.optim.Adam(groups, lr=lr)
    scheduler = None if plateau is None else torch.optim.lr_scheduler.ReduceLROnPlateau(
        adam, factor=plateau[0], patience=plateau[1])
    watch(0)
    for done in range(1, iters + 1):
        step(adam, "adam")
        adam.step()
        if scheduler is not None:
            scheduler.step(history.total[-1])
        if post_step is not None:
            post_step()
        watch(done)
        bar.update()
        if bar.n % 50 == 0:
            bar.set_postfix(loss=f"{history.total[-1]:.3e}")

    if lbfgs_iters:
        # One L-BFGS call of `lbfgs_iters` iterations (torch's L-BFGS keeps its curvature pairs
        # within a call; stepping it one iteration per call stalls). Its line search evaluates the
        # loss a few times per iteration, and every evaluation is recorded.
        lbfgs = torch.optim.LBFGS(
            params, lr=1.0, max_iter=lbfgs_iters, max_eval=2 * lbfgs_iters, history_size=50, line_search_fn="strong_wolfe"
        )
        state = lbfgs.state[params[0]]

        def closure() -> torch.Tensor:
            total = step(lbfgs, "lbfgs")
            bar.update(min(state.get("n_iter", 0), lbfgs_iters) + iters - bar.n)
            return total

        lbfgs.step(closure)
        total, terms = evaluate()  # the line search's last move is not evaluated by the closure
        check(total, terms, last_good, "lbfgs")
    bar.close()
    history.seconds += time.perf_counter() - start
    return history
