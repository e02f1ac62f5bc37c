"""Derivatives of a network's output with respect to its input points (chapter 1).

Two ways to get them, one answer.

*By autograd* (:func:`gradient`, :func:`partial`, :func:`laplacian`): take ``u`` of shape
``(..., N)`` (one output component) computed from points ``x`` of shape ``(..., N, d)`` that require
gradients. Each output point depends only on its own input point, so the gradient of ``u.sum()``
gives every pointwise derivative at once, for one task or for a stack of tasks. The graph is kept
(``create_graph=True``) so the result can enter a loss. Each derivative is one more backward pass
through the graph, and a second derivative a backward pass through that backward pass.

*Carried forward* (:func:`derivatives`, what the families' losses use): a tanh network's first and
second derivatives travel through the layers with its values (Taylor mode). For a layer
``z = h W + b``, ``a = tanh(z)``, ``s = 1 - a^2``::

    z_i = h_i W,          a_i = s z_i,
    z_ij = h_ij W,        a_ij = s (z_ij - 2 a z_i z_j),

so one forward pass gives u, its gradient and the second derivatives the PDE asks for, and one
ordinary backward pass the parameter gradients. The package's networks implement it through the
primitives below (their ``jet`` method); any other callable falls back to autograd, with the same
result.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

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


# ---- the derivative engine ---------------------------------------------------------------------

#: The second-order quantities a PDE asks for: pairs ``(i, j)`` with ``i <= j`` (d2u/dx_i dx_j), and
#: ``"laplacian"`` for their trace, carried as one stream (the "forward Laplacian": cheaper than its terms).
Pairs = tuple[tuple[int, int] | str, ...]
LAPLACIAN = "laplacian"


@dataclass(frozen=True)
class Jet:
    """A network's output at points with the derivatives a PDE asked for.

    ``value`` is ``(..., N, m)``; ``first`` is ``(d, ..., N, m)``, ``first[i]`` = du/dx_i; ``second`` is
    ``(P, ..., N, m)``, one entry per requested quantity ``pairs[p]``: a pair ``(i, j)`` with ``i <= j``, or
    ``"laplacian"``.
    """

    value: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor
    pairs: Pairs

    def d(self, *dims: int) -> torch.Tensor:
        """du/dx_i for ``d(i)``, d2u/dx_i dx_j for ``d(i, j)``; shape ``(..., N, m)``."""
        if len(dims) == 1:
            return self.first[dims[0]]
        key = tuple(sorted(dims))
        if len(dims) != 2 or key not in self.pairs:
            raise ValueError(f"derivative {dims} was not asked for; this jet holds first derivatives and {list(self.pairs)}")
        return self.second[self.pairs.index(key)]

    @property
    def laplacian(self) -> torch.Tensor:
        """sum_i d2u/dx_i^2, shape ``(..., N, m)``, if it was asked for (``derivatives(..., laplacian=True)``)."""
        if LAPLACIAN not in self.pairs:
            raise ValueError("the Laplacian was not asked for; call derivatives(..., laplacian=True)")
        return self.second[self.pairs.index(LAPLACIAN)]


_FORWARD = [True]


@contextlib.contextmanager
def autograd_only() -> Iterator[None]:
    """Within this block :func:`derivatives` uses nested autograd for every network (to compare the two paths)."""
    _FORWARD.append(False)
    try:
        yield
    finally:
        _FORWARD.pop()


def check_pairs(second: Iterable[tuple[int, int]], d: int, laplacian: bool = False) -> Pairs:
    """The requested second derivatives as sorted ``(i, j)`` pairs with ``i <= j``, each once, in first-seen order,
    then ``"laplacian"`` if asked for."""
    out: list[tuple[int, int] | str] = []
    for pair in second:
        if len(pair) != 2 or not all(isinstance(i, int) and 0 <= i < d for i in pair):
            raise ValueError(f"second derivative {pair!r} is invalid; expected a pair (i, j) of input dimensions in [0, {d})")
        key = (min(pair), max(pair))
        if key not in out:
            out.append(key)
    return tuple(out) + ((LAPLACIAN,) if laplacian else ())


def derivatives(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                second: Iterable[tuple[int, int]] = (), laplacian: bool = False) -> Jet:
    """``model``'s output at points ``x`` (``(..., N, d)``) with all first derivatives, the ``second`` ones
    (pairs of input dimensions) and, with ``laplacian``, the Laplacian (:attr:`Jet.laplacian`).

    A network of this package (or a callable with a ``jet(x, pairs)`` method) carries them forward
    through its layers; anything else gets them by autograd (:func:`autograd_jet`). Both keep the
    graph, so the result can enter a loss.
    """
    pairs = check_pairs(second, x.shape[-1], laplacian)
    jet = getattr(model, "jet", None)
    if jet is not None and _FORWARD[-1]:
        return jet(x, pairs)
    return autograd_jet(model, x, pairs)


def autograd_jet(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, pairs: Pairs) -> Jet:
    """The :class:`Jet` of any callable by nested autograd: one backward pass per output and first
    derivative that a requested second derivative starts from."""
    x = x.detach().requires_grad_(True)
    u = model(x)
    grads = [gradient(u[..., c], x) for c in range(u.shape[-1])]  # (..., N, d) per output
    first = torch.stack(grads, dim=-1).movedim(-2, 0)
    hess: dict[tuple[int, int], torch.Tensor] = {}  # (output, i) -> gradient of du_c/dx_i

    def d2(i: int, j: int) -> torch.Tensor:
        for c in range(u.shape[-1]):
            if (c, i) not in hess:
                hess[(c, i)] = gradient(grads[c][..., i], x)
        return torch.stack([hess[(c, i)][..., j] for c in range(u.shape[-1])], dim=-1)

    second = [sum(d2(i, i) for i in range(x.shape[-1])) if q == LAPLACIAN else d2(*q) for q in pairs]
    second_t = torch.stack(second) if second else u.new_zeros((0,) + u.shape)
    return Jet(u, first, second_t, pairs)


# ---- forward propagation: the primitives a network's ``jet`` method is made of -----------------
# Streams are (v, F, S): values (..., N, w), first derivatives (d, ..., N, w) and the P requested second
# derivatives (P, ..., N, w), kept as three tensors (slicing one tensor would cost a zero-filled copy per
# slice in the backward pass). F and S may have size-1 dimensions where they do not depend on the point
# (the input's derivatives are constant); broadcasting fills them in.

Streams = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def seed(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, pairs: Pairs) -> Streams:
    """The streams of the input map ``(x - shift) * scale``: dx_i gives ``scale_i e_i``, no second derivative."""
    d, ones = x.shape[-1], (1,) * (x.dim() - 1)
    first = torch.diag(scale.to(x.dtype).expand(d)).reshape((d,) + ones + (d,))
    return (x - shift) * scale, first, first.new_zeros((len(pairs),) + ones + (d,))


def linear(streams: Streams, weight: torch.Tensor, bias: torch.Tensor | None) -> Streams:
    """An ``nn.Linear`` layer (``weight`` of shape ``(out, in)``): the bias enters the values only."""
    v, F1, S = streams
    w = weight.T
    return torch.nn.functional.linear(v, weight, bias), F1 @ w, S @ w


def tanh(streams: Streams, pairs: Pairs) -> Streams:
    """``a = tanh(z)``: ``a_i = s z_i`` and ``a_ij = s (z_ij - 2 a z_i z_j)`` with ``s = 1 - a^2`` (the Laplacian
    stream: the same with ``sum_i z_i^2`` for ``z_i z_j``)."""
    z, F1, S = streams
    a = torch.tanh(z)
    s = torch.addcmul(a.new_ones(()), a, a, value=-1)  # 1 - a^2 in one operation
    if not pairs:
        return a, s * F1, S
    f = F1.unbind(0)
    parts = [(F1 * F1).sum(0) if q == LAPLACIAN else f[q[0]] * f[q[1]] for q in pairs]  # z_i z_j, or sum_i z_i^2
    products = parts[0][None] if len(parts) == 1 else torch.stack(parts)  # one quantity: a view, not a copy
    return a, s * F1, s * torch.addcmul(S, a, products, value=-2)


def dropout(streams: Streams, p: float, training: bool) -> Streams:
    """Dropout with one mask for a point's value and its derivatives (drawn as ``nn.Dropout`` draws it)."""
    v, F1, S = streams
    if not training or p == 0:
        return streams
    mask = torch.nn.functional.dropout(torch.ones_like(v), p, True)
    return v * mask, F1 * mask, S * mask


