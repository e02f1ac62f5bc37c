"""The meta-training health checks: saturation, loss scales, the meta-validation split and score."""
import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

import lampinn
from lampinn import core, health
from lampinn.core import LAMPINN, LAMPINNConfig
from lampinn.nn import MLP, ModularPINN
from lampinn.protocol import Protocol, central_task

TINY = dict(budget=20, n_interior=60, n_boundary=20, stage1_iters=2, stage2_iters=1, device="cpu")


def test_fresh_networks_are_not_saturated_and_huge_weights_are():
    x = torch.rand(500, 2) * 2 - 1
    mlp = MLP(2, 1, width=20, depth=3)
    assert health.saturation(mlp, x) == pytest.approx([0.0, 0.0, 0.0], abs=0.02)
    modular = ModularPINN(2, 1, n_clusters=3, width=16, meta_depth=3)
    assert len(health.saturation(modular, x, torch.full((3,), 0.5))) == 3
    with torch.no_grad():
        for m in modular.meta:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(100.0)
    shares = health.saturation(modular, x)
    assert all(s > 0.5 for s in shares)
    assert modular.training  # the check leaves the mode as it found it
    with pytest.raises(ValueError, match="no tanh layers"):
        health.saturation(torch.nn.Sequential(torch.nn.Linear(2, 1)), x)


def test_meta_saturation_is_the_records_measure():
    """The committed meta-validation row's saturation is meta_saturation of the network it saved."""
    from lampinn.results import load_candidate, meta_validation

    row = meta_validation("helmholtz")["step-0.3"]
    lam = load_candidate("helmholtz", "step-0.3", device="cpu")
    assert [round(v, 3) for v in health.meta_saturation(lam)] == row["saturation"]


def test_threshold_counts_units_above_it():
    mlp = MLP(1, 1, width=4, depth=1)
    with torch.no_grad():
        mlp.net[0].weight.fill_(10.0)
        mlp.net[0].bias.zero_()
    x = torch.tensor([[0.5], [0.001]])  # tanh(5) ~ 0.9999, tanh(0.01) ~ 0.01
    assert health.saturation(mlp, x) == [0.5]


def test_loss_scales_are_the_weighted_terms_per_task():
    fam = lampinn.get_family("burgers")
    pts = fam.points(50, 20, seed=0, device="cpu")
    model = MLP(2, 1, input_bounds=fam.domain)
    tasks = fam.train_tasks()[:3]
    scales = health.loss_scales(fam, model, pts, tasks)
    assert set(scales) == set(fam.loss_weights) and all(v.shape == (3,) for v in scales.values())
    direct = fam.loss_terms(model, pts, tasks[1])
    for name, value in direct.items():
        assert scales[name][1] == pytest.approx(fam.loss_weights[name] * float(value.detach()), rel=1e-5)


def test_validation_split_holds_out_six_spread_tasks_and_keeps_the_centre():
    fam = lampinn.get_family("helmholtz")
    keep, held = health.split(fam)
    assert len(keep) == 21 and len(held) == 6
    centre = central_task(fam)
    assert any(np.allclose(t, centre) for t in keep) and not any(np.allclose(t, centre) for t in held)
    for j, name in enumerate(fam.param_names):  # every level of every parameter held out twice
        assert sorted(np.unique(held[:, j], return_counts=True)[1]) == [2, 2, 2], name
    with pytest.raises(ValueError, match="held_out rows"):
        health.split(fam, (3, 27))


def test_meta_validation_trains_on_the_rest_and_scores_the_held_out_tasks():
    fam = lampinn.get_family("burgers")
    mv = health.meta_validation(LAMPINNConfig(**TINY), fam, n_clusters=2)
    keep, held = health.split(fam)
    assert np.allclose(mv.tasks, held) and np.allclose(mv.model.tasks, keep)
    assert mv.model.clustering.k == 2 and mv.mse.shape == (6,) and np.all(np.isfinite(mv.mse))
    assert mv.score == pytest.approx(mv.mse.mean()) and len(mv.curve) == TINY["budget"] // 10
    base = health.finetune_validation(fam, Protocol(budget=20, n_interior=60, n_boundary=20, device="cpu"))
    assert base.shape == (6,) and np.all(np.isfinite(base))


