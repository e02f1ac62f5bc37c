import numpy as np
import pytest
import torch

import lampinn
from lampinn import MLP, seed_everything, train
from lampinn.baselines import (
    METHODS, MetaConfig, Protocol, StackedMLP, central_task, fit, maml_objective, meta_cost, reptile_step, run,
)

TINY = Protocol(width=8, depth=2, budget=40, n_interior=64, n_boundary=16, lr=3e-3, device="cpu")


def seeded_mlps(n, fam, dtype=torch.float32):
    nets = []
    for s in range(n):
        seed_everything(s)
        nets.append(MLP(fam.in_dim, fam.out_dim, width=8, depth=2, input_bounds=fam.domain).to(dtype))
    return nets


def test_stack_and_unstack_round_trip():
    fam = lampinn.get_family("elasticity")
    nets = seeded_mlps(3, fam)
    stack = StackedMLP(nets)
    x = torch.rand(3, 10, 2) * 10
    out = stack(x)
    assert out.shape == (3, 10, 2)
    for t, net in enumerate(nets):
        assert torch.allclose(out[t], net(x[t]), atol=1e-6)
    for a, b in zip(stack.unstack(), nets):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="expected points of shape \\(3, N, d\\)"):
        stack(torch.rand(10, 2))


@pytest.mark.parametrize("name", ["burgers", "helmholtz", "elasticity"])
def test_batched_training_equals_one_task_at_a_time(name):
    fam = lampinn.get_family(name)
    thetas = fam.train_tasks()[[0, 13, 26]]
    pts = {k: v.double() for k, v in fam.points(64, 16, seed=0, device="cpu").items()}
    singles = seeded_mlps(3, fam, torch.float64)
    stack = StackedMLP(seeded_mlps(3, fam, torch.float64)).double()
    for net, theta in zip(singles, thetas):
        train(net, lambda m, th=theta: fam.loss_terms(m, pts, th), weights=fam.loss_weights, iters=25, lr=3e-3,
              progress=False, device="cpu")
    stacked = {k: v.expand(3, *v.shape) for k, v in pts.items()}
    train(stack, lambda m: fam.loss_terms(m, stacked, torch.as_tensor(thetas)), weights=fam.loss_weights, iters=25,
          lr=3e-3, progress=False, device="cpu")
    for a, b in zip(stack.unstack(), singles):
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.allclose(p, q, rtol=1e-9, atol=1e-11)


def test_second_order_maml_gradient_matches_finite_differences():
    fam = lampinn.get_family("helmholtz")
    torch.manual_seed(0)
    meta = StackedMLP([MLP(2, 1, width=6, depth=2, input_bounds=fam.domain)]).double()
    pts = {k: v.double().expand(2, *v.shape) for k, v in fam.points(32, 8, seed=0, device="cpu").items()}
    thetas = torch.as_tensor(fam.train_tasks()[[0, 4]], dtype=torch.float64)

    def objective(first_order=False):
        return maml_objective(fam, meta, thetas, pts, inner_steps=2, inner_lr=1e-4, first_order=first_order)

    loss = objective()
    grads = torch.autograd.grad(loss, meta.params())
    direction = [torch.randn_like(p) for p in meta.params()]
    analytic = sum((g * d).sum() for g, d in zip(grads, direction)).item()
    eps = 1e-6
    values = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, d in zip(meta.params(), direction):
                p.add_(sign * eps * d)
        values.append(objective().item())
        with torch.no_grad():
            for p, d in zip(meta.params(), direction):
                p.sub_(sign * eps * d)
    numeric = (values[0] - values[1]) / (2 * eps)
    assert numeric == pytest.approx(analytic, rel=1e-5)
    first = torch.autograd.grad(objective(first_order=True), meta.params())
    first_dir = sum((g * d).sum() for g, d in zip(first, direction)).item()
    assert abs(first_dir - numeric) > 1e-4 * abs(numeric)  # first order drops the curvature term


def test_reptile_update_follows_its_formula():
    fam = lampinn.get_family("burgers")
    cfg = MetaConfig(inner_steps=5, inner_lr=1e-3, outer_lr=0.3, meta_batch=2)
    seed_everything(0)
    meta = StackedMLP([MLP(2, 1, width=8, depth=2, input_bounds=fam.domain)])
    before = meta.unstack()[0]
    tasks = fam.train_tasks()[[2, 20]]
    reptile_step(fam, meta, tasks, TINY, cfg)
    pts = fam.points(TINY.n_interior, TINY.n_boundary, seed=TINY.seed, device="cpu")
    adapted = []
    for theta in tasks:
        net = StackedMLP([before]).unstack()[0]
        train(net, lambda m, th=theta: fam.loss_terms(m, pts, th), weights=fam.loss_weights, iters=5, lr=1e-3,
              progress=False, device="cpu")
        adapted.append(net)
    for p0, p1, p2, new in zip(before.parameters(), adapted[0].parameters(), adapted[1].parameters(),
                                meta.unstack()[0].parameters()):
        expected = p0 + 0.3 * ((p1 + p2) / 2 - p0)
        assert torch.allclose(new, expected, atol=1e-6)


def test_budgets_are_counted_as_documented():
    fam = lampinn.get_family("burgers")
    thetas = fam.unseen_tasks()[:3]
    full = run("scratch_full", fam, thetas, TINY)
    short = run("scratch_adapt", fam, thetas, TINY)
    assert len(full.history) == 40 and full.iterations == {"adapt_iterations": 120}
    assert len(short.history) == 4 and short.iterations == {"adapt_iterations": 12}
    cfg = MetaConfig(meta_iters=3, meta_batch=2, inner_steps=2)
    assert meta_cost(cfg, "maml") == 3 * 2 * 3 and meta_cost(cfg, "reptile") == 3 * 2 * 2
    res = run("reptile", fam, thetas, TINY, cfg)
    assert res.iterations == {"adapt_iterations": 12, "meta_iterations": 12} and len(res.meta_history) == 3
    assert set(res.seconds) == {"adapt_seconds", "meta_seconds"}


@pytest.mark.parametrize("name", ["burgers", "helmholtz", "elasticity"])
@pytest.mark.parametrize("method", METHODS)
def test_every_baseline_runs_on_every_family(name, method):
    fam = lampinn.get_family(name)
    thetas = fam.unseen_tasks()[:2]
    res = run(method, fam, thetas, TINY, MetaConfig(meta_iters=2, meta_batch=2, inner_steps=1))
    assert res.mse.shape == (2,) and np.all(np.isfinite(res.mse)) and np.all(np.isfinite(res.rel_l2))
    assert len(res.models) == 2


def test_central_task_and_bad_method():
    assert central_task(lampinn.get_family("elasticity")).tolist() == [100.0, 1.0, 5.0]
    with pytest.raises(ValueError, match="unknown method 'foo'"):
        run("foo", lampinn.get_family("burgers"), np.zeros((1, 3)), TINY)


def test_fit_rejects_invalid_tasks():
    fam = lampinn.get_family("burgers")
    with pytest.raises(ValueError, match="nu = -1 is not physical"):
        fit(fam, np.array([[-1.0, 1.0, 0.0]]), seeded_mlps(1, fam), 1, TINY)
