"""Solve, don't descend (chapter 13): the head of a frozen basis by least squares on the PINN residuals.

A network whose last layer is linear computes u(x) = phi(x) C, with features phi (the *basis*: any module mapping
points ``(N, d)`` to features ``(N, F)``) and a head C of shape ``(F, m)``. For a linear PDE every residual of the
PINN loss is affine in C, so the loss, a weighted sum of mean squares, is a linear least-squares problem in C: one
solve finds the best head exactly. For a nonlinear PDE (Burgers) it is a nonlinear least-squares problem, which
Gauss-Newton solves by a sequence of such solves, damped (Levenberg-Marquardt) where a full step would not lower the
loss.

:func:`solve` does both with one loop. It stacks the family's weighted residuals (:meth:`Family.residuals
<lampinn.pde.base.Family.residuals>`) into one vector r(C) whose squared norm *is* the family's loss, takes its
Jacobian with respect to C by forward-mode autodiff (``torch.func.jacfwd``), scales the Jacobian's columns to unit
norm, and solves by a truncated singular value decomposition (the rank-revealing solve: singular values below
``rcond`` times the largest are dropped). Everything runs in float64. A linear family converges in one step: the
second evaluation finds the gradient zero. Each solve reports its iterations, the loss (the residual), the rank, the
condition number of the scaled Jacobian, and the seconds it took.

The bases (:class:`Features`): random tanh features (:func:`random_features`), the last hidden layer of a trained
network (:func:`network_features`: transfer's source network), the modules of LAM-PINN's network
(:func:`modular_features`: its basis and cluster subnetworks, whose outputs its gates already weigh), and a basis
learned from the training tasks (:func:`learned_basis`: the training tasks' own solutions, compressed by a singular
value decomposition into as few functions as they need).
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from . import autodiff
from .autodiff import Jet, Pairs
from .files import atomic_write
from .nn import MLP, ModularPINN, state_sha256
from .pde.base import Family, evaluate, pieces
from .train import TrainingDiverged

#: Singular values of the column-scaled Jacobian below this fraction of the largest are dropped (float64 keeps
#: about 16 digits; the cut leaves 4 to the solution).
RCOND = 1e-12
#: Gauss-Newton stops when a step lowers the loss by less than this fraction of it.
TOL = 1e-10
#: How many times the rounding scale eps * | |J| |step| + |r| | a step's mismatch with its linear model may be and still
#: count as exact (a linear family: measured under 1 on chapter 14's family; a Burgers step is 1e9 times it or more).
ROUNDING = 1e3


class SolveFailed(TrainingDiverged):
    """A solve that could not give an answer: non-finite residuals, a Jacobian of rank zero, or no convergence
    where convergence was required. The benchmark records it as a failed task, with its message."""

    def __init__(self, message: str) -> None:
        super().__init__(message, history=None)


class Features(nn.Module):
    """Features of points: the outputs of tanh blocks on the scaled input ``(x - shift) * scale``, side by side,
    then a constant feature, optionally mapped by a fixed matrix ``project`` (``(F + 1, r)``) to ``r`` functions.

    It carries derivatives forward like the package's networks (its :meth:`streams`), so a head on it is cheap to
    differentiate in the input and in the head.
    """

    def __init__(self, blocks: Sequence[nn.Sequential], shift: torch.Tensor, scale: torch.Tensor,
                 project: torch.Tensor | None = None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.register_buffer("shift", torch.as_tensor(shift).clone())
        self.register_buffer("scale", torch.as_tensor(scale).clone())
        self.register_buffer("project", None if project is None else torch.as_tensor(project).clone())
        self.requires_grad_(False)
        self.eval()  # no dropout in a basis

    @property
    def size(self) -> int:
        """The number of basis functions."""
        if self.project is not None:
            return self.project.shape[1]
        return sum(_width(b) for b in self.blocks) + 1

    def save(self, path) -> None:
        """Write the basis (its layers' shapes and its weights, SHA-256 checked on load), atomically."""
        layers = [[("linear", m.in_features, m.out_features) if isinstance(m, nn.Linear) else ("tanh",)
                   for m in b if isinstance(m, (nn.Linear, nn.Tanh))] for b in self.blocks]
        blocks = [nn.Sequential(*[m for m in b if isinstance(m, (nn.Linear, nn.Tanh))]) for b in self.blocks]
        state = {k: v.detach().cpu() for k, v in Features(blocks, self.shift, self.scale, self.project).state_dict().items()}
        blob = {"format": "lampinn-basis-1", "layers": layers, "sha256": state_sha256(state), "state": state}
        atomic_write(path, lambda fh: torch.save(blob, fh))

    @classmethod
    def load(cls, path) -> Features:
        """A basis written by :meth:`save`; a one-line ``ValueError`` naming the file if it is not one or is corrupt."""
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path}: not a readable basis file ({type(err).__name__})") from None
        if not isinstance(blob, dict) or blob.get("format") != "lampinn-basis-1" or \
                state_sha256(blob.get("state", {})) != blob.get("sha256"):
            raise ValueError(f"{path}: not an intact basis file of format 'lampinn-basis-1'")
        blocks = [nn.Sequential(*[nn.Linear(l[1], l[2]).double() if l[0] == "linear" else nn.Tanh() for l in layers])
                  for layers in blob["layers"]]
        state = blob["state"]
        out = cls(blocks, state["shift"], state["scale"], state.get("project"))
        out.load_state_dict(state)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = (x - self.shift) * self.scale
        phi = torch.cat([b(xs) for b in self.blocks] + [torch.ones_like(xs[..., :1])], dim=-1)
        return phi if self.project is None else phi @ self.project

    def streams(self, x: torch.Tensor, pairs: Pairs) -> autodiff.Streams:
        """The features with their first and requested second derivatives (:mod:`lampinn.autodiff`'s streams)."""
        inp = autodiff.seed(x, self.shift, self.scale, pairs)
        outs = [autodiff.sequential(b, inp, pairs) for b in self.blocks]
        one = torch.ones_like(x[..., :1])
        v = torch.cat([o[0] for o in outs] + [one], dim=-1)
        F1 = torch.cat([o[1].expand(o[1].shape[:1] + v.shape[:-1] + o[1].shape[-1:]) for o in outs]
                       + [one.new_zeros((x.shape[-1],) + v.shape[:-1] + (1,))], dim=-1)
        S = torch.cat([o[2].expand(o[2].shape[:1] + v.shape[:-1] + o[2].shape[-1:]) for o in outs]
                      + [one.new_zeros((len(pairs),) + v.shape[:-1] + (1,))], dim=-1)
        if self.project is not None:
            v, F1, S = v @ self.project, F1 @ self.project, S @ self.project
        return v, F1, S


