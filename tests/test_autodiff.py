import pytest
import torch

from lampinn import gradient, laplacian, partial


def field(x):
    """u = sin(x) exp(2 y) + x^3 y, with known derivatives."""
    return torch.sin(x[..., 0]) * torch.exp(2 * x[..., 1]) + x[..., 0] ** 3 * x[..., 1]


@pytest.fixture
def points():
    return torch.rand(4, 50, 2, dtype=torch.float64).requires_grad_(True)


def test_gradient_matches_analytic(points):
    x, y = points[..., 0], points[..., 1]
    g = gradient(field(points), points)
    assert g.shape == points.shape
    assert torch.allclose(g[..., 0], torch.cos(x) * torch.exp(2 * y) + 3 * x**2 * y)
    assert torch.allclose(g[..., 1], 2 * torch.sin(x) * torch.exp(2 * y) + x**3)


def test_second_and_mixed_partials(points):
    x, y = points[..., 0], points[..., 1]
    u = field(points)
    assert torch.allclose(partial(u, points, 0, 0), -torch.sin(x) * torch.exp(2 * y) + 6 * x * y)
    assert torch.allclose(partial(u, points, 1, 1), 4 * torch.sin(x) * torch.exp(2 * y))
    assert torch.allclose(partial(u, points, 0, 1), 2 * torch.cos(x) * torch.exp(2 * y) + 3 * x**2)
    assert torch.allclose(partial(u, points, 1, 0), partial(u, points, 0, 1))


def test_laplacian(points):
    x, y = points[..., 0], points[..., 1]
    expected = 3 * torch.sin(x) * torch.exp(2 * y) + 6 * x * y
    assert torch.allclose(laplacian(field(points), points), expected)


def test_derivatives_keep_the_graph_for_training(points):
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    loss = partial(w * field(points), points, 0).sum()
    loss.backward()
    assert w.grad is not None and torch.isfinite(w.grad)


def test_independent_input_gives_zero_derivative():
    x = torch.rand(10, 2).requires_grad_(True)
    assert torch.equal(partial(x[..., 0] ** 2, x, 1), torch.zeros(10))


def test_errors():
    x = torch.rand(5, 2)
    with pytest.raises(ValueError, match="requires_grad"):
        gradient(x.sum(-1), x)
    with pytest.raises(ValueError, match="at least one"):
        partial(x.sum(-1), x.requires_grad_(True))


# ---- the derivative engine: carried forward, equal to autograd ------------------------------------

import numpy as np  # noqa: E402

import lampinn  # noqa: E402
from lampinn.autodiff import Jet, autograd_only, derivatives  # noqa: E402
from lampinn.nn import MLP, ModularPINN, StackedMLP  # noqa: E402
from lampinn.pde.base import Family, as_param, mse, tensor_grid  # noqa: E402


class Poisson(Family):
    """A user-declared family that asks the engine for a mixed derivative, a pair and the Laplacian:
    u_xx + u_yy + c u_xy = q (and a made-up term on u_xx, to ask for a pair beside the Laplacian)."""

    name = "poisson-mixed"
    param_names = ("c",)
    bounds = {"c": (0.0, 1.0)}
    levels = {"c": (0.0, 0.5, 1.0)}
    input_names = ("x", "y")
    output_names = ("u",)
    domain = ((0.0, 2.0), (-1.0, 1.0))
    loss_weights = {"residual": 1.0, "boundary": 10.0}

    def sample(self, n_interior=60, n_boundary=20, seed=0):
        rng = np.random.default_rng(seed)
        return {"interior": rng.uniform([0, -1], [2, 1], (n_interior, 2)), "boundary": rng.uniform([0, -1], [2, 1], (n_boundary, 2))}

    def loss_terms(self, model, points, theta):
        x = points["interior"]
        c = as_param(self.theta_tensor(theta, x), 0)
        jet = derivatives(model, x, second=[(1, 0), (0, 0)], laplacian=True)
        residual = jet.laplacian[..., 0] + c * jet.d(0, 1)[..., 0] - torch.cos(x[..., 0])
        return {"residual": mse(residual), "boundary": mse(model(points["boundary"])[..., 0]),
                "curvature": mse(jet.d(0, 0)[..., 0])}

    def grid(self):
        return tensor_grid(np.linspace(0, 2, 5), np.linspace(-1, 1, 5))

    def solve(self, theta):
        return np.zeros((25, 1))


def networks(fam, dtype, train=False):
    """``(model, parameters, points, theta)`` for an MLP, a ModularPINN (gates, output scale and
    normalisation on; dropout active with ``train``) alone and routed, and a StackedMLP of 3 tasks alone and
    bound to other parameters (as MAML's inner loop binds them)."""
    torch.manual_seed(0)
    mlp = MLP(fam.in_dim, fam.out_dim, 16, 3, input_bounds=fam.domain).to(dtype)
    modular = ModularPINN(fam.in_dim, fam.out_dim, 3, width=16, input_bounds=fam.domain, normalize=True).to(dtype)
    modular.set_gates([0.3, 1.2, 0.1])  # 1.2: the forward pass clamps it to 1
    modular.set_scale([2.5] * fam.out_dim)
    modular.train(train)
    stack = StackedMLP([MLP(fam.in_dim, fam.out_dim, 16, 3, input_bounds=fam.domain) for _ in range(3)]).to(dtype)
    bound = [p * 1.1 for p in stack.params()]
    pts = {k: torch.as_tensor(v, dtype=dtype) for k, v in fam.sample(60, 20, 0).items()}
    stacked = {k: v.expand(3, *v.shape) for k, v in pts.items()}
    theta, tasks = fam.train_tasks()[1], torch.as_tensor(fam.train_tasks()[:3], dtype=dtype)
    gates = torch.tensor([0.9, 0.0, 0.4], dtype=dtype)
    return [(mlp, list(mlp.parameters()), pts, theta), (modular, list(modular.parameters()), pts, theta),
            (modular.routed(gates), list(modular.parameters()), pts, theta),
            (stack, list(stack.parameters()), stacked, tasks), (stack.bind(bound), bound, stacked, tasks)]


