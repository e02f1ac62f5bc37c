import math

import pytest
import torch

from lampinn import MLP, History, TrainingDiverged, seed_everything, train


def poisson_loss(model):
    """-u'' = pi^2 sin(pi x) on [0, 1], u(0) = u(1) = 0; the solution is sin(pi x)."""
    x = torch.linspace(0, 1, 64).reshape(-1, 1).requires_grad_(True)
    u = model(x)
    ux = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    uxx = torch.autograd.grad(ux.sum(), x, create_graph=True)[0]
    residual = uxx + math.pi**2 * torch.sin(math.pi * x)
    boundary = model(torch.tensor([[0.0], [1.0]]))
    return {"residual": residual.pow(2).mean(), "boundary": boundary.pow(2).mean()}


def exploding(at_call, term, bad):
    """``poisson_loss`` whose ``term`` becomes ``bad`` (nan or inf) on call number ``at_call``; counts calls."""
    calls = {"n": 0}

    def loss(m):
        calls["n"] += 1
        terms = poisson_loss(m)
        if calls["n"] == at_call:
            terms[term] = terms[term] + bad
        return terms

    return loss, calls


def make_model(seed=0):
    seed_everything(seed)
    return MLP(1, 1, width=20, depth=2, input_bounds=[(0, 1)])


def test_loss_goes_down_and_terms_are_recorded():
    model = make_model()
    hist = train(model, poisson_loss, iters=300, lr=5e-3, weights={"boundary": 10.0}, progress=False, device="cpu")
    assert len(hist) == 300 and set(hist.terms) == {"residual", "boundary"}
    assert hist.total[-1] < 0.05 * hist.total[0]
    first = hist.terms["residual"][0] + 10 * hist.terms["boundary"][0]
    assert hist.total[0] == pytest.approx(first, rel=1e-6)
    assert hist.seconds > 0 and hist.optimizer == ["adam"] * 300


def test_plateau_lowers_every_rate_only_once_the_loss_stalls():
    """plateau = (0.5, 2): a loss that never improves halves the rate after 3 bad steps (steps 4, 7, 10 of 10);
    a loss that keeps falling keeps its rate."""
    x = torch.linspace(0, 1, 8)[:, None]
    model = make_model()
    stalled = [{"params": list(model.parameters()), "lr": 0.1}]
    train(model, lambda m: {"c": m(x).sum() * 0 + 1.0}, iters=10, param_groups=stalled, plateau=(0.5, 2),
          progress=False, device="cpu")
    assert stalled[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    model = make_model()
    falling = [{"params": list(model.parameters()), "lr": 1e-3}]
    train(model, poisson_loss, iters=50, param_groups=falling, plateau=(0.5, 2), progress=False, device="cpu")
    assert falling[0]["lr"] == 1e-3


def test_lbfgs_finish_improves_on_adam():
    model = make_model()
    hist = train(model, poisson_loss, iters=200, lr=5e-3, progress=False, device="cpu")
    after_adam = sum(poisson_loss(model).values()).item()
    hist = train(model, poisson_loss, lbfgs_iters=50, iters=0, progress=False, device="cpu", history=hist)
    assert 50 <= hist.optimizer.count("lbfgs") <= 100
    assert sum(poisson_loss(model).values()).item() < 0.1 * after_adam


def test_divergence_during_lbfgs_restores_finite_parameters():
    model = make_model()
    loss, _ = exploding(8, "boundary", float("inf"))
    with pytest.raises(TrainingDiverged, match="\\(lbfgs\\).*boundary = inf"):
        train(model, loss, iters=0, lbfgs_iters=20, progress=False, device="cpu")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(sum(poisson_loss(model).values()).item())


def test_same_seed_same_numbers():
    runs = [train(make_model(), poisson_loss, iters=50, progress=False, device="cpu", seed=1) for _ in range(2)]
    assert runs[0].total == runs[1].total


def test_divergence_stops_with_message_and_keeps_last_good_parameters():
    model = make_model()
    loss, calls = exploding(21, "residual", float("nan"))
    good = {}

    def spy(m):
        if calls["n"] == 19:  # parameters evaluated at iteration 20 (index 19 after this call)
            good["params"] = [p.detach().clone() for p in m.parameters()]
        return loss(m)

    with pytest.raises(TrainingDiverged, match="diverged at iteration 20 .*residual = nan") as info:
        train(model, spy, iters=100, progress=False, device="cpu")
    assert len(info.value.history) == 20
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), good["params"]))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_history_can_be_continued():
    model = make_model()
    hist = History()
    train(model, poisson_loss, iters=10, progress=False, history=hist, device="cpu")
    train(model, poisson_loss, iters=5, progress=False, history=hist, device="cpu")
    assert len(hist) == 15


def test_bad_arguments():
    model = make_model()
    with pytest.raises(ValueError, match="iters"):
        train(model, poisson_loss, iters=-1, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(model, poisson_loss, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="unknown loss terms \\['bc'\\]"):  # the weights are checked (lampinn.loss)
        train(model, poisson_loss, weights={"bc": 2.0}, iters=1, progress=False, device="cpu")
