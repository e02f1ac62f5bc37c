"""LAM-PINN end to end: affinity, clustering, the modular network, two-stage meta-training, adaptation.

    model = LAMPINN(LAMPINNConfig(budget=2000)).meta_train(lampinn.get_family("burgers"))
    adapted = model.adapt(theta)          # B/10 iterations on the new task
    model.save("burgers.pt"); LAMPINN.load("burgers.pt")

Which parameters train in which stage is spelled out in :meth:`LAMPINN._stage1` (subnetworks,
meta network and the closed gates; basis frozen, the task's own gate held at 1),
:meth:`LAMPINN._stage2` (meta network only) and :meth:`LAMPINN.adapt` (subnetworks, meta network
and gates; basis frozen).
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch

from ._version import __version__
from .affinity import Clustering, Sessions, cluster, learning_affinity, representation, visit_order
from .protocol import Protocol, central_task, pretrain
from .files import atomic_write, fail, mapping
from .nn import LIMITS, ModularPINN, check_bounds, check_size, default_device, seed_everything, state_sha256
from .pde import Family, evaluate, get_family
from .loss import weighted_total
from .train import History, train

FEATURES = ("affinity+params", "affinity", "params", "random")
#: The authors' released elasticity code (github bc0322/LAM-PINN) as changes to :class:`LAMPINNConfig`: K = 3, 200 / 100
#: iterations per task, the full stage-1 step, none of our additions, their rate schedule, visiting order and stage 2.
RELEASED = {"output_scale": False, "normalize_features": False, "meta_weight_decay": 0.0, "n_clusters": 3,
            "stage1_iters": 200, "stage2_iters": 100, "stage1_step": 1.0, "plateau": True, "balanced_visits": True,
            "stage2_last": True}
#: With ``plateau`` on, adaptation's rates fall by 0.7 after this many iterations without a better loss (as released).
ADAPT_PATIENCE = 150
WARM_STARTS = ("central", "tasks")  # what the whole network is pretrained on before the basis is frozen

#: What each numeric field of :class:`LAMPINNConfig` allows: (kind, low, high, low excluded); ints are whole numbers.
#: The gates' rates may be 0 (gates frozen: ablation_fixed_routing adapts with adapt_gate_lr = 0).
_ALLOWED = {
    "budget": (int, 1, 10**7, False), "n_interior": (int, 1, 10**6, False), "n_boundary": (int, 1, 10**6, False),
    "width": (int, 1, LIMITS["width"], False), "meta_depth": (int, 1, LIMITS["meta_depth"], False),
    "stage1_iters": (int, 0, 10**7, False), "stage2_iters": (int, 0, 10**7, False), "seed": (int, 0, 2**32 - 1, False),
    "lr": (float, 0, 10, True), "stage1_lr": (float, 0, 10, True), "gate_lr": (float, 0, 10, False),
    "stage2_lr": (float, 0, 10, True), "adapt_lr": (float, 0, 10, True), "adapt_gate_lr": (float, 0, 10, False),
    "dropout": (float, 0, 1, False), "affinity_fraction": (float, 0, 1, True), "closed_gate": (float, 0, 1, False),
    "meta_weight_factor": (float, 0, 1e6, True), "warm_weight_factor": (float, 0, 1e6, True),
    "meta_weight_decay": (float, 0, 1e3, False),
    "stage1_step": (float, 0, 1, True), "meta_decay": (float, 0, 100, False),
}


def _check_config(cfg: LAMPINNConfig) -> None:
    """One-line ``ValueError`` naming the first field of ``cfg`` that holds a value it does not allow."""
    def bad(name, expected):
        return ValueError(f"LAMPINNConfig.{name} = {getattr(cfg, name)!r} is invalid; expected {expected}")

    for name, (kind, low, high, open_low) in _ALLOWED.items():
        v = getattr(cfg, name)
        number = isinstance(v, (int, np.integer)) if kind is int else isinstance(v, (int, float, np.integer, np.floating))
        span = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        if name == "dropout":
            span = "[0, 1)"
        if (not number or isinstance(v, bool) or not math.isfinite(v) or v < low or v > high or (open_low and v == low)
                or (name == "dropout" and v >= 1)):
            raise bad(name, ("a whole number" if kind is int else "a number") + f" in {span}")
    if cfg.features not in FEATURES:
        raise ValueError(f"features {cfg.features!r} is not one of {', '.join(FEATURES)}")
    if cfg.warm_start not in WARM_STARTS:
        raise ValueError(f"warm_start {cfg.warm_start!r} is not one of {', '.join(WARM_STARTS)}")
    for name in ("slope", "stage2_last", "stage2_balance", "term_balance", "output_scale", "normalize_features",
                 "plateau", "balanced_visits"):
        if not isinstance(getattr(cfg, name), bool):
            raise bad(name, "True or False")
    k = cfg.k_range
    if (not isinstance(k, (tuple, list)) or len(k) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in k)
            or not 2 <= k[0] <= k[1] <= LIMITS["n_clusters"]):
        raise bad("k_range", f"two whole numbers (low, high) with 2 <= low <= high <= {LIMITS['n_clusters']}")
    if cfg.n_clusters is not None:
        try:
            check_size("n_clusters", cfg.n_clusters)
        except ValueError:
            raise bad("n_clusters", f"None or a whole number in [1, {LIMITS['n_clusters']}]") from None
    if cfg.device is not None and not isinstance(cfg.device, str):
        raise bad("device", "None, 'cpu' or 'cuda'")


@dataclass
class LAMPINNConfig:
    """Every LAM-PINN hyperparameter, as a table: the published settings, the run's protocol, then the options
    beyond the paper.

    Published values are the paper's, or the authors' released elasticity code's where the paper gives none.
    Chapter 8 says where this implementation differs from the released code, and why; chapter 12 measures each
    difference.
    """

    # ---- As published ----------------------------------------------------------------------------------------------
    width: int = 64  # basis, subnetworks and meta network width (published: 64)
    meta_depth: int = 3  # tanh layers of the meta network before its linear output (published: 3)
    dropout: float = 0.2  # in the subnetworks while meta-training, off when adapting (published: 0.2)
    features: str = "affinity+params"  # task representation (published: loss features with the parameters)
    affinity_fraction: float = 0.05  # each affinity session, as a fraction of B (published: a few percent)
    n_clusters: int | None = None  # K; None: the best silhouette in k_range (published: by silhouette; released: 3)
    k_range: tuple[int, int] = (2, 6)  # the Ks the silhouette chooses from (published: none given)
    warm_start: str = "central"  # what the whole network is pretrained on (published: the central task)
    stage1_iters: int = 200  # per task (published: 200 epochs)
    stage1_lr: float = 2e-3  # subnetworks and meta network in stage 1 (published: 2e-3)
    gate_lr: float = 5e-3  # the closed gates in stage 1 (published: 5e-3)
    closed_gate: float = 0.1  # value of the other clusters' gates in stage 1 (published: 0.1)
    stage2_iters: int = 100  # meta network consolidation after each round (published: 100)
    stage2_lr: float = 5e-5  # meta network in stage 2 (published: 5e-5)
    adapt_lr: float = 2e-3  # subnetworks and meta network when adapting (published: 2e-3)
    adapt_gate_lr: float = 0.3  # gates when adapting (published: 0.3)
    # ---- The run: the protocol shared with the baselines (:meth:`protocol`) ----------------------------------------
    budget: int = 2000  # B, from-scratch Adam iterations; adaptation gets B // 10 (published: 1,000 adapting epochs)
    lr: float = 1e-3  # the protocol's Adam rate: pretraining and the affinity sessions (the benchmark: scratch at B's)
    warm_weight_factor: float = 1.0  # factor on the constraint terms' weights in pretraining and the affinity sessions
    n_interior: int = 2000  # interior collocation points (published, elasticity: 10,000)
    n_boundary: int = 200  # points on each boundary set (published, elasticity: 500 per edge)
    seed: int = 0  # every random choice of meta-training and adaptation
    device: str | None = None  # None: lampinn.settings.device()
    # ---- Beyond the paper, ours: chosen on meta-validation (chapter 8, methods.META_VALIDATED), chapter 12.4 --------
    stage1_step: float = 1.0  # keep this fraction of each stage-1 task's move, Reptile's outer step (1: as published)
    meta_weight_decay: float = 1e-3  # L2 weight decay on the meta network in stages 1 and 2, against saturation
    meta_decay: float = 0.0  # decoupled (AdamW) weight decay on the meta network in pretraining and both stages
    output_scale: bool = True  # the network predicts u / family.output_scale(theta): every task of order one
    normalize_features: bool = True  # divide h(x) by 1 + the sum of the gates before the meta network
    # ---- Beyond the paper, the authors' released code: off, each measured in chapter 12.4 --------------------------
    stage2_last: bool = False  # stage 2 on each round's last task only (off: the round's tasks, as first released)
    plateau: bool = False  # in each stage and when adapting, rates fall by 0.7 once the loss stalls (off: constant)
    balanced_visits: bool = False  # revisit the smaller clusters' tasks so that every round visits every cluster
    # ---- Beyond the paper, further options: off, measured in no chapter --------------------------------------------
    slope: bool = False  # add the loss curve's log-slope to the affinity features (chapter 5)
    stage2_balance: bool = False  # divide each task's stage-2 loss by its value at the round's start
    term_balance: bool = False  # divide each loss term by its value at the start of each pretraining / stage-1 task
    meta_weight_factor: float = 1.0  # factor on the constraint terms' weights in stages 1 and 2 (chosen on meta-validation)

    def __post_init__(self) -> None:
        _check_config(self)

    def protocol(self) -> Protocol:
        """The baselines' protocol with the same budget, points, rate, seed and device."""
        return Protocol(budget=self.budget, lr=self.lr, n_interior=self.n_interior, n_boundary=self.n_boundary,
                        seed=self.seed, device=self.device)

    @property
    def adapt_budget(self) -> int:
        return self.protocol().adapt_budget


