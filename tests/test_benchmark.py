"""lampinn.benchmark: the resumable benchmark run, its tuning on training tasks, and the files it writes."""
import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import lampinn
from lampinn import benchmark as bm
from lampinn import settings
from lampinn.baselines import MetaConfig
from lampinn.cli import main, parser
from lampinn.health import VALIDATION_TASKS
from lampinn.core import LAMPINNConfig
from lampinn.methods import ABLATIONS, METHODS, Scratch, get_method
from lampinn.protocol import Protocol
from lampinn.report import MAIN_METHODS, headline, update_blocks
from lampinn.results import load_model, with_tuning

KEYS = {"family", "mode", "budget", "sizes", "methods", "ood", "provenance"}
METHOD_KEYS = {"per_task_mse", "per_task_rel_l2", "mean_mse", "std_over_seeds", "seconds"}
PROVENANCE = {"version", "git_commit", "torch", "device", "date", "command", "seeds", "seconds"}
#: The sizes the benchmark runs below use in place of the ci row of settings.SIZES (monkeypatched by ``small``).
#: The ci row is the chapters' (B = 300 on 500 points, 30 stage-1 iterations per task, 27 tasks); at those sizes
#: the full method list on Burgers alone took over 11 minutes on one thread (each LAM-PINN ablation meta-trains
#: again for about a minute), and elasticity's LAM-PINN meta-trains three times slower than Burgers'. These keep
#: every check (tuning, resumption, shared sessions and networks, a loaded model reproducing the run's error,
#: the result schema) at a small fraction of that; test_run_sizes_are_the_settings_table checks that a run
#: reads the table.
SMALL = {"budget": 60, "n_interior": 200, "n_boundary": 40, "stage1": 4, "stage2": 2, "maml": 3, "reptile": 2}


#: Elasticity's second-order stress residual makes its iterations about three times Burgers' (the reason for its
#: override in full mode); here too it trains on fewer points.
SMALL_FAMILY = {"elasticity": {"n_interior": 100}}


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setitem(settings.SIZES, "ci", SMALL)
    monkeypatch.setitem(settings.FAMILY_SIZES, "ci", SMALL_FAMILY)
    return SMALL


