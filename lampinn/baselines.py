"""Baselines on one protocol: per-task PINNs, transfer, MAML and Reptile, all trained task-batched.

Many tasks train at once as a :class:`StackedMLP`: ``T`` networks of one architecture whose
weights are stacked along a leading task dimension and applied with batched matrix products.
A family's loss terms broadcast over that dimension and *sum* over tasks, so each task's
parameters receive exactly its own loss gradient; Adam is elementwise, so training ``T`` tasks
together gives the same numbers as training them one at a time (a test checks it).

Budget accounting: one iteration is one optimiser step on one task's loss. Training ``T`` tasks
for ``I`` batched iterations costs ``T * I`` task-iterations.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .nn import MLP, default_device, seed_everything
from .pde import Family, evaluate
from .train import History, TrainingDiverged, train, weighted_total


class StackedMLP(nn.Module):
    """``T`` copies of an :class:`~lampinn.nn.MLP` architecture with independent weights.

    Maps points ``(T, N, in_dim)`` to ``(T, N, out_dim)``: task ``t``'s network sees only
    ``x[t]``. Weights are stored transposed, ``(T, fan_in, fan_out)``, with biases ``(T, 1, fan_out)``.
    """

    def __init__(self, mlps: Sequence[MLP]) -> None:
        super().__init__()
        if not mlps:
            raise ValueError("StackedMLP needs at least one network")
        first = mlps[0]
        self.register_buffer("shift", first.shift.clone())
        self.register_buffer("scale", first.scale.clone())
        self.act = first.net[1]
        linears = [[m for m in mlp.net if isinstance(m, nn.Linear)] for mlp in mlps]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].weight.detach().T for ls in linears])) for i in range(len(linears[0]))]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].bias.detach()[None] for ls in linears])) for i in range(len(linears[0]))]
        )
        self.config = dict(first.config)

    @classmethod
    def replicate(cls, mlp: MLP, n_tasks: int) -> StackedMLP:
        """``n_tasks`` copies of one network, e.g. a meta-learned initialisation to adapt from."""
        return cls([mlp] * n_tasks)

    @property
    def n_tasks(self) -> int:
        return self.weights[0].shape[0]

    def params(self) -> list[torch.Tensor]:
        """The parameters in forward order ``[W0, b0, W1, b1, ...]``."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def forward_with(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The forward pass with the given stacked parameters (for meta-learning's inner loops)."""
        h = (x - self.shift) * self.scale
        n_layers = len(params) // 2
        for i in range(n_layers):
            h = torch.baddbmm(params[2 * i + 1], h, params[2 * i])
            if i < n_layers - 1:
                h = self.act(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[0] != self.n_tasks:
            raise ValueError(f"expected points of shape ({self.n_tasks}, N, d), got {tuple(x.shape)}")
        return self.forward_with(self.params(), x)

    def unstack(self) -> list[MLP]:
        """The ``T`` networks as separate :class:`~lampinn.nn.MLP` modules (copies)."""
        out = []
        for t in range(self.n_tasks):
            with torch.random.fork_rng(devices=[]):  # building a network must not move the global RNG
                mlp = MLP(**self.config).to(self.weights[0])
            linears = [m for m in mlp.net if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for lin, w, b in zip(linears, self.weights, self.biases):
                    lin.weight.copy_(w[t].T)
                    lin.bias.copy_(b[t, 0])
            out.append(mlp)
        return out


# ---- the protocol ------------------------------------------------------------------------------
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
    n_interior: int = 2000
    n_boundary: int = 200
    seed: int = 0
    device: str | None = None

    @property
    def adapt_budget(self) -> int:
        return max(1, self.budget // 10)

    def network(self, family: Family, seed: int | None = None) -> MLP:
        """A freshly initialised network for ``family`` (seeded)."""
        seed_everything(self.seed if seed is None else seed)
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
    start = time.perf_counter()
    hist = train(stack, lambda m: family.loss_terms(m, pts, th), weights=family.loss_weights, iters=iters,
                 lr=protocol.lr if lr is None else lr, device=protocol.device, progress=progress)
    return stack, hist, time.perf_counter() - start


def _result(method: str, family: Family, thetas: np.ndarray, stack: StackedMLP, hist: History, **costs) -> Result:
    models = stack.unstack()
    metrics = [evaluate(m, family, t) for m, t in zip(models, thetas)]
    seconds = {k: v for k, v in costs.items() if k.endswith("seconds")}
    iterations = {k: v for k, v in costs.items() if k.endswith("iterations")}
    return Result(method, np.asarray(thetas), models, hist, metrics, seconds, iterations)


def scratch(family: Family, thetas: np.ndarray, protocol: Protocol, iters: int | None = None) -> Result:
    """PINN from scratch: a fresh network per task (each seeded alike), ``iters`` (default B) iterations."""
    iters = protocol.budget if iters is None else iters
    thetas = np.atleast_2d(thetas)
    init = protocol.network(family)
    stack, hist, sec = fit(family, thetas, [init] * len(thetas), iters, protocol)
    return _result(f"scratch_{iters}", family, thetas, stack, hist, adapt_seconds=sec, adapt_iterations=iters * len(thetas))


def adapt(family: Family, init: MLP, thetas: np.ndarray, protocol: Protocol, method: str = "adapt", **meta_costs) -> Result:
    """Fine-tune copies of ``init`` on each task for B/10 iterations at ``protocol.adapt_lr`` (the adaptation
    of every method)."""
    thetas = np.atleast_2d(thetas)
    stack, hist, sec = fit(family, thetas, [init] * len(thetas), protocol.adapt_budget, protocol, lr=protocol.adapt_lr)
    return _result(method, family, thetas, stack, hist, adapt_seconds=sec,
                   adapt_iterations=protocol.adapt_budget * len(thetas), **meta_costs)


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
    """The training task at the centre of the design (the middle level of every parameter)."""
    return np.array([family.levels[n][len(family.levels[n]) // 2] for n in family.param_names])


def transfer(family: Family, thetas: np.ndarray, protocol: Protocol, source: str = "central") -> Result:
    """PINN-Transfer: pretrain on the central training task (``"central"``) or on all 27 jointly
    (``"joint"``), then fine-tune on each task for B/10."""
    if source not in ("central", "joint"):
        raise ValueError(f"source {source!r} is not one of 'central', 'joint'")
    sources = central_task(family)[None] if source == "central" else family.train_tasks()
    init, sec, iters = pretrain(family, sources, protocol)
    return adapt(family, init, thetas, protocol, method=f"transfer_{source}", meta_seconds=sec, meta_iterations=iters)


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
        return weighted_total(family.loss_terms(lambda x: meta.forward_with(ps, x), points, thetas), family.loss_weights)

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


# ---- one call per baseline ------------------------------------------------------------------------
METHODS = ("scratch_full", "scratch_adapt", "transfer_central", "transfer_joint", "maml", "fomaml", "reptile")


def run(method: str, family: Family, thetas: np.ndarray, protocol: Protocol, meta: MetaConfig | None = None) -> Result:
    """Run one baseline on ``thetas`` (e.g. ``family.unseen_tasks()``) under ``protocol``.

    ``scratch_full`` trains B iterations per task; every other method gets B/10 per task, after
    its own pretraining or meta-training on the training tasks, whose cost is reported separately.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "scratch_full":
        return scratch(family, thetas, protocol, protocol.budget)
    if method == "scratch_adapt":
        return scratch(family, thetas, protocol, protocol.adapt_budget)
    if method.startswith("transfer_"):
        return transfer(family, thetas, protocol, source=method.split("_", 1)[1])
    meta = meta or MetaConfig()
    if method == "reptile":
        init, hist, sec = reptile(family, protocol, meta)
    else:
        meta = MetaConfig(**{**meta.__dict__, "first_order": method == "fomaml"})
        init, hist, sec = maml(family, protocol, meta)
    result = adapt(family, init, thetas, protocol, method=method, meta_seconds=sec,
                   meta_iterations=meta_cost(meta, "reptile" if method == "reptile" else "maml"))
    result.meta_history = hist
    return result
