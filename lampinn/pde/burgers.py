"""Viscous Burgers' equation on x in [-1, 1], t in [0, 1], with an exact Cole-Hopf reference.

    u_t + u u_x = nu u_xx,   u(-1, t) = u(1, t) = 0,
    u(x, 0) = -A [(1 - w) sin(pi x) + w sin(2 pi x)],   theta = (nu, A, w).

The Cole-Hopf transformation u = -2 nu phi_x / phi turns Burgers into the heat equation, whose
whole-line solution is a Gaussian convolution. Because u(x, 0) is odd and 2-periodic, so is the
whole-line solution, and the boundary values u(+-1, t) = 0 hold. The result is a weighted mean

    u(x, t) = int u0(y) exp(E(y)) dy / int exp(E(y)) dy,
    E(y)    = G(y) - (x - y)^2 / (4 nu t),   G(y) = -(1 / 2 nu) int_0^y u0(s) ds,

evaluated with the trapezoidal rule on a window around y = x that holds all but e^-50 of the
integrand's mass. The integrand is smooth and negligible at the window's ends, so the rule
converges spectrally; ``points_per_width`` sets how finely it resolves the integrand's narrowest
feature (the tests show doubling it changes the answer by less than 1e-10).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..autodiff import derivatives
from .base import Array, Family, Model, Param, Solution, as_param, latin_hypercube, tensor_grid


def initial_condition(x: Array, A: Param, w: Param) -> Array:
    """u(x, 0) = -A [(1 - w) sin(pi x) + w sin(2 pi x)] for NumPy arrays or tensors."""
    sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
    return -A * ((1 - w) * sin(np.pi * x) + w * sin(2 * np.pi * x))


def cole_hopf(x: np.ndarray, t: np.ndarray, nu: float, A: float, w: float, points_per_width: int = 4) -> np.ndarray:
    """The exact solution on the grid ``t x x``, shape ``(len(t), len(x))``, in float64."""
    if nu <= 0:
        raise ValueError(f"nu = {nu:g} is not physical; expected nu > 0")
    x = np.asarray(x, dtype=float)

    def G(y: np.ndarray) -> np.ndarray:
        return A / (2 * nu) * ((1 - w) * (1 - np.cos(np.pi * y)) / np.pi + w * (1 - np.cos(2 * np.pi * y)) / (2 * np.pi))

    y = np.linspace(-1, 1, 4001)
    spread = float(np.ptp(G(y)))  # range of G over one period
    curvature = abs(A) * np.pi * (abs(1 - w) + 2 * abs(w)) / (2 * nu)  # bound on |G''|
    out = np.empty((len(t), len(x)))
    for i, ti in enumerate(np.asarray(t, dtype=float)):
        if ti <= 0:
            out[i] = initial_condition(x, A, w)
            continue
        s2 = 4 * nu * ti
        half = np.sqrt(s2 * (spread + 50))
        narrowest = min(np.sqrt(s2 / 2), 1 / np.sqrt(curvature)) if curvature > 0 else np.sqrt(s2 / 2)
        eta = np.linspace(-half, half, int(np.ceil(2 * half * points_per_width / narrowest)) + 1)
        yy = x[:, None] + eta[None, :]
        expo = G(yy) - eta[None, :] ** 2 / s2
        weights = np.exp(expo - expo.max(axis=1, keepdims=True))
        out[i] = (initial_condition(yy, A, w) * weights).sum(axis=1) / weights.sum(axis=1)
    return out


class Burgers(Family):
    """Burgers' equation with theta = (nu, A, w); see the module docstring.

    Loss terms: ``residual`` (u_t + u u_x - nu u_xx), ``boundary`` (u at x = +-1) and ``initial``
    (u - u0 at t = 0), each a mean square; default weights 1, 10 and 10.
    """

    name = "burgers"
    param_names = ("nu", "A", "w")
    bounds = {"nu": (0.003, 0.03), "A": (0.5, 1.5), "w": (0.0, 0.5)}
    levels = {"nu": (0.003, 0.01, 0.03), "A": (0.5, 1.0, 1.5), "w": (0.0, 0.25, 0.5)}
    input_names = ("x", "t")
    output_names = ("u",)
    domain = ((-1.0, 1.0), (0.0, 1.0))
    loss_weights = {"residual": 1.0, "boundary": 10.0, "initial": 10.0}
    positive = ("nu",)
    limits = {"nu": (1e-3, 1.0), "A": (-3.0, 3.0), "w": (-1.0, 2.0)}  # where the Cole-Hopf quadrature is finite and fast
    log_params = ("nu",)
    diversity = {"nu": "log", "A": "linear"}  # the viscosity in decades, and the amplitude
    # Drawn once by `python -m lampinn.pde.designs burgers` (seeded Latin hypercube), stored here.
    unseen = (
        (0.02992, 0.8668, 0.3834), (0.006054, 1.376, 0.09649), (0.01454, 0.5899, 0.4312), (0.008888, 1.288, 0.1198),
        (0.01873, 0.6991, 0.08852), (0.003343, 0.8771, 0.09999), (0.01788, 0.608, 0.3861), (0.02315, 0.65, 0.4766),
        (0.008262, 0.5623, 0.1899), (0.007677, 0.9176, 0.1068),
    )
    ood = (
        (0.02676, 0.6257, -0.04162), (0.03042, 1.643, 0.04998), (0.008458, 0.7355, -0.02773), (0.03322, 1.504, 0.02643),
        (0.005358, 0.837, 0.5337), (0.01856, 0.5259, 0.5062), (0.01801, 1.305, 0.5535), (0.04057, 1.631, 0.2642),
        (0.04004, 0.6671, 0.4538), (0.002792, 1.363, 0.01971),
    )

    def sample(self, n_interior: int = 2000, n_boundary: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
        """Interior points (Latin hypercube), ``n_boundary`` points on x = +-1 and on t = 0."""
        interior = latin_hypercube(self.domain, n_interior, seed)
        t = latin_hypercube([self.domain[1]], n_boundary, seed + 1)
        side = np.where(np.arange(n_boundary) % 2 == 0, -1.0, 1.0)[:, None]
        x0 = latin_hypercube([self.domain[0]], n_boundary, seed + 2)
        return {
            "interior": interior,
            "boundary": np.hstack([side, t]),
            "initial": np.hstack([x0, np.zeros_like(x0)]),
        }

    def residuals(self, model: Model, points: Mapping[str, torch.Tensor], theta) -> dict[str, torch.Tensor]:
        """Residual u_t + u u_x - nu u_xx, boundary u(+-1, t), initial u(x, 0) - u0(x), per point."""
        x = points["interior"]
        th = self.theta_tensor(theta, x)
        nu, A, w = (as_param(th, i) for i in range(3))
        jet = derivatives(model, x, second=[(0, 0)])
        u = jet.value[..., 0]
        residual = jet.d(1)[..., 0] + u * jet.d(0)[..., 0] - nu * jet.d(0, 0)[..., 0]
        xb, x0 = points["boundary"], points["initial"]
        return {
            "residual": residual,
            "boundary": model(xb)[..., 0],
            "initial": model(x0)[..., 0] - initial_condition(x0[..., 0], A, w),
        }

    def grid(self) -> Solution:
        """256 x-points by 101 t-points."""
        return tensor_grid(np.linspace(-1, 1, 256), np.linspace(0, 1, 101))

    def solve(self, theta: np.ndarray) -> np.ndarray:
        """The exact Cole-Hopf solution at the points of :meth:`grid`."""
        x, t = self.grid().axes
        return cole_hopf(x, t, *theta).reshape(-1, 1)
