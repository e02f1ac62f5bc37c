"""The closed-form solve of a head on a frozen basis (lampinn.solve, chapter 13).

Small bases and few points throughout, so every test takes a second or less on one core (the first solve in a
process pays a few seconds of forward-mode set-up, and the elasticity reference a few seconds of finite elements).
Hostile inputs to the solve are in tests/test_hostile.py (section 8).
"""
import math

import numpy as np
import pytest
import torch

import lampinn
from lampinn import autodiff
from lampinn import solve as S
from lampinn.nn import MLP
from lampinn.pde import evaluate
from lampinn.pde.base import pieces

FAMILIES = ("helmholtz", "burgers", "elasticity")
TASK = {"helmholtz": (1.397, 1.188, 2.912), "burgers": (0.03, 0.5, 0.0), "elasticity": (79.0, 0.84, 2.302)}


def family(name):
    return lampinn.get_family(name)


def points(fam, n_interior=60, n_boundary=20, seed=0):
    return S.collocation(fam, n_interior, n_boundary, seed)


def random_mlp(fam, seed=0):
    torch.manual_seed(seed)
    return MLP(fam.in_dim, fam.out_dim, width=16, depth=2, input_bounds=fam.domain).double().requires_grad_(False)


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


# ---- 1. the residuals are the loss --------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_loss_terms_are_the_mean_squares_of_the_residuals(name):
    fam = family(name)
    model, pts, theta = random_mlp(fam), points(fam), TASK[name]
    res = fam.residuals(model, pts, theta)
    terms = fam.loss_terms(model, pts, theta)
    assert fam.has_residuals() and set(res) == set(terms) == set(fam.loss_weights)
    for key, value in res.items():
        for r in pieces(value):
            assert r.dtype == torch.float64 and r.dim() == 1 and torch.isfinite(r).all()
        expected = sum(float((r**2).mean()) for r in pieces(value))
        assert expected > 0 and close(float(terms[key]), expected), key
    assert close(float(fam.loss(model, pts, theta)),
                 sum(fam.loss_weights[k] * float(v) for k, v in terms.items()))