def check_schema(result, family, methods, mode="ci"):
    sizes = settings.sizes(family, mode)
    assert KEYS <= set(result) and result["family"] == family and result["mode"] == mode
    assert result["budget"] == {"full": sizes["budget"], "adapt": sizes["budget"] // 10} and result["sizes"] == sizes
    for split in ("methods", "ood"):
        assert list(result[split]) == list(methods)
        for m in result[split].values():
            assert METHOD_KEYS <= set(m) and set(m["seconds"]) == {"meta", "adapt"}
            assert len(m["per_task_mse"]) == 10 and len(m["per_task_rel_l2"]) == 10
            assert np.all(np.isfinite(m["per_task_mse"])) and m["mean_mse"] == pytest.approx(np.mean(m["per_task_mse"]))
    assert PROVENANCE <= set(result["provenance"]) and result["provenance"]["version"] == lampinn.__version__


def check_tuning(tuning, family, tuned=tuple(bm.SETTINGS)):
    """Every setting has a rate and a weight factor, each the best of what was measured on the training tasks, and the
    factors tried are those the widening sweep tries given their scores (a result without ``weight_range`` predates
    the widening: it tried the first factors only)."""
    assert set(tuning["lr"]) == set(tuning["weight"]) == set(tuned)
    assert np.allclose(tuning["tasks"], lampinn.get_family(family).train_tasks()[list(bm.TUNING_TASKS)])
    for name in tuned:
        rates, factors = tuning["mse"][name], tuning["weight_mse"][name]
        limits = tuple(tuning.get("weight_range", (min(bm.TUNING_WEIGHTS), max(bm.TUNING_WEIGHTS))))
        assert list(rates) == [str(v) for v in bm.TUNING_LRS]
        assert bm.widen(lambda w: factors[str(w)], limits=limits) == factors  # a factor it would try but did not: KeyError
        # LAM-PINN's sweeps choose a pair that fine-tuning's may replace (a result from before keeps the sweeps')
        sweep = tuning.get("pair", {}).get(name, {}).get("sweep", {"lr": tuning["lr"][name], "weight": tuning["weight"][name]})
        assert rates[str(sweep["lr"])] == min(rates.values())
        assert factors[str(sweep["weight"])] == min(factors.values())
        assert factors["1.0"] == rates[str(sweep["lr"])]  # the factor sweep runs at the chosen rate
    if "pair" in tuning:
        pair, gates = tuning["pair"]["lampinn"], tuning["gate_mse"]["lampinn"]
        chosen = pair[pair["chosen"]]
        assert (tuning["lr"]["lampinn"], tuning["weight"]["lampinn"]) == (chosen["lr"], chosen["weight"])
        assert pair["finetune"] is None or pair["finetune"]["weight"] == tuning["weight"]["finetune"]
        assert gates[str(tuning["gate_lr"]["lampinn"])] == min(v for v in gates.values() if v is not None)


def m_meta(result, method):
    return result["methods"][method]["seconds"]["meta"]


def test_method_names_are_the_registrys(tmp_path):
    assert bm.DEFAULT_METHODS == (*MAIN_METHODS[:-1], *ABLATIONS, "zero") and set(bm.DEFAULT_METHODS) <= set(METHODS)
    paper_only = set(bm.PAPER_METHODS) - set(bm.DEFAULT_METHODS)  # LAM-PINN as released, the untuned baselines
    closed_form = {"solve_random", "solve_learned", "solve_transfer", "solve_lampinn", "fastlsq"}  # chapter 13's
    assert set(METHODS) - set(bm.DEFAULT_METHODS) == {"transfer_joint", "fomaml", *paper_only, *closed_form}
    assert paper_only == {m for m in METHODS if METHODS[m].untuned}
    assert set(bm.SETTINGS.values()) <= set(METHODS)
    bench = next(a for a in parser()._subparsers._group_actions if a.dest == "command").choices["benchmark"]
    choices = next(a for a in bench._actions if a.dest == "methods").choices
    assert list(choices) == list(METHODS)
    with pytest.raises(ValueError, match="^unknown method 'magic'; expected one of scratch_full, "):
        bm.benchmark("burgers", "ci", tmp_path / "out", methods=["scratch_adapt", "magic"], progress=False)
    assert not (tmp_path / "out").exists()  # nothing ran


def test_run_sizes_are_the_settings_table(tmp_path, monkeypatch):
    for mode in settings.MODES:
        for family in ("burgers", "helmholtz", "elasticity"):
            run = bm.Run(lampinn.get_family(family), mode, tmp_path / mode)
            assert run.sizes == settings.sizes(family, mode) == {**settings.SIZES[mode], **settings.FAMILY_SIZES.get(mode, {}).get(family, {})}
    assert bm.Run(lampinn.get_family("elasticity"), "full", tmp_path / "full").sizes["n_interior"] == 500
    assert bm.Run(lampinn.get_family("burgers"), "full", tmp_path / "full").sizes == settings.SIZES["full"]
    # a change to the table is what a run uses: protocol, LAM-PINN's stages and the meta-learners' iterations
    monkeypatch.setitem(settings.SIZES, "ci", {**settings.SIZES["ci"], "budget": 70, "stage1": 3, "maml": 4, "reptile": 2})
    monkeypatch.setitem(settings.FAMILY_SIZES, "ci", {"helmholtz": {"n_interior": 90}})
    run = bm.Run(lampinn.get_family("helmholtz"), "ci", tmp_path / "changed")
    assert run.sizes["budget"] == 70 and run.sizes["n_interior"] == 90
    p = run.protocol(0)
    assert (p.budget, p.n_interior, p.n_boundary, p.adapt_budget) == (70, 90, settings.SIZES["ci"]["n_boundary"], 7)
    lam = run.config(get_method("ablation_k1"), 2)  # Helmholtz's choice, no stage 1 or 2, wins over the table's
    assert isinstance(lam, LAMPINNConfig) and (lam.budget, lam.n_interior, lam.stage1_iters, lam.seed) == (70, 90, 0, 2)
    elastic = bm.Run(lampinn.get_family("elasticity"), "ci", tmp_path / "changed")
    assert elastic.config(get_method("lampinn"), 0).stage1_iters == 3
    assert lam.n_clusters is None  # the ablation's change is the method's to apply, not the run's configuration's
    assert run.config(get_method("maml"), 0).meta_iters == 4 and run.config(get_method("fomaml"), 0).meta_iters == 4
    assert run.config(get_method("reptile"), 0) == MetaConfig(meta_iters=2, meta_batch=5, inner_steps=20, inner_lr=1e-3, outer_lr=0.5)
    assert run.config(get_method("transfer"), 0) is None and run.config(get_method("scratch_full"), 0) is None
    with pytest.raises(ValueError, match="mode 'huge' is not one of ci, default, full"):
        bm.Run(lampinn.get_family("burgers"), "huge", tmp_path / "huge")


def test_the_weight_sweep_widens_while_its_best_is_at_an_edge():
    """One decade further while the best is the smallest or largest factor tried, never past the range."""
    calls = []

    def bowl(at):  # a score with its minimum at ``at``, recording each factor tried
        return lambda w: calls.append(w) or abs(math.log10(w) - math.log10(at))

    assert list(bm.widen(bowl(1.0))) == ["0.1", "1.0", "10.0"] and calls == [0.1, 1.0, 10.0]
    calls.clear()
    assert list(bm.widen(bowl(1e-2))) == ["0.001", "0.01", "0.1", "1.0", "10.0"] and calls[3:] == [0.01, 0.001]
    assert list(bm.widen(bowl(1e6))) == ["0.1", "1.0", "10.0", "100.0", "1000.0"]  # stops at the range's limit
    assert list(bm.widen(bowl(1e6), limits=(0.1, 10.0))) == ["0.1", "1.0", "10.0"]
    scores = bm.widen(bowl(100.0))
    assert min(scores, key=scores.get) == "100.0" and scores["1000.0"] > scores["100.0"]


def test_tuned_choices_reach_the_methods(tmp_path):
    """What the tuning chooses is what each method trains with: rates in the protocol, factors in the weights."""
    fam = lampinn.get_family("helmholtz")
    run = bm.Run(fam, "ci", tmp_path)
    assert run.weighted("scratch_full") is fam and run.protocol(0, "maml").lr == run.protocol(0).lr  # before tuning
    run.done["_tuning"] = {"lr": {"scratch_full": 3e-4, "scratch_adapt": 1e-2, "finetune": 3e-3, "lampinn": 1e-2},
                           "weight": {"scratch_full": 10.0, "scratch_adapt": 1.0, "finetune": 0.1, "lampinn": 10.0}}
    assert run.protocol(0, "scratch_adapt").lr == 1e-2 and run.protocol(0, "lampinn").lr == run.protocol(0).lr
    assert (run.protocol(0, "scratch_full").lr, run.protocol(0, "scratch_full").adapt_lr) == (3e-4, 3e-4)
    assert (run.protocol(0, "transfer").lr, run.protocol(0, "reptile").adapt_lr) == (3e-4, 3e-3)
    assert run.protocol(0, "ablation_k1").adapt_lr == 1e-2 and run.protocol(0, "fomaml").adapt_lr == 3e-3
    assert run.weighted("finetune").loss_weights == {"residual": 1.0, "boundary": 1.0}
    assert run.weighted(None) is fam
    lam = lampinn.LAMPINN(run.config(get_method("lampinn"), 0))
    lam.family = fam
    tuned = with_tuning(lam, run.tuning)
    assert tuned.config.adapt_lr == 1e-2 and tuned.family.loss_weights["boundary"] == 100.0 and lam.config.adapt_lr == 2e-3
    assert with_tuning(lam, {}) is lam


def test_full_method_list_on_burgers(tmp_path, small):
    result = bm.benchmark("burgers", "ci", tmp_path, progress=False)
    check_schema(result, "burgers", bm.DEFAULT_METHODS)
    assert result["sizes"] == small
    on_disk = json.loads((tmp_path / "burgers.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert (tmp_path / "burgers.md").read_text().startswith("| method |") and (tmp_path / "burgers.png").exists()
    assert (tmp_path / "burgers.models" / "lampinn-seed0.pt").stat().st_size < 1_000_000
    check_tuning(result["tuning"], "burgers")
    # the ablations share LAM-PINN's affinity sessions; fixed routing shares its network too (no file, no meta time)
    models = tmp_path / "burgers.models"
    lam, k1 = (lampinn.LAMPINN.load(models / f"{m}-seed0.pt") for m in ("lampinn", "ablation_k1"))
    assert np.array_equal(lam.sessions.curves, k1.sessions.curves) and k1.clustering.k == 1
    assert not (models / "ablation_fixed_routing-seed0.pt").exists() and m_meta(result, "ablation_fixed_routing") == 0
    assert all(m_meta(result, m) > 0 for m in bm.DEFAULT_METHODS
               if not m.startswith("scratch") and m not in ("ablation_fixed_routing", "zero"))
    # the committed model, loaded back, adapts as the run did: it reproduces the run's error
    lam = load_model("burgers", tmp_path)
    assert lam.config.adapt_lr == result["tuning"]["lr"]["lampinn"]
    assert lam.config.adapt_gate_lr == result["tuning"]["gate_lr"]["lampinn"]
    # LAM-PINN starts where transfer starts: its warm start and sessions at scratch at B's rate and weights
    assert lam.config.lr == result["tuning"]["lr"]["scratch_full"]
    assert lam.config.warm_weight_factor == result["tuning"]["weight"]["scratch_full"]
    # without stages 1 and 2, the no-meta ablation is LAM-PINN's warm-started network, the same sessions and clusters
    no_meta = lampinn.LAMPINN.load(models / "ablation_no_meta-seed0.pt")
    assert no_meta.config.stage1_iters == no_meta.config.stage2_iters == 0 and no_meta.rounds == lam.rounds
    assert np.array_equal(no_meta.sessions.curves, lam.sessions.curves)
    theta = lam.family.unseen_tasks()[3]
    again = lampinn.evaluate(lam.adapt(theta).model, lam.family, theta)["mse"]
    assert again == pytest.approx(result["methods"]["lampinn"]["per_task_mse"][3], rel=1e-5)

    # the generated tables: the headline row is this run's numbers, and marked blocks are rewritten in place
    m = result["methods"]
    row = next(line for line in headline(tmp_path).splitlines() if line.startswith("| burgers |"))
    assert row.split(" | ")[1:3] == [f"{m['lampinn']['mean_mse']:.3g}", f"{m['scratch_full']['mean_mse']:.3g}"]
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- headline:start -->\nstale\n<!-- headline:end -->\nend\n")
    assert update_blocks(page, tmp_path) and not update_blocks(page, tmp_path)
    assert page.read_text() == f"intro\n<!-- headline:start -->\n{headline(tmp_path)}<!-- headline:end -->\nend\n"
    assert main(["headline", "--results", str(tmp_path), "--update", str(page)]) == 0


@pytest.mark.parametrize("family", ["helmholtz", "elasticity"])
def test_other_families_write_valid_results(tmp_path, small, family):
    methods = ["scratch_adapt", "reptile", "lampinn"]
    result = bm.benchmark(family, "ci", tmp_path, methods=methods, progress=False)
    check_schema(result, family, methods)
    assert result["sizes"] == {**small, **SMALL_FAMILY.get(family, {})}  # a family's own sizes reach its run
    lam = load_model(family, tmp_path)
    assert lam.config.n_interior == result["sizes"]["n_interior"] and len(lam.points["interior"]) == result["sizes"]["n_interior"]


def test_resume_skips_finished_tasks(tmp_path, small, monkeypatch):
    bm.benchmark("helmholtz", "ci", tmp_path, methods=["scratch_adapt", "transfer"], progress=False)
    state = json.loads((tmp_path / "helmholtz.partial.json").read_text())
    assert state["_mode"] == "ci" and set(state["_tuning"]["lr"]) == {"scratch_full", "scratch_adapt", "finetune"}
    assert sum(k.startswith("transfer/0/") for k in state) == 21  # 20 tasks and the meta-training time
    # drop three finished tasks, as if the run had been interrupted: only those run again
    for key in ("transfer/0/ood/7", "transfer/0/ood/8", "transfer/0/ood/9"):
        del state[key]
    (tmp_path / "helmholtz.partial.json").write_text(json.dumps(state))
    jobs = []
    original = bm.Run.do
    monkeypatch.setattr(bm.Run, "do", lambda self, job: jobs.append(job) or original(self, job))
    bm.benchmark("helmholtz", "ci", tmp_path, methods=["scratch_adapt", "transfer"], progress=False)
    # the tuning is kept, the transfer network is read back from its file (no preparation), and three tasks run
    assert jobs == [("task", "transfer", 0, "ood", i) for i in (7, 8, 9)]


def test_a_run_in_one_mode_is_not_resumed_in_another(tmp_path):
    row = {"mse": 1.0, "rel_l2": 0.5, "seconds": 2.0}
    (tmp_path / "burgers.partial.json").write_text(json.dumps({"_mode": "ci", "scratch_adapt/0/unseen/0": row}))
    assert bm.Run(lampinn.get_family("burgers"), "ci", tmp_path).done["scratch_adapt/0/unseen/0"] == row
    with pytest.raises(ValueError, match="holds a 'ci' run; expected 'default' \\(use another --out\\)"):
        bm.Run(lampinn.get_family("burgers"), "default", tmp_path)
    with pytest.raises(ValueError, match="--seeds must be >= 1, got 0"):
        bm.Run(lampinn.get_family("burgers"), "ci", tmp_path, seeds=0)


def test_tuning_waits_for_the_network_it_adapts_from(tmp_path):
    """LAM-PINN's setting is tuned from its seed-0 network, fine-tuning's from transfer's; both networks wait for
    scratch at B's rate and weights (LAM-PINN starts where transfer starts); scratch's settings start at once, each at
    the four rates first."""
    run = bm.Run(lampinn.get_family("burgers"), "ci", tmp_path)
    run.done["_tuning"] = {"lr": {}, "weight": {}, "mse": {}, "weight_mse": {}, "seconds": {}, "weight_range": [1e-3, 1e3],
                           "tasks": [[0.1, 1.0, 0.0]]}
    assert run.trials("lampinn") == [] and run.trials("finetune") == []  # both need scratch_full's choices first
    assert run.trials("scratch_full") == [("trial", "scratch_full", lr, 1.0) for lr in bm.TUNING_LRS]
    assert run.settings_needed(["lampinn"]) == ["scratch_full", "lampinn"]
    run.done["_tuning"]["weight"]["scratch_full"] = 1.0
    assert run.trials("finetune") == [("prepare", "transfer", 0)]
    assert run.trials("lampinn") == [("prepare", "lampinn", 0)]
    jobs = run.jobs(["zero", "lampinn", "ablation_k1"])
    assert jobs[:2] == [("trial", "scratch_adapt", 3e-4, 1.0), ("trial", "scratch_adapt", 1e-3, 1.0)]
    assert ("calibrate",) in jobs and ("prepare", "lampinn", 0) in jobs and ("prepare", "ablation_k1", 0) not in jobs
    assert ("task", "zero", 0, "unseen", 0) in jobs and not any(j[:2] == ("task", "lampinn") for j in jobs)


def test_the_tuning_as_jobs_makes_the_sweep_of_widen(tmp_path):
    """Recording trials as they arrive, in any order, chooses what the sequential sweep chooses."""
    run = bm.Run(lampinn.get_family("burgers"), "ci", tmp_path)
    run.done["_tuning"] = {"lr": {}, "weight": {}, "mse": {}, "weight_mse": {}, "seconds": {}, "weight_range": [1e-3, 1e3],
                           "tasks": [[0.1, 1.0, 0.0]]}
    score = {3e-4: 0.5, 1e-3: 0.41, 3e-3: None, 1e-2: 0.45}  # None: diverged; 0.41 = mse(1e-3, 1.0)

    def mse(lr, factor):
        return score[lr] if factor == 1.0 else 0.2 * abs(math.log10(factor) - 2) + 0.01

    for _ in range(10):
        jobs = run.trials("scratch_adapt")
        for job in reversed(jobs):  # any order
            run.record(job, {"value": mse(*job[2:]), "seconds": 1.0, "cpu_seconds": 1.0}, ["scratch_adapt"], False)
    t = run.tuning
    assert t["lr"]["scratch_adapt"] == 1e-3 and t["weight"]["scratch_adapt"] == 100.0 and run.trials("scratch_adapt") == []
    assert list(t["mse"]["scratch_adapt"]) == [str(lr) for lr in bm.TUNING_LRS] and t["mse"]["scratch_adapt"]["0.003"] is None
    assert t["weight_mse"]["scratch_adapt"] == bm.widen(lambda w: mse(1e-3, w))
    assert list(t["weight_mse"]["scratch_adapt"]) == ["0.1", "1.0", "10.0", "100.0", "1000.0"]
    assert t["seconds"]["scratch_adapt"] == 4 + 4.0 and run.done["_cpu_seconds"] == 8.0


@pytest.mark.parametrize("finetune_wins", [False, True])
def test_lampinn_tuning_weighs_finetunings_choice_then_the_gates(tmp_path, finetune_wins):
    """After its rate and weight sweeps, LAM-PINN's setting waits for fine-tuning's choice, measures it against its own
    pair, keeps the better, then sweeps the gates' rate at it; only then is it tuned."""
    run = bm.Run(lampinn.get_family("burgers"), "ci", tmp_path)
    (tmp_path / "burgers.models" / "lampinn-seed0.pt").write_bytes(b"")  # the network exists: the trials may start
    run.done["_tuning"] = {"lr": {"finetune": 1e-2}, "weight": {"scratch_full": 1.0}, "mse": {}, "weight_mse": {},
                           "seconds": {}, "weight_range": [1e-3, 1e3], "tasks": [[0.1, 1.0, 0.0]]}
    gate_score = {0.03: 0.3, 0.1: 0.2, 0.3: None, 1.0: 0.25}

    def mse(lr, factor, gate=None):
        if gate == 0.3 and (lr, factor) == (1e-2, 10.0):  # fine-tuning's pair at the published gates' rate
            return 0.05 if finetune_wins else 0.9
        if gate not in (None, 0.3):
            return gate_score[gate] * (0.1 if finetune_wins else 1.0)
        return 0.4 + abs(math.log10(lr) + 3) + abs(math.log10(factor))  # best: rate 1e-3, factor 1

    for _ in range(12):
        for job in run.trials("lampinn"):
            run.record(job, {"value": mse(*job[2:]), "seconds": 1.0, "cpu_seconds": 1.0}, ["lampinn", "transfer"], False)
        if run.trials("lampinn") == [] and not run.tuned("lampinn"):  # waiting for fine-tuning's choice
            assert "pair" in run.tuning and "finetune" not in run.tuning["weight"]
            run.tuning["weight"]["finetune"] = 10.0
    t = run.tuning
    pair = t["pair"]["lampinn"]
    assert pair["sweep"] == {"lr": 1e-3, "weight": 1.0, "mse": 0.4}
    assert pair["finetune"] == {"lr": 1e-2, "weight": 10.0, "mse": 0.05 if finetune_wins else 0.9}
    assert pair["chosen"] == ("finetune" if finetune_wins else "sweep")
    assert list(t["gate_mse"]["lampinn"]) == [str(g) for g in bm.TUNING_GATE_LRS]
    assert t["gate_mse"]["lampinn"]["0.3"] == pair[pair["chosen"]]["mse"]
    if finetune_wins:
        assert (t["lr"]["lampinn"], t["weight"]["lampinn"], t["gate_lr"]["lampinn"]) == (1e-2, 10.0, 0.1)
    else:
        assert (t["lr"]["lampinn"], t["weight"]["lampinn"], t["gate_lr"]["lampinn"]) == (1e-3, 1.0, 0.1)
    protocol = run.protocol(0, "lampinn")
    assert protocol.adapt_gate_lr == 0.1 and protocol.adapt_lr == t["lr"]["lampinn"]
    assert run.tuned("lampinn") and run.trials("lampinn") == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["benchmark", "burgers", "--mode", "huge", "--out", "x"], "invalid choice: 'huge'"),
        (["benchmark", "burgers", "--mode", "ci", "--out", "x", "--seeds", "0"], "'0' is not a positive whole number"),
        (["benchmark", "burgers", "--mode", "ci", "--out", "x", "--methods", "magic"], "invalid choice: 'magic'"),
        (["benchmark", "burgers", "--mode", "ci", "--out", "x", "--methods", "transfer_central"], "invalid choice: 'transfer_central'"),
        (["benchmark", "burgers", "--mode", "ci", "--out", "x", "--device", "tpu"], "--device 'tpu' is not one of cpu, cuda"),
        (["benchmark", "poisson", "--mode", "ci", "--out", "x"], "invalid choice: 'poisson'"),
        (["headline", "--results", "nowhere"], "nowhere: no result files"),
        (["headline", "--update", "missing.md"], "--update 'missing.md' does not exist"),
    ],
)
def test_bad_benchmark_arguments_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_calibration_counts_the_tasks_below_the_threshold(monkeypatch):
    fam = lampinn.get_family("burgers")
    monkeypatch.setattr(Scratch, "adapt", lambda self, prepared, family, thetas, protocol: SimpleNamespace(
        rel_l2=np.linspace(0.05, 0.5, len(thetas))))
    c = bm.calibration(fam, Protocol(budget=10))
    assert c["tasks"] == fam.train_tasks()[list(bm.CALIBRATION_TASKS)].tolist() and len(c["rel_l2"]) == 10
    assert c["solved"] == 5 and not c["passed"] and c["rule"] == {"rel_l2": 0.3, "count": 8}
    assert set(bm.CALIBRATION_TASKS) == {*bm.TUNING_TASKS, 13, *VALIDATION_TASKS}