@dataclass
class Adapted:
    """The result of adapting to one task: the network, its learned gates and the loss history."""

    model: ModularPINN
    gates: np.ndarray
    history: History
    seconds: float


@dataclass
class LAMPINN:
    """The method; see the module docstring. ``meta_train`` fills in everything below ``config``."""

    config: LAMPINNConfig = field(default_factory=LAMPINNConfig)
    family: Family | None = None
    model: ModularPINN | None = None
    tasks: np.ndarray | None = None
    representation: np.ndarray | None = None
    clustering: Clustering | None = None
    sessions: Sessions | None = None
    rounds: list[list[int]] = field(default_factory=list)
    history: dict[str, History] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    iterations: dict[str, int] = field(default_factory=dict)
    points: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    version: str = __version__

    # ---- meta-training --------------------------------------------------------------------------
    def meta_train(self, family: Family, progress: bool = False, sessions: Sessions | None = None,
                   tasks: np.ndarray | None = None) -> LAMPINN:
        """Affinity sessions, representation, clustering, then the two-stage meta-training on the 27 tasks.

        ``sessions`` reuses the affinity sessions of another run with the same budget, rate, points and
        seed (the benchmark's ablations share LAM-PINN's); they are then not recomputed. ``tasks``
        meta-trains on some of the training tasks only (meta-validation holds the others out, see
        :func:`lampinn.health.meta_validation`).
        """
        cfg = self.config
        if cfg.features not in FEATURES:
            raise ValueError(f"features {cfg.features!r} is not one of {', '.join(FEATURES)}")
        protocol = cfg.protocol()
        self.family = family
        self.tasks = family.train_tasks() if tasks is None else np.atleast_2d(np.asarray(tasks, dtype=float))
        anchor = int(np.argmin(np.abs(self.tasks - central_task(family)).sum(axis=1)))

        start = time.perf_counter()
        session_iters = max(2, int(round(cfg.affinity_fraction * cfg.budget)))
        if sessions is None:  # the source is transfer's network when the protocol and weights are transfer's
            warm = family.scaled(cfg.warm_weight_factor)
            source = pretrain(warm, central_task(family)[None], protocol)[0]
            sessions = learning_affinity(warm, source, self.tasks, session_iters, protocol)
        elif sessions.curves.shape != (len(self.tasks), session_iters) or not np.allclose(sessions.tasks, self.tasks):
            raise ValueError(f"the given sessions have curves of shape {sessions.curves.shape}; expected "
                             f"{(len(self.tasks), session_iters)} on this family's training tasks")
        self.sessions = sessions
        feats = self.sessions.features(cfg.slope)
        if cfg.features == "random":
            feats = 10 ** np.random.default_rng(cfg.seed).normal(size=feats.shape)
        self.representation = representation(family, self.tasks, None if cfg.features == "params" else feats,
                                             use_params=cfg.features != "affinity")
        self.clustering = cluster(self.representation, cfg.n_clusters, cfg.k_range, cfg.seed)
        self.rounds = visit_order(self.clustering.labels, self.representation, anchor, cfg.balanced_visits, cfg.seed)
        self.seconds["affinity"] = time.perf_counter() - start
        self.iterations["affinity"] = cfg.budget + session_iters * len(self.tasks)

        start = time.perf_counter()
        seed_everything(cfg.seed)
        self.model = ModularPINN(family.in_dim, family.out_dim, self.clustering.k, cfg.width, cfg.meta_depth, cfg.dropout,
                                 input_bounds=family.domain, normalize=cfg.normalize_features).to(default_device(cfg.device))
        self.points = family.points(cfg.n_interior, cfg.n_boundary, seed=cfg.seed, device=cfg.device)
        # The basis is learned once, with every gate half open, then frozen: on the central task (transfer's source,
        # a training task unless the family declares another centre), or on every training task in turn (one per step).
        warm = [central_task(family)] if cfg.warm_start == "central" else list(self.tasks)
        losses = [self._loss(theta, balance=cfg.term_balance) for theta in warm]
        calls = itertools.count()
        self.history["pretrain"] = train(self.model, lambda m: losses[next(calls) % len(losses)](m),
                                         weights=family.scaled(cfg.warm_weight_factor).loss_weights, iters=cfg.budget,
                                         lr=cfg.lr, device=cfg.device,
                                         progress=progress, post_step=self._decay(cfg.lr))
        for p in self.model.basis.parameters():
            p.requires_grad_(False)
        self.history["stage1"], self.history["stage2"] = History(), History()
        for round_ in self.rounds:
            for t in round_:
                self._stage1(t)
            self._stage2(round_)
        self.model.set_gates([0.5] * self.clustering.k)
        self.seconds["meta_train"] = time.perf_counter() - start
        visits = sum(len(r) for r in self.rounds)  # stage 2 evaluates each of a round's tasks per step
        self.iterations["meta_train"] = (cfg.budget + visits * cfg.stage1_iters
                                         + cfg.stage2_iters * (len(self.rounds) if cfg.stage2_last else visits))
        return self

    def _scale(self, theta: np.ndarray) -> torch.Tensor | None:
        """The output scale of task ``theta`` as a tensor on the network's device (None: no scaling)."""
        if not self.config.output_scale:
            return None
        return torch.as_tensor(self.family.output_scale(theta), dtype=torch.float32, device=self.model.gates.device)

    def _loss(self, theta: np.ndarray, gates: torch.Tensor | None = None, balance: bool = False):
        """The task's loss terms; with ``balance``, each divided by its value at the first call (so each starts at 1)."""
        fam, pts, scale = self.family, self.points, self._scale(theta)
        if not balance:
            return lambda m: fam.loss_terms(m.routed(gates, scale), pts, theta)
        scales: dict[str, torch.Tensor] = {}

        def balanced(m):
            terms = fam.loss_terms(m.routed(gates, scale), pts, theta)
            if not scales:
                scales.update({k: v.detach().clamp_min(1e-12) for k, v in terms.items()})
            return {k: v / scales[k] for k, v in terms.items()}

        return balanced

    def _meta_weights(self) -> dict[str, float]:
        """The loss weights of stages 1 and 2: the family's, constraint terms times ``meta_weight_factor``."""
        return self.family.scaled(self.config.meta_weight_factor).loss_weights

    def _decay(self, lr: float) -> Callable[[], None] | None:
        """The decoupled weight decay of the meta network after each step at rate ``lr`` (None when off)."""
        if not self.config.meta_decay:
            return None
        factor, params = 1.0 - lr * self.config.meta_decay, list(self.model.meta.parameters())

        def decay() -> None:
            with torch.no_grad():
                for p in params:
                    p.mul_(factor)

        return decay

    def _plateau(self, iters: int, fraction: float) -> tuple[float, int] | None:
        """The released rate schedule of a stage of ``iters`` iterations: factor 0.7, patience ``fraction`` of
        the iterations; None when ``plateau`` is off. (The decoupled decay keeps the stage's starting rate.)"""
        return (0.7, max(1, int(fraction * iters))) if self.config.plateau else None

    def _open_gates(self, t: int) -> list[float]:
        g = [self.config.closed_gate] * self.clustering.k
        g[self.clustering.labels[t]] = 1.0
        return g

    def _stage1(self, t: int) -> None:
        """Task t with its cluster's gate held open at 1: subnetworks, meta network and the closed gates train."""
        cfg, m = self.config, self.model
        m.train()
        m.set_gates(self._open_gates(t))
        own = self.clustering.labels[t]
        mask = torch.ones_like(m.gates)
        mask[own] = 0.0
        hook = m.gates.register_hook(lambda g: g * mask)  # no gradient for the open gate: it stays at 1
        groups = [{"params": list(m.subnets.parameters()), "lr": cfg.stage1_lr},
                  {"params": list(m.meta.parameters()), "lr": cfg.stage1_lr, "weight_decay": cfg.meta_weight_decay},
                  {"params": [m.gates], "lr": cfg.gate_lr}]
        moving = list(m.subnets.parameters()) + list(m.meta.parameters())
        start = [p.detach().clone() for p in moving] if cfg.stage1_step < 1 else []
        try:
            train(m, self._loss(self.tasks[t], balance=cfg.term_balance), weights=self._meta_weights(), iters=cfg.stage1_iters,
                  param_groups=groups, device=cfg.device, progress=False, history=self.history["stage1"],
                  post_step=self._decay(cfg.stage1_lr), plateau=self._plateau(cfg.stage1_iters, 0.75))
        finally:
            hook.remove()
        with torch.no_grad():  # a partial step: what the task taught, without forgetting the tasks before it
            for p, p0 in zip(moving, start):
                p.copy_(p0 + cfg.stage1_step * (p - p0))

    def _stage2(self, round_: list[int]) -> None:
        """Consolidation: only the meta network trains, on the round's tasks (with ``stage2_last``, its last task
        only), each routed through its own gates.

        The round's loss is the mean of its tasks' losses; with ``stage2_balance`` each task's terms are
        first divided by that task's weighted loss at the round's first step, so that every task starts
        at 1 and a task with a large loss scale cannot dominate the round.
        """
        cfg, m = self.config, self.model
        m.train()
        if cfg.stage2_last:
            round_ = round_[-1:]
        routes = [(self.tasks[t], torch.tensor(self._open_gates(t), device=m.gates.device), self._scale(self.tasks[t]))
                  for t in round_]
        scales: list[torch.Tensor] = []

        def loss(model):
            terms = [self.family.loss_terms(model.routed(g, s), self.points, theta) for theta, g, s in routes]
            if not scales:
                scales.extend(weighted_total(tt, self._meta_weights()).detach() if cfg.stage2_balance else 1.0
                              for tt in terms)
            return {k: sum(tt[k] / s for tt, s in zip(terms, scales)) / len(terms) for k in terms[0]}

        train(m, loss, weights=self._meta_weights(), iters=cfg.stage2_iters,
              param_groups=[{"params": list(m.meta.parameters()), "lr": cfg.stage2_lr,
                             "weight_decay": cfg.meta_weight_decay}], device=cfg.device,
              progress=False, history=self.history["stage2"], post_step=self._decay(cfg.stage2_lr),
              plateau=self._plateau(cfg.stage2_iters, 0.5))

    def training_errors(self) -> np.ndarray:
        """Relative L2 error on each training task before any adaptation, routed through the task's
        stage-1 gates (its cluster open, the others at ``closed_gate``): how well meta-training fit them."""
        if self.model is None:
            raise ValueError("this LAM-PINN is not meta-trained yet: call meta_train(family) or LAMPINN.load(path)")
        self.model.eval()
        return np.array([evaluate(lambda x, g=torch.tensor(self._open_gates(t), device=self.model.gates.device),
                                  s=self._scale(theta): self.model(x, g, s), self.family, theta)["rel_l2"]
                         for t, theta in enumerate(self.tasks)])

    # ---- adaptation -----------------------------------------------------------------------------
    def adapt(self, theta, iters: int | None = None, progress: bool = False,
              callback: Callable[[int], None] | None = None, every: int = 0) -> Adapted:
        """Adapt a copy to task ``theta``: gates reset to 0.5, basis frozen; subnetworks, meta network and gates
        train on the task's PINN loss for ``iters`` (default B/10) iterations, gates clamped to [0, 1]. With
        ``plateau`` on, the rates fall by 0.7 once the loss has not improved for 150 iterations (as released).

        ``callback(step)`` runs after every step (an explorer's progress bar); an exception it raises stops
        the adaptation and propagates. ``every`` > 0 records the MSE against the task's reference every ``every``
        iterations in the history's ``evaluations`` (the paper's protocol reads its best iteration there).
        """
        if self.model is None:
            raise ValueError("this LAM-PINN is not meta-trained yet: call meta_train(family) or LAMPINN.load(path)")
        cfg = self.config
        theta = self.family.validate(theta)
        m = copy.deepcopy(self.model).eval()  # eval: no dropout while adapting
        m.set_gates([0.5] * m.n_clusters)
        m.set_scale(self.family.output_scale(theta) if cfg.output_scale else np.ones(m.config["out_dim"]))
        for p in m.basis.parameters():
            p.requires_grad_(False)
        groups = [{"params": list(m.subnets.parameters()) + list(m.meta.parameters()), "lr": cfg.adapt_lr},
                  {"params": [m.gates], "lr": cfg.adapt_gate_lr}]

        step = 0

        def clamp() -> None:
            nonlocal step
            with torch.no_grad():
                m.gates.clamp_(0.0, 1.0)
            step += 1
            if callback is not None:
                callback(step)

        start = time.perf_counter()
        monitor = (every, lambda: [evaluate(m, self.family, theta)["mse"]]) if every else None
        hist = train(m, self._loss(theta), weights=self.family.loss_weights, iters=cfg.adapt_budget if iters is None else iters,
                     param_groups=groups, post_step=clamp, device=cfg.device, progress=progress, monitor=monitor,
                     plateau=(0.7, ADAPT_PATIENCE) if cfg.plateau else None)
        return Adapted(m, m.gates.detach().cpu().numpy().copy(), hist, time.perf_counter() - start)

    # ---- save and load --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the meta-trained network with its representation and clustering; no code is pickled."""
        if self.model is None:
            raise ValueError("nothing to save: the model is not meta-trained")
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        meta = {
            "format": "lampinn-lampinn-2", "sha256": state_sha256(state), "version": __version__, "family": self.family.name,
            "config": asdict(self.config), "model": self.model.config, "tasks": self.tasks.tolist(),
            "representation": self.representation.tolist(), "labels": self.clustering.labels.tolist(),
            "k": self.clustering.k, "centers": self.clustering.centers.tolist(),
            "silhouette": {str(k): v for k, v in self.clustering.silhouette.items()},
            "stability": self.clustering.stability, "rounds": self.rounds,
            "curves": self.sessions.curves.tolist() if self.sessions is not None else None,
        }
        atomic_write(path, lambda fh: torch.save({"meta": json.dumps(meta, allow_nan=False), "state": state}, fh))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None, family: Family | None = None) -> LAMPINN:
        """Read a file written by :meth:`save` (``torch.load(weights_only=True)``: nothing is executed).

        ``family`` is needed for a family of your own (the built-in ones are found by name); its name
        must match the file's. The metadata is checked by :func:`check_checkpoint` before any network is built,
        and the weights against the SHA-256 stored with them.
        """
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(blob["meta"], parse_constant=lambda c: float("nan"))
            state = blob["state"]
        except FileNotFoundError:
            raise
        except Exception as err:  # truncated, corrupt or not a checkpoint at all
            raise ValueError(f"{path}: not a readable LAM-PINN checkpoint ({type(err).__name__})") from None
        check_checkpoint(meta, state, path)
        try:
            config = LAMPINNConfig(**{**LATER_FIELDS, **meta["config"], "k_range": tuple(meta["config"]["k_range"]),
                                      "device": device})
            model = ModularPINN(**{**LATER_MODEL_KEYS, **meta["model"],
                                   "input_bounds": [tuple(b) for b in meta["model"]["input_bounds"]]})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None
        try:
            model.load_state_dict(state)
        except RuntimeError:
            raise ValueError(f"{path}: the weights do not match the network described in the file") from None
        if family is None:
            try:
                family = get_family(meta["family"])
            except ValueError as err:  # a family of your own is not found by name
                raise ValueError(f"{path}: {err}; for a family of your own, pass it: "
                                 f"LAMPINN.load(path, family=YourFamily())") from None
        elif family.name != meta["family"]:
            raise ValueError(f"{path}: a checkpoint of family {meta['family']!r}, not {family.name!r}")
        if family.in_dim != model.config["in_dim"] or family.out_dim != model.config["out_dim"]:
            raise ValueError(f"{path}: a network of {model.config['in_dim']} inputs and {model.config['out_dim']} outputs; "
                             f"{family.name} has {family.in_dim} and {family.out_dim}")
        out = cls(config=config, family=family, model=model.to(default_device(device)), tasks=np.array(meta["tasks"]),
                  representation=np.array(meta["representation"]), rounds=meta["rounds"], version=meta["version"])
        out.clustering = Clustering(np.array(meta["labels"]), meta["k"], np.array(meta["centers"]),
                                    {int(k): v for k, v in meta["silhouette"].items()}, meta["stability"])
        if meta["curves"] is not None:
            out.sessions = Sessions(out.tasks, np.array(meta["curves"]), 0.0)
        for p in out.model.basis.parameters():
            p.requires_grad_(False)
        out.points = family.points(config.n_interior, config.n_boundary, seed=config.seed, device=device)
        return out


