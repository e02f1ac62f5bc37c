"""The baselines (chapters 3 and 4): per-task PINNs, transfer, MAML and Reptile, on one protocol.

Every baseline trains task-batched through :func:`lampinn.protocol.fit`; the protocol, the
stacked networks and the pretraining they share live in :mod:`lampinn.protocol` and
:mod:`lampinn.nn`. :mod:`lampinn.methods` names each baseline (and LAM-PINN) for the benchmark.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .loss import weighted_total
from .nn import MLP, StackedMLP, default_device
from .pde import Family
from .protocol import Protocol, Result, collect, fit
from .train import History, TrainingDiverged, train


def scratch(family: Family, thetas: np.ndarray, protocol: Protocol, iters: int | None = None) -> Result:
    """PINN from scratch: a fresh network per task (each seeded alike), ``iters`` (default B) iterations."""
    iters = protocol.budget if iters is None else iters
    thetas = np.atleast_2d(thetas)
    init = protocol.network(family)
    stack, hist, sec = fit(family, thetas, [init] * len(thetas), iters, protocol)
    return collect(f"scratch_{iters}", family, thetas, stack, hist, adapt_seconds=sec, adapt_iterations=iters * len(thetas))


def adapt(family: Family, init: MLP, thetas: np.ndarray, protocol: Protocol, method: str = "adapt", **meta_costs) -> Result:
    """Fine-tune copies of ``init`` on each task for B/10 iterations at ``protocol.adapt_lr`` (the adaptation
    of every method)."""
    thetas = np.atleast_2d(thetas)
    stack, hist, sec = fit(family, thetas, [init] * len(thetas), protocol.adapt_budget, protocol, lr=protocol.adapt_lr)
    return collect(method, family, thetas, stack, hist, adapt_seconds=sec,
                   adapt_iterations=protocol.adapt_budget * len(thetas), **meta_costs)


# ---- meta-learned initialisations -------------------------------------------------------------
def _meta_network(family: Family, protocol: Protocol) -> StackedMLP:
    """The meta-parameters as a one-task stack, so they broadcast over a meta-batch by ``expand``."""
    return StackedMLP([protocol.network(family)]).to(default_device(protocol.device))


def maml_objective(
    family: Family,
    meta: StackedMLP,
    thetas: torch.Tensor,
    points: dict[str, torch.Tensor],
    inner_steps: int,
    inner_lr: float,
    first_order: bool,
) -> torch.Tensor:
    """MAML's outer loss: the mean over tasks of L_t(theta - inner_lr * grad L_t(...)) after ``inner_steps`` SGD steps.

    Second order (``first_order=False``) keeps the inner gradients in the graph, so the
    meta-gradient differentiates through the inner loop; first order treats them as constants.
    """
    n = len(thetas)
    params = [p.expand(n, *p.shape[1:]) for p in meta.params()]

    def total(ps: list[torch.Tensor]) -> torch.Tensor:
        return weighted_total(family.loss_terms(meta.bind(ps), points, thetas), family.loss_weights)

    for _ in range(inner_steps):
        grads = torch.autograd.grad(total(params), params, create_graph=not first_order)
        params = [p - inner_lr * g for p, g in zip(params, grads)]
    return total(params) / n


@dataclass
class MetaConfig:
    """Meta-training settings shared by MAML and Reptile (tune them on the training tasks only)."""

    meta_iters: int = 200
    meta_batch: int = 5
    inner_steps: int = 5
    inner_lr: float = 1e-3  # MAML: SGD step; Reptile: Adam learning rate
    outer_lr: float = 1e-3  # MAML: Adam on the meta-gradient; Reptile: the interpolation step epsilon
    first_order: bool = False  # MAML only


def _batches(n_tasks: int, config: MetaConfig, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(config.meta_iters):
        yield rng.choice(n_tasks, size=min(config.meta_batch, n_tasks), replace=False)


def maml(family: Family, protocol: Protocol, config: MetaConfig, progress: bool = False) -> tuple[MLP, History, float]:
    """Meta-train an initialisation with MAML (Finn et al. 2017) on the family's 27 training tasks."""
    tasks = family.train_tasks()
    meta = _meta_network(family, protocol)
    pts = protocol.points(family, min(config.meta_batch, len(tasks)))
    dev = pts["interior"].device
    opt = torch.optim.Adam(meta.parameters(), lr=config.outer_lr)
    hist = History()
    start = time.perf_counter()
    for batch in _tqdm(_batches(len(tasks), config, protocol.seed), config.meta_iters, progress, "MAML"):
        th = torch.as_tensor(tasks[batch], dtype=torch.float32, device=dev)
        outer = maml_objective(family, meta, th, pts, config.inner_steps, config.inner_lr, config.first_order)
        _check_finite(outer, hist, "MAML")
        opt.zero_grad(set_to_none=True)
        outer.backward()
        opt.step()
        hist.record(float(outer.detach()), {}, "adam")
    hist.seconds = time.perf_counter() - start
    return meta.unstack()[0], hist, hist.seconds


