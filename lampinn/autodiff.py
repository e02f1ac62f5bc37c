"""Derivatives of a network's output with respect to its input points, by autograd.

All helpers take ``u`` of shape ``(..., N)`` (one output component) computed from points ``x`` of
shape ``(..., N, d)`` that require gradients. Each output point depends only on its own input
point, so the gradient of ``u.sum()`` gives every pointwise derivative at once, for one task or
for a stack of tasks. The graph is kept (``create_graph=True``) so the result can enter a loss.
"""
from __future__ import annotations

import torch


def gradient(u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """All first derivatives ``du/dx_i``, shape ``(..., N, d)``."""
    if not x.requires_grad:
        raise ValueError("x must require gradients: call x.requires_grad_() before computing u")
    if not u.requires_grad:  # u does not depend on anything that needs gradients: so not on x
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def partial(u: torch.Tensor, x: torch.Tensor, *dims: int) -> torch.Tensor:
    """The mixed derivative of ``u`` along input dimensions ``dims`` in turn, shape ``(..., N)``.

    ``partial(u, x, 0)`` is u_x, ``partial(u, x, 0, 0)`` is u_xx, ``partial(u, x, 0, 1)`` is u_xy.
    """
    if not dims:
        raise ValueError("partial needs at least one input dimension")
    for i in dims:
        u = gradient(u, x)[..., i]
    return u


def laplacian(u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The Laplacian ``sum_i d2u/dx_i^2``, shape ``(..., N)``."""
    g = gradient(u, x)
    return sum(gradient(g[..., i], x)[..., i] for i in range(x.shape[-1]))