#: The metadata keys of each checkpoint format. ``lampinn-lampinn-1`` is the format of the committed checkpoints in
#: ``results/*.models/`` (written before weights were hashed): it is read without a hash check, and only it.
CHECKPOINT_KEYS = {"format", "version", "family", "config", "model", "tasks", "representation", "labels", "k", "centers",
                   "silhouette", "stability", "rounds", "curves"}
FORMATS = {"lampinn-lampinn-1": CHECKPOINT_KEYS, "lampinn-lampinn-2": CHECKPOINT_KEYS | {"sha256"}}
#: Configuration fields added after format 1, with the value every format-1 file was run with: such a file may lack
#: them, and then takes these values (not the current defaults).
LATER_FIELDS = {"meta_weight_decay": 0.0, "meta_weight_factor": 1.0, "warm_weight_factor": 1.0, "stage2_balance": False, "term_balance": False,
                "output_scale": False, "normalize_features": False, "warm_start": "central", "stage1_step": 1.0,
                "meta_decay": 0.0, "stage2_last": False, "plateau": False, "balanced_visits": False}
MODEL_KEYS = {"in_dim", "out_dim", "n_clusters", "width", "meta_depth", "dropout", "input_bounds"}
LATER_MODEL_KEYS = {"normalize": False}  # likewise for the network's description


