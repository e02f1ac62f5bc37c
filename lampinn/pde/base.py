"""A parameterized PDE family: the parameter space, the task designs, the PINN loss and a reference.

A family is *declared*: a subclass states its parameters, domain and loss terms, and supplies a
reference solver. The trainer, the baselines and LAM-PINN use only this interface, so a new
family is one file (chapter 14 writes one in a notebook).

Conventions used by every family:

* ``theta`` is one task, a length-``P`` sequence in the order of ``param_names``.
* Points are ``(..., N, d)`` tensors; the leading dimensions may stack several tasks, in which
  case ``theta`` is ``(..., P)`` with the same leading dimensions. Loss terms are computed by
  broadcasting, so one task and a stack of tasks share the same code.
* ``residuals`` returns each loss term's residuals per point, by name: one tensor ``(..., N)``, or a
  tuple of them where a term sums several (elasticity's two equilibrium equations). ``loss_terms``
  (derived from them unless a family defines its own) returns the *unweighted* terms, each the sum
  of its pieces' mean squares, one value per stacked task; ``loss_weights`` says how they are
  combined, and :func:`lampinn.loss.weighted_total` sums the weighted terms over tasks (so each
  task's parameters get exactly their own gradient). The residuals are what the closed-form solve
  of chapter 13 (:mod:`lampinn.solve`) stacks into one least-squares problem.
"""
from __future__ import annotations

import copy
import functools
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import qmc

from ..nn import default_device
from ..loss import weighted_total

Model = Callable[[torch.Tensor], torch.Tensor]
Array = np.ndarray | torch.Tensor  # formulas that serve the reference (NumPy) and the loss (torch)
Param = float | np.ndarray | torch.Tensor  # a parameter: a number, or one per stacked task


@dataclass(frozen=True)
class Solution:
    """A field sampled on a tensor-product evaluation grid.

    ``points`` is ``(N, d)``, ``values`` is ``(N, m)``. The points run over the grid with the
    *first* input varying fastest, so ``field(c)`` (``values[:, c].reshape(shape)``) is an image
    whose rows follow the last input: ``(n_t, n_x)`` for Burgers, ``(n_y, n_x)`` in 2-D.
    ``axes`` holds the 1-D coordinates of each input in the order of the points' columns.
    """

    points: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...]
    axes: tuple[np.ndarray, ...]

    def field(self, component: int = 0) -> np.ndarray:
        """One output component on the grid, shaped ``shape``."""
        return self.values[:, component].reshape(self.shape)


def tensor_grid(*axes: np.ndarray) -> Solution:
    """The grid ``axes[0] x axes[1] x ...`` as a :class:`Solution` with no values yet (see its layout)."""
    mesh = np.meshgrid(*axes[::-1], indexing="ij")[::-1]
    points = np.stack([m.ravel() for m in mesh], axis=1)
    return Solution(points, np.empty((len(points), 0)), tuple(len(a) for a in axes[::-1]), tuple(axes))


def latin_hypercube(box: Sequence[tuple[float, float]], n: int, seed: int) -> np.ndarray:
    """``n`` points of a seeded Latin hypercube in the box ``[(low, high), ...]``."""
    unit = qmc.LatinHypercube(d=len(box), seed=seed).random(n)
    low, high = np.array(box, dtype=float).T
    return low + unit * (high - low)


def as_param(theta: torch.Tensor, i: int) -> torch.Tensor:
    """Parameter ``i`` of ``theta`` (``(..., P)``) shaped ``(..., 1)`` to broadcast over ``N`` points."""
    return theta[..., i : i + 1]


def mse(r: torch.Tensor) -> torch.Tensor:
    """Mean of squares over the point dimension: a scalar for one task, one value per stacked task."""
    return r.pow(2).mean(dim=-1)