def reptile_step(family: Family, meta: StackedMLP, thetas: np.ndarray, protocol: Protocol, config: MetaConfig) -> float:
    """One Reptile update: theta <- theta + epsilon * (mean_t theta_t - theta), where theta_t is theta after
    ``inner_steps`` Adam steps on task t. Returns the mean inner loss of the last step."""
    inner = StackedMLP.replicate(meta.unstack()[0], len(thetas))
    pts = protocol.points(family, len(thetas))
    th = torch.as_tensor(thetas, dtype=torch.float32, device=pts["interior"].device)
    hist = train(inner, lambda m: family.loss_terms(m, pts, th), weights=family.loss_weights, iters=config.inner_steps,
                 lr=config.inner_lr, device=protocol.device, progress=False)
    with torch.no_grad():
        for p, q in zip(meta.params(), inner.params()):
            p.add_(config.outer_lr * (q.mean(dim=0, keepdim=True) - p))
    return hist.total[-1] / len(thetas)


def reptile(family: Family, protocol: Protocol, config: MetaConfig, progress: bool = False) -> tuple[MLP, History, float]:
    """Meta-train an initialisation with Reptile (Nichol et al. 2018) on the family's 27 training tasks."""
    tasks = family.train_tasks()
    meta = _meta_network(family, protocol)
    hist = History()
    start = time.perf_counter()
    for batch in _tqdm(_batches(len(tasks), config, protocol.seed), config.meta_iters, progress, "Reptile"):
        hist.record(reptile_step(family, meta, tasks[batch], protocol, config), {}, "reptile")
    hist.seconds = time.perf_counter() - start
    return meta.unstack()[0], hist, hist.seconds


def _tqdm(iterable, total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, disable=not progress, desc=desc, leave=False)


def _check_finite(loss: torch.Tensor, hist: History, name: str) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"{name} meta-training diverged at meta-iteration {len(hist)} (loss = {float(loss.detach())})", hist)


def meta_cost(config: MetaConfig, method: str) -> int:
    """Task-iterations spent in meta-training: one per task gradient (inner steps, plus MAML's outer one)."""
    per_task = config.inner_steps + (1 if method == "maml" else 0)
    return config.meta_iters * config.meta_batch * per_task


# ---- what batching buys ---------------------------------------------------------------------------
def throughput(family: Family, protocol: Protocol, task_counts: Sequence[int] = (1, 4, 16), iters: int = 20) -> list[dict]:
    """Measured task-iterations per second, batched against one task at a time, for each task count.

    A measurement, not a test: it depends on the machine (and on what else runs on it).
    """
    tasks = family.train_tasks()
    fit(family, tasks[:1], [protocol.network(family)], 2, protocol)  # warm-up: first calls pay one-off costs
    rows = []
    for n in task_counts:
        thetas = tasks[np.arange(n) % len(tasks)]
        init = protocol.network(family)
        _, _, batched = fit(family, thetas, [init] * n, iters, protocol)
        one_by_one = sum(fit(family, theta[None], [init], iters, protocol)[2] for theta in thetas)
        rows.append({"tasks": n, "batched": n * iters / batched, "sequential": n * iters / one_by_one,
                     "speedup": one_by_one / batched})
    return rows