@pytest.mark.parametrize("changes", [{"term_balance": True}, {"meta_weight_factor": 0.1}, {"meta_weight_decay": 0.1},
                                     {"stage2_last": True}, {"balanced_visits": True}])
def test_meta_training_loss_options_change_meta_training_only(changes):
    fam = lampinn.get_family("burgers")
    base = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2)).meta_train(fam)
    other = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2, **changes)).meta_train(fam, sessions=base.sessions)
    assert not torch.equal(base.model.meta[0].weight, other.model.meta[0].weight)
    if "term_balance" in changes:  # every term starts at 1, times its weight
        assert other.history["pretrain"].total[0] == pytest.approx(sum(fam.loss_weights.values()), rel=1e-4)
    theta = fam.unseen_tasks()[0]
    assert np.isfinite(lampinn.evaluate(other.adapt(theta, iters=2).model, fam, theta)["mse"])


def test_decoupled_decay_shrinks_only_the_meta_network():
    """meta_decay = d: after every meta-training step the meta network's weights are multiplied by 1 - rate * d;
    the subnetworks and the basis are not decayed. Pretraining with a large d leaves much smaller meta weights."""
    fam = lampinn.get_family("burgers")
    lam = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2))
    lam.model = ModularPINN(fam.in_dim, fam.out_dim, 2, width=8)
    meta0 = [p.detach().clone() for p in lam.model.meta.parameters()]
    sub0 = [p.detach().clone() for p in lam.model.subnets.parameters()]
    assert lam._decay(0.1) is None  # off by default
    lam.config = replace(lam.config, meta_decay=2.0)
    lam._decay(0.1)()
    assert all(torch.allclose(p, 0.8 * q) for p, q in zip(lam.model.meta.parameters(), meta0))
    assert all(torch.equal(p, q) for p, q in zip(lam.model.subnets.parameters(), sub0))
    base = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2)).meta_train(fam)
    decayed = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2, meta_decay=50.0)).meta_train(fam, sessions=base.sessions)
    norm = lambda m: sum(float(p.detach().norm()) for p in m.model.meta.parameters())  # noqa: E731
    assert norm(decayed) < 0.5 * norm(base)
    with pytest.raises(ValueError, match="meta_decay"):
        LAMPINNConfig(meta_decay=-1.0)


def test_normalized_features_stay_within_one_whatever_the_gates():
    torch.manual_seed(0)
    x = torch.rand(200, 2)
    plain = ModularPINN(2, 1, n_clusters=5, width=16).eval()  # no dropout
    norm = ModularPINN(2, 1, n_clusters=5, width=16, normalize=True).eval()
    norm.load_state_dict(plain.state_dict())
    for g in (torch.full((5,), 0.5), torch.ones(5), torch.tensor([1.0, 0.1, 0.1, 0.1, 0.1])):
        assert torch.allclose(norm.features(x, g), plain.features(x, g) / (1 + g.sum()))
        assert norm.features(x, g).abs().max() <= 1.0
    assert plain.features(x, torch.ones(5)).abs().max() > 1.0  # what the normalisation prevents
    with pytest.raises(ValueError, match="normalize must be True or False"):
        ModularPINN(2, 1, n_clusters=2, normalize=1)


def test_output_scale_multiplies_the_prediction_and_is_not_saved():
    torch.manual_seed(0)
    m = ModularPINN(2, 2, n_clusters=2, width=8).eval()
    x = torch.rand(5, 2)
    base = m(x)
    m.set_scale([2.0, 0.5])
    assert torch.allclose(m(x), base * torch.tensor([2.0, 0.5]))
    assert torch.allclose(m(x, scale=torch.ones(2)), base)
    assert "out_scale" not in m.state_dict()


