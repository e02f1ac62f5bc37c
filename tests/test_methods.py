"""lampinn.methods: one registry of every method, each prepared on training tasks and adapted to new ones."""
from dataclasses import replace

import numpy as np
import pytest
import torch

import lampinn
from lampinn import methods, settings
from lampinn.affinity import representation
from lampinn.baselines import MetaConfig, meta_cost
from lampinn.core import LAMPINN, LAMPINNConfig
from lampinn.methods import (ABLATIONS, ADAPT_ONLY, METHODS, PAPER_METHODS, UNTUNED_LR, LAMPINNMethod, Prepared, get_method,
                             run, tuned_protocol)
from lampinn.settings import SIZES
from lampinn.protocol import Protocol, Result

TINY = Protocol(width=8, depth=2, budget=40, n_interior=64, n_boundary=16, lr=3e-3, device="cpu")
TINY_META = MetaConfig(meta_iters=2, meta_batch=2, inner_steps=1)
TINY_LAM = LAMPINNConfig(budget=40, n_interior=64, n_boundary=16, width=8, stage1_iters=2, stage2_iters=2,
                         affinity_fraction=0.1, device="cpu")
BASELINES = ("scratch_full", "scratch_adapt", "transfer", "transfer_joint", "maml", "fomaml", "reptile")


def tiny_config(name):
    """Each method's own settings at tiny sizes (scratch and transfer have none)."""
    return TINY_LAM if isinstance(get_method(name), LAMPINNMethod) else TINY_META


@pytest.fixture(scope="module")
def lam():
    """A tiny meta-trained LAM-PINN on Burgers, as the registry prepares it."""
    return METHODS["lampinn"].prepare(lampinn.get_family("burgers"), TINY, TINY_LAM).init


def test_one_vocabulary():
    untuned = [f"{m}_untuned" for m in ("scratch_full", "scratch_adapt", "transfer", "maml", "reptile")]
    solves = ["solve_random", "solve_learned", "solve_transfer", "solve_lampinn", "fastlsq"]  # chapter 13
    assert list(METHODS) == [*BASELINES, "lampinn", *ABLATIONS, "zero", *solves, "lampinn_released", *untuned]
    assert set(PAPER_METHODS) == {"scratch_full", "scratch_adapt", "transfer", "maml", "reptile", "lampinn_released",
                                  *untuned}
    assert all(name.startswith("ablation_") for name in ABLATIONS)
    for name, method in METHODS.items():
        assert method.name == name and get_method(name) is method and method.summary
        assert isinstance(method, LAMPINNMethod) == (name.startswith("lampinn") or name in ABLATIONS)
        assert method.untuned == (name in (*untuned, "lampinn_released")), name
        if method.untuned:  # nothing tuned: the released rate, the family's weights
            assert method.setting is None and method.prepare_setting is None
            assert tuned_protocol(SIZES["full"], {"lr": {"finetune": 1e-2}}, 0, name).adapt_lr == UNTUNED_LR
        assert method.prepares == (not name.startswith("scratch") and name not in ("zero", "fastlsq")), name
    assert [METHODS[n].changes for n in ABLATIONS] == list(ABLATIONS.values()) and METHODS["lampinn"].changes == {}
    # the names the rest of the package uses are the registry's
    from lampinn import benchmark, report, results

    assert {m.setting for m in METHODS.values()} | {m.prepare_setting for m in METHODS.values()} <= {*benchmark.SETTINGS, None}
    assert set(benchmark.SETTINGS.values()) <= set(METHODS) and set(report.MAIN_METHODS) <= set(METHODS)
    assert all(set(published) <= set(METHODS) for published in results.PUBLISHED.values())


@pytest.mark.parametrize("bad", ["foo", "transfer_central", "", None, ["maml"]])
def test_unknown_method_is_a_one_line_error(bad):
    expected = f"unknown method {bad!r}; expected one of {', '.join(METHODS)}"
    with pytest.raises(ValueError) as info:
        get_method(bad)
    assert str(info.value) == expected and "\n" not in expected
    with pytest.raises(ValueError) as info:  # before anything trains
        run(bad, lampinn.get_family("burgers"), np.zeros((1, 3)), TINY)
    assert str(info.value) == expected


def test_adapt_only():
    """An ablation whose changes act only when adapting reuses LAM-PINN's network (LAM-PINN, with no change, too)."""
    assert ADAPT_ONLY == {"adapt_lr", "adapt_gate_lr"}
    assert {n for n, m in METHODS.items() if isinstance(m, LAMPINNMethod) and m.adapt_only} == {"lampinn", "ablation_fixed_routing"}
    assert not LAMPINNMethod("x", "", "lampinn", changes={"adapt_lr": 1e-3, "n_clusters": 2}).adapt_only


