"""The diversity knob and the map of chapter 12 (lampinn.diversity)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lampinn import diversity
from lampinn.benchmark import check_partial
from lampinn.files import dumps, read_json
from lampinn.pde import get_family, to_unit
from lampinn.protocol import central_task

RESULTS = Path(__file__).resolve().parents[1] / "results"
DIVERSITY = RESULTS / "diversity"


def test_width_one_is_the_committed_box_and_its_corners():
    fam = get_family("helmholtz")
    full, corners = diversity.widened(fam, 1.0, 3), diversity.widened(fam, 1.0, 2)
    assert full.bounds == fam.bounds and full.levels == fam.levels and full.name == "helmholtz-w1.00-27"
    np.testing.assert_array_equal(full.train_tasks(), fam.train_tasks())
    np.testing.assert_array_equal(full.unseen_tasks(), fam.unseen_tasks())
    np.testing.assert_array_equal(corners.unseen_tasks(), fam.unseen_tasks())
    lo_hi = fam.train_tasks()[[0, 2, 6, 8, 18, 20, 24, 26]]
    np.testing.assert_array_equal(corners.train_tasks(), lo_hi)
    assert corners.name == "helmholtz-w1.00-8" and fam.name == "helmholtz"  # the committed family is untouched


@pytest.mark.parametrize("name, width", [("helmholtz", 2.0), ("burgers", 1.8), ("elasticity", 2.0)])
def test_the_knob_widens_each_range_about_its_centre_on_its_scale(name, width):
    fam = get_family(name)
    wide = diversity.widened(fam, width)
    for p in fam.param_names:
        (lo, hi), (wlo, whi) = fam.bounds[p], wide.bounds[p]
        kind = fam.diversity.get(p)
        if kind is None:
            assert (wlo, whi) == (lo, hi) and wide.levels[p] == fam.levels[p]
            continue
        f = np.log if kind == "log" else (lambda v: v)
        assert (f(whi) + f(wlo)) / 2 == pytest.approx((f(hi) + f(lo)) / 2, abs=1e-3)
        assert f(whi) - f(wlo) == pytest.approx(width * (f(hi) - f(lo)), rel=1e-3)
        places = [(f(v) - f(lo)) / (f(hi) - f(lo)) for v in fam.levels[p]]
        wide_places = [(f(v) - f(wlo)) / (f(whi) - f(wlo)) for v in wide.levels[p]]
        np.testing.assert_allclose(wide_places, places, atol=1e-3)


def test_the_unseen_tasks_of_a_wider_box_are_drawn_by_the_rule():
    fam = get_family("helmholtz")
    full, corners = diversity.widened(fam, 1.59, 3), diversity.widened(fam, 1.59, 2)
    unseen = full.unseen_tasks()
    assert unseen.shape == (10, 3) and all(full.in_bounds(t) for t in unseen)
    assert not np.array_equal(unseen, fam.unseen_tasks())
    np.testing.assert_array_equal(corners.unseen_tasks(), unseen)  # both designs share the box's tasks
    np.testing.assert_array_equal(diversity.widened(fam, 1.59).unseen_tasks(), unseen)  # a rule, not a chance
    dist = np.linalg.norm(to_unit(full, unseen)[:, None] - to_unit(full, full.train_tasks())[None], axis=-1)
    assert dist.min() >= 0.1
    assert unseen[:, 0].max() > fam.bounds["a1"][1] or unseen[:, 1].max() > fam.bounds["a2"][1]  # the box is used


@pytest.mark.parametrize("width", [1.0, 2.0])
def test_both_designs_of_a_box_pretrain_on_the_same_central_task(width):
    fam = get_family("helmholtz")
    full, corners = diversity.widened(fam, width, 3), diversity.widened(fam, width, 2)
    np.testing.assert_array_equal(central_task(corners), central_task(full))
    assert full.centre is None and fam.centre is None
    assert not any(np.array_equal(central_task(corners), t) for t in corners.train_tasks())  # not a corner
    np.testing.assert_array_equal(central_task(diversity.widened(fam, 1.0, 2)), [1.25, 1.25, 2.5])


def test_bad_knobs_are_refused_with_the_value():
    fam = get_family("helmholtz")
    with pytest.raises(ValueError, match="width 0.5"):
        diversity.widened(fam, 0.5)
    with pytest.raises(ValueError, match="levels 4"):
        diversity.widened(fam, 1.0, 4)
    bare = diversity.copy.copy(fam)
    bare.diversity = {}
    with pytest.raises(ValueError, match="declares no diversity knob"):
        diversity.widened(bare, 1.0)
    with pytest.raises(ValueError, match="nu = 0.0009487 is outside"):  # Burgers' solver stops at nu = 1e-3
        diversity.widened(get_family("burgers"), 2.0)
    odd = diversity.copy.copy(fam)
    odd.diversity = {"a1": "cubic"}
    with pytest.raises(ValueError, match="'cubic'"):
        diversity.widened(odd, 1.5)


def _step(name: str, methods: dict[str, list[float]], calibration: int = 9) -> dict:
    """A step result as the benchmark writes it, with one task per seed of the given mean MSEs."""
    return {"family": name, "mode": "ci", "sizes": {"budget": 300},
            "methods": {m: {"per_seed_mse": [[v] for v in seeds]} for m, seeds in methods.items()},
            "tuning": {"tasks": [[0.5, 0.5, 1.0]], "criterion": "mean MSE over the tasks", "weight_range": [1e-3, 1e3],
                       "lr": {"scratch_full": 1e-3, "scratch_adapt": 3e-3, "finetune": 1e-3, "lampinn": 1e-2},
                       "weight": {"scratch_full": 10.0, "scratch_adapt": 1.0, "finetune": 10.0, "lampinn": 1.0},
                       "mse": {}, "weight_mse": {}, "seconds": {"scratch_full": 5.0}},
            "calibration": {"solved": calibration, "passed": calibration >= 8, "rel_l2": [0.1] * 10, "seconds": 1.0},
            "provenance": {"seconds": 60.0, "cpu_seconds": 100.0, "device": "cpu (x86_64, 1 threads)"}}


def test_the_map_computes_both_ratios_per_seed_and_takes_scratch_from_the_box(tmp_path):
    fam = get_family("helmholtz")
    base = {"transfer": [2.0, 4.0], "maml": [8.0, 8.0], "reptile": [1.0, 8.0], "lampinn": [0.5, 2.0],
            "ablation_no_meta": [1.0, 1.0]}
    full = {**base, "scratch_full": [3.0, 6.0], "scratch_adapt": [9.0, 9.0]}
    (tmp_path / "helmholtz-w1.00-27.json").write_text(dumps(_step("helmholtz-w1.00-27", full, calibration=7)))
    (tmp_path / "helmholtz-w1.00-8.json").write_text(dumps(_step("helmholtz-w1.00-8", {**base, "lampinn": [4.0, 4.0]})))
    result = diversity.summarise(fam, tmp_path, widths=(1.0,), meta=("mine", {"stage1_step": 0.5}))
    box, corners = result["steps"]
    assert result["meta_training"] == {"candidate": "mine", "changes": {"stage1_step": 0.5}}
    assert (box["tasks"], corners["tasks"]) == (27, 8)
    assert box["ratios"]["lampinn"] == {"a": [2.0, 2.0], "b": [6.0, 3.0]}  # best baseline per seed: 1 and 4
    assert box["ratios"]["ablation_no_meta"]["a"] == [1.0, 4.0]
    assert corners["mse"]["scratch_full"] == [3.0, 6.0] and corners["ratios"]["lampinn"] == {"a": [0.25, 1.0],
                                                                                           "b": [0.75, 1.5]}
    assert corners["calibration"]["solved"] == 7 and box["bounds"]["a1"] == [0.5, 2.0]
    assert result["provenance"]["seconds"] == 120.0 and result["provenance"]["cpu_seconds"] == 200.0
    widths, ratios = diversity.series(result, 8, "lampinn", "b")
    np.testing.assert_array_equal(widths, [1.0]) and np.testing.assert_array_equal(ratios, [[0.75, 1.5]])
    assert "| 1 | 27 | 7/10 |" in diversity.table(result)
    # a step whose no-meta arm adapted with LAM-PINN's setting, not its own, says so
    assert box["no_meta_setting"] == "lampinn" and "(not rerun yet)" in diversity.table(result)
    diversity.plot(result, tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 0


def test_a_box_with_a_seed_more_than_its_corners_is_read_at_the_corners_seeds(tmp_path):
    """A third seed run at a width's 27-task design only: the 8-task step's ratio (b) takes the box's scratch at
    the 8-task step's own seeds."""
    fam = get_family("helmholtz")
    base = {"transfer": [2.0, 4.0], "maml": [8.0, 8.0], "reptile": [1.0, 8.0], "lampinn": [0.5, 2.0],
            "ablation_no_meta": [1.0, 1.0]}
    full = {m: [*v, 1.0] for m, v in {**base, "scratch_full": [3.0, 6.0], "scratch_adapt": [9.0, 9.0]}.items()}
    (tmp_path / "helmholtz-w1.00-27.json").write_text(dumps(_step("helmholtz-w1.00-27", full)))
    (tmp_path / "helmholtz-w1.00-8.json").write_text(dumps(_step("helmholtz-w1.00-8", base)))
    box, corners = diversity.summarise(fam, tmp_path, widths=(1.0,), meta=("mine", {}))["steps"]
    assert len(box["ratios"]["lampinn"]["b"]) == 3
    assert corners["mse"]["scratch_full"] == [3.0, 6.0] and corners["ratios"]["lampinn"]["b"] == [6.0, 3.0]