def test_elasticity_output_scale_makes_every_training_task_of_order_one():
    fam = lampinn.get_family("elasticity")
    peaks = np.array([np.abs(fam.solve(t)).max() / fam.output_scale(t)[0] for t in fam.train_tasks()])
    raw = np.array([np.abs(fam.solve(t)).max() for t in fam.train_tasks()])
    assert raw.max() / raw.min() > 100 and peaks.max() / peaks.min() < 1.5 and 0.3 < peaks.min() < 3
    assert np.array_equal(lampinn.get_family("burgers").output_scale((0.02, 1.0, 0.5)), [1.0])


def test_output_scale_and_normalized_features_in_meta_training_and_adaptation():
    fam = lampinn.get_family("elasticity")
    base = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2)).meta_train(fam)
    lam = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2, output_scale=True, normalize_features=True))
    lam.meta_train(fam, sessions=base.sessions)
    assert lam.model.config["normalize"] and torch.equal(lam.model.out_scale, torch.ones(2))
    theta = fam.train_tasks()[4]
    adapted = lam.adapt(theta, iters=2).model
    assert torch.allclose(adapted.out_scale, torch.tensor(fam.output_scale(theta), dtype=torch.float32))
    x = torch.rand(4, 2) * 10
    with torch.no_grad():  # the adapted network predicts physical displacements: its task's scale times u / s
        assert torch.allclose(adapted(x), adapted(x, scale=torch.ones(2)) * adapted.out_scale)
    assert np.isfinite(lampinn.evaluate(adapted, fam, theta)["mse"])


def test_record_appends_each_candidate_once_with_its_provenance(tmp_path, monkeypatch):
    from lampinn import settings

    monkeypatch.setitem(settings.SIZES, "ci", {**settings.SIZES["ci"], "budget": 20, "n_interior": 60,
                                               "n_boundary": 20, "stage1": 2, "stage2": 1})
    # the first record's choice for Burgers, the full step: "full-step" is then "ours" again (below)
    monkeypatch.setitem(lampinn.methods.META_VALIDATED, "burgers", {"stage1_step": 1.0})
    out = tmp_path / "burgers.jsonl"
    fam = lampinn.get_family("burgers")
    rows = health.record(fam, "ci", str(out), ["ours", "previous"], progress=False, models=str(tmp_path / "m"))
    assert [r["candidate"] for r in rows] == [health.BASELINE, "ours", "previous"]
    ours, previous = rows[1], rows[2]
    assert ours["changes"] == {} and previous["changes"] == health.CANDIDATES["previous"]
    assert len(ours["mse"]) == 6 and ours["score"] == pytest.approx(np.mean(ours["mse"]))
    assert len(ours["saturation"]) == 3 and set(ours["loss_scales"]) == set(fam.loss_weights)
    assert ours["provenance"]["mode"] == "ci" and ours["held_out"] == list(health.VALIDATION_TASKS)
    assert all(r["provenance"]["seconds"] > 0 and r["provenance"]["cpu_seconds"] > 0 for r in rows)
    assert ours["score"] != previous["score"]  # the options change the meta-training
    again = health.record(fam, "ci", str(out), ["ours"], progress=False)  # done rows are kept, not rerun
    assert again == rows and len(out.read_text().splitlines()) == 3
    # with the full step chosen, "full-step" is "ours" again, so its row repeats ours', not rerun
    twin = health.record(fam, "ci", str(out), ["full-step"], progress=False, models=str(tmp_path / "m"))[-1]
    assert twin == {**ours, "candidate": "full-step", "changes": {"stage1_step": 1.0}, "same_as": "ours"}
    assert (tmp_path / "m" / "full-step.pt").read_bytes() == (tmp_path / "m" / "ours.pt").read_bytes()
    rows = rows + [twin]
    monkeypatch.setitem(settings.SIZES, "default", settings.SIZES["ci"])  # same sizes under another mode's name
    assert health.record(fam, "default", str(out), ["ours"], progress=False) == rows
    fewer = health.record(fam, "ci", str(out), ["ours"], progress=False, n_interior=40)
    assert [r["candidate"] for r in fewer] == [health.BASELINE, "ours"] and len(out.read_text().splitlines()) == 6
    assert all(r["sizes"]["n_interior"] == 40 for r in fewer)
    with pytest.raises(ValueError, match="unknown candidate 'best'"):
        health.record(fam, "ci", str(out), ["best"])
    assert set(health.LABELS) == set(health.CANDIDATES)
    saved = LAMPINN.load(tmp_path / "m" / "ours.pt")
    assert saved.config.output_scale and np.allclose(saved.tasks, health.split(fam)[0])