def _width(block: nn.Sequential) -> int:
    return [m for m in block if isinstance(m, nn.Linear)][-1].out_features


class Head(nn.Module):
    """u(x) = phi(x) C: a frozen basis and a linear head ``coef`` (``(F, m)``), with derivatives carried forward."""

    def __init__(self, basis: Features, coef: torch.Tensor) -> None:
        super().__init__()
        self.basis = basis
        self.register_buffer("coef", coef)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basis(x.to(self.coef.dtype)) @ self.coef

    def jet(self, x: torch.Tensor, pairs: Pairs) -> Jet:
        v, F1, S = self.basis.streams(x.to(self.coef.dtype), pairs)
        return autodiff.to_jet((v @ self.coef, F1 @ self.coef, S @ self.coef), pairs)


class _Linearised:
    """The head at ``coef``, its outputs carrying the basis functions as forward-mode tangents (one tangent per entry
    of the head, in a leading dimension): the family's residuals computed on it carry their Jacobian with respect
    to the head. The family's code only broadcasts over that dimension, as it does over stacked tasks."""

    def __init__(self, basis: Features, coef: torch.Tensor) -> None:
        self.basis, self.coef = basis, coef
        self.eye = torch.eye(coef.shape[1], dtype=coef.dtype)

    def _dual(self, phi: torch.Tensor) -> torch.Tensor:
        """``phi @ coef`` (``phi``: ``(..., N, F)``) with one tangent per head entry, in a dimension before ``N``."""
        F, m = self.coef.shape
        primal = phi @ self.coef
        lead = phi.shape[:-2]
        # d(phi @ C)/dC[j, c] = phi[..., j] in output c: shape (F * m, ..., N, m), entry j * m + c
        tangent = (phi.movedim(-1, 0)[:, None, ..., None] * self.eye.reshape((1, m) + (1,) * (len(lead) + 1) + (m,)))
        tangent = tangent.reshape((F * m,) + primal.shape).movedim(0, len(lead))
        return fwAD.make_dual(primal.unsqueeze(len(lead)).expand(tangent.shape).contiguous(), tangent)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._dual(self.basis(x))

    def jet(self, x: torch.Tensor, pairs: Pairs) -> Jet:
        v, F1, S = self.basis.streams(x, pairs)
        F1 = F1.expand(F1.shape[:1] + v.shape)
        S = S.expand(S.shape[:1] + v.shape)
        return Jet(self._dual(v), self._dual(F1), self._dual(S), pairs)