def terms_and_grads(fam, model, params, pts, theta):
    torch.manual_seed(1)  # the same dropout masks on both paths
    terms = fam.loss_terms(model, pts, theta)
    grads = torch.autograd.grad(sum(t.sum() for t in terms.values()), params, allow_unused=True)
    return terms, grads


@pytest.mark.parametrize("family", ["burgers", "helmholtz", "elasticity", "poisson-mixed"])
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-6), (torch.float32, 1e-4)])
@pytest.mark.parametrize("train", [False, True])
def test_carried_forward_equals_autograd(family, dtype, rtol, train):
    """The loss terms and parameter gradients of the forward path are autograd's, for every network."""
    fam = Poisson() if family == "poisson-mixed" else lampinn.get_family(family)
    for model, params, pts, theta in networks(fam, dtype, train):
        new, g_new = terms_and_grads(fam, model, params, pts, theta)
        with autograd_only():
            old, g_old = terms_and_grads(fam, model, params, pts, theta)
        assert new.keys() == old.keys()
        for k in new:
            torch.testing.assert_close(new[k], old[k], rtol=rtol, atol=0)
        for a, b in zip(g_new, g_old, strict=True):
            assert (a is None) == (b is None)
            if a is not None:  # each gradient to rtol of its largest entry
                torch.testing.assert_close(a, b, rtol=0, atol=rtol * float(b.abs().max()))


def test_second_order_maml_differentiates_the_forward_path():
    """MAML's meta-gradient goes through the inner steps' gradients: the forward path's graph carries it too."""
    from lampinn.baselines import maml_objective

    fam = lampinn.get_family("helmholtz")
    torch.manual_seed(0)
    meta = StackedMLP([MLP(2, 1, 16, 2, input_bounds=fam.domain)]).double()
    pts = {k: torch.as_tensor(v).expand(2, *v.shape) for k, v in fam.sample(40, 16, 0).items()}
    thetas = torch.as_tensor(fam.train_tasks()[:2])

    def meta_gradient():
        loss = maml_objective(fam, meta, thetas, pts, inner_steps=2, inner_lr=1e-2, first_order=False)
        return torch.autograd.grad(loss, list(meta.parameters()))

    new = meta_gradient()
    with autograd_only():
        old = meta_gradient()
    for a, b in zip(new, old, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9 * float(b.abs().max()))


def test_the_engine_falls_back_to_autograd_for_any_other_callable():
    """A plain function, a user's lambda around a network and a network whose activation has no forward rule
    get autograd's derivatives through the same call."""
    x = torch.rand(4, 30, 2, dtype=torch.float64)
    jet = derivatives(lambda p: field(p)[..., None], x, second=[(1, 1), (0, 1), (0, 0)])
    xs, ys = x[..., 0], x[..., 1]
    assert jet.value.shape == (4, 30, 1)
    torch.testing.assert_close(jet.d(0, 1)[..., 0], 2 * torch.cos(xs) * torch.exp(2 * ys) + 3 * xs**2)
    torch.testing.assert_close(jet.d(1, 0), jet.d(0, 1))
    torch.testing.assert_close(jet.d(1)[..., 0], 2 * torch.sin(xs) * torch.exp(2 * ys) + xs**3)
    sine = MLP(2, 2, 8, 2, activation="sin").double()
    tanh = MLP(2, 2, 8, 2).double()
    for model in (sine, lambda p: tanh(p)):
        a = derivatives(model, x, second=[(0, 0)])
        with autograd_only():
            b = derivatives(model, x, second=[(0, 0)])
        torch.testing.assert_close(a.d(0, 0), b.d(0, 0))
        torch.testing.assert_close(a.first, b.first)


def test_jet_shapes_and_errors():
    net = MLP(2, 3, 8, 2)
    jet = derivatives(net, torch.rand(5, 7, 2), second=[(0, 1)])
    assert isinstance(jet, Jet) and jet.value.shape == (5, 7, 3) and jet.first.shape == (2, 5, 7, 3)
    assert jet.second.shape == (1, 5, 7, 3) and jet.pairs == ((0, 1),) and jet.d(1, 0).shape == (5, 7, 3)
    with pytest.raises(ValueError, match=r"derivative \(0, 0\) was not asked for"):
        jet.d(0, 0)
    with pytest.raises(ValueError, match=r"second derivative \(0, 2\) is invalid; expected a pair \(i, j\) of input dimensions in \[0, 2\)"):
        derivatives(net, torch.rand(7, 2), second=[(0, 2)])
    assert derivatives(net, torch.rand(7, 2)).second.shape == (0, 7, 3)
    with pytest.raises(ValueError, match=r"the Laplacian was not asked for; call derivatives\(..., laplacian=True\)"):
        jet.laplacian
    both = derivatives(net.double(), torch.rand(7, 2, dtype=torch.float64), second=[(1, 1), (0, 0)], laplacian=True)
    torch.testing.assert_close(both.laplacian, both.d(0, 0) + both.d(1, 1))