def test_a_partial_stage1_step_keeps_that_fraction_of_each_tasks_move():
    """stage1_step = s: after a stage-1 task the subnetworks and meta network sit at start + s * (trained - start),
    what a full step (s = 1, as published) would have reached from the same start; the gates are not scaled."""
    fam = lampinn.get_family("burgers")
    lam = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2)).meta_train(fam)
    start = copy.deepcopy(lam.model.state_dict())
    ends = {}
    for step in (1.0, 0.5):
        lam.model.load_state_dict(start)
        lam.config = replace(lam.config, stage1_step=step)
        torch.manual_seed(0)  # the same dropout masks in both runs
        lam._stage1(0)
        ends[step] = copy.deepcopy(lam.model.state_dict())
    moved = [k for k in start if k.startswith(("subnets.", "meta."))]
    assert moved and all(torch.allclose(ends[0.5][k], start[k] + 0.5 * (ends[1.0][k] - start[k]), atol=1e-6) for k in moved)
    assert any(not torch.equal(ends[1.0][k], start[k]) for k in moved)
    assert torch.equal(ends[0.5]["gates"], ends[1.0]["gates"])
    with pytest.raises(ValueError, match=r"LAMPINNConfig.stage1_step = 0 is invalid"):
        LAMPINNConfig(stage1_step=0)


def test_choose_prefers_a_healthy_setting_that_beats_fine_tuning_else_the_lowest_score():
    def row(score, sat):
        return {"score": score, "saturation": [0.0, sat]}

    rows = {health.BASELINE: {"score": 1.0}, "full-step": row(0.2, 0.5), "step-0.3": row(0.5, 0.05),
            "step-0.1": row(2.0, 0.0)}
    assert health.choose(rows) == "step-0.3"  # healthy and below fine-tuning beats a lower, saturated score
    rows["step-0.3"] = row(1.5, 0.05)  # healthy but above fine-tuning: the lowest score wins
    assert health.choose(rows) == "full-step"
    assert health.choose(rows, ("step-0.1", "absent")) == "step-0.1"
    with pytest.raises(ValueError, match="none of the candidates"):
        health.choose(rows, ("absent",))


def test_released_visits_and_schedule(monkeypatch):
    """balanced_visits: every round visits every cluster, so stage 1 runs once per visit (the padded visits
    included); plateau: a new schedule per stage whose patience is 3/4 of stage 1's and 1/2 of stage 2's
    iterations, so a stalled stage lowers its rate."""
    fam = lampinn.get_family("burgers")
    lam = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2, balanced_visits=True)).meta_train(fam)
    visits = sum(len(r) for r in lam.rounds)
    assert all(len(r) == 2 for r in lam.rounds) and visits >= 27
    assert len(lam.history["stage1"]) == visits * TINY["stage1_iters"]
    assert lam.iterations["meta_train"] == TINY["budget"] + visits * (TINY["stage1_iters"] + TINY["stage2_iters"])
    schedules = []
    monkeypatch.setattr(core, "train", lambda *a, plateau=None, f=core.train, **k:
                        schedules.append(plateau) or f(*a, plateau=plateau, **k))
    for on in (False, True):
        schedules.clear()
        config = LAMPINNConfig(**{**TINY, "stage1_iters": 8, "stage2_iters": 4}, n_clusters=2, plateau=on)
        lam = LAMPINN(config).meta_train(fam, sessions=lam.sessions)
        expected = [None] + [(0.7, 6)] * 27 + [(0.7, 2)] * len(lam.rounds) if on else [None] * (1 + 27 + len(lam.rounds))
        assert sorted(schedules, key=str) == sorted(expected, key=str)  # pretraining has no schedule


