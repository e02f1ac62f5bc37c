"""lampinn.protocol: the shared protocol, task-batched training, results, pretraining and the central task."""
import numpy as np
import pytest
import torch

import lampinn
from lampinn import MLP, seed_everything, train
from lampinn.nn import StackedMLP
from lampinn.protocol import Protocol, Result, central_task, collect, fit, pretrain

TINY = Protocol(width=8, depth=2, budget=40, n_interior=64, n_boundary=16, lr=3e-3, device="cpu")


def seeded_mlps(n, fam, dtype=torch.float32):
    nets = []
    for s in range(n):
        seed_everything(s)
        nets.append(MLP(fam.in_dim, fam.out_dim, width=8, depth=2, input_bounds=fam.domain).to(dtype))
    return nets


def same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_network_is_seeded_and_leaves_the_global_rng_alone():
    fam = lampinn.get_family("burgers")
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a, b = TINY.network(fam), TINY.network(fam)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global random state is as it was
    assert same_weights(a, b)  # same seed, same weights
    torch.rand(5)  # whatever the global state is, the network is the protocol seed's
    assert same_weights(TINY.network(fam), a)
    assert not same_weights(TINY.network(fam, seed=1), a) and same_weights(TINY.network(fam, seed=1), TINY.network(fam, seed=1))
    seed_everything(0)  # the protocol seed's network is what a seeded MLP would be
    assert same_weights(MLP(fam.in_dim, fam.out_dim, 8, 2, input_bounds=fam.domain), a)
    assert (a.config["width"], a.config["depth"], a.config["in_dim"], a.config["out_dim"]) == (8, 2, 2, 1)


def test_budgets_and_shared_points():
    assert (Protocol(budget=1000).adapt_budget, Protocol(budget=5).adapt_budget) == (100, 1)
    fam = lampinn.get_family("helmholtz")
    pts = TINY.points(fam, 3)
    assert pts["interior"].shape == (3, 64, 2)
    assert pts["interior"].stride(0) == 0  # one set of points, viewed by every task
    again = fam.points(64, 16, seed=TINY.seed, device="cpu")
    assert all(torch.equal(pts[k][2], again[k]) for k in again)


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


def test_fit_and_collect():
    fam = lampinn.get_family("burgers")
    thetas = fam.unseen_tasks()[:2]
    init = TINY.network(fam)
    stack, hist, seconds = fit(fam, thetas, [init, init], 5, TINY)
    assert stack.n_tasks == 2 and len(hist) == 5 and seconds > 0
    assert same_weights(init, TINY.network(fam))  # the initial network is copied, not trained
    result = collect("mine", fam, thetas, stack, hist, adapt_seconds=seconds, adapt_iterations=10, meta_seconds=1.0)
    assert isinstance(result, Result) and result.method == "mine" and len(result.models) == 2
    assert result.seconds == {"adapt_seconds": seconds, "meta_seconds": 1.0} and result.iterations == {"adapt_iterations": 10}
    assert result.mse.shape == result.rel_l2.shape == (2,) and np.all(np.isfinite(result.mse))
    assert result.mse[1] == pytest.approx(lampinn.evaluate(result.models[1], fam, thetas[1])["mse"])
    # a different rate gives a different network
    other = fit(fam, thetas[:1], [init], 5, TINY, lr=1e-2)[0].unstack()[0]
    assert not same_weights(other, result.models[0])


def test_fit_rejects_invalid_tasks_and_mismatched_networks():
    fam = lampinn.get_family("burgers")
    with pytest.raises(ValueError, match="nu = -1 is not physical"):
        fit(fam, np.array([[-1.0, 1.0, 0.0]]), seeded_mlps(1, fam), 1, TINY)
    with pytest.raises(ValueError, match="got 1 initial networks for 2 tasks"):
        fit(fam, fam.unseen_tasks()[:2], seeded_mlps(1, fam), 1, TINY)


def test_pretrain_on_one_or_many_sources():
    fam = lampinn.get_family("burgers")
    model, seconds, iterations = pretrain(fam, central_task(fam)[None], TINY)
    assert iterations == 40 and seconds > 0 and not same_weights(model, TINY.network(fam))
    # one source: plain training of the protocol's network on it
    plain = TINY.network(fam)
    pts = fam.points(64, 16, seed=0, device="cpu")
    train(plain, lambda m: fam.loss_terms(m, pts, central_task(fam)), weights=fam.loss_weights, iters=40, lr=3e-3,
          progress=False, device="cpu")
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(model.parameters(), plain.parameters()))
    assert pretrain(fam, fam.train_tasks()[:3], TINY)[2] == 120  # one iteration per source per step


def test_central_task():
    assert central_task(lampinn.get_family("elasticity")).tolist() == [100.0, 1.0, 5.0]
    for name in ("burgers", "helmholtz"):
        fam = lampinn.get_family(name)
        assert any(np.allclose(central_task(fam), t) for t in fam.train_tasks()) and central_task(fam).shape == (3,)