@pytest.mark.parametrize("family", ["burgers", "helmholtz", "elasticity"])
@pytest.mark.parametrize("name", [*BASELINES, "lampinn"])
def test_every_method_runs_on_every_family(family, name):
    fam = lampinn.get_family(family)
    thetas = fam.unseen_tasks()[:2]
    res = run(name, fam, thetas, TINY, tiny_config(name))
    assert isinstance(res, Result) and res.method == name and len(res.models) == 2 and np.array_equal(res.thetas, thetas)
    assert res.mse.shape == (2,) and np.all(np.isfinite(res.mse)) and np.all(np.isfinite(res.rel_l2))
    assert res.mse[1] == pytest.approx(lampinn.evaluate(res.models[1], fam, thetas[1])["mse"])
    iters = TINY.budget if name == "scratch_full" else TINY.adapt_budget
    assert len(res.history) == iters and res.iterations["adapt_iterations"] == 2 * iters
    assert set(res.seconds) == ({"adapt_seconds"} if name.startswith("scratch") else {"adapt_seconds", "meta_seconds"})


def test_budgets_are_counted_as_documented():
    fam = lampinn.get_family("burgers")
    thetas = fam.unseen_tasks()[:3]
    assert run("scratch_full", fam, thetas, TINY).iterations == {"adapt_iterations": 120}
    assert run("scratch_adapt", fam, thetas, TINY).iterations == {"adapt_iterations": 12}
    assert run("transfer", fam, thetas, TINY).iterations == {"adapt_iterations": 12, "meta_iterations": 40}
    assert run("transfer_joint", fam, thetas[:1], TINY).iterations["meta_iterations"] == 27 * 40
    cfg = MetaConfig(meta_iters=3, meta_batch=2, inner_steps=2)
    res = run("reptile", fam, thetas, TINY, cfg)
    assert res.iterations == {"adapt_iterations": 12, "meta_iterations": meta_cost(cfg, "reptile")} and len(res.meta_history) == 3
    assert run("maml", fam, thetas[:1], TINY, cfg).iterations["meta_iterations"] == meta_cost(cfg, "maml")


def test_default_settings_follow_the_mode():
    settings.set_mode("ci")
    ci = settings.SIZES["ci"]
    maml, rept = METHODS["maml"].default_config(), METHODS["reptile"].default_config()
    assert (maml.meta_iters, maml.inner_steps, maml.outer_lr) == (ci["maml"], 1, 1e-3)
    assert (rept.meta_iters, rept.inner_steps, rept.outer_lr) == (ci["reptile"], 20, 0.5)
    settings.set_mode("default")
    assert METHODS["fomaml"].default_config().meta_iters == settings.SIZES["default"]["maml"]
    cfg = METHODS["lampinn"].default_config(Protocol(budget=123, lr=5e-4, n_interior=77, n_boundary=11, seed=3, device="cpu"))
    assert (cfg.budget, cfg.lr, cfg.n_interior, cfg.n_boundary, cfg.seed, cfg.device) == (123, 5e-4, 77, 11, 3, "cpu")
    assert (cfg.stage1_iters, cfg.stage2_iters) == (settings.SIZES["default"]["stage1"], settings.SIZES["default"]["stage2"])
    # the family's meta-validated step; LAMPINNConfig's (the published full step) for any other family
    elas = METHODS["lampinn"].default_config(Protocol(), family="elasticity")
    assert elas.stage1_step == methods.META_VALIDATED["elasticity"]["stage1_step"] < 1
    assert elas.meta_weight_factor == methods.META_VALIDATED["elasticity"]["meta_weight_factor"] != 1.0
    assert METHODS["lampinn"].default_config(Protocol(), family="mine").stage1_step == 1.0 == cfg.stage1_step
    # a choice of no meta-training wins over the mode's stage lengths
    helm = METHODS["lampinn"].default_config(Protocol(), family="helmholtz")
    assert methods.META_VALIDATED["helmholtz"] == {"stage1_iters": 0, "stage2_iters": 0}
    assert (helm.stage1_iters, helm.stage2_iters) == (0, 0)


def test_meta_learners_set_their_own_order(monkeypatch):
    """fomaml is MAML made first order, whatever configuration it is given; without one, the mode's sizes."""
    seen = []
    monkeypatch.setattr(methods, "maml", lambda fam, protocol, config: seen.append(config) or (protocol.network(fam), None, 0.0))
    fam = lampinn.get_family("burgers")
    METHODS["fomaml"].prepare(fam, TINY, replace(TINY_META, first_order=False))
    METHODS["maml"].prepare(fam, TINY, replace(TINY_META, first_order=True))
    settings.set_mode("ci")
    prepared = METHODS["fomaml"].prepare(fam, TINY)
    assert [c.first_order for c in seen] == [True, False, True]
    assert seen[2].meta_iters == settings.SIZES["ci"]["maml"] and prepared.iterations == meta_cost(seen[2], "maml")