def test_the_corners_run_starts_from_the_box_calibration_and_scratch_tuning(tmp_path):
    fam = get_family("helmholtz")
    box = _step("helmholtz-w1.59-27", {})
    corners = diversity.widened(fam, 1.59, 2)
    diversity._seed_design_run(tmp_path, box, corners, "ci")
    partial = read_json(tmp_path / "helmholtz-w1.59-8.partial.json")
    check_partial(partial, "seeded", corners.name, "ci")
    assert set(partial["_tuning"]["lr"]) == {"scratch_full", "scratch_adapt"}  # fine-tuning and LAM-PINN: tuned again
    assert partial["_calibration"] == box["calibration"]


def test_a_run_meta_trains_with_its_own_settings(tmp_path):
    from lampinn.benchmark import Run
    from lampinn.methods import get_method

    fam, tuning = get_family("helmholtz"), {"weight": {"scratch_full": 10.0}, "lr": {"scratch_full": 3e-3}}
    own = Run(fam, "ci", tmp_path / "own", meta={"stage1_step": 0.3, "meta_weight_factor": "scratch_full"})
    book = Run(fam, "ci", tmp_path / "book")
    for run in (own, book):
        run.done["_tuning"] = tuning
    cfg, chosen = own.config(get_method("lampinn"), 0), book.config(get_method("lampinn"), 0)
    assert (cfg.stage1_step, cfg.meta_weight_factor, cfg.warm_weight_factor, cfg.lr) == (0.3, 10.0, 10.0, 3e-3)
    assert cfg.stage1_iters > 0 and chosen.stage1_iters == 0  # the book's Helmholtz: no meta-training
    assert own.spec()["meta"] == own.meta


