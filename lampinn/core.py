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
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ._version import __version__
from .affinity import Clustering, Sessions, cluster, learning_affinity, representation, visit_order
from .protocol import Protocol, central_task, pretrain
from .files import atomic_write
from .nn import ModularPINN, default_device, seed_everything
from .pde import Family, evaluate, get_family
from .loss import weighted_total
from .train import History, train

FEATURES = ("affinity+params", "affinity", "params", "random")


@dataclass
class LAMPINNConfig:
    """Every LAM-PINN hyperparameter, with the published elasticity settings as defaults where known."""

    budget: int = 2000  # B: the from-scratch budget of the protocol; adaptation gets B // 10
    lr: float = 1e-3  # the protocol's Adam rate (pretraining and affinity sessions)
    n_interior: int = 2000
    n_boundary: int = 200
    width: int = 64  # basis, subnetworks and meta network width (published: 64)
    meta_depth: int = 3  # tanh layers of the meta network before its linear output (published: 3)
    dropout: float = 0.2  # in the subnetworks during meta-training (published: 0.2); off when adapting
    features: str = "affinity+params"  # task representation; the others serve the ablations
    slope: bool = False  # add the loss curve's log-slope to the affinity features (beyond the paper)
    affinity_fraction: float = 0.05  # each brief session: this fraction of B
    n_clusters: int | None = None  # K; None: the best silhouette in k_range
    k_range: tuple[int, int] = (2, 6)
    stage1_iters: int = 200  # per task (published: 200 epochs)
    stage1_lr: float = 2e-3  # subnetworks and meta network (published: 2e-3)
    gate_lr: float = 5e-3  # the closed gates in stage 1 (published: 5e-3)
    closed_gate: float = 0.1  # value of the other clusters' gates in stage 1 (published: 0.1)
    stage2_iters: int = 100  # meta network consolidation after each round (published: 100)
    stage2_lr: float = 5e-5  # (published: 5e-5)
    stage2_balance: bool = False  # divide each task's loss by its value at the round's start (beyond the paper)
    # Meta-training's loss (beyond the paper; chosen on meta-validation, see lampinn.health):
    meta_weight_factor: float = 1.0  # factor on the constraint terms' weights while meta-training (not adapting)
    term_balance: bool = False  # divide each loss term by its value at the start of each pretraining / stage-1 task
    meta_weight_decay: float = 0.0  # L2 weight decay on the meta network in stages 1 and 2 (against saturation)
    adapt_lr: float = 2e-3  # subnetworks and meta network when adapting (published: 2e-3)
    adapt_gate_lr: float = 0.3  # gates when adapting (published: 0.3)
    seed: int = 0
    device: str | None = None

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
        if sessions is None:
            source = pretrain(family, central_task(family)[None], protocol)[0]
            sessions = learning_affinity(family, source, self.tasks, session_iters, protocol)
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
        self.rounds = visit_order(self.clustering.labels, self.representation, anchor)
        self.seconds["affinity"] = time.perf_counter() - start
        self.iterations["affinity"] = cfg.budget + session_iters * len(self.tasks)

        start = time.perf_counter()
        seed_everything(cfg.seed)
        self.model = ModularPINN(family.in_dim, family.out_dim, self.clustering.k, cfg.width, cfg.meta_depth, cfg.dropout,
                                 input_bounds=family.domain).to(default_device(cfg.device))
        self.points = family.points(cfg.n_interior, cfg.n_boundary, seed=cfg.seed, device=cfg.device)
        # The basis is learned once, on the central task with every gate half open, then frozen.
        self.history["pretrain"] = train(self.model, self._loss(self.tasks[anchor], balance=cfg.term_balance),
                                         weights=self._meta_weights(), iters=cfg.budget, lr=cfg.lr, device=cfg.device,
                                         progress=progress)
        for p in self.model.basis.parameters():
            p.requires_grad_(False)
        self.history["stage1"], self.history["stage2"] = History(), History()
        for round_ in self.rounds:
            for t in round_:
                self._stage1(t)
            self._stage2(round_)
        self.model.set_gates([0.5] * self.clustering.k)
        self.seconds["meta_train"] = time.perf_counter() - start
        self.iterations["meta_train"] = cfg.budget + len(self.tasks) * cfg.stage1_iters + cfg.stage2_iters * len(self.tasks)
        return self

    def _loss(self, theta: np.ndarray, gates: torch.Tensor | None = None, balance: bool = False):
        """The task's loss terms; with ``balance``, each divided by its value at the first call (so each starts at 1)."""
        fam, pts = self.family, self.points
        if not balance:
            return lambda m: fam.loss_terms(lambda x: m(x, gates), pts, theta)
        scales: dict[str, torch.Tensor] = {}

        def balanced(m):
            terms = fam.loss_terms(lambda x: m(x, gates), pts, theta)
            if not scales:
                scales.update({k: v.detach().clamp_min(1e-12) for k, v in terms.items()})
            return {k: v / scales[k] for k, v in terms.items()}

        return balanced

    def _meta_weights(self) -> dict[str, float]:
        """The loss weights of meta-training: the family's, constraint terms times ``meta_weight_factor``."""
        return self.family.scaled(self.config.meta_weight_factor).loss_weights

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
        try:
            train(m, self._loss(self.tasks[t], balance=cfg.term_balance), weights=self._meta_weights(), iters=cfg.stage1_iters,
                  param_groups=groups, device=cfg.device, progress=False, history=self.history["stage1"])
        finally:
            hook.remove()

    def _stage2(self, round_: list[int]) -> None:
        """Consolidation: only the meta network trains, on the round's tasks, each routed through its own gates.

        The round's loss is the mean of its tasks' losses; with ``stage2_balance`` each task's terms are
        first divided by that task's weighted loss at the round's first step, so that every task starts
        at 1 and a task with a large loss scale cannot dominate the round.
        """
        cfg, m = self.config, self.model
        m.train()
        routes = [(self.tasks[t], torch.tensor(self._open_gates(t), device=m.gates.device)) for t in round_]
        scales: list[torch.Tensor] = []

        def loss(model):
            terms = [self.family.loss_terms(lambda x, g=g: model(x, g), self.points, theta) for theta, g in routes]
            if not scales:
                scales.extend(weighted_total(tt, self._meta_weights()).detach() if cfg.stage2_balance else 1.0
                              for tt in terms)
            return {k: sum(tt[k] / s for tt, s in zip(terms, scales)) / len(terms) for k in terms[0]}

        train(m, loss, weights=self._meta_weights(), iters=cfg.stage2_iters,
              param_groups=[{"params": list(m.meta.parameters()), "lr": cfg.stage2_lr,
                             "weight_decay": cfg.meta_weight_decay}], device=cfg.device,
              progress=False, history=self.history["stage2"])

    def training_errors(self) -> np.ndarray:
        """Relative L2 error on each training task before any adaptation, routed through the task's
        stage-1 gates (its cluster open, the others at ``closed_gate``): how well meta-training fit them."""
        if self.model is None:
            raise ValueError("this LAM-PINN is not meta-trained yet: call meta_train(family) or LAMPINN.load(path)")
        self.model.eval()
        return np.array([evaluate(lambda x, g=torch.tensor(self._open_gates(t), device=self.model.gates.device): self.model(x, g),
                                  self.family, theta)["rel_l2"] for t, theta in enumerate(self.tasks)])

    # ---- adaptation -----------------------------------------------------------------------------
    def adapt(self, theta, iters: int | None = None, progress: bool = False,
              callback: Callable[[int], None] | None = None) -> Adapted:
        """Adapt a copy to task ``theta``: gates reset to 0.5, basis frozen; subnetworks, meta network and gates
        train on the task's PINN loss for ``iters`` (default B/10) iterations, gates clamped to [0, 1].

        ``callback(step)`` runs after every step (an explorer's progress bar); an exception it raises stops
        the adaptation and propagates.
        """
        if self.model is None:
            raise ValueError("this LAM-PINN is not meta-trained yet: call meta_train(family) or LAMPINN.load(path)")
        cfg = self.config
        theta = self.family.validate(theta)
        m = copy.deepcopy(self.model).eval()  # eval: no dropout while adapting
        m.set_gates([0.5] * m.n_clusters)
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
        hist = train(m, self._loss(theta), weights=self.family.loss_weights, iters=cfg.adapt_budget if iters is None else iters,
                     param_groups=groups, post_step=clamp, device=cfg.device, progress=progress)
        return Adapted(m, m.gates.detach().cpu().numpy().copy(), hist, time.perf_counter() - start)

    # ---- save and load --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the meta-trained network with its representation and clustering; no code is pickled."""
        if self.model is None:
            raise ValueError("nothing to save: the model is not meta-trained")
        meta = {
            "format": "lampinn-lampinn-1", "version": __version__, "family": self.family.name,
            "config": asdict(self.config), "model": self.model.config, "tasks": self.tasks.tolist(),
            "representation": self.representation.tolist(), "labels": self.clustering.labels.tolist(),
            "k": self.clustering.k, "centers": self.clustering.centers.tolist(),
            "silhouette": {str(k): v for k, v in self.clustering.silhouette.items()},
            "stability": self.clustering.stability, "rounds": self.rounds,
            "curves": self.sessions.curves.tolist() if self.sessions is not None else None,
        }
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        atomic_write(path, lambda fh: torch.save({"meta": json.dumps(meta), "state": state}, fh))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None, family: Family | None = None) -> LAMPINN:
        """Read a file written by :meth:`save` (``torch.load(weights_only=True)``: nothing is executed).

        ``family`` is needed for a family of your own (the built-in ones are found by name); its name
        must match the file's.
        """
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(blob["meta"])
            state = blob["state"]
        except FileNotFoundError:
            raise
        except Exception as err:  # truncated, corrupt or not a checkpoint at all
            raise ValueError(f"{path}: not a readable LAM-PINN checkpoint ({type(err).__name__})") from None
        if meta.get("format") != "lampinn-lampinn-1":
            raise ValueError(f"{path}: unknown checkpoint format {meta.get('format')!r}; expected 'lampinn-lampinn-1'")
        config = LAMPINNConfig(**{**meta["config"], "k_range": tuple(meta["config"]["k_range"]), "device": device})
        model = ModularPINN(**{**meta["model"], "input_bounds": [tuple(b) for b in meta["model"]["input_bounds"]]})
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
