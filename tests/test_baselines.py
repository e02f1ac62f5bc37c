"""lampinn.baselines: scratch training, fine-tuning, MAML and Reptile (the protocol they share is tested in
test_protocol.py, the registry that names them in test_methods.py)."""
import numpy as np
import pytest
import torch

import lampinn
from lampinn import MLP, seed_everything, train
from lampinn.baselines import MetaConfig, adapt, maml, maml_objective, meta_cost, reptile, reptile_step, scratch
from lampinn.nn import StackedMLP
from lampinn.protocol import Protocol

TINY = Protocol(width=8, depth=2, budget=40, n_interior=64, n_boundary=16, lr=3e-3, device="cpu")


def test_scratch_and_adapt_budgets():
    fam = lampinn.get_family("burgers")
    thetas = fam.unseen_tasks()[:3]
    full, short = scratch(fam, thetas, TINY), scratch(fam, thetas, TINY, iters=4)
    assert (full.method, len(full.history), full.iterations) == ("scratch_40", 40, {"adapt_iterations": 120})
    assert (short.method, len(short.history), short.iterations) == ("scratch_4", 4, {"adapt_iterations": 12})
    tuned = adapt(fam, full.models[0], thetas[:2], TINY, method="x", meta_seconds=2.0, meta_iterations=7)
    assert tuned.method == "x" and len(tuned.history) == TINY.adapt_budget == 4
    assert tuned.iterations == {"adapt_iterations": 8, "meta_iterations": 7} and tuned.seconds["meta_seconds"] == 2.0


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


@pytest.mark.parametrize("algorithm", [maml, reptile])
def test_meta_training_records_one_loss_per_meta_iteration(algorithm):
    fam = lampinn.get_family("burgers")
    init, hist, seconds = algorithm(fam, TINY, MetaConfig(meta_iters=3, meta_batch=2, inner_steps=1))
    assert isinstance(init, MLP) and len(hist) == 3 and np.all(np.isfinite(hist.total)) and seconds > 0
    assert not all(torch.equal(p, q) for p, q in zip(init.parameters(), TINY.network(fam).parameters()))


def test_meta_cost_counts_task_gradients():
    cfg = MetaConfig(meta_iters=3, meta_batch=2, inner_steps=2)
    assert meta_cost(cfg, "maml") == 3 * 2 * 3 and meta_cost(cfg, "reptile") == 3 * 2 * 2