def test_the_map_meta_trains_with_the_best_setting_that_meta_trains():
    from lampinn.health import TUNED_CANDIDATES
    from lampinn.results import tuned_validation

    name, changes = diversity.meta_training("helmholtz")
    rows = tuned_validation("helmholtz")
    assert name != "no-meta" and changes == TUNED_CANDIDATES[name]
    meta = {c: r["score"] for c, r in rows.items() if c in TUNED_CANDIDATES and c != "no-meta"}
    assert rows[name]["score"] == min(meta.values())  # none beats fine-tuning healthy: the lowest score


def test_the_no_meta_arm_is_tuned_on_its_own_network_where_the_run_meta_trains(tmp_path):
    """A run that meta-trains LAM-PINN with its own settings (the map's) tunes ``ablation_no_meta`` on its own network
    (the ``no_meta`` setting, with LAM-PINN's further phases); where LAM-PINN does not meta-train (the benchmark's
    Helmholtz) the two are one network with one setting, as every ablation shares LAM-PINN's."""
    from dataclasses import replace

    from lampinn.benchmark import Run
    from lampinn.methods import ABLATIONS, get_method, tuned_protocol

    fam, methods = get_family("helmholtz"), list(diversity.METHODS)
    own = Run(fam, "ci", tmp_path / "own", meta={"stage1_step": 0.3})
    book = Run(fam, "ci", tmp_path / "book")
    no_stages = Run(fam, "ci", tmp_path / "none", meta={"stage1_iters": 0, "stage2_iters": 0})
    assert [r.setting("ablation_no_meta") for r in (own, book, no_stages)] == ["no_meta", "lampinn", "lampinn"]
    assert own.setting("lampinn") == own.setting("ablation_fixed_routing") == "lampinn"
    own.done["_tuning"] = {"weight": {"scratch_full": 10.0}, "lr": {"scratch_full": 3e-3}}
    no_meta, lam = (own.config(get_method(m), 0) for m in ("ablation_no_meta", "lampinn"))
    assert lam.stage1_step == 0.3 and no_meta.stage1_step == 1.0  # none of the run's meta-training settings
    book.done["_tuning"] = own.tuning  # the benchmark's Helmholtz LAM-PINN: meta-validation's no-meta candidate
    assert replace(no_meta, **ABLATIONS["ablation_no_meta"]) == book.config(get_method("lampinn"), 0)
    assert own.settings_needed(methods)[-2:] == ["lampinn", "no_meta"] and "no_meta" not in book.settings_needed(methods)
    tuning = {"lr": {"lampinn": 1e-3, "no_meta": 3e-3}, "gate_lr": {"lampinn": 0.3, "no_meta": 0.1}}
    p = tuned_protocol({"budget": 10, "n_interior": 5, "n_boundary": 4}, tuning, 0, "ablation_no_meta", None, "no_meta")
    assert (p.adapt_lr, p.adapt_gate_lr) == (3e-3, 0.1)
    own.done["_tuning"] = {**tuning, "weight": {"scratch_full": 1.0, "finetune": 1.0}, "mse": {}, "weight_mse": {},
                           "seconds": {}, "tasks": [[0.5, 0.5, 1.0]], "weight_range": [1e-3, 1e3],
                           "pair": {"no_meta": {"sweep": {"lr": 1e-3, "weight": 1.0, "mse": 0.5}}}}
    own.done["_tuning"]["lr"]["finetune"] = 1e-2
    # after its sweeps, the no-meta setting weighs fine-tuning's pair, then the gates' rates: LAM-PINN's phases
    assert own._gate_trials("no_meta") == [("trial", "no_meta", 1e-2, 1.0, 0.3)]