def test_stage2_last_consolidates_on_each_rounds_last_task_only(monkeypatch):
    fam = lampinn.get_family("burgers")
    seen: list[list[int]] = []
    original = LAMPINN._stage2
    monkeypatch.setattr(LAMPINN, "_stage2", lambda self, round_: seen.append(list(round_)) or original(self, round_))
    for last in (False, True):
        lam = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2, stage2_last=last)).meta_train(fam)
        assert seen and seen == [list(r) for r in lam.rounds]  # every round is handed over whole
        routed = []
        monkeypatch.setattr(lam, "_open_gates", lambda t, f=lam._open_gates: routed.append(t) or f(t))
        lam._stage2(lam.rounds[0])
        assert routed == ([lam.rounds[0][-1]] if last else list(lam.rounds[0]))
        seen.clear()


def test_record_runs_its_candidates_on_workers_with_the_same_rows(tmp_path, monkeypatch):
    """Two worker processes write the rows one process writes (in the order they finish); a candidate whose
    configuration equals one measured in the same run repeats its row once that one is written."""
    from lampinn import settings

    monkeypatch.setitem(settings.SIZES, "ci", {**settings.SIZES["ci"], "budget": 20, "n_interior": 60,
                                               "n_boundary": 20, "stage1": 2, "stage2": 1})
    monkeypatch.setitem(lampinn.methods.META_VALIDATED, "burgers", {"stage1_step": 1.0})  # "ours" is "full-step"
    fam = lampinn.get_family("burgers")
    names = ["ours", "full-step", "previous"]
    one = health.record(fam, "ci", str(tmp_path / "one.jsonl"), names, progress=False)
    two = health.record(fam, "ci", str(tmp_path / "two.jsonl"), names, progress=False, workers=2)

    def measured(rows):
        return sorted(({k: v for k, v in r.items() if k != "provenance"} for r in rows), key=lambda r: r["candidate"])

    assert measured(one) == measured(two) and len(one) == 4
    assert one[-1]["candidate"] == two[-1]["candidate"] == "full-step" and one[-1]["same_as"] == "ours"


def tiny_result(tmp_path):
    """The committed Helmholtz result (its tuning) at tiny sizes, written where the CLI can read it."""
    import json

    from lampinn import results

    committed = results.load("helmholtz")
    r = {**committed, "mode": "ci", "provenance": {**committed["provenance"], "mode": "ci"},
         "sizes": {"budget": 20, "n_interior": 60, "n_boundary": 20, "stage1": 2, "stage2": 1, "maml": 1, "reptile": 1}}
    (tmp_path / "helmholtz.json").write_text(json.dumps(r))
    return r


