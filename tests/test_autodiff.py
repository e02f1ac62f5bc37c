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
