"""What every method shares (chapter 3): the protocol, task-batched training, pretraining and results.

The protocol fixes the network, the collocation points, the budget B and the optimiser, so that
scratch training, transfer, MAML, Reptile and LAM-PINN are compared on the same footing. Many
tasks train at once as a :class:`~lampinn.nn.StackedMLP` (:func:`fit`): training ``T`` tasks
together gives the same numbers as training them one at a time (a test checks it).

Budget accounting: one iteration is one optimiser step on one task's loss. Training ``T`` tasks
for ``I`` batched iterations costs ``T * I`` task-iterations.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .nn import MLP, StackedMLP
from .pde import Family, evaluate
from .train import History, train


@dataclass
class Protocol:
    """What every method shares: the network, the collocation points, the budget and the optimiser.

    ``budget`` is B, the from-scratch iterations per task; every adaptation gets ``budget // 10``.
    """

    width: int = 50
    depth: int = 4
    activation: str = "tanh"
    budget: int = 2000
    lr: float = 1e-3
    adapt_lr: float | None = None  # Adam rate of every B/10 fine-tuning (None: ``lr``)
    adapt_gate_lr: float | None = None  # LAM-PINN's gates' rate when adapting (None: its configuration's)
    n_interior: int = 2000
    n_boundary: int = 200
    seed: int = 0
    device: str | None = None
    eval_every: int = 0  # evaluate every task against its reference every this many iterations (0: at the end only)

    @property
    def adapt_budget(self) -> int:
        return max(1, self.budget // 10)

    def network(self, family: Family, seed: int | None = None) -> MLP:
        """A freshly initialised network for ``family``, seeded by ``seed`` (default: the protocol's);
        the global random state is left as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed if seed is None else seed)
            return MLP(family.in_dim, family.out_dim, self.width, self.depth, self.activation, input_bounds=family.domain)

    def points(self, family: Family, n_tasks: int) -> dict[str, torch.Tensor]:
        """The shared collocation points, stacked ``(n_tasks, N, d)`` (a view: no copies)."""
        pts = family.points(self.n_interior, self.n_boundary, seed=self.seed, device=self.device)
        return {k: v.expand(n_tasks, *v.shape) for k, v in pts.items()}


@dataclass
class Result:
    """A method's outcome on a set of tasks: networks, histories, errors and costs."""

    method: str
    thetas: np.ndarray
    models: list[MLP]
    history: History
    metrics: list[dict[str, float]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    iterations: dict[str, int] = field(default_factory=dict)
    meta_history: History | None = None

    @property
    def mse(self) -> np.ndarray:
        return np.array([m["mse"] for m in self.metrics])

    @property
    def best_mse(self) -> np.ndarray:
        """Each task's lowest MSE over the evaluations of ``eval_every`` (chosen against the reference: an oracle)."""
        return np.array([m["best_mse"] for m in self.metrics])

    @property
    def rel_l2(self) -> np.ndarray:
        return np.array([m["rel_l2"] for m in self.metrics])


def fit(
    family: Family, thetas: np.ndarray, inits: Sequence[MLP], iters: int, protocol: Protocol, progress: bool = False,
    lr: float | None = None,
) -> tuple[StackedMLP, History, float]:
    """Train one network per task, all at once, from the given initial networks (Adam at ``lr``, default
    the protocol's); returns (stack, history, seconds)."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    if len(inits) != len(thetas):
        raise ValueError(f"got {len(inits)} initial networks for {len(thetas)} tasks")
    for theta in thetas:
        family.validate(theta)
    stack = StackedMLP(inits)
    pts = protocol.points(family, len(thetas))
    th = torch.as_tensor(thetas, dtype=torch.float32, device=pts["interior"].device)
    monitor = (protocol.eval_every, errors(family, thetas, stack)) if protocol.eval_every else None
    start = time.perf_counter()
    hist = train(stack, lambda m: family.loss_terms(m, pts, th), weights=family.loss_weights, iters=iters,
                 lr=protocol.lr if lr is None else lr, device=protocol.device, progress=progress, monitor=monitor)
    return stack, hist, time.perf_counter() - start


def errors(family: Family, thetas: np.ndarray, stack: StackedMLP) -> Callable[[], list[float]]:
    """Each task's MSE against its reference, now (a :func:`~lampinn.train.train` monitor): task ``t`` is the
    stack's ``t``-th network."""
    def task(t: int) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda x: stack(x.to(stack.weights[0].device).expand(len(thetas), *x.shape))[t]

    return lambda: [evaluate(task(t), family, theta)["mse"] for t, theta in enumerate(thetas)]


def trajectory(history: History, t: int = 0) -> dict:
    """Task ``t``'s MSE at each evaluation of ``history`` (``curve``, in iteration order) and the lowest of them with
    its iteration (``best_mse``, ``best_iteration``: chosen against the reference); empty if nothing was evaluated."""
    if not history.evaluations:
        return {}
    steps = sorted(history.evaluations)
    curve = [float(history.evaluations[s][t]) for s in steps]
    best = int(np.argmin(curve))
    return {"best_mse": curve[best], "best_iteration": steps[best], "curve": curve}


def collect(method: str, family: Family, thetas: np.ndarray, stack: StackedMLP, hist: History, **costs) -> Result:
    """Unstack trained networks into a :class:`Result`: each evaluated on its task, with the costs given as
    ``*_seconds`` and ``*_iterations`` keywords."""
    models = stack.unstack()
    metrics = [{**evaluate(m, family, t), **trajectory(hist, i)} for i, (m, t) in enumerate(zip(models, thetas))]
    seconds = {k: v for k, v in costs.items() if k.endswith("seconds")}
    iterations = {k: v for k, v in costs.items() if k.endswith("iterations")}
    return Result(method, np.asarray(thetas), models, hist, metrics, seconds, iterations)



def pretrain(family: Family, sources: np.ndarray, protocol: Protocol) -> tuple[MLP, float, int]:
    """One network trained for B iterations on the *sum* of the source tasks' losses (one source: plain training)."""
    sources = np.atleast_2d(sources)
    model = protocol.network(family)
    pts = protocol.points(family, len(sources))  # one network applied to every source's (identical) points
    th = torch.as_tensor(sources, dtype=torch.float32, device=pts["interior"].device)
    start = time.perf_counter()

    def loss(m: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v / len(sources) for k, v in family.loss_terms(m, pts, th).items()}

    train(model, loss, weights=family.loss_weights, iters=protocol.budget, lr=protocol.lr, device=protocol.device,
          progress=False)
    return model, time.perf_counter() - start, protocol.budget * len(sources)


def central_task(family: Family) -> np.ndarray:
    """The task at the centre of the design, which transfer pretrains on: the family's ``centre`` if it declares one,
    else the middle level of every parameter (a training task)."""
    if family.centre is not None:
        return family.validate(family.centre)
    return np.array([family.levels[n][len(family.levels[n]) // 2] for n in family.param_names])
