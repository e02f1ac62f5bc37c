"""The 2-D Helmholtz equation with a manufactured solution, on [-1, 1]^2.

    u_xx + u_yy + k^2 u = q,   u = g on the boundary,   theta = (a1, a2, k),

with the exact solution u = sin(a1 pi x) sin(a2 pi y), so q = (k^2 - (a1^2 + a2^2) pi^2) u and
g = u on the four edges. Large a1, a2 make the solution oscillate: the hard tasks.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..autodiff import derivatives
from .base import Array, Family, Model, Param, Solution, as_param, latin_hypercube, tensor_grid


def exact(x: Array, y: Array, a1: Param, a2: Param) -> Array:
    """u = sin(a1 pi x) sin(a2 pi y), for NumPy arrays or tensors."""
    sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
    return sin(a1 * np.pi * x) * sin(a2 * np.pi * y)


def source(x: Array, y: Array, a1: Param, a2: Param, k: Param) -> Array:
    """q = (k^2 - (a1^2 + a2^2) pi^2) u, the right-hand side that makes :func:`exact` the solution."""
    return (k**2 - (a1**2 + a2**2) * np.pi**2) * exact(x, y, a1, a2)


def edge_points(box: tuple[tuple[float, float], ...], n: int, seed: int) -> np.ndarray:
    """``n`` points on the boundary of a 2-D box: bottom, right, top, left edge in turn."""
    (x0, x1), (y0, y1) = box
    s = latin_hypercube([(0.0, 1.0)], n, seed)[:, 0]
    edge = np.arange(n) % 4
    x = np.where(edge % 2 == 0, x0 + s * (x1 - x0), np.where(edge == 1, x1, x0))
    y = np.where(edge % 2 == 1, y0 + s * (y1 - y0), np.where(edge == 0, y0, y1))
    return np.stack([x, y], axis=1)


class Helmholtz(Family):
    """The Helmholtz equation with theta = (a1, a2, k); see the module docstring.

    Loss terms: ``residual`` (u_xx + u_yy + k^2 u - q) and ``boundary`` (u - g on the four edges),
    each a mean square; default weights 1 and 10.
    """

    name = "helmholtz"
    param_names = ("a1", "a2", "k")
    # Frequencies calibrated to the benchmark's budget (lampinn.benchmark.CALIBRATION_RULE): scratch at
    # B = 1000 solves 10 of 10 calibration tasks with a1, a2 in [0.5, 2]; 2 of 10 with [1, 4] (the first box).
    bounds = {"a1": (0.5, 2.0), "a2": (0.5, 2.0), "k": (1.0, 4.0)}
    levels = {"a1": (0.5, 1.25, 2.0), "a2": (0.5, 1.25, 2.0), "k": (1.0, 2.5, 4.0)}
    diversity = {"a1": "log", "a2": "log"}  # the frequencies, widened in octaves about 1
    input_names = ("x", "y")
    output_names = ("u",)
    domain = ((-1.0, 1.0), (-1.0, 1.0))
    loss_weights = {"residual": 1.0, "boundary": 10.0}
    unseen = (
        (0.6538, 1.516, 1.422), (0.6179, 1.464, 2.535), (0.8155, 1.253, 3.992), (1.397, 1.188, 2.912),
        (1.654, 1.407, 1.769), (1.762, 1.182, 3.728), (1.016, 1.51, 1.219), (1.389, 1.618, 1.485),
        (1.783, 1.317, 3.348), (1.801, 1.875, 1.627),
    )
    ood = (
        (2.159, 0.7831, 2.661), (1.182, 0.3435, 1.913), (1.033, 0.3624, 2.781), (0.3088, 1.358, 1.35),
        (0.4158, 0.8167, 2.287), (0.4932, 1.965, 0.8247), (2.172, 1.713, 0.586), (2.09, 2.169, 4.202),
        (0.6927, 0.39, 4.15), (0.4413, 1.78, 2.178),
    )

    def sample(self, n_interior: int = 2000, n_boundary: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
        """Interior points (Latin hypercube) and ``n_boundary`` points over the four edges."""
        return {"interior": latin_hypercube(self.domain, n_interior, seed), "boundary": edge_points(self.domain, n_boundary, seed + 1)}

    def residuals(self, model: Model, points: Mapping[str, torch.Tensor], theta) -> dict[str, torch.Tensor]:
        """Residual u_xx + u_yy + k^2 u - q at the interior points and boundary u - g on the edges."""
        x = points["interior"]
        th = self.theta_tensor(theta, x)
        a1, a2, k = (as_param(th, i) for i in range(3))
        jet = derivatives(model, x, laplacian=True)
        u = jet.value[..., 0]
        residual = jet.laplacian[..., 0] + k**2 * u - source(x[..., 0], x[..., 1], a1, a2, k)
        xb = points["boundary"]
        return {"residual": residual, "boundary": model(xb)[..., 0] - exact(xb[..., 0], xb[..., 1], a1, a2)}

    def grid(self) -> Solution:
        """101 x 101 points."""
        return tensor_grid(np.linspace(-1, 1, 101), np.linspace(-1, 1, 101))

    def solve(self, theta: np.ndarray) -> np.ndarray:
        """The analytic solution at the points of :meth:`grid`."""
        p = self.grid().points
        return exact(p[:, 0], p[:, 1], theta[0], theta[1]).reshape(-1, 1)
