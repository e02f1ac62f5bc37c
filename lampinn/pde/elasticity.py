"""Linear elasticity of a plate in plane stress: the paper's released benchmark, with a FE reference.

Displacements (u, v) on the plate [0, 10]^2, Poisson ratio 0.3, thickness 1, no body force.
Rollers hold u = 0 on x = 0 and v = 0 on y = 0 (a roller carries no shear: sigma_xy = 0 there);
the top edge is traction-free; the right edge carries sigma_xx = f cos(pi y / 20) + k and
sigma_xy = 0. theta = (E, f, k).

The PINN loss follows the authors' released code: the two equilibrium residuals (stress
divergence, in units of stress per length) plus 50 x the boundary terms. One deliberate
difference: the released loss omits sigma_xy = 0 on the two roller edges, which leaves the
strong-form problem one condition short there; we add it (``"rollers"``), because the finite
element reference, like the physical roller, satisfies it.

The reference is a scikit-fem solution with quadratic triangles. The problem is linear in the
load and the displacements scale with 1 / E, so every task is a combination of two unit
solutions, (f u_cos + k u_uniform) / E, computed once per mesh.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import torch

from ..autodiff import Jet, derivatives
from .base import Array, Family, Model, Param, Solution, as_param, latin_hypercube, tensor_grid

POISSON = 0.3
SIZE = 10.0
#: The plate's edges, in the order the loss passes them through the network together.
EDGES = ("left", "bottom", "top", "right")
MESH = 48  # elements per side of the reference mesh; tests/test_pde.py shows it is converged


def traction(y: Array, f: Param, k: Param) -> Array:
    """The applied normal traction on the right edge, sigma_xx = f cos(pi y / 20) + k."""
    cos = torch.cos if isinstance(y, torch.Tensor) else np.cos
    return f * cos(np.pi * y / (2 * SIZE)) + k


def stresses(jet: Jet, E: torch.Tensor, derivative: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sigma_xx, sigma_yy, sigma_xy) from a jet of (u, v); with ``derivative = (i,)`` their derivatives along
    x_i (the stresses are linear in the displacement gradient, so that takes the jet's second derivatives)."""
    (ux, vx), (uy, vy) = (jet.d(*derivative, i).unbind(-1) for i in (0, 1))
    c = E / (1 - POISSON**2)
    return c * (ux + POISSON * vy), c * (vy + POISSON * ux), c * (1 - POISSON) / 2 * (uy + vx)


def solve_fem(E: float, f: float, k: float, n: int = MESH) -> tuple[object, np.ndarray]:
    """Solve one task with P2 triangles on an ``n x n`` mesh; returns ``(basis, dofs)``."""
    from skfem import Basis, ElementTriP2, ElementVector, FacetBasis, LinearForm, MeshTri, asm, condense, solve
    from skfem.models.elasticity import linear_elasticity

    if E <= 0:
        raise ValueError(f"E = {E:g} is not physical; expected E > 0")
    mesh = MeshTri.init_tensor(np.linspace(0, SIZE, n + 1), np.linspace(0, SIZE, n + 1))
    element = ElementVector(ElementTriP2())
    basis = Basis(mesh, element)
    mu = E / (2 * (1 + POISSON))
    lam = E * POISSON / (1 - POISSON**2)  # the plane-stress Lame parameter
    K = asm(linear_elasticity(lam, mu), basis)
    right = FacetBasis(mesh, element, facets=mesh.facets_satisfying(lambda p: np.isclose(p[0], SIZE)))

    @LinearForm
    def load(v, w):
        return traction(w.x[1], f, k) * v[0]

    rhs = asm(load, right)
    fixed = np.concatenate(
        [
            basis.get_dofs(lambda p: np.isclose(p[0], 0.0)).all(["u^1"]),
            basis.get_dofs(lambda p: np.isclose(p[1], 0.0)).all(["u^2"]),
        ]
    )
    return basis, solve(*condense(K, rhs, D=fixed))


