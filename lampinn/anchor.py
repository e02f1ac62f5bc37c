"""An outside anchor (issue 41, chapter 13): the book's tasks solved by ``fastlsq``, the package a user would pick
instead of this one.

``fastlsq`` (MIT, on PyTorch; ``pip install "lampinn[anchor]"``) solves a PDE in one shot: random Fourier features
sin(W x + b) with analytic derivatives, and a head found by one least-squares solve (``fastlsq.solve_linear``) or by
Newton steps (``fastlsq.solve_nonlinear``). A user states a problem as an object it calls back:

* ``dim`` (inputs) and ``n_outputs`` (a vector field's components, stacked in blocks);
* ``get_train_data(n_pde, n_bc)``: the collocation points, the boundary data and the right-hand side;
* ``build(solver, x_pde, bcs, f_pde)``: the rows ``A beta = b``, from the derivatives of ``solver.basis``
  (``evaluate``, ``derivative(x, alpha)``, ``laplacian``), boundary rows times a weight;
* for a nonlinear problem ``build_newton_step`` (the Jacobian and minus the residual at the current head) and
  ``build_linear_init`` (the linear part: Newton's start).

:func:`problem` states each of the book's three families so, for one task; :func:`fit` solves it and returns a
model, ``(N, d) -> (N, m)``, that ``lampinn.evaluate`` measures against the book's reference like any network.
Burgers is time-dependent and nonlinear: fastlsq has no time stepping, so it is stated as a space-time problem on
(x, t) in [-1, 1] x [0, 1] (time is one more input of the features, as in fastlsq's own wave problems), and
solved by ``solve_nonlinear``'s Newton iteration from the linear heat equation's solution. fastlsq's continuation in
the viscosity (``use_continuation``, which its own steady Burgers problem turns on) is left off, as it is by
default; the sharp fronts of the small-nu tasks must then be resolved by one global basis on the book's 1,000
space-time points.

What is fastlsq's and what is chosen here:

* **fastlsq's defaults**: 3 blocks of 500 features (1,500 in all), ``solve_linear``'s least-squares back-end
  ``method="auto"`` with no ridge (``mu = 0``), ``solve_nonlinear``'s Newton settings (30 steps, ridge 1e-10, its
  line search), and the boundary weight of its own examples: boundary rows times 100 (its Helmholtz and Poisson
  problems), times 200 for Burgers (its steady Burgers problem). The interior rows are the PDE's residual as the
  family writes it (the same equations as :meth:`~lampinn.pde.base.Family.residuals`).
* **the book's points**: the collocation points are the family's own (``family.sample``) at the full mode's counts
  (:func:`lampinn.settings.sizes`: ``n_interior``, ``n_boundary``), not fastlsq's default of three points per
  feature; with 1,500 features a system can have fewer rows than unknowns, and fastlsq's rank-revealing solve
  then returns its minimum-norm head.
* **the one knob**, the features' bandwidth ``scale`` (the spread of W): fastlsq picks it by a grid search that
  scores each candidate against the *exact* solution (``auto_select_scale``), which the unseen tasks must not see.
  :func:`choose_scale` runs the same search, on fastlsq's own candidate grid (0.5 to 15, extended down by halving
  while the smallest wins, since the elasticity plate is 10 long), scored by the mean MSE against the book's
  reference on training tasks only (:data:`TUNING_ROWS` of ``family.train_tasks()``). :data:`SCALES` holds what it
  chose for the three families (``python -m lampinn.anchor FAMILY`` repeats the search and prints every score);
  a family without an entry (chapter 14's own) has its scale chosen when first solved.
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .pde import Family, evaluate
from .pde.burgers import initial_condition
from .pde.elasticity import POISSON, traction
from .pde.helmholtz import exact as helmholtz_exact, source as helmholtz_source

#: fastlsq's default architecture (``solve_linear`` / ``solve_nonlinear``): blocks of random features.
N_BLOCKS, HIDDEN = 3, 500
#: fastlsq's candidate bandwidths (``fastlsq.tuning.auto_select_scale``).
CANDIDATES = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 12.0, 15.0)
#: The boundary rows' weight in fastlsq's own examples: 100 for its linear problems, 200 for its Burgers problem.
BOUNDARY_WEIGHT = {"linear": 100.0, "burgers": 200.0}
#: The training tasks (rows of ``family.train_tasks()``) the bandwidth is chosen on: the corners and the centre
#: of the 27-task design, as the closed-form methods choose theirs (:class:`lampinn.solve.SolveConfig`).
TUNING_ROWS = (0, 8, 13, 18, 26)
#: The bandwidth :func:`choose_scale` chose per family (full mode's points, seed 0; see the module docstring).
SCALES: dict[str, float] = {
    "helmholtz": 5.0,  # mean MSE 1e-23 on the training tasks; 2e-10 at 2, 2e-15 at 15
    "elasticity": 1.0,  # mean MSE 1.8e-10 on the training tasks; 2.1e-10 at 0.5, 3e-7 at 2, 0.3 at 3
    "burgers": 8.0,  # mean MSE 1.3e-2 on the training tasks; 1.4e-2 at 5 and 10, 3.5e-2 at 12, 2.8e-2 at 0.5
}
INSTALL = 'fastlsq is not installed; pip install "lampinn[anchor]" to solve with it'


@contextlib.contextmanager
def _fastlsq(seed: int) -> Iterator[object]:
    """fastlsq, imported here (an optional extra), with its random features drawn from ``seed``.

    fastlsq works in float64 and sets torch's default dtype to float64 when imported; inside this block the default
    is float64, and afterwards it is what it was (the rest of the package trains in float32), as is the global
    random state fastlsq draws its features from."""
    saved = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        try:
            with warnings.catch_warnings():  # its plotting module's notice about matplotlib, at import: not ours to act on
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                import fastlsq
        except ImportError:
            raise ValueError(INSTALL) from None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield fastlsq
    finally:
        torch.set_default_dtype(saved)


# ---- the book's families, in fastlsq's terms -------------------------------------------------------------

class Problem:
    """What fastlsq asks of a problem: its points (the family's own) and, per family, its rows."""

    n_outputs = 1

    def __init__(self, family: Family, theta: np.ndarray, points: Mapping[str, np.ndarray], device) -> None:
        self.family, self.theta = family, np.asarray(theta, dtype=float)
        self.dim = family.in_dim
        self.points = {k: torch.as_tensor(v, dtype=torch.float64, device=device) for k, v in points.items()}
        self.name = f"{family.name} {self.theta.tolist()}"

    def get_train_data(self, n_pde=None, n_bc=None):  # the family's points, whatever fastlsq's counts
        x = self.points["interior"]
        return x, [(name, p) for name, p in self.points.items() if name != "interior"], self.source(x)

    def source(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 1, dtype=x.dtype, device=x.device)


class HelmholtzProblem(Problem):
    """u_xx + u_yy + k^2 u = q inside, u = g on the edges (fastlsq's own Helmholtz problem, with the book's q, g)."""

    def source(self, x):
        a1, a2, k = self.theta
        return helmholtz_source(x[:, 0:1], x[:, 1:2], a1, a2, k)

    def build(self, solver, x_pde, bcs, f_pde):
        basis, (a1, a2, k), w = solver.basis, self.theta, BOUNDARY_WEIGHT["linear"]
        cache = basis.cache(x_pde)
        rows = [basis.laplacian(x_pde, cache=cache) + k**2 * basis.evaluate(x_pde, cache=cache)]
        rhs = [f_pde]
        for _, xb in bcs:
            rows.append(w * basis.evaluate(xb))
            rhs.append(w * helmholtz_exact(xb[:, 0:1], xb[:, 1:2], a1, a2))
        return torch.cat(rows), torch.cat(rhs)


class ElasticityProblem(Problem):
    """Plane-stress equilibrium (two equations in u, v) with the book's boundary conditions: u = 0 and no shear on
    x = 0, v = 0 and no shear on y = 0, a free top edge, the load on the right edge. Two outputs, stated as fastlsq
    states its vector problems: one basis, a column block per component (``fastlsq.block_concat``)."""

    n_outputs = 2

    def build(self, solver, x_pde, bcs, f_pde):
        from fastlsq import block_concat

        basis, (E, f, k), w = solver.basis, self.theta, BOUNDARY_WEIGHT["linear"]
        c, g = E / (1 - POISSON**2), (1 - POISSON) / 2
        cache = basis.cache(x_pde)
        dxx, dxy, dyy = (basis.derivative(x_pde, a, cache=cache) for a in ((2, 0), (1, 1), (0, 2)))
        rows = [[c * (dxx + g * dyy), c * (POISSON + g) * dxy],  # d sigma_xx / dx + d sigma_xy / dy = 0
                [c * (POISSON + g) * dxy, c * (g * dxx + dyy)]]  # d sigma_xy / dx + d sigma_yy / dy = 0
        rhs = [[f_pde], [f_pde]]
        for name, xb in bcs:
            bc = basis.cache(xb)
            h, dx, dy = basis.evaluate(xb, cache=bc), basis.derivative(xb, (1, 0), cache=bc), basis.derivative(xb, (0, 1), cache=bc)
            zero = torch.zeros(len(xb), 1, dtype=xb.dtype, device=xb.device)
            shear = [w * c * g * dy, w * c * g * dx]  # sigma_xy = 0 on every edge
            if name == "left":
                new = [([w * h, None], zero), (shear, zero)]
            elif name == "bottom":
                new = [([None, w * h], zero), (shear, zero)]
            elif name == "top":
                new = [([w * c * POISSON * dx, w * c * dy], zero), (shear, zero)]
            else:  # right: sigma_xx is the load
                new = [([w * c * dx, w * c * POISSON * dy], w * traction(xb[:, 1:2], f, k)), (shear, zero)]
            for row, b in new:
                rows.append(row)
                rhs.append([b])
        return block_concat(rows), block_concat(rhs)


class BurgersProblem(Problem):
    """u_t + u u_x = nu u_xx on (x, t), u = 0 at x = +-1, u = u0 at t = 0, as a space-time problem (fastlsq has
    no time stepping): Newton's rows at the current head, and the heat equation u_t = nu u_xx as its start."""

    def _rows(self, basis, x_pde, bcs, beta, nonlinear: bool):
        nu, A, wave = self.theta
        w = BOUNDARY_WEIGHT["burgers"]
        cache = basis.cache(x_pde)
        h = basis.evaluate(x_pde, cache=cache)
        dx, dt = basis.derivative(x_pde, (1, 0), cache=cache), basis.derivative(x_pde, (0, 1), cache=cache)
        dxx = basis.derivative(x_pde, (2, 0), cache=cache)
        if nonlinear:
            u, ux = h @ beta, dx @ beta
            rows, rhs = [dt + u * dx + ux * h - nu * dxx], [-((dt - nu * dxx) @ beta + u * ux)]
        else:
            rows, rhs = [dt - nu * dxx], [torch.zeros(len(x_pde), 1, dtype=h.dtype, device=h.device)]
        for name, xb in bcs:
            hb = basis.evaluate(xb)
            target = (initial_condition(xb[:, 0:1], A, wave) if name == "initial"
                      else torch.zeros(len(xb), 1, dtype=hb.dtype, device=hb.device))
            rows.append(w * hb)
            rhs.append(w * (target - hb @ beta) if nonlinear else w * target)
        return torch.cat(rows), torch.cat(rhs)

    def build_newton_step(self, solver, x_pde, bcs, f_pde):
        return self._rows(solver.basis, x_pde, bcs, solver.beta, nonlinear=True)

    def build_linear_init(self, solver, x_pde, bcs, f_pde):
        return self._rows(solver.basis, x_pde, bcs, None, nonlinear=False)


PROBLEMS = {"helmholtz": HelmholtzProblem, "elasticity": ElasticityProblem, "burgers": BurgersProblem}


def problem(family: Family, theta, points: Mapping[str, np.ndarray] | None = None, device=None) -> Problem:
    """Task ``theta`` of ``family`` stated for fastlsq, on ``points`` (default: the full mode's
    ``family.sample``); a one-line ``ValueError`` for a family it is not stated for."""
    if family.name not in PROBLEMS:
        raise ValueError(f"{family.name}: no fastlsq statement of this family; the anchor states "
                         f"{', '.join(PROBLEMS)}")
    theta = family.validate(theta)
    return PROBLEMS[family.name](family, theta, points if points is not None else collocation(family), device or "cpu")


def collocation(family: Family, seed: int = 0, mode: str = "full") -> dict[str, np.ndarray]:
    """The family's collocation points at ``mode``'s counts (the benchmark's points in full mode)."""
    from .settings import sizes

    n = sizes(family.name, mode)
    return family.sample(n["n_interior"], n["n_boundary"], seed)


# ---- solving one task ------------------------------------------------------------------------------------

class AnchorModel(nn.Module):
    """fastlsq's solution as a model of points, ``(N, d) -> (N, m)`` in float64: its basis and the solved head.

    ``seconds`` and ``cpu_seconds`` are the solve's; ``scale`` the bandwidth; ``newton`` the iterations of a
    nonlinear solve (0 for a linear one)."""

    def __init__(self, basis, beta: torch.Tensor, scale: float, seconds: float, cpu_seconds: float, newton: int = 0) -> None:
        super().__init__()
        self.basis = basis
        self.beta = nn.Parameter(beta.detach().clone(), requires_grad=False)  # float64: predict passes float64 points
        self.scale, self.seconds, self.cpu_seconds, self.newton = scale, seconds, cpu_seconds, newton

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basis.evaluate(x.to(self.beta)) @ self.beta


def fit(family: Family, theta, *, scale: float | None = None, seed: int = 0,
        points: Mapping[str, np.ndarray] | None = None, verbose: bool = False) -> AnchorModel:
    """Solve task ``theta`` of ``family`` with fastlsq at its defaults (see the module docstring) and bandwidth
    ``scale`` (default: :data:`SCALES`, else :func:`choose_scale`); features drawn from ``seed``."""
    if scale is None:
        scale = SCALES.get(family.name)
    if scale is None:
        scale = choose_scale(family)[0]
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale = {scale} is not a bandwidth; expected a finite number > 0")
    start, cpu = time.perf_counter(), time.process_time()
    with _fastlsq(seed) as fl:
        task = problem(family, theta, points, fl.get_device())
        n_pde = len(task.points["interior"])
        n_bc = sum(len(v) for k, v in task.points.items() if k != "interior")
        kw = dict(scale=scale, n_blocks=N_BLOCKS, hidden_size=HIDDEN, n_pde=n_pde, n_bc=n_bc, auto_scale=False,
                  return_solver=True, return_metrics=False, verbose=verbose)
        if isinstance(task, BurgersProblem):
            out = fl.solve_nonlinear(task, return_history=True, **kw)
        else:
            out = fl.solve_linear(task, **kw)
    solver = out["solver"]
    return AnchorModel(solver.basis, solver.beta, scale, time.perf_counter() - start, time.process_time() - cpu,
                       out.get("n_iters", 0))


@functools.lru_cache(maxsize=8)
def _choice(family: Family, mode: str, seed: int, rows: tuple[int, ...]) -> tuple[float, tuple]:
    tasks = family.train_tasks()[list(rows)]
    points = collocation(family, seed, mode)
    scores: dict[float, float] = {}

    def score(s: float) -> float:
        errors = []
        for theta in tasks:
            try:
                errors.append(evaluate(fit(family, theta, scale=s, seed=seed, points=points), family, theta)["mse"])
            except (ValueError, RuntimeError, torch.linalg.LinAlgError):
                errors.append(math.inf)
        return float(np.mean(errors))

    for s in CANDIDATES:
        scores[s] = score(s)
    while min(scores, key=scores.get) == min(scores) and min(scores) > 1e-3:  # the smallest wins: try half of it
        s = min(scores) / 2
        scores[s] = score(s)
    return min(scores, key=scores.get), tuple(sorted(scores.items()))


def choose_scale(family: Family, mode: str = "full", seed: int = 0, rows: tuple[int, ...] = TUNING_ROWS) -> tuple[float, dict]:
    """The bandwidth with the lowest mean MSE on training tasks ``rows`` (never an unseen or OOD task), from
    fastlsq's candidates (:data:`CANDIDATES`, halved while the smallest wins), and every candidate's score.
    Made once per family, mode, seed and rows in a process."""
    best, scores = _choice(family, mode, seed, tuple(rows))
    return best, dict(scores)


def main(argv: list[str] | None = None) -> None:
    """``python -m lampinn.anchor FAMILY [MODE]``: repeat the bandwidth search and print every score."""
    import sys

    from .pde import get_family

    args = sys.argv[1:] if argv is None else argv
    family = get_family(args[0])
    best, scores = choose_scale(family, args[1] if len(args) > 1 else "full")
    for s, v in scores.items():
        print(f"{family.name}: scale {s:g}: mean MSE on training tasks {v:.3e}")
    print(f"{family.name}: chosen scale {best:g}")


if __name__ == "__main__":
    main()

__all__ = ["AnchorModel", "BOUNDARY_WEIGHT", "Problem", "CANDIDATES", "HIDDEN", "INSTALL", "N_BLOCKS", "PROBLEMS", "SCALES",
           "TUNING_ROWS", "choose_scale", "collocation", "fit", "problem"]