def test_scratch_prepares_nothing():
    assert METHODS["scratch_full"].prepare(lampinn.get_family("burgers"), TINY) == Prepared()


@pytest.mark.parametrize("name", [n for n, changes in ABLATIONS.items() if not set(changes) <= ADAPT_ONLY])
def test_ablations_meta_train_with_their_change(lam, name):
    fam = lam.family
    ablated = METHODS[name].prepare(fam, TINY, TINY_LAM, sessions=lam.sessions).init
    assert ablated.sessions is lam.sessions  # the affinity sessions are reused, not recomputed
    assert ablated.config == replace(TINY_LAM, **ABLATIONS[name]) and lam.config == TINY_LAM
    if name == "ablation_k1":
        assert ablated.clustering.k == 1 and ablated.model.n_clusters == 1
    elif name == "ablation_param_clusters":
        np.testing.assert_allclose(ablated.representation, representation(fam, fam.train_tasks(), None))
    elif name == "ablation_affinity_only":
        assert ablated.representation.shape == (27, lam.sessions.features(False).shape[1])
    elif name == "ablation_no_meta":  # the same clusters and warm start; no stage 1 or 2 moved it
        assert np.array_equal(ablated.clustering.labels, lam.clustering.labels) and ablated.rounds == lam.rounds
        assert len(ablated.history["stage1"]) == len(ablated.history["stage2"]) == 0
        assert ablated.iterations["meta_train"] == TINY_LAM.budget
    else:
        assert ablated.representation.shape == lam.representation.shape
        assert not np.allclose(ablated.representation, lam.representation)


def test_lampinn_adapts_with_the_protocols_rate_and_the_familys_weights(lam):
    fam = lam.family.scaled(10.0)
    theta = fam.unseen_tasks()[4]
    res = METHODS["lampinn"].adapt(Prepared(lam, 1.5, 99), fam, theta, replace(TINY, adapt_lr=1e-2))
    direct = replace(lam, family=fam, config=replace(lam.config, adapt_lr=1e-2)).adapt(theta)
    assert all(torch.equal(p, q) for p, q in zip(res.models[0].parameters(), direct.model.parameters()))
    assert res.history.total == direct.history.total and res.mse[0] == pytest.approx(lampinn.evaluate(direct.model, fam, theta)["mse"])
    assert res.seconds["meta_seconds"] == 1.5 and res.iterations == {"meta_iterations": 99, "adapt_iterations": 4}
    assert lam.config == TINY_LAM and lam.family.loss_weights == lampinn.get_family("burgers").loss_weights  # left as it was
    plain = METHODS["lampinn"].adapt(Prepared(lam), fam, theta, TINY)  # no adapt_lr: the configuration's own
    assert not all(torch.equal(p, q) for p, q in zip(plain.models[0].parameters(), res.models[0].parameters()))


def test_fixed_routing_adapts_without_moving_the_gates(lam):
    thetas = lam.family.unseen_tasks()[:2]
    fixed = METHODS["ablation_fixed_routing"].adapt(Prepared(lam), lam.family, thetas, TINY)
    routed = METHODS["lampinn"].adapt(Prepared(lam), lam.family, thetas, TINY)
    assert fixed.method == "ablation_fixed_routing" and np.all(np.isfinite(fixed.mse))
    for f, r in zip(fixed.models, routed.models):
        assert torch.all(f.gates == 0.5) and not torch.all(r.gates == 0.5)
    assert lam.config.adapt_gate_lr == TINY_LAM.adapt_gate_lr


def test_lampinn_history_sums_the_tasks(lam):
    thetas = lam.family.unseen_tasks()[:2]
    res = METHODS["lampinn"].adapt(Prepared(lam), lam.family, thetas, TINY)
    one = [METHODS["lampinn"].adapt(Prepared(lam), lam.family, t, TINY).history for t in thetas]
    np.testing.assert_allclose(res.history.total, np.add(one[0].total, one[1].total), rtol=1e-6)
    assert set(res.history.terms) == set(one[0].terms) and res.history.optimizer == ["adam"] * TINY.adapt_budget
    assert isinstance(lam, LAMPINN)


@pytest.mark.parametrize("family", ["burgers", "helmholtz", "elasticity"])
def test_zero_scores_the_mean_square_of_the_reference(family):
    fam = lampinn.get_family(family)
    thetas = fam.unseen_tasks()[:2]
    result = run("zero", fam, thetas, TINY)
    for theta, metrics in zip(thetas, result.metrics):
        true = fam.metric_values(fam.reference(theta).values)
        assert metrics["mse"] == pytest.approx(float(np.mean(true**2)), rel=1e-12) and metrics["rel_l2"] == 1.0
    assert result.seconds == {"meta_seconds": 0.0, "adapt_seconds": 0.0}
