"""Every method of the book under one name, each with the same two steps.

``prepare`` uses only the family's training tasks (pretraining, meta-training, or nothing);
``adapt`` trains a network for each given task from what ``prepare`` made and returns a
:class:`~lampinn.protocol.Result`. :func:`run` does both; the benchmark calls the two steps
itself, so that it can cache what ``prepare`` made and time each task on its own.

    result = methods.run("reptile", family, family.unseen_tasks(), Protocol(budget=1000))

=========================  ==============================================================  ========
name                       what                                                            chapter
=========================  ==============================================================  ========
``scratch_full``           a fresh network per task, B iterations                          3
``scratch_adapt``          a fresh network per task, B/10 iterations                       3
``transfer``               pretrained on the central training task, fine-tuned for B/10    3
``transfer_joint``         pretrained on all 27 training tasks at once, fine-tuned          3
``maml``                   MAML (second order), fine-tuned for B/10                        4
``fomaml``                 first-order MAML, fine-tuned for B/10                           4
``reptile``                Reptile, fine-tuned for B/10                                    4
``lampinn``                LAM-PINN, adapted for B/10                                      8
``ablation_*``             LAM-PINN with one ingredient changed (:data:`ABLATIONS`)        12
``lampinn_released``       LAM-PINN as the authors released it, untuned                    11
``*_untuned``              a baseline at the released rate and the family's weights        11
``zero``                   no network: predicts u = 0 everywhere (the level of learning    9
                           nothing: its MSE is the mean square of the reference)
``solve_*``                a least-squares head on a frozen basis: random, learned from     13
                           the training tasks, transfer's network, LAM-PINN's modules
``fastlsq``                an outside package's one-shot solve (:mod:`lampinn.anchor`)      13
=========================  ==============================================================  ========
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import torch

from . import settings, solve
from .baselines import MetaConfig, adapt, maml, meta_cost, reptile, scratch
from .core import LAMPINN, RELEASED, LAMPINNConfig
from .pde import Family, evaluate
from .protocol import Protocol, Result, central_task, pretrain, trajectory
from .train import History

#: Each ablation of LAM-PINN: the configuration fields it changes.
ABLATIONS: dict[str, dict] = {
    "ablation_param_clusters": {"features": "params"},
    "ablation_affinity_only": {"features": "affinity"},
    "ablation_random_features": {"features": "random"},
    "ablation_fixed_routing": {"adapt_gate_lr": 0.0},
    "ablation_k1": {"n_clusters": 1},
    "ablation_no_meta": {"stage1_iters": 0, "stage2_iters": 0},
}
#: LAM-PINN's meta-training per family, chosen by :func:`lampinn.health.choose` on ``results/meta_validation/``: on the
#: tuned record (``FAMILY.tuned.jsonl``) where the family has one, else on the first. The tuned records of Burgers and
#: Helmholtz chose no stage 1 or 2 at all: no meta-training setting adapted better than the warm-started network.
#: Elasticity's chose the stage-1 step of 0.1 with stages 1 and 2 at scratch training's tuned loss weights.
META_VALIDATED: dict[str, dict] = {"burgers": {"stage1_iters": 0, "stage2_iters": 0},
                                   "helmholtz": {"stage1_iters": 0, "stage2_iters": 0},
                                   "elasticity": {"stage1_step": 0.1, "meta_weight_factor": 0.001}}
#: The Adam rate of every untuned method's pretraining and adaptation: the authors' released adaptation rate.
UNTUNED_LR = 2e-3
#: LAM-PINN as the authors released it: their meta-training (:data:`lampinn.core.RELEASED`) at the family's own loss
#: weights, whatever meta-validation chose for ours.
RELEASED_CHANGES = {**RELEASED, "meta_weight_factor": 1.0}
#: LAM-PINN configuration fields that act only when adapting (an ablation changing only these reuses the network).
ADAPT_ONLY = frozenset({"adapt_lr", "adapt_gate_lr"})


@dataclass
class Prepared:
    """What a method adapts from (``None`` for scratch, an MLP, or a meta-trained :class:`~lampinn.core.LAMPINN`)
    and what making it cost."""

    init: object = None
    seconds: float = 0.0
    iterations: int = 0
    history: History | None = None


@dataclass(frozen=True)
class Method:
    """One method: a name, a one-line summary, and the tuned settings it uses (see :mod:`lampinn.benchmark`).

    ``setting`` names the tuned Adam rate and loss weights its adaptation uses; ``prepare_setting`` those
    its pretraining uses (``None``: the family's own weights and the configuration's rates).
    """

    name: str
    summary: str
    setting: str | None
    prepare_setting: str | None = None
    untuned: bool = False  # trains at :data:`UNTUNED_LR` with the family's own weights, as a paper would run it
    prepares: ClassVar[bool] = True  # whether :meth:`prepare` trains anything

    def prepare(self, family: Family, protocol: Protocol, config=None) -> Prepared:
        """Pretrain or meta-train on ``family``'s training tasks (``config``: the method's own settings)."""
        return Prepared()

    def adapt(self, prepared: Prepared, family: Family, thetas: np.ndarray, protocol: Protocol) -> Result:
        """Train one network per task of ``thetas`` from ``prepared`` and evaluate each."""
        raise NotImplementedError


@dataclass(frozen=True)
class Scratch(Method):
    full: bool = True
    prepares: ClassVar[bool] = False

    def adapt(self, prepared: Prepared, family: Family, thetas: np.ndarray, protocol: Protocol) -> Result:
        result = scratch(family, thetas, protocol, protocol.budget if self.full else protocol.adapt_budget)
        return replace(result, method=self.name)


@dataclass(frozen=True)
class Zero(Method):
    """Predict zero everywhere, with no training: a method scoring near it has learned nothing."""

    prepares: ClassVar[bool] = False

    def adapt(self, prepared: Prepared, family: Family, thetas: np.ndarray, protocol: Protocol) -> Result:
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        zero = ZeroNetwork(family.out_dim)
        return Result(self.name, thetas, [zero] * len(thetas), History(), [evaluate(zero, family, t) for t in thetas],
                      {"meta_seconds": 0.0, "adapt_seconds": 0.0}, {"meta_iterations": 0, "adapt_iterations": 0})


class ZeroNetwork(torch.nn.Module):
    """u = 0 at every point, with ``out_dim`` outputs."""

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*x.shape[:-1], self.out_dim, dtype=x.dtype, device=x.device)


@dataclass(frozen=True)
class FineTuned(Method):
    """A baseline that fine-tunes one initialisation for B/10: transfer, MAML, first-order MAML, Reptile."""

    def adapt(self, prepared: Prepared, family: Family, thetas: np.ndarray, protocol: Protocol) -> Result:
        result = adapt(family, prepared.init, thetas, protocol, method=self.name, meta_seconds=prepared.seconds,
                       meta_iterations=prepared.iterations)
        result.meta_history = prepared.history
        return result


@dataclass(frozen=True)
class Transfer(FineTuned):
    source: str = "central"  # or "joint"

    def prepare(self, family: Family, protocol: Protocol, config=None) -> Prepared:
        sources = central_task(family)[None] if self.source == "central" else family.train_tasks()
        return Prepared(*pretrain(family, sources, protocol))


@dataclass(frozen=True)
class MetaLearned(FineTuned):
    """MAML (``first_order`` or not) or Reptile; ``config`` is a :class:`~lampinn.baselines.MetaConfig`."""

    algorithm: str = "maml"
    first_order: bool = False

    def default_config(self, sizes: dict[str, int] | None = None) -> MetaConfig:
        """Chapter 4's settings, with the meta-iterations of ``sizes`` (default: the current mode's)."""
        iters = (sizes or settings.sizes())[self.algorithm]
        if self.algorithm == "maml":
            return MetaConfig(meta_iters=iters, meta_batch=5, inner_steps=1, inner_lr=1e-3, outer_lr=1e-3)
        return MetaConfig(meta_iters=iters, meta_batch=5, inner_steps=20, inner_lr=1e-3, outer_lr=0.5)

    def prepare(self, family: Family, protocol: Protocol, config: MetaConfig | None = None) -> Prepared:
        config = replace(config or self.default_config(), first_order=self.first_order)
        init, hist, seconds = (maml if self.algorithm == "maml" else reptile)(family, protocol, config)
        return Prepared(init, seconds, meta_cost(config, self.algorithm), hist)


@dataclass(frozen=True)
class LAMPINNMethod(Method):
    """LAM-PINN, or an ablation of it (``changes`` to its :class:`~lampinn.core.LAMPINNConfig`)."""

    changes: dict = field(default_factory=dict)

    @property
    def adapt_only(self) -> bool:
        """Whether the changes act only when adapting (then LAM-PINN's meta-trained network serves)."""
        return set(self.changes) <= ADAPT_ONLY

    def default_config(self, protocol: Protocol, sizes: dict[str, int] | None = None,
                       family: str | None = None) -> LAMPINNConfig:
        """The protocol's budget, rate, points, seed and device, with the stage lengths of ``sizes`` (default:
        the current mode's) and the meta-training settings :data:`META_VALIDATED` chose for ``family``, if any."""
        s = sizes or settings.sizes()
        run = dict(budget=protocol.budget, lr=protocol.lr, n_interior=protocol.n_interior, n_boundary=protocol.n_boundary,
                   stage1_iters=s["stage1"], stage2_iters=s["stage2"], seed=protocol.seed, device=protocol.device)
        return LAMPINNConfig(**{**run, **META_VALIDATED.get(family, {})})  # a choice of no meta-training wins

    def prepare(self, family: Family, protocol: Protocol, config: LAMPINNConfig | None = None, sessions=None) -> Prepared:
        """Meta-train (``sessions``: affinity sessions to reuse, as the benchmark's ablations do)."""
        config = replace(config or self.default_config(protocol, family=family.name), **self.changes)
        model = LAMPINN(config).meta_train(family, sessions=sessions)
        return Prepared(model, sum(model.seconds.values()), sum(model.iterations.values()))

    def adapt(self, prepared: Prepared, family: Family, thetas: np.ndarray, protocol: Protocol) -> Result:
        """Adapt the meta-trained network to each task, with ``family``'s loss weights and, where the protocol
        sets them, its ``adapt_lr`` and ``adapt_gate_lr`` (the benchmark's tuned rates; an ablation's own change of
        the gates' rate wins)."""
        lam: LAMPINN = prepared.init
        changes = {**({"adapt_gate_lr": protocol.adapt_gate_lr} if protocol.adapt_gate_lr is not None else {}),
                   **self.changes, **({"adapt_lr": protocol.adapt_lr} if protocol.adapt_lr is not None else {})}
        lam = replace(lam, family=family, config=replace(lam.config, **changes))
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        adapted = [lam.adapt(theta, every=protocol.eval_every) for theta in thetas]
        history = History(evaluations={s: [a.history.evaluations[s][0] for a in adapted]
                                       for s in adapted[0].history.evaluations})
        for step in range(len(adapted[0].history)):  # summed over tasks, like a stacked training's history
            history.record(sum(a.history.total[step] for a in adapted),
                           {k: sum(a.history.terms[k][step] for a in adapted) for k in adapted[0].history.terms}, "adam")
        return Result(self.name, thetas, [a.model for a in adapted], history,
                      [{**evaluate(a.model, family, t), **trajectory(history, i)} for i, (a, t) in enumerate(zip(adapted, thetas))],
                      {"meta_seconds": prepared.seconds, "adapt_seconds": sum(a.seconds for a in adapted)},
                      {"meta_iterations": prepared.iterations, "adapt_iterations": len(history) * len(thetas)})


@dataclass(frozen=True)
class ClosedForm(Method):
    """The head of a frozen basis found by least squares on the task's PINN residuals (chapter 13,
    :mod:`lampinn.solve`). ``basis``: ``"random"`` or ``"learned"`` (made here from the training tasks), or
    ``"transfer"`` / ``"lampinn"`` (the network that method prepares: its last hidden layer, its modules)."""

    basis: str = "random"

    @property
    def network_source(self) -> str | None:
        """The method whose prepared network this basis is read from, if any."""
        return self.basis if self.basis in ("transfer", "lampinn") else None

    def prepare(self, family: Family, protocol: Protocol, config=None) -> Prepared:
        """Make the basis; ``config`` is a :class:`~lampinn.solve.SolveConfig` (default: the current mode's)."""
        start = time.perf_counter()
        network = None
        if self.network_source is not None:
            network = get_method(self.network_source).prepare(family, protocol).init
        config = config or solve.SolveConfig.for_mode(settings.mode())
        basis, info = solve.make_basis(self.basis, family, config, protocol.n_interior, protocol.n_boundary,
                                       protocol.seed, network)
        return Prepared(basis, time.perf_counter() - start, 0, None)

    def adapt(self, prepared: Prepared, family: Family, thetas: np.ndarray, protocol: Protocol) -> Result:
        """One solve per task on the collocation points of the protocol."""
        basis = prepared.init
        if not isinstance(basis, solve.Features):  # a prepared network: read the basis from it
            basis = solve.make_basis(self.basis, family, solve.SolveConfig(), 0, 0, protocol.seed, basis)[0]
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        pts = solve.collocation(family, protocol.n_interior, protocol.n_boundary, protocol.seed)
        solved = [solve.solve(family, basis, t, points=pts, strict=False) for t in thetas]
        metrics = [{**evaluate(s.model, family, t), **s.summary()} for s, t in zip(solved, thetas)]
        return Result(self.name, thetas, [s.model for s in solved], History(), metrics,
                      {"meta_seconds": prepared.seconds, "adapt_seconds": sum(s.seconds for s in solved)},
                      {"meta_iterations": 0, "adapt_iterations": sum(s.iterations for s in solved)})


@dataclass(frozen=True)
class Anchor(Method):
    """An outside package, the one a user would pick instead (:mod:`lampinn.anchor`: fastlsq, an optional extra):
    each task solved in its own random Fourier features on the protocol's collocation points, at the bandwidth
    chosen on training tasks. Nothing is prepared; ``seconds`` holds the solves' wall-clock and CPU time."""

    prepares: ClassVar[bool] = False

    def adapt(self, prepared: Prepared, family: Family, thetas: np.ndarray, protocol: Protocol) -> Result:
        from . import anchor

        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        points = family.sample(protocol.n_interior, protocol.n_boundary, protocol.seed)
        models = [anchor.fit(family, t, seed=protocol.seed, points=points) for t in thetas]
        return Result(self.name, thetas, models, History(), [evaluate(m, family, t) for m, t in zip(models, thetas)],
                      {"meta_seconds": 0.0, "adapt_seconds": sum(m.seconds for m in models),
                       "adapt_cpu_seconds": sum(m.cpu_seconds for m in models)},
                      {"meta_iterations": 0, "adapt_iterations": sum(m.newton for m in models)})


#: Every method by name, in the order of the book.
METHODS: dict[str, Method] = {m.name: m for m in (
    Scratch("scratch_full", "a fresh network per task, B iterations", "scratch_full", full=True),
    Scratch("scratch_adapt", "a fresh network per task, B/10 iterations", "scratch_adapt", full=False),
    Transfer("transfer", "pretrained on the central training task, fine-tuned for B/10", "finetune", "scratch_full"),
    Transfer("transfer_joint", "pretrained on all training tasks jointly, fine-tuned for B/10", "finetune", "scratch_full",
             source="joint"),
    MetaLearned("maml", "MAML (second order), fine-tuned for B/10", "finetune", "finetune"),
    MetaLearned("fomaml", "first-order MAML, fine-tuned for B/10", "finetune", "finetune", first_order=True),
    MetaLearned("reptile", "Reptile, fine-tuned for B/10", "finetune", "finetune", algorithm="reptile"),
    LAMPINNMethod("lampinn", "LAM-PINN, adapted for B/10", "lampinn"),
    *(LAMPINNMethod(name, f"LAM-PINN with {changes}", "lampinn", changes=changes) for name, changes in ABLATIONS.items()),
    Zero("zero", "predict u = 0 everywhere (no training)", None),
    # Solve, don't descend (chapter 13): a least-squares head on a frozen basis, one solve per task
    ClosedForm("solve_random", "random tanh features, head solved by least squares", None, basis="random"),
    ClosedForm("solve_learned", "the training tasks' solutions as a basis, head solved", None, basis="learned"),
    ClosedForm("solve_transfer", "transfer's source network's last hidden layer, head solved", None, basis="transfer"),
    ClosedForm("solve_lampinn", "LAM-PINN's modules side by side, head solved", None, basis="lampinn"),
    Anchor("fastlsq", "fastlsq (outside package): one-shot least squares in its own features", None),
    # The paper's protocol (chapter 11): the methods as a paper would run them, untuned
    LAMPINNMethod("lampinn_released", "LAM-PINN as released: its meta-training and adaptation, untuned", None,
                  untuned=True, changes=RELEASED_CHANGES),
    Scratch("scratch_full_untuned", "scratch at B, untuned", None, untuned=True, full=True),
    Scratch("scratch_adapt_untuned", "scratch at B/10, untuned", None, untuned=True, full=False),
    Transfer("transfer_untuned", "transfer, pretrained and fine-tuned untuned", None, untuned=True),
    MetaLearned("maml_untuned", "MAML, fine-tuned untuned", None, untuned=True),
    MetaLearned("reptile_untuned", "Reptile, fine-tuned untuned", None, untuned=True, algorithm="reptile"),
)}
#: The methods of ``lampinn benchmark --mode paper``: LAM-PINN as released, each baseline untuned and tuned.
PAPER_METHODS = ("scratch_full_untuned", "scratch_adapt_untuned", "transfer_untuned", "maml_untuned", "reptile_untuned",
                 "lampinn_released", "scratch_full", "scratch_adapt", "transfer", "maml", "reptile")


def get_method(name: str) -> Method:
    """The method called ``name`` (one of :data:`METHODS`)."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}") from None


def tuned_protocol(sizes: dict, tuning: dict, seed: int, method: str | None = None,
                   device: str | None = None, setting: str | None = None) -> Protocol:
    """The shared protocol at ``sizes``, with the tuned Adam rates of ``method``'s settings where ``tuning`` (a
    benchmark run's, :class:`lampinn.benchmark.Run`) has them, each on its own: its pretraining's as ``lr``, its
    adaptation's as ``adapt_lr`` (LAM-PINN: the adaptation's only, and its gates' as ``adapt_gate_lr``). Transfer's
    source is pretrained before fine-tuning's rate is tuned from it; LAM-PINN's warm start takes scratch at B's
    rate through its configuration (:meth:`lampinn.benchmark.Run.config`). ``setting`` replaces the method's own
    adaptation setting (:meth:`lampinn.benchmark.Run.setting`: the diversity map's ``ablation_no_meta``)."""
    p = Protocol(budget=sizes["budget"], n_interior=sizes["n_interior"], n_boundary=sizes["n_boundary"], seed=seed,
                 device=device, eval_every=sizes.get("eval_every", 0))
    if method is not None and get_method(method).untuned:
        return replace(p, lr=UNTUNED_LR, adapt_lr=UNTUNED_LR)
    lr = tuning.get("lr", {})
    if method is None or not lr:
        return p
    m = get_method(method)
    pretraining = None if isinstance(m, LAMPINNMethod) else m.prepare_setting or m.setting
    if pretraining in lr:
        p = replace(p, lr=lr[pretraining])
    own = setting or m.setting
    if own in tuning.get("gate_lr", {}):
        p = replace(p, adapt_gate_lr=tuning["gate_lr"][own])
    return replace(p, adapt_lr=lr[own]) if own in lr else p


def run(name: str, family: Family, thetas: np.ndarray, protocol: Protocol, config=None) -> Result:
    """Prepare method ``name`` on ``family``'s training tasks, then adapt it to every task of ``thetas``.

    ``scratch_full`` trains B iterations per task; every other method gets B/10 per task, after its own
    pretraining or meta-training, whose cost the result reports separately (``meta_seconds``).
    ``config`` is the method's own settings (a :class:`~lampinn.baselines.MetaConfig` for MAML and
    Reptile, a :class:`~lampinn.core.LAMPINNConfig` for LAM-PINN); default: chapter 4's and chapter 8's.
    """
    method = get_method(name)
    return method.adapt(method.prepare(family, protocol, config), family, thetas, protocol)


__all__ = ["ABLATIONS", "ADAPT_ONLY", "Anchor", "ClosedForm", "META_VALIDATED", "METHODS", "PAPER_METHODS", "RELEASED_CHANGES", "UNTUNED_LR", "LAMPINNMethod", "MetaLearned", "Method", "Prepared", "Scratch",
           "Transfer", "Zero", "ZeroNetwork", "get_method", "run", "tuned_protocol"]