class Family(ABC):
    """Base class of a parameterized PDE family; see the module docstring for the conventions."""

    name: str
    param_names: tuple[str, ...]
    bounds: dict[str, tuple[float, float]]
    levels: dict[str, tuple[float, ...]]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    domain: tuple[tuple[float, float], ...]
    loss_weights: dict[str, float]
    positive: tuple[str, ...] = ()  # parameters that must be > 0 to be physical
    log_params: tuple[str, ...] = ()  # parameters spanning a decade or more: designs treat them on a log scale
    limits: dict[str, tuple[float, float]] = {}  # where the reference solver is reliable; validate refuses the rest
    # The diversity knob (chapter 12, lampinn.diversity): the parameters whose range widens, each on its scale
    # ("log": about the geometric centre, "linear": about the midpoint).
    diversity: dict[str, str] = {}
    # The task transfer pretrains on and LAM-PINN warm-starts from (lampinn.protocol.central_task); None: the middle
    # levels. The diversity map's 8-task designs keep their box's 27-task centre.
    centre: tuple[float, ...] | None = None
    # The fixed held-out tasks, stored as data (draw them once with lampinn.pde.draw_unseen / draw_ood):
    unseen: tuple[tuple[float, ...], ...] = ()  # 10 tasks inside the bounds, off the training grid
    ood: tuple[tuple[float, ...], ...] = ()  # 10 tasks inside the 130% box, outside the design box

    def __init_subclass__(cls, **kwargs) -> None:
        """Wrap a subclass's ``loss_terms`` in the check of :func:`_checked_loss_terms`, so that every caller
        (trainer, baselines, LAM-PINN) gets a clear message for a term that is not one value per task."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("loss_terms")
        if own is not None and not getattr(own, "__isabstractmethod__", False) and not hasattr(own, "_checked"):
            cls.loss_terms = _checked_loss_terms(own)

    def __init__(self, loss_weights: Mapping[str, float] | None = None) -> None:
        """``loss_weights`` overrides some of the family's default weights, e.g. ``{"boundary": 100}``."""
        overrides = dict(loss_weights or {})
        defaults = type(self).loss_weights
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            raise ValueError(f"{self.name}: unknown loss terms {unknown}; the terms are {sorted(defaults)}")
        bad = {k: v for k, v in overrides.items() if not (np.isfinite(v) and v >= 0)}
        if bad:
            raise ValueError(f"{self.name}: loss weights {bad} are invalid; expected finite numbers >= 0")
        self.loss_weights = {**defaults, **overrides}

    def scaled(self, factor: float) -> Family:
        """A copy whose constraint terms (every loss term but ``residual``) weigh ``factor`` times more.

        The benchmark tunes this one factor per method on training tasks (:mod:`lampinn.benchmark`).
        """
        if not (np.isfinite(factor) and factor > 0):
            raise ValueError(f"{self.name}: loss-weight factor {factor} is invalid; expected a finite number > 0")
        if factor == 1:
            return self
        out = copy.copy(self)
        out.loss_weights = {k: w if k == "residual" else w * factor for k, w in self.loss_weights.items()}
        out._reference_owner = getattr(self, "_reference_owner", self)  # same solutions: share the cached references
        return out

    # ---- parameters and task designs -------------------------------------------------------
    def validate(self, theta: Sequence[float] | np.ndarray) -> np.ndarray:
        """``theta`` as a float array of length ``P``; ``ValueError`` naming what is wrong otherwise."""
        arr = np.asarray(theta, dtype=float).reshape(-1)
        if arr.size != len(self.param_names):
            raise ValueError(
                f"{self.name}: got {arr.size} parameters, expected {len(self.param_names)} "
                f"({', '.join(self.param_names)})"
            )
        for name, value in zip(self.param_names, arr):
            if not np.isfinite(value):
                raise ValueError(f"{self.name}: parameter {name} = {value} is not finite; expected a real number")
            if name in self.positive and value <= 0:
                raise ValueError(f"{self.name}: parameter {name} = {value:g} is not physical; expected {name} > 0")
            low, high = self.limits.get(name, (-np.inf, np.inf))
            if not low <= value <= high:
                raise ValueError(f"{self.name}: parameter {name} = {value:g} is outside [{low:g}, {high:g}], "
                                 f"where the reference solver is reliable")
        return arr

    def in_bounds(self, theta: Sequence[float] | np.ndarray) -> bool:
        """Whether ``theta`` lies inside the design box (values outside are valid, out-of-distribution tasks)."""
        arr = self.validate(theta)
        return all(self.bounds[n][0] <= v <= self.bounds[n][1] for n, v in zip(self.param_names, arr))

    def train_tasks(self) -> np.ndarray:
        """The ``(27, P)`` 3-level full-factorial training design, last parameter varying fastest."""
        return np.array(list(itertools.product(*(self.levels[n] for n in self.param_names))), dtype=float)

    def unseen_tasks(self) -> np.ndarray:
        """The ``(10, P)`` fixed unseen tasks (the class attribute ``unseen``): inside the bounds, off the training grid."""
        return self._declared("unseen", "draw_unseen")

    def ood_tasks(self) -> np.ndarray:
        """The ``(10, P)`` fixed out-of-distribution tasks (the class attribute ``ood``): inside the 130% box,
        outside the design box."""
        return self._declared("ood", "draw_ood")

    def _declared(self, attribute: str, draw: str) -> np.ndarray:
        """The task set a class attribute declares, as a ``(n, P)`` array; a ``ValueError`` that says how to
        declare it when it is missing or has rows of the wrong length."""
        tasks = getattr(self, attribute)
        how = (f"declare them as a class attribute, {attribute} = ((...), ...), one tuple of "
               f"{len(self.param_names)} parameters ({', '.join(self.param_names)}) per task; draw them once with "
               f"lampinn.pde.{draw}(family) and paste the rows in")
        if len(tasks) == 0:
            raise ValueError(f"{self.name}: the family declares no {attribute} tasks; {how}")
        rows = [np.asarray(row, dtype=float).reshape(-1) for row in tasks]
        bad = [i for i, row in enumerate(rows) if row.size != len(self.param_names)]
        if bad:
            raise ValueError(f"{self.name}: {attribute} task {bad[0]} has {rows[bad[0]].size} parameters, "
                             f"expected {len(self.param_names)}; {how}")
        return np.array(rows)

    # ---- the PINN problem ------------------------------------------------------------------
    @property
    def in_dim(self) -> int:
        return len(self.input_names)

    @property
    def out_dim(self) -> int:
        return len(self.output_names)

    @abstractmethod
    def sample(self, n_interior: int = 2000, n_boundary: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
        """Collocation points by name (``"interior"`` plus the family's boundary sets), as arrays."""

    def points(
        self, n_interior: int = 2000, n_boundary: int = 200, seed: int = 0, device: str | torch.device | None = None
    ) -> dict[str, torch.Tensor]:
        """:meth:`sample` as float32 tensors on ``device`` (default: CUDA if available, else CPU)."""
        dev = default_device(device)
        return {k: torch.as_tensor(v, dtype=torch.float32, device=dev) for k, v in self.sample(n_interior, n_boundary, seed).items()}

    def residuals(self, model: Model, points: Mapping[str, torch.Tensor], theta) -> dict[str, tuple[torch.Tensor, ...]]:
        """Each loss term's residuals per point, by name: a tensor ``(..., N)`` or a tuple of them (see the module
        docstring). A family defines this (or, as a minimum, :meth:`loss_terms`); the closed-form solve needs it."""
        raise NotImplementedError(f"{self.name}: the family defines no residuals; define residuals(model, points, theta) "
                                  "returning each loss term's residual per point, by name")

    def has_residuals(self) -> bool:
        """Whether the family exposes its residuals per point (what :mod:`lampinn.solve` needs)."""
        return type(self).residuals is not Family.residuals

    def loss_terms(self, model: Model, points: Mapping[str, torch.Tensor], theta) -> dict[str, torch.Tensor]:
        """Unweighted PINN loss terms of ``model`` for task(s) ``theta``, by name: each the sum of the mean squares
        of its :meth:`residuals`."""
        if not self.has_residuals():
            raise NotImplementedError(f"{self.name}: the family defines neither loss_terms nor residuals; define "
                                      "residuals(model, points, theta) returning each loss term's residual per point")
        return {name: sum(mse(r) for r in pieces(value)) for name, value in self.residuals(model, points, theta).items()}

    def theta_tensor(self, theta: Sequence[float] | np.ndarray | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``theta`` as a tensor with the dtype and device of ``like``.

        A sequence or array is one task and is validated; a tensor (one task ``(P,)`` or a stack
        ``(T, P)``) is taken as validated already, so a training loop pays for the check once.
        """
        if isinstance(theta, torch.Tensor):
            if theta.dim() == 0 or theta.shape[-1] != len(self.param_names):
                raise ValueError(
                    f"{self.name}: theta has shape {tuple(theta.shape)}; expected ({len(self.param_names)},) for one "
                    f"task or (T, {len(self.param_names)}) for T stacked tasks ({', '.join(self.param_names)})"
                )
            return theta.to(dtype=like.dtype, device=like.device)
        return torch.as_tensor(self.validate(theta), dtype=like.dtype, device=like.device)

    def loss(self, model: Model, points: Mapping[str, torch.Tensor], theta) -> torch.Tensor:
        """The weighted total PINN loss, ``sum(loss_weights[k] * term_k)``, summed over stacked tasks."""
        return weighted_total(self.loss_terms(model, points, theta), self.loss_weights)

    # ---- reference and metric --------------------------------------------------------------
    @abstractmethod
    def grid(self) -> Solution:
        """The evaluation grid, as a :class:`Solution` without values."""

    @abstractmethod
    def solve(self, theta: np.ndarray) -> np.ndarray:
        """Reference values ``(N, out_dim)`` of a validated task at the points of :meth:`grid`."""

    def reference(self, theta: Sequence[float] | np.ndarray) -> Solution:
        """The reference solution of task ``theta`` on the evaluation grid (cached in memory, read-only; a
        :meth:`scaled` copy shares its family's cache, since loss weights change no solution)."""
        return _cached_reference(getattr(self, "_reference_owner", self), tuple(self.validate(theta)))

    def metric_values(self, values: np.ndarray) -> np.ndarray:
        """The quantity the metric compares, per point; the solution itself unless a family says otherwise."""
        return values

    def output_scale(self, theta) -> np.ndarray:
        """The size of task ``theta``'s solution, one positive value per output, known from theta alone.

        A network that predicts u / output_scale(theta) sees every task at order one (LAM-PINN's
        ``output_scale`` option). Default 1: the family's solutions are already of order one.
        """
        self.validate(theta)
        return np.ones(self.out_dim)

    def __repr__(self) -> str:
        box = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, (lo, hi) in self.bounds.items())
        return f"<{type(self).__name__} {self.name!r}: {box}>"


def pieces(value: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """A term's residuals as a tuple of per-point tensors (one tensor is a tuple of one)."""
    return (value,) if isinstance(value, torch.Tensor) else tuple(value)


def _checked_loss_terms(loss_terms: Callable) -> Callable:
    """``loss_terms`` that raises a ``ValueError`` naming the term when a term is not one value per stacked task
    (shape ``()`` for one task, ``(T,)`` for ``T``): a term left unaveraged over the points would otherwise be
    summed over them by the trainer, silently weighting the term by the number of points."""

    @functools.wraps(loss_terms)
    def checked(self: Family, model: Model, points: Mapping[str, torch.Tensor], theta) -> dict[str, torch.Tensor]:
        terms = loss_terms(self, model, points, theta)
        expected = tuple(np.shape(theta))[:-1] if not isinstance(theta, torch.Tensor) else tuple(theta.shape[:-1])
        for name, value in terms.items():
            shape = tuple(getattr(value, "shape", ()))
            if shape != expected:
                what = "() for one task" if expected == () else f"{expected}, one value per stacked task"
                raise ValueError(
                    f"{self.name}: loss term {name!r} has shape {shape}, expected {what}; average it over the "
                    "points (e.g. with lampinn.pde.mse)"
                )
        return terms

    checked._checked = True
    return checked


Family.loss_terms = _checked_loss_terms(Family.loss_terms)


@functools.lru_cache(maxsize=256)
def _cached_reference(family: Family, theta: tuple[float, ...]) -> Solution:
    g = family.grid()
    values = np.asarray(family.solve(np.array(theta)), dtype=float).reshape(len(g.points), -1)
    values.setflags(write=False)
    return Solution(g.points, values, g.shape, g.axes)


def predict(model: Model, points: np.ndarray, batch: int = 65536) -> np.ndarray:
    """Evaluate ``model`` on an ``(N, d)`` array of points, in batches, without gradients."""
    try:
        param = next(model.parameters())  # type: ignore[attr-defined]
        dev, dtype = param.device, param.dtype
    except (AttributeError, StopIteration):
        dev, dtype = torch.device("cpu"), torch.float32
    out = []
    with torch.no_grad():
        for i in range(0, len(points), batch):
            x = torch.as_tensor(points[i : i + batch], dtype=dtype, device=dev)
            y = torch.as_tensor(model(x))
            if y.dim() == 0 or y.shape[0] != len(x):
                raise ValueError(f"the model maps {len(x)} points to an output of shape {tuple(y.shape)}; "
                                 f"expected one row per point")
            out.append(y.double().cpu().numpy().reshape(len(x), -1))
    return np.concatenate(out)


def evaluate(model: Model, family: Family, theta: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``{"mse", "rel_l2"}`` of ``model`` against ``family.reference(theta)`` on the evaluation grid.

    Both compare ``family.metric_values`` (for elasticity, the displacement magnitude).
    """
    ref = family.reference(theta)
    raw = predict(model, ref.points)
    if raw.shape != ref.values.shape:
        raise ValueError(f"{family.name}: the model's output has shape {raw.shape}; expected {ref.values.shape} "
                         f"({len(ref.points)} points, outputs {', '.join(family.output_names)})")
    bad = int(np.sum(~np.isfinite(raw)))
    if bad:
        raise ValueError(f"{family.name}: the model's output holds {bad} NaN or infinite values of {raw.size}; expected finite values")
    pred = family.metric_values(raw)
    true = family.metric_values(ref.values)
    err = pred - true
    return {"mse": float(np.mean(err**2)), "rel_l2": float(np.linalg.norm(err) / np.linalg.norm(true))}