def check_checkpoint(meta, state, path: str | os.PathLike = "checkpoint") -> None:
    """A one-line ``ValueError`` naming ``path`` and the field unless the checkpoint's metadata has its format's
    keys exactly, a configuration with every field of :class:`LAMPINNConfig` (none missing, none extra), a network
    within :data:`lampinn.nn.LIMITS`, clustering of the network's size, and weights matching their SHA-256."""
    mapping(path, "metadata", meta)
    if meta.get("format") not in FORMATS:
        raise ValueError(f"{path}: unknown checkpoint format {meta.get('format')!r}; expected one of {', '.join(FORMATS)}")
    mapping(path, "metadata", meta, FORMATS[meta["format"]])
    names = {f.name for f in fields(LAMPINNConfig)}
    # Files written before a field existed lack it (and take its value in LATER_FIELDS); no file has unknown fields.
    mapping(path, "config", meta["config"], required=names - set(LATER_FIELDS))
    mapping(path, "config", meta["config"], names if set(meta["config"]) - names else set(meta["config"]))
    net = mapping(path, "model", meta["model"], MODEL_KEYS | (set(LATER_MODEL_KEYS) & set(meta["model"])))
    for name in MODEL_KEYS - {"dropout", "input_bounds"}:
        try:
            check_size(name, net[name])
        except ValueError:
            raise fail(path, f"model.{name}", net[name], f"a whole number in [1, {LIMITS[name]}]") from None
    try:
        check_bounds(net["input_bounds"], net["in_dim"])
    except ValueError as err:
        raise ValueError(f"{path}: model.{err}") from None
    if not isinstance(meta["family"], str):
        raise fail(path, "family", meta["family"], "a family name")
    k = meta["k"]
    if k != net["n_clusters"]:
        raise fail(path, "k", k, f"{net['n_clusters']}, the network's n_clusters")
    labels, tasks = meta["labels"], meta["tasks"]
    if not isinstance(tasks, list) or not tasks or not isinstance(labels, list) or len(labels) != len(tasks):
        raise fail(path, "labels", labels, "one cluster label per training task")
    if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < k for v in labels):
        raise fail(path, "labels", labels, f"whole numbers in [0, {k})")
    for name in ("tasks", "representation", "centers", "curves"):
        values = np.asarray(meta[name] if meta[name] is not None else [], dtype=object).ravel()
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
            raise fail(path, name, meta[name], "finite numbers")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: the weights are not a dictionary of tensors")
    if "sha256" in meta and state_sha256(state) != meta["sha256"]:
        raise ValueError(f"{path}: the weights' SHA-256 does not match the one stored: the file is corrupt or was altered")
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise ValueError(f"{path}: the weights hold NaN or infinite values")