def fem_on_points(basis, dofs: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Interpolate a FE displacement at ``(N, 2)`` points; returns ``(N, 2)``."""
    return np.stack([sub.probes(points.T) @ field for field, sub in basis.split(dofs)], axis=1)


@functools.lru_cache(maxsize=4)
def unit_solutions(n: int = MESH) -> tuple[np.ndarray, np.ndarray]:
    """Displacements on the evaluation grid for E = 1 under the cosine load (f = 1, k = 0) and the uniform one."""
    points = Elasticity().grid().points
    return tuple(fem_on_points(*solve_fem(1.0, f, k, n), points) for f, k in ((1.0, 0.0), (0.0, 1.0)))


class Elasticity(Family):
    """Plane-stress elasticity with theta = (E, f, k); see the module docstring.

    Loss terms, each a sum of mean squares: ``residual`` (both equilibrium equations),
    ``dirichlet`` (u on x = 0, v on y = 0), ``rollers`` (sigma_xy on those two edges), ``top``
    (sigma_yy and sigma_xy on y = 10) and ``right`` (sigma_xx minus the load, and sigma_xy, on
    x = 10). Default weights: 1 for the residual and 50 for every boundary term, as published.
    """

    name = "elasticity"
    param_names = ("E", "f", "k")
    bounds = {"E": (50.0, 150.0), "f": (0.1, 2.0), "k": (0.0, 10.0)}
    levels = {"E": (50.0, 100.0, 150.0), "f": (0.1, 1.0, 2.0), "k": (0.0, 5.0, 10.0)}
    input_names = ("x", "y")
    output_names = ("u", "v")
    domain = ((0.0, SIZE), (0.0, SIZE))
    loss_weights = {"residual": 1.0, "dirichlet": 50.0, "rollers": 50.0, "top": 50.0, "right": 50.0}
    positive = ("E",)
    diversity = {"f": "linear", "k": "linear"}  # the two loads
    # As published by the authors (arXiv:2604.26999 and their released code).
    unseen = (
        (55, 1.8, 9.2), (60, 1.9, 9.0), (134, 1.954, 0.772), (55, 1.7, 9.8), (79, 0.84, 2.302),
        (82, 1.847, 6.759), (79, 1.0, 2.1), (80, 1.91, 7.0), (51, 1.9, 9.5), (79, 1.0, 2.4),
    )
    ood = (
        (84.14, 0.9967, -1.342), (106.2, 0.2147, 11.38), (53.89, -0.003043, 6.242), (69.81, 2.077, 3.916),
        (39.8, 0.3627, 6.092), (60.05, 2.071, 1.928), (142.8, 0.9819, -0.8643), (156.3, 2.113, 4.056),
        (94.36, -0.06879, 1.679), (53.22, 1.685, 11.46),
    )

    def sample(self, n_interior: int = 10000, n_boundary: int = 500, seed: int = 0) -> dict[str, np.ndarray]:
        """Interior points (Latin hypercube) and ``n_boundary`` evenly spaced points on each edge."""
        s = np.linspace(0, SIZE, n_boundary)[:, None]
        zero, full = np.zeros_like(s), np.full_like(s, SIZE)
        return {
            "interior": latin_hypercube(self.domain, n_interior, seed),
            "left": np.hstack([zero, s]),
            "bottom": np.hstack([s, zero]),
            "top": np.hstack([s, full]),
            "right": np.hstack([full, s]),
        }

    def residuals(self, model: Model, points: Mapping[str, torch.Tensor], theta) -> dict[str, tuple[torch.Tensor, ...]]:
        """Equilibrium residuals; u = 0 / v = 0 on the rollers; shear-free rollers; free top; loaded right edge
        (each term's pieces per point)."""
        x = points["interior"]
        th = self.theta_tensor(theta, x)
        E, f, k = (as_param(th, i) for i in range(3))
        jet = derivatives(model, x, second=[(0, 0), (0, 1), (1, 1)])
        (sxx_x, _, sxy_x), (_, syy_y, sxy_y) = stresses(jet, E, (0,)), stresses(jet, E, (1,))
        div_x, div_y = sxx_x + sxy_y, sxy_x + syy_y
        # the four edges in one pass through the network (it is pointwise), then split back: an edge has few
        # points, so one pass instead of four saves most of the per-call cost of the derivatives
        sizes = [points[name].shape[-2] for name in EDGES]
        edge_jet = derivatives(model, torch.cat([points[name] for name in EDGES], dim=-2))
        u, v, sxx_e, syy_e, sxy_e = (dict(zip(EDGES, q.split(sizes, dim=-1)))
                                     for q in (*edge_jet.value.unbind(-1), *stresses(edge_jet, E)))
        return {
            "residual": (div_x, div_y),
            "dirichlet": (u["left"], v["bottom"]),
            "rollers": (sxy_e["left"], sxy_e["bottom"]),
            "top": (syy_e["top"], sxy_e["top"]),
            "right": (sxx_e["right"] - traction(points["right"][..., 1], f, k), sxy_e["right"]),
        }

    def grid(self) -> Solution:
        """30 x 30 points on the plate, edges included."""
        return tensor_grid(np.linspace(0, SIZE, 30), np.linspace(0, SIZE, 30))

    def solve(self, theta: np.ndarray) -> np.ndarray:
        """(u, v) on :meth:`grid` by superposition of the two unit FE solutions."""
        E, f, k = theta
        cos_load, uniform_load = unit_solutions()
        return (f * cos_load + k * uniform_load) / E

    def output_scale(self, theta) -> np.ndarray:
        """``(abs(f) + abs(k)) * L / E`` for both displacements: the load over the stiffness, times the plate's size.

        The displacements are linear in the load and scale with 1 / E, so u / output_scale is of order
        one on every task (the displacements themselves span 0.006 to 2.4 over the design).
        """
        E, f, k = self.validate(theta)
        return np.full(2, max(abs(f) + abs(k), 1e-3) * SIZE / E)

    def metric_values(self, values: np.ndarray) -> np.ndarray:
        """The displacement magnitude sqrt(u^2 + v^2), as published."""
        return np.linalg.norm(values, axis=-1)