def test_a_finished_step_resumes_from_its_result_keeping_its_numbers():
    """:func:`lampinn.diversity.restore`: the committed width-1 step's result, summarised again from the resume file
    rebuilt from it, is the same result; a method to redo is left out, to run again."""
    from lampinn import settings
    from lampinn.benchmark import Run

    result = read_json(DIVERSITY / "helmholtz-w1.00-27.json")
    fam = diversity.widened(get_family("helmholtz"), 1.0, 3)
    done = diversity.restore(result)
    check_partial(done, "restored", fam.name, "full")
    run = Run(fam, "full", DIVERSITY, 2, sizes={**settings.sizes("helmholtz", "full"), "ood": 0}, done=done,
              meta=diversity.meta_training("helmholtz")[1])
    again = run.summarise(list(result["methods"]), done["_seconds"], done["_cpu_seconds"])
    for name, m in result["methods"].items():
        for key in ("per_seed_mse", "per_task_mse", "per_task_rel_l2", "mean_mse", "std_over_seeds", "seeds"):
            np.testing.assert_allclose(again["methods"][name][key], m[key], rtol=1e-12, err_msg=f"{name} {key}")
    assert again["tuning"] == result["tuning"] and again["calibration"] == result["calibration"]
    redo = diversity.restore(result, ("ablation_no_meta",))
    assert not any(k.startswith("ablation_no_meta/") for k in redo) and "lampinn/1/unseen/9" in redo
    # the redone ablation makes LAM-PINN's affinity sessions itself: LAM-PINN, done, is not meta-trained again
    run = Run(fam, "full", DIVERSITY / "nowhere", 2, sizes=run.sizes, done=redo, meta=run.meta)
    assert run.preparation("ablation_no_meta", 0) == [("prepare", "ablation_no_meta", 0)]
    del redo["lampinn/0/unseen/3"]
    assert run.preparation("ablation_no_meta", 0) == [("prepare", "lampinn", 0)]