def combine(first: Streams, weights: Sequence[torch.Tensor], streams: Sequence[Streams]) -> Streams:
    """``first + sum_k weights[k] * streams[k]``, stream by stream (the derivative of a sum is the sum of the
    derivatives); ``weights`` are scalar tensors."""
    out = list(first)
    for w, other in zip(weights, streams):
        out = [torch.addcmul(total, w, part) for total, part in zip(out, other)]
    return tuple(out)


def sequential(block: torch.nn.Sequential, streams: Streams, pairs: Pairs) -> Streams:
    """The streams through a stack of ``Linear``, ``Tanh`` and ``Dropout`` layers; another layer is a ``TypeError``."""
    for layer in block:
        if isinstance(layer, torch.nn.Linear):
            streams = linear(streams, layer.weight, layer.bias)
        elif isinstance(layer, torch.nn.Tanh):
            streams = tanh(streams, pairs)
        elif isinstance(layer, torch.nn.Dropout):
            streams = dropout(streams, layer.p, layer.training)
        else:
            raise TypeError(f"no forward derivatives for layer {type(layer).__name__}")
    return streams


def to_jet(streams: Streams, pairs: Pairs, scale: torch.Tensor | None = None) -> Jet:
    """The output streams as a :class:`Jet` (times the output ``scale``, if any)."""
    v, F1, S = streams
    if scale is not None:
        v, F1, S = v * scale, F1 * scale, S * scale
    return Jet(v, F1.expand((F1.shape[0],) + v.shape), S.expand((S.shape[0],) + v.shape), pairs)