def linearise(family: Family, basis: Features, coef: torch.Tensor, points: Mapping[str, torch.Tensor],
              theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The stacked weighted residuals of the head ``coef`` (:func:`stacked_residuals`) and their Jacobian with
    respect to the head's entries, ``(M, F * m)``, in one forward-mode pass."""
    with fwAD.dual_level():
        r = stacked_residuals(family, _Linearised(basis, coef), points, theta)[0]
        primal, tangent = fwAD.unpack_dual(r)
    if tangent is None:  # the residuals do not depend on the network at all
        return primal[0], torch.zeros(primal.shape[-1], coef.numel(), dtype=primal.dtype)
    return primal[0], tangent.T


# ---- the bases --------------------------------------------------------------------------------------------

def random_features(family: Family, size: int, bandwidth: float, seed: int = 0) -> Features:
    """``size - 1`` random tanh features tanh(w . x + b) on the domain scaled to [-1, 1]^d, and a constant: w and b
    uniform in [-bandwidth, bandwidth] (the bandwidth sets the steepest slope a feature can have)."""
    if not (isinstance(size, (int, np.integer)) and size >= 2):
        raise ValueError(f"size = {size!r} is invalid; expected a whole number >= 2 (features and a constant)")
    if not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth = {bandwidth!r} is invalid; expected a finite number > 0")
    gen = torch.Generator().manual_seed(int(seed))
    layer = nn.Linear(family.in_dim, int(size) - 1).double()
    with torch.no_grad():
        layer.weight.copy_((torch.rand(layer.weight.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bandwidth)
        layer.bias.copy_((torch.rand(layer.bias.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bandwidth)
    low, high = (torch.tensor(v, dtype=torch.float64) for v in zip(*family.domain))
    return Features([nn.Sequential(layer, nn.Tanh())], (high + low) / 2, 2 / (high - low))


def network_features(net: MLP) -> Features:
    """The last hidden layer of a trained tanh :class:`~lampinn.nn.MLP` (and a constant): its own last layer is a
    head on these, so the solve can only do better than the network on the loss."""
    if net.config["activation"] != "tanh":
        raise ValueError(f"network_features needs a tanh network; got activation {net.config['activation']!r}")
    body = nn.Sequential(*list(net.net)[:-1])
    return Features([copy.deepcopy(body).double()], net.shift.double(), net.scale.double())


def modular_features(net: ModularPINN) -> Features:
    """The modules of LAM-PINN's network side by side: its basis and every cluster subnetwork (``64`` features each),
    and a constant. Its routing mixes these modules with one gate each before the meta network; a head on them
    weighs every feature of every module instead."""
    blocks = [copy.deepcopy(b).double() for b in (net.basis, *net.subnets)]
    return Features(blocks, net.shift.double(), net.scale.double())


def learned_basis(family: Family, basis: Features, thetas: np.ndarray, n_interior: int = 2000, n_boundary: int = 400,
                  rank_cut: float = 1e-6, max_size: int | None = None, seed: int = 0,
                  points: Mapping[str, torch.Tensor] | None = None, **solve_kw) -> tuple[Features, dict]:
    """A basis learned from tasks ``thetas`` (the training tasks): each is solved in ``basis``, and the solutions
    (every output of every task) are compressed by a singular value decomposition of their values at the
    collocation points into the functions whose singular values exceed ``rank_cut`` times the largest (at most
    ``max_size``). Returns the new basis and what making it measured (solves' losses, singular values)."""
    pts = points if points is not None else collocation(family, n_interior, n_boundary, seed)
    coefs, losses = [], []
    for theta in np.atleast_2d(thetas):
        s = solve(family, basis, theta, points=pts, strict=False, **solve_kw)
        coefs.append(s.coef)
        losses.append(s.loss)
    C = torch.cat(coefs, dim=1)  # (F, T * m): one column per output of every task
    X = torch.cat(list(pts.values()), dim=0)
    with torch.no_grad():
        snapshots = basis(X) @ C
    U, S, Vh = torch.linalg.svd(snapshots, full_matrices=False)
    keep = int((S > rank_cut * S[0]).sum())
    keep = min(keep, max_size) if max_size else keep
    modes = C @ Vh[:keep].T / S[:keep]  # each mode has unit norm over the collocation points
    project = modes if basis.project is None else basis.project @ modes
    out = Features(list(basis.blocks), basis.shift, basis.scale, project)
    return out, {"training_losses": [float(v) for v in losses], "singular_values": S.tolist(), "size": keep}


# ---- choosing a random basis on training tasks ---------------------------------------------------------------

#: Random features per mode: the size sets the online cost (the solve grows with its square), so it is fixed per mode
#: as a cost budget; chapter 13's curves show the error against it. The bandwidth is chosen on training tasks.
FEATURES = {"ci": 80, "default": 200, "full": 400, "paper": 400}
#: The bandwidths :func:`choose_bandwidth` tries.
BANDWIDTHS = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class SolveConfig:
    """How a closed-form method makes its basis: the number of random features, the bandwidths tried, the training
    tasks (rows of ``train_tasks()``) the bandwidth is chosen on, and Gauss-Newton's step limit."""

    size: int = FEATURES["default"]
    bandwidths: tuple[float, ...] = BANDWIDTHS
    tuning_rows: tuple[int, ...] = (0, 8, 18, 26)
    max_iter: int = 30

    @classmethod
    def for_mode(cls, mode: str) -> SolveConfig:
        return cls(size=FEATURES[mode])


def choose_bandwidth(family: Family, config: SolveConfig, points: Mapping[str, torch.Tensor], seed: int = 0) -> tuple[float, dict]:
    """The bandwidth of :data:`BANDWIDTHS` whose random basis gives the lowest mean MSE on the tuning rows of the
    training design (never an unseen task); also each bandwidth's score (a failed solve scores infinity)."""
    tasks = family.train_tasks()[list(config.tuning_rows)]
    scores = {}
    for bw in config.bandwidths:
        basis = random_features(family, config.size, bw, seed)
        errors = []
        for theta in tasks:
            try:
                errors.append(evaluate(solve(family, basis, theta, points=points, strict=False,
                                             max_iter=config.max_iter).model, family, theta)["mse"])
            except SolveFailed:
                errors.append(math.inf)
        scores[bw] = float(np.mean(errors))
    return min(scores, key=scores.get), scores


def make_basis(kind: str, family: Family, config: SolveConfig, n_interior: int, n_boundary: int, seed: int,
               network=None) -> tuple[Features, dict]:
    """The basis of a closed-form method: ``"random"`` (bandwidth chosen on training tasks), ``"learned"`` (the
    training tasks' solutions in that random basis, compressed), ``"transfer"`` (``network``'s last hidden layer) or
    ``"lampinn"`` (the modules of ``network``, a :class:`~lampinn.core.LAMPINN`); and what making it chose."""
    if kind == "transfer":
        return network_features(network), {}
    if kind == "lampinn":
        return modular_features(network.model), {}
    if kind not in ("random", "learned"):
        raise ValueError(f"basis {kind!r} is not one; expected 'random', 'learned', 'transfer' or 'lampinn'")
    pts = collocation(family, n_interior, n_boundary, seed)
    bandwidth, scores = choose_bandwidth(family, config, pts, seed)
    basis, info = random_features(family, config.size, bandwidth, seed), {"bandwidth": bandwidth, "scores": scores}
    if kind == "learned":
        basis, learned = learned_basis(family, basis, family.train_tasks(), points=pts, seed=seed, max_iter=config.max_iter)
        info.update(learned)
    return basis, info


# ---- the solve --------------------------------------------------------------------------------------------

def collocation(family: Family, n_interior: int, n_boundary: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The family's collocation points (:meth:`~lampinn.pde.base.Family.sample`) as float64 CPU tensors."""
    return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in family.sample(n_interior, n_boundary, seed).items()}


@dataclass
class Solved:
    """One solve: the model (a :class:`Head`), the head, and what the solve measured.

    ``loss`` is the family's weighted PINN loss at the solution (the squared norm of the stacked residuals),
    ``loss0`` the loss of the zero head, ``terms`` each weighted term at the solution; ``rank`` and ``condition``
    are those of the column-scaled Jacobian at the last step (condition: largest over smallest kept singular
    value); ``converged`` says whether Gauss-Newton met its tolerance within ``max_iter`` steps; ``seconds`` and
    ``cpu_seconds`` are its wall-clock and CPU time."""

    model: Head
    coef: torch.Tensor
    loss: float
    loss0: float
    terms: dict[str, float]
    iterations: int
    converged: bool
    rank: int
    size: int
    condition: float
    seconds: float
    cpu_seconds: float
    losses: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        """The numbers of the solve, for a result file."""
        return {"residual": self.loss, "iterations": self.iterations, "converged": float(self.converged),
                "rank": self.rank, "condition": self.condition}


def stacked_residuals(family: Family, model, points: Mapping[str, torch.Tensor], theta) -> tuple[torch.Tensor, dict]:
    """The family's residuals, each piece times sqrt(weight / points), in one vector (along the last dimension):
    its squared norm is the family's weighted loss. Also the slices of each term, by name."""
    parts, slices, start = [], {}, 0
    for name, value in family.residuals(model, points, theta).items():
        w = family.loss_weights.get(name, 1.0)
        for r in pieces(value):
            parts.append(r * math.sqrt(w / r.shape[-1]))
        stop = start + sum(p.shape[-1] for p in parts[len(parts) - len(pieces(value)):])
        slices[name] = slice(start, stop)
        start = stop
    return torch.cat(parts, dim=-1), slices


def solve(family: Family, basis: Features, theta: Sequence[float] | np.ndarray, points: Mapping[str, torch.Tensor] | None = None,
          n_interior: int = 2000, n_boundary: int = 400, seed: int = 0, *, max_iter: int = 30, tol: float = TOL,
          rcond: float = RCOND, strict: bool = True, init: torch.Tensor | None = None) -> Solved:
    """The head of ``basis`` that minimises ``family``'s PINN loss for task ``theta`` (see the module docstring).

    ``points``: collocation points (default: ``family.sample(n_interior, n_boundary, seed)`` in float64).
    Gauss-Newton starts from ``init`` (default: the zero head) and stops when a step lowers the loss by less than
    ``tol`` times it (a linear family: after one step), or after ``max_iter`` steps: then ``strict`` raises
    :class:`SolveFailed`, otherwise the result says ``converged=False``.
    """
    start, cpu = time.perf_counter(), time.process_time()
    if not family.has_residuals():
        raise ValueError(f"{family.name}: the family defines no residuals, so it cannot be solved for a head; define "
                         "residuals(model, points, theta) returning each loss term's residual per point")
    theta = family.validate(theta)
    pts = points if points is not None else collocation(family, n_interior, n_boundary, seed)
    pts = {k: v.to(torch.float64) for k, v in pts.items()}
    basis = basis.double()
    m = family.out_dim
    coef = torch.zeros(basis.size, m, dtype=torch.float64) if init is None else init.to(torch.float64).clone()
    if coef.shape != (basis.size, m):
        raise ValueError(f"init has shape {tuple(coef.shape)}; expected ({basis.size}, {m}): one row per basis function")
    th = torch.as_tensor(theta, dtype=torch.float64)

    def residual(c: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return stacked_residuals(family, Head(basis, c), pts, th)[0]

    r = residual(coef)
    _check_finite(family, r, theta, "residuals")
    loss0 = loss = float(r @ r)
    losses, damping, converged, rank, condition = [loss], 0.0, False, 0, math.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):
        r, J = linearise(family, basis, coef, pts, th)
        _check_finite(family, J, theta, "Jacobian")
        norms = J.norm(dim=0)
        norms = torch.where(norms > 0, norms, torch.ones_like(norms))
        U, S, Vh = torch.linalg.svd(J / norms, full_matrices=False)
        if S[0] == 0:
            raise SolveFailed(f"{family.name}: the Jacobian of the residuals with respect to the head is zero at theta = "
                              f"{theta.tolist()}; the basis cannot change the loss")
        kept = S > rcond * S[0]
        rank, condition = int(kept.sum()), float(S[0] / S[kept][-1])
        Ur, Sr, Vr = U[:, kept], S[kept], Vh[kept].T
        g = Ur.T @ r
        while True:  # Levenberg-Marquardt: the Gauss-Newton step, damped until it lowers the loss
            step = -(Vr @ (g * Sr / (Sr**2 + damping))) / norms
            trial = coef + step.reshape(coef.shape)
            r_new = residual(trial)
            new = float(r_new @ r_new) if torch.isfinite(r_new).all() else math.inf
            if new <= loss or damping > 1e12 * float(Sr[0] ** 2):
                break
            damping = max(damping * 10, 1e-8 * float(Sr[0] ** 2))
        if new > loss:  # no step lowers the loss: a minimum to the solve's precision
            converged = True
            break
        # the step the linear model predicted: exact for a linear family, whose one step is then the solution. Exact
        # up to rounding, whose size is set by the terms summed, not by their sum: a head of large coefficients that
        # cancel (an ill-conditioned basis) rounds at about eps * | |J| |step| + |r| |
        change = J @ step
        rounding = ROUNDING * torch.finfo(J.dtype).eps * (J.abs() @ step.abs() + r.abs()).norm()
        exact = bool((r_new - (r + change)).norm() <= max(1e-8 * (r.norm() + change.norm()), rounding))
        decrease = loss - new
        coef, r, loss = trial, r_new, new
        losses.append(loss)
        if (exact and damping == 0) or decrease <= tol * losses[-2] or loss == 0:
            converged = True
            break
        damping /= 10
    if not converged and strict:
        raise SolveFailed(f"{family.name}: Gauss-Newton did not converge in {max_iter} steps at theta = {theta.tolist()} "
                          f"(loss {loss:.3g}, from {loss0:.3g}); raise max_iter or use a richer basis")
    with torch.no_grad():
        r_final, slices = stacked_residuals(family, Head(basis, coef), pts, th)
    terms = {name: float(r_final[sl] @ r_final[sl]) for name, sl in slices.items()}
    return Solved(Head(basis, coef), coef, loss, loss0, terms, iterations, converged, rank, coef.numel(), condition,
                  time.perf_counter() - start, time.process_time() - cpu, losses)


#: The numbers of random features of the error-against-size curves, per mode.
CURVE_SIZES = {"ci": (20, 40, 80), "default": (50, 100, 200, 400), "full": (25, 50, 100, 200, 400, 800),
               "paper": (25, 50, 100, 200, 400, 800)}


def size_curve(family: Family, mode: str, seed: int = 0, progress: bool = True) -> dict:
    """Error against the number of basis functions on the unseen tasks, for random and learned bases (chapter 13).

    The bandwidth is chosen on training tasks at the mode's size (:func:`choose_bandwidth`), then kept for every
    size of :data:`CURVE_SIZES`. The learned basis is made from the 27 training tasks solved in the largest random
    basis, and truncated to its first ``r`` functions (its singular vectors in order). Each row: the size, the mean
    and largest MSE over the unseen tasks, the mean loss at the solution and the mean wall-clock and CPU seconds of a
    solve."""
    from .settings import sizes as mode_sizes
    from .provenance import Stopwatch, provenance

    clock = Stopwatch()
    n = mode_sizes(family.name, mode)
    config = SolveConfig.for_mode(mode)
    pts = collocation(family, n["n_interior"], n["n_boundary"], seed)
    bandwidth, scores = choose_bandwidth(family, config, pts, seed)
    tasks = family.unseen_tasks()

    def row(basis: Features) -> dict:
        out = [solve(family, basis, t, points=pts, strict=False, max_iter=config.max_iter) for t in tasks]
        mse = [evaluate(s.model, family, t)["mse"] for s, t in zip(out, tasks)]
        result = {"size": basis.size, "mean_mse": float(np.mean(mse)), "max_mse": float(np.max(mse)),
                  "residual": float(np.mean([s.loss for s in out])), "seconds": float(np.mean([s.seconds for s in out])),
                  "cpu_seconds": float(np.mean([s.cpu_seconds for s in out]))}
        if progress:
            print(f"{family.name}: {basis.size} functions, mean MSE {result['mean_mse']:.3g}", flush=True)
        return result

    random_rows = [row(random_features(family, size, bandwidth, seed)) for size in CURVE_SIZES[mode]]
    big = random_features(family, CURVE_SIZES[mode][-1], bandwidth, seed)
    learned, info = learned_basis(family, big, family.train_tasks(), points=pts, seed=seed, max_iter=config.max_iter,
                                  rank_cut=1e-12)
    ranks = sorted({r for r in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64) if r <= learned.size} | {learned.size})
    learned_rows = [row(Features(list(learned.blocks), learned.shift, learned.scale, learned.project[:, :r]))
                    for r in ranks]
    return {"family": family.name, "mode": mode, "seed": seed, "bandwidth": bandwidth, "bandwidth_scores": scores,
            "points": {"n_interior": n["n_interior"], "n_boundary": n["n_boundary"]}, "random": random_rows,
            "learned": learned_rows, "singular_values": info["singular_values"],
            "training_losses": info["training_losses"],
            "provenance": provenance(mode, 1, clock.seconds(), "cpu", clock.cpu_seconds())}


def plot_curve(curve: dict, path) -> None:
    """The curve of :func:`size_curve` as a figure: mean MSE over the unseen tasks against the number of functions."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for key, label, marker in (("random", "random tanh features", "o"), ("learned", "learned from the training tasks", "s")):
        rows = curve[key]
        ax.loglog([r["size"] for r in rows], [r["mean_mse"] for r in rows], marker=marker, label=label)
    ax.set_xlabel("basis functions")
    ax.set_ylabel("mean MSE, 10 unseen tasks")
    ax.set_title(f"{curve['family']}: error against basis size ({curve['mode']} mode)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _check_finite(family: Family, value: torch.Tensor, theta: np.ndarray, what: str) -> None:
    bad = int((~torch.isfinite(value)).sum())
    if bad:
        raise SolveFailed(f"{family.name}: the {what} at theta = {theta.tolist()} hold {bad} NaN or infinite values; "
                          "expected finite values (check the basis and the family's residuals)")


def solve_and_evaluate(family: Family, basis: Features, theta, **kw) -> dict:
    """Solve task ``theta`` and measure the result against the reference: ``{"mse", "rel_l2", "seconds", ...}``
    with the solve's own numbers (:meth:`Solved.summary`)."""
    s = solve(family, basis, theta, **kw)
    return {**evaluate(s.model, family, theta), "seconds": s.seconds, **s.summary()}


__all__ = ["BANDWIDTHS", "FEATURES", "Features", "Head", "RCOND", "SolveConfig", "SolveFailed", "Solved", "TOL",
           "CURVE_SIZES", "choose_bandwidth", "linearise", "make_basis", "plot_curve", "size_curve", "collocation", "learned_basis", "modular_features",
           "network_features", "random_features", "solve", "solve_and_evaluate", "stacked_residuals"]