def test_the_map_at_width_one_is_the_committed_benchmark():
    """The map cannot drift from the benchmark: its width-1, 27-task step runs the benchmark's code on the committed
    box with the benchmark's settings, so every arm the two files share gives the same error on every unseen task at
    every seed they share, and is tuned the same. Meta-validation left the benchmark's Helmholtz LAM-PINN without
    meta-training, so it is the map's no-meta arm (tuned on itself, as the benchmark tunes it); the map's LAM-PINN
    meta-trains, the one arm the benchmark has not."""
    from lampinn.methods import META_VALIDATED

    step, bench = read_json(DIVERSITY / "helmholtz-w1.00-27.json"), read_json(RESULTS / "helmholtz.json")
    assert META_VALIDATED["helmholtz"] == {"stage1_iters": 0, "stage2_iters": 0}
    assert step["sizes"] == {**bench["sizes"], "ood": 0} and step["tuning"]["tasks"] == bench["tuning"]["tasks"]
    arms = {m: m for m in step["methods"] if m != "lampinn"} | {"ablation_no_meta": "lampinn"}
    assert set(arms) == set(diversity.METHODS) - {"lampinn"} and "ablation_no_meta" in bench["methods"]
    seeds = min(step["methods"]["transfer"]["seeds"], bench["methods"]["transfer"]["seeds"])
    assert seeds >= 2
    for mine, theirs in arms.items():
        for s in range(seeds):
            assert step["methods"][mine]["per_seed_mse"][s] == pytest.approx(
                bench["methods"][theirs]["per_seed_mse"][s], rel=1e-9), (mine, theirs, s)
    assert bench["methods"]["ablation_no_meta"]["per_seed_mse"] == bench["methods"]["lampinn"]["per_seed_mse"]
    t, b = step["tuning"], bench["tuning"]
    for key in ("lr", "weight", "mse", "weight_mse"):
        assert {k: t[key][k] for k in ("scratch_full", "scratch_adapt", "finetune")} == \
            {k: b[key][k] for k in ("scratch_full", "scratch_adapt", "finetune")}
    for key in ("lr", "weight", "mse", "weight_mse", "pair", "gate_mse", "gate_lr"):
        assert t[key]["no_meta"] == b[key]["lampinn"], key