def test_ablations_run_at_most_ablation_seeds(tmp_path, small):
    """With --seeds 2 --ablation-seeds 1 every method runs both seeds except an ablation, which runs one and says so;
    by default an ablation runs as many seeds as the run (up to ABLATION_SEEDS, 3)."""
    assert bm.ABLATION_SEEDS == 3
    result = bm.benchmark("burgers", "ci", tmp_path, seeds=2, methods=["scratch_adapt", "ablation_fixed_routing"],
                          progress=False, ablation_seeds=1)
    state = json.loads((tmp_path / "burgers.partial.json").read_text())
    assert sum(k.startswith("scratch_adapt/1/") for k in state) == 20
    assert sum(k.startswith("ablation_fixed_routing/") for k in state) == 20  # seed 0 only
    scratch, ablation = result["methods"]["scratch_adapt"], result["methods"]["ablation_fixed_routing"]
    assert (scratch["seeds"], ablation["seeds"], result["provenance"]["seeds"]) == (2, 1, 2)
    per_seed = [np.mean([state[f"scratch_adapt/{s}/unseen/{i}"]["mse"] for i in range(10)]) for s in (0, 1)]
    assert scratch["std_over_seeds"] == pytest.approx(np.std(per_seed)) and scratch["std_over_seeds"] > 0
    assert ablation["std_over_seeds"] == 0.0
    assert scratch["per_seed_mse"] == [[state[f"scratch_adapt/{s}/unseen/{i}"]["mse"] for i in range(10)] for s in (0, 1)]
    assert len(ablation["per_seed_mse"]) == 1 and result["ood"]["scratch_adapt"]["per_seed_mse"][1][0] == state[
        "scratch_adapt/1/ood/0"]["mse"]
    assert np.allclose(scratch["per_task_mse"], np.mean(scratch["per_seed_mse"], axis=0))
    table = (tmp_path / "burgers.md").read_text()
    assert "| ablation_fixed_routing (1 seed) |" in table and "| scratch_adapt |" in table
    assert f"| scratch_adapt | {scratch['mean_mse']:.3e} ± {scratch['std_over_seeds']:.1g} |" in table
    with pytest.raises(ValueError, match="--ablation-seeds must be >= 1, got 0"):
        bm.Run(lampinn.get_family("burgers"), "ci", tmp_path, seeds=2, ablation_seeds=0)
    assert bm.Run(lampinn.get_family("burgers"), "ci", tmp_path, seeds=2, ablation_seeds=3).method_seeds("ablation_k1") == 2
    assert parser().parse_args(["benchmark", "burgers", "--mode", "ci", "--out", "x"]).ablation_seeds == 3
    assert bm.Run(lampinn.get_family("burgers"), "ci", tmp_path, seeds=3).method_seeds("ablation_no_meta") == 3