def test_tuned_meta_validation_starts_as_transfer_adapts_at_the_tuned_rate_and_keys_seeds(tmp_path, monkeypatch):
    """Every row is keyed by candidate and seed; candidates start at scratch at B's tuned rate and weights (stages at
    scratch's weights where asked), adapt at the best rate on the tuning tasks, and the baseline is the run's tuned
    fine-tuning; a second call reruns nothing; the seeds' mean is the score :func:`choose` reads."""
    from lampinn.benchmark import TUNING_LRS
    from lampinn.cli import main
    from lampinn.results import BASELINE, aggregate, baseline_as_run

    result, out = tiny_result(tmp_path), tmp_path / "mv" / "helmholtz.tuned.jsonl"
    t = result["tuning"]
    configs = []
    real = core.LAMPINN.meta_train

    def spy(self, family, *args, **kw):
        configs.append(self.config)
        return real(self, family, *args, **kw)

    monkeypatch.setattr(core.LAMPINN, "meta_train", spy)
    rows = health.record_tuned(result, out, ["step-0.3-scratch-weights", "no-meta"], seeds=2, progress=False)
    assert sorted((r["candidate"], r["seed"]) for r in rows) == sorted(
        (c, s) for c in (BASELINE, "step-0.3-scratch-weights", "no-meta") for s in (0, 1))
    assert all(c.lr == t["lr"]["scratch_full"] and c.warm_weight_factor == t["weight"]["scratch_full"] for c in configs)
    assert {c.meta_weight_factor for c in configs} == {1.0, t["weight"]["scratch_full"]}
    assert {(c.stage1_iters, c.seed) for c in configs if c.stage2_iters == 0} == {(0, 0), (0, 1)}
    row = next(r for r in rows if r["candidate"] == "no-meta" and r["seed"] == 1)
    assert list(row["rates"]) == [str(r) for r in TUNING_LRS] and row["adapt_lr"] == float(min(row["rates"], key=row["rates"].get))
    assert row["score"] == pytest.approx(np.mean(row["mse"])) and row["changes"] == {"stage1_iters": 0, "stage2_iters": 0}
    base = next(r for r in rows if r["candidate"] == BASELINE and r["seed"] == 1)
    assert base["mse"] == pytest.approx(baseline_as_run(result, "transfer", health.split(lampinn.get_family("helmholtz"))[1], 1).tolist())
    lines = out.read_text().count("\n")
    assert main(["meta-validation-tuned", str(tmp_path / "helmholtz.json"), "--out", str(out), "--candidates",
                 "no-meta", "--seeds", "2", "--workers", "1"]) == 0
    assert out.read_text().count("\n") == lines  # every row was there
    agg = aggregate(rows)
    assert agg["no-meta"]["score"] == pytest.approx(np.mean([r["score"] for r in rows if r["candidate"] == "no-meta"]))
    assert agg["no-meta"]["seeds"] == 2 and len(agg["no-meta"]["saturation"]) == 3
    assert agg["no-meta"]["mse"] == [r["mse"] for r in sorted(rows, key=lambda r: r["seed"]) if r["candidate"] == "no-meta"]
    assert health.choose(agg, tuple(health.TUNED_CANDIDATES)) in ("step-0.3-scratch-weights", "no-meta")
    with pytest.raises(ValueError, match="unknown candidate 'ours'"):
        health.record_tuned(result, out, ["ours"])


def test_weight_response_adapts_at_each_factor_of_the_familys_own_weights():
    """The start is the network before any step; each factor scales the given family's constraint weights (not a
    weighted family's again); every factor starts from the same residual."""
    fam = lampinn.get_family("burgers")
    lam = LAMPINN(LAMPINNConfig(**TINY, n_clusters=2, width=8)).meta_train(fam)
    tasks = fam.train_tasks()[[0, 26]]
    out = health.weight_response(replace(lam, family=fam.scaled(1000.0)), fam, tasks, (0.01, 1.0), 1e-3)
    assert out["start"] == pytest.approx(np.mean([lampinn.evaluate(lam.adapt(t, iters=0).model, fam, t)["mse"] for t in tasks]))
    direct = replace(lam, family=fam.scaled(0.01), config=replace(lam.config, adapt_lr=1e-3))
    assert out["mse"][0.01] == pytest.approx(np.mean([lampinn.evaluate(direct.adapt(t).model, fam, t)["mse"] for t in tasks]))
    assert out["residual"][0.01][0] == pytest.approx(out["residual"][1.0][0]) and set(out["terms"][1.0]) == set(fam.loss_weights)
    assert out["mse"][0.01] != out["mse"][1.0]