@pytest.mark.parametrize("name", FAMILIES)
def test_stacked_residuals_square_to_the_weighted_loss_term_by_term(name):
    fam = family(name).scaled(3.0)  # weights other than the defaults, so a dropped weight shows
    model, pts, theta = random_mlp(fam, seed=1), points(fam), TASK[name]
    r, slices = S.stacked_residuals(fam, model, pts, torch.tensor(theta, dtype=torch.float64))
    assert r.dim() == 1 and close(float(r @ r), float(fam.loss(model, pts, theta)))
    terms = fam.loss_terms(model, pts, theta)
    # the slices tile the vector in order, and each holds its weighted term
    stops = [0] + [sl.stop for sl in slices.values()]
    assert [sl.start for sl in slices.values()] == stops[:-1] and stops[-1] == len(r)
    n_points = {k: sum(p.shape[-1] for p in pieces(v)) for k, v in fam.residuals(model, pts, theta).items()}
    for key, sl in slices.items():
        assert sl.stop - sl.start == n_points[key]
        assert close(float(r[sl] @ r[sl]), fam.loss_weights[key] * float(terms[key])), key


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("projected", [False, True], ids=["features", "projected"])
def test_a_head_carries_the_same_derivatives_as_autograd(name, projected):
    """Features.streams (forward-mode derivatives of the basis) against nested autograd, through every family's
    residuals (Helmholtz: the Laplacian; Burgers: u_xx; elasticity: all second derivatives, two outputs)."""
    fam = family(name)
    basis = S.random_features(fam, 12, 3.0, seed=4)
    if projected:
        gen = torch.Generator().manual_seed(5)
        basis = S.Features(list(basis.blocks), basis.shift, basis.scale,
                           torch.randn(basis.size, 5, generator=gen, dtype=torch.float64))
    coef = torch.randn(basis.size, fam.out_dim, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    head, pts, theta = S.Head(basis, coef), points(fam, 40, 12), TASK[name]
    forward = fam.residuals(head, pts, theta)
    with autodiff.autograd_only():
        backward = fam.residuals(head, pts, theta)
    for key in forward:
        for a, b in zip(pieces(forward[key]), pieces(backward[key])):
            scale = float(b.abs().max())
            assert scale > 0 and float((a - b).abs().max()) <= 1e-10 * scale, key


# ---- 2. the Jacobian with respect to the head ---------------------------------------------------------------
@pytest.mark.parametrize("name, at_zero", [("helmholtz", True), ("helmholtz", False), ("burgers", False),
                                           ("elasticity", False)])
def test_linearise_is_the_jacobian_of_the_stacked_residuals(name, at_zero):
    fam = family(name)
    basis = S.random_features(fam, 10, 3.0, seed=1)
    pts, th = points(fam, 30, 10), torch.tensor(TASK[name], dtype=torch.float64)
    gen = torch.Generator().manual_seed(2)
    coef = torch.zeros(10, fam.out_dim, dtype=torch.float64) if at_zero else \
        torch.randn(10, fam.out_dim, generator=gen, dtype=torch.float64)

    def f(c):
        return S.stacked_residuals(fam, S.Head(basis, c), pts, th)[0]

    r, J = S.linearise(fam, basis, coef, pts, th)
    assert J.shape == (len(r), coef.numel()) and torch.equal(r, f(coef))
    # jacfwd of the plain residual function, entries flattened in the head's (row-major) order
    Jf = torch.func.jacfwd(f)(coef).reshape(len(r), -1)
    assert float((J - Jf).abs().max()) <= 1e-12 * float(Jf.abs().max())
    # central differences: exact (to rounding) for residuals at most quadratic in the head, as all three are
    h = 1e-3
    Jd = torch.stack([(f(coef + h * e) - f(coef - h * e)) / (2 * h)
                      for e in torch.eye(coef.numel(), dtype=torch.float64).reshape(-1, *coef.shape)], dim=1)
    assert float((J - Jd).abs().max()) <= 1e-8 * float(Jd.abs().max())


def test_the_burgers_jacobian_depends_on_the_head_and_helmholtz_does_not():
    for name, linear in (("helmholtz", True), ("burgers", False)):
        fam = family(name)
        basis = S.random_features(fam, 8, 3.0, seed=1)
        pts, th = points(fam, 30, 10), torch.tensor(TASK[name], dtype=torch.float64)
        J0 = S.linearise(fam, basis, torch.zeros(8, 1, dtype=torch.float64), pts, th)[1]
        J1 = S.linearise(fam, basis, torch.ones(8, 1, dtype=torch.float64), pts, th)[1]
        assert torch.allclose(J0, J1, rtol=0, atol=1e-12 * float(J0.abs().max())) == linear


# ---- 3. a linear family: one step to the least-squares minimiser --------------------------------------------
@pytest.mark.parametrize("name", ["helmholtz", "elasticity"])
def test_a_linear_family_converges_in_one_step_to_the_least_squares_minimiser(name):
    fam = family(name)
    basis = S.random_features(fam, 30, 3.0, seed=2)
    pts, theta = points(fam, 300, 60), TASK[name]
    s = S.solve(fam, basis, theta, points=pts)
    assert s.iterations == 1 and s.converged and s.losses == [s.loss0, s.loss]
    # the residuals are affine in the head: r(C) = r0 + J vec(C); numpy's lstsq minimises that directly
    r0, J = S.linearise(fam, basis, torch.zeros(30, fam.out_dim, dtype=torch.float64), pts,
                        torch.tensor(theta, dtype=torch.float64))
    c, *_ = np.linalg.lstsq(J.numpy(), -r0.numpy(), rcond=None)
    best = float(np.sum((r0.numpy() + J.numpy() @ c) ** 2))
    assert s.loss < s.loss0 and close(s.loss, best, rel=1e-9)
    fitted = J.numpy() @ s.coef.numpy().reshape(-1)  # compare what the heads do, not their entries
    assert np.abs(fitted - J.numpy() @ c).max() <= 1e-6 * np.abs(J.numpy() @ c).max()
    assert np.linalg.matrix_rank(J.numpy()) == s.rank == 30 * fam.out_dim
    # started from its own answer, a second solve finds nothing left to gain
    again = S.solve(fam, basis, theta, points=pts, init=s.coef)
    assert again.converged and again.loss0 == pytest.approx(s.loss, rel=1e-12)
    assert again.loss >= s.loss * (1 - 1e-9)


# ---- 4. accuracy ------------------------------------------------------------------------------------------------
def test_helmholtz_in_300_random_features_matches_the_analytic_solution():
    fam = family("helmholtz")
    theta = fam.unseen[0]
    s = S.solve(fam, S.random_features(fam, 300, 3.0, seed=0), theta, n_interior=400, n_boundary=150)
    err = evaluate(s.model, fam, theta)
    # measured: mse about 1e-10, rel_l2 about 2e-5, loss about 4e-9 from 2e2 (one core, ci mode)
    assert s.converged and s.iterations == 1
    assert err["mse"] < 1e-8 and err["rel_l2"] < 1e-3 and s.loss < 1e-6 * s.loss0


def test_a_linear_family_takes_one_step_even_with_a_large_ill_conditioned_head():
    """A narrow bandwidth makes near-dependent features and a head of huge coefficients that cancel: the step's
    mismatch with its linear model is rounding (about eps times the terms summed), and still counts as exact."""
    fam = lampinn.get_family("helmholtz")
    pts = S.collocation(fam, 600, 200, 0)
    basis = S.random_features(fam, 400, 0.5, seed=0)
    solves = [S.solve(fam, basis, t, points=pts) for t in fam.train_tasks()[[0, 8, 18, 26]]]
    assert max(float(s.coef.abs().max()) for s in solves) > 1e5  # the large head this is about
    assert all(s.iterations == 1 and s.converged for s in solves)


def test_a_richer_random_basis_is_more_accurate():
    fam = family("helmholtz")
    theta = fam.unseen[0]
    errs = [evaluate(S.solve(fam, S.random_features(fam, n, 3.0, seed=0), theta, n_interior=400,
                             n_boundary=150).model, fam, theta)["mse"] for n in (50, 150, 300)]
    assert errs[0] > 10 * errs[1] > 100 * errs[2]


def test_elasticity_learned_basis_has_four_functions_and_serves_an_unseen_task():
    """Every elasticity task is (f u_cos + k u_uniform) / E (module docstring of lampinn.pde.elasticity): two unit
    solutions, each with two outputs, so the training tasks' solutions span four scalar functions."""
    fam = family("elasticity")
    random = S.random_features(fam, 100, 2.0, seed=0)
    train = fam.train_tasks()[[0, 5, 13, 21, 26]]
    learned, info = S.learned_basis(fam, random, train, 300, 40, rank_cut=1e-4)
    sv = np.array(info["singular_values"])
    assert len(sv) == 2 * len(train) and np.all(np.diff(sv) <= 0)
    # four functions carry the snapshots; the rest are the solves' own errors, orders of magnitude smaller
    # (measured: sv[3] / sv[0] about 2e-3, sv[4] / sv[0] about 2e-6)
    assert sv[3] > 1e-3 * sv[0] and sv[4] < 1e-5 * sv[0]
    assert info["size"] == learned.size == 4 and max(info["training_losses"]) < 1e-4
    theta = fam.unseen[4]  # not a training task
    pts = S.collocation(fam, 300, 40, seed=1)
    own, small = (S.solve(fam, b, theta, points=pts) for b in (random, learned))
    assert small.size == 8 and own.size == 200
    e_own, e_small = (evaluate(s.model, fam, theta)["mse"] for s in (own, small))
    # measured: both about 1.4e-9 (mse), losses both about 8e-7 from 4e2
    assert e_small < 2 * e_own and e_own < 1e-7
    assert small.loss < 2 * own.loss and small.loss < 1e-6 * small.loss0


# ---- 5. a nonlinear family ----------------------------------------------------------------------------------
def test_gauss_newton_solves_burgers_at_large_viscosity():
    fam = family("burgers")
    basis = S.random_features(fam, 150, 3.0, seed=0)
    pts, theta = points(fam, 400, 100), TASK["burgers"]
    s = S.solve(fam, basis, theta, points=pts)
    # measured: 11 steps, loss 2.9e-3 from 1.25
    assert s.converged and 1 < s.iterations < 30 and len(s.losses) == s.iterations + 1
    assert s.loss < 1e-2 * s.loss0
    assert all(b <= a for a, b in zip(s.losses, s.losses[1:]))
    # a stationary point: the gradient J^T r has all but vanished
    th = torch.tensor(theta, dtype=torch.float64)
    r, J = S.linearise(fam, basis, s.coef, pts, th)
    r0, J0 = S.linearise(fam, basis, torch.zeros_like(s.coef), pts, th)
    assert float(r @ r) == pytest.approx(s.loss, rel=1e-12)
    assert float((J.T @ r).norm()) < 1e-4 * float((J0.T @ r0).norm())
    # and the head fits the Cole-Hopf reference to a few per cent
    assert evaluate(s.model, fam, theta)["rel_l2"] < 0.2


# ---- 6. the numbers a solve reports --------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_a_solve_reports_consistent_numbers(name):
    fam = family(name)
    basis = S.random_features(fam, 40, 3.0, seed=3)
    pts, theta = points(fam, 200, 40), TASK[name]
    s = S.solve(fam, basis, theta, points=pts)
    assert s.size == s.coef.numel() == basis.size * fam.out_dim and s.coef.shape == (basis.size, fam.out_dim)
    assert 1 <= s.rank <= s.size and s.condition >= 1 and math.isfinite(s.condition)
    assert s.seconds > 0 and s.iterations >= 1 and s.converged
    assert s.losses[0] == s.loss0 and s.losses[-1] == s.loss and all(b <= a for a, b in zip(s.losses, s.losses[1:]))
    assert set(s.terms) == set(fam.loss_weights) and close(sum(s.terms.values()), s.loss, rel=1e-10)
    # the loss is the family's own weighted loss of the model the solve returns, term by term
    assert close(float(fam.loss(s.model, pts, theta)), s.loss, rel=1e-10)
    terms = fam.loss_terms(s.model, pts, theta)
    for key, value in s.terms.items():
        assert close(value, fam.loss_weights[key] * float(terms[key]), rel=1e-10), key
    assert s.loss0 == pytest.approx(float(fam.loss(S.Head(basis, torch.zeros_like(s.coef)), pts, theta)), rel=1e-12)
    summary = s.summary()
    assert {"residual", "iterations", "converged", "rank", "condition"} <= set(summary)
    assert (summary["residual"], summary["iterations"], summary["converged"], summary["rank"], summary["condition"]) \
        == (s.loss, s.iterations, s.converged, s.rank, s.condition)


def test_solve_and_evaluate_adds_the_solves_numbers_to_the_error():
    fam = family("helmholtz")
    out = S.solve_and_evaluate(fam, S.random_features(fam, 40, 3.0), TASK["helmholtz"], n_interior=200, n_boundary=40)
    assert {"mse", "rel_l2", "seconds", "residual", "iterations", "converged", "rank", "condition"} <= set(out)
    assert out["seconds"] > 0 and out["mse"] > 0 and out["iterations"] == 1


def test_a_network_basis_solves_at_least_as_well_as_the_network():
    """network_features keeps the network's last hidden layer: its own last layer is one head, so the solve's loss
    is no higher than the network's."""
    fam = family("helmholtz")
    net = random_mlp(fam, seed=3).float()
    pts, theta = points(fam, 200, 40), TASK["helmholtz"]
    basis = S.network_features(net)
    assert basis.size == 16 + 1
    network_loss = float(fam.loss(net.double(), pts, theta))
    s = S.solve(fam, basis, theta, points=pts)
    assert s.loss <= network_loss


# ---- 8. same seed, same numbers -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["helmholtz", "burgers"])
def test_same_seed_same_numbers(name):
    fam = family(name)

    def run(seed):
        return S.solve(fam, S.random_features(fam, 40, 3.0, seed=seed), TASK[name], n_interior=150, n_boundary=40,
                       seed=seed, strict=False)

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a.coef, b.coef) and a.losses == b.losses and a.rank == b.rank
    assert not torch.equal(a.coef, c.coef)  # the seed does reach the basis and the points
    assert torch.equal(S.random_features(fam, 40, 3.0, seed=7).blocks[0][0].weight,
                       S.random_features(fam, 40, 3.0, seed=7).blocks[0][0].weight)