def test_resume_refuses_a_network_meta_trained_with_other_settings(tmp_path, small, monkeypatch):
    """A resumed run reuses a saved LAM-PINN only if it was meta-trained with the settings the run would use now."""
    from lampinn import methods

    def drop_a_task():
        state = json.loads((tmp_path / "burgers.partial.json").read_text())
        del state["lampinn/0/ood/9"]
        (tmp_path / "burgers.partial.json").write_text(json.dumps(state))

    monkeypatch.setitem(methods.META_VALIDATED, "burgers", {"stage1_step": 1.0})
    bm.benchmark("burgers", "ci", tmp_path, methods=["lampinn"], progress=False)
    drop_a_task()
    bm.benchmark("burgers", "ci", tmp_path, methods=["lampinn"], progress=False)  # same settings: resumed
    drop_a_task()
    monkeypatch.setitem(methods.META_VALIDATED, "burgers", {"stage1_step": 0.5})
    with pytest.raises(ValueError, match=r"lampinn-seed0.pt was meta-trained with stage1_step 1.0 \(now 0.5\); delete"):
        bm.benchmark("burgers", "ci", tmp_path, methods=["lampinn"], progress=False)


def test_paper_mode_records_final_and_best_untuned_and_tuned(tmp_path, monkeypatch):
    """The paper's protocol: LAM-PINN as released and every baseline untuned (the released rate, the family's
    weights) beside the tuned ones, each task evaluated every eval_every iterations, the unseen tasks only."""
    paper = {**SMALL, "budget": 40, "eval_every": 2, "ood": 0, "calibrate": 0}
    monkeypatch.setitem(settings.SIZES, "paper", paper)
    monkeypatch.setitem(settings.FAMILY_SIZES, "paper", {})
    for key, value in {"stage1_iters": 3, "stage2_iters": 2}.items():  # the released 200 / 100 are too long here
        monkeypatch.setitem(METHODS["lampinn_released"].changes, key, value)
    methods = ["transfer_untuned", "lampinn_released", "transfer", "scratch_adapt"]
    result = bm.benchmark("burgers", "paper", tmp_path, methods=methods, progress=False)
    assert result["mode"] == "paper" and result["ood"] == {} and "calibration" not in result
    assert set(result["tuning"]["weight"]) == {"scratch_full", "scratch_adapt", "finetune"}  # no LAM-PINN tuning
    lampinn.results.check_result(result, "paper", "burgers")
    for name, m in result["methods"].items():
        curves, best = m["per_seed_curves"][0], m["per_seed_best_mse"][0]
        assert len(curves) == 10 and all(len(c) == 40 // 10 // 2 + 1 for c in curves), name  # iterations 0, 2, 4
        assert [c[-1] for c in curves] == pytest.approx(m["per_task_mse"], rel=1e-6), name  # the last is the final
        assert best == [min(c) for c in curves] and m["mean_best_mse"] <= m["mean_mse"]
        assert all(c[i // 2] == b for c, b, i in zip(curves, best, m["per_seed_best_iteration"][0]))
    # untuned: the released rate and the family's weights, whatever the tuning chose for the tuned ones
    lam = lampinn.LAMPINN.load(tmp_path / "burgers.models" / "lampinn_released-seed0.pt")
    assert lam.config.lr == lampinn.methods.UNTUNED_LR and lam.config.plateau and lam.config.n_clusters == 3
    assert lam.config.meta_weight_factor == 1.0 and not lam.config.output_scale and lam.config.warm_weight_factor == 1
    assert (tmp_path / "burgers.md").exists() and (tmp_path / "burgers.png").exists()

    # the points check adapts the run's networks on training tasks at other point counts, as the run adapts them
    spec = importlib.util.spec_from_file_location("paper_points", Path(__file__).parents[1] / "scripts" / "paper_points.py")
    points = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(points)
    out = tmp_path / "points.json"
    assert points.main(["--results", str(tmp_path), "--family", "burgers", "--n-interior", "50", "200", "--tasks", "0",
                        "4", "--workers", "1", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert set(record["methods"]) == {"lampinn_released", "transfer_untuned", "transfer"}
    for n in ("50", "200"):
        finals = {m: np.mean(v[n]["final"]) for m, v in record["methods"].items()}
        assert record["ranking"][n] == sorted(finals, key=finals.get)
        assert all(b <= f for v in record["methods"].values() for b, f in zip(v[n]["best"], v[n]["final"]))
    assert points.main(["--results", str(tmp_path / "nowhere")]) == 2
