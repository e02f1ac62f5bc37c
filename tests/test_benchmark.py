import json

import numpy as np
import pytest

import lampinn
from lampinn import benchmark as bm
from lampinn.cli import main

KEYS = {"family", "mode", "budget", "sizes", "methods", "ood", "provenance"}
METHOD_KEYS = {"per_task_mse", "per_task_rel_l2", "mean_mse", "std_over_seeds", "seconds"}
PROVENANCE = {"version", "git_commit", "torch", "device", "date", "command", "seeds", "seconds"}


def check_schema(result, family, methods, mode="ci"):
    assert KEYS <= set(result) and result["family"] == family and result["mode"] == mode
    assert result["budget"] == {"full": bm.MODES[mode]["budget"], "adapt": bm.MODES[mode]["budget"] // 10}
    assert result["sizes"] == {**bm.MODES[mode], **(bm.FULL_OVERRIDES.get(family, {}) if mode == "full" else {})}
    for split in ("methods", "ood"):
        assert list(result[split]) == list(methods)
        for m in result[split].values():
            assert METHOD_KEYS <= set(m) and set(m["seconds"]) == {"meta", "adapt"}
            assert len(m["per_task_mse"]) == 10 and len(m["per_task_rel_l2"]) == 10
            assert np.all(np.isfinite(m["per_task_mse"])) and m["mean_mse"] == pytest.approx(np.mean(m["per_task_mse"]))
    assert PROVENANCE <= set(result["provenance"]) and result["provenance"]["version"] == lampinn.__version__


def test_full_method_list_on_burgers(tmp_path):
    result = bm.benchmark("burgers", "ci", tmp_path, progress=False)
    check_schema(result, "burgers", bm.METHODS)
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
    # the committed model, loaded back, adapts as the run did: it reproduces the run's error
    lam = bm.load_model("burgers", tmp_path)
    assert lam.config.adapt_lr == result["tuning"]["lr"]["lampinn"]
    theta = lam.family.unseen_tasks()[3]
    again = lampinn.evaluate(lam.adapt(theta).model, lam.family, theta)["mse"]
    assert again == pytest.approx(result["methods"]["lampinn"]["per_task_mse"][3], rel=1e-5)

    # the generated tables: the headline row is this run's numbers, and marked blocks are rewritten in place
    m = result["methods"]
    row = next(line for line in bm.headline(tmp_path).splitlines() if line.startswith("| burgers |"))
    assert row.split(" | ")[1:3] == [f"{m['lampinn']['mean_mse']:.3g}", f"{m['scratch_full']['mean_mse']:.3g}"]
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- headline:start -->\nstale\n<!-- headline:end -->\nend\n")
    assert bm.update_blocks(page, tmp_path) and not bm.update_blocks(page, tmp_path)
    assert page.read_text() == f"intro\n<!-- headline:start -->\n{bm.headline(tmp_path)}<!-- headline:end -->\nend\n"
    assert main(["headline", "--results", str(tmp_path), "--update", str(page)]) == 0


def m_meta(result, method):
    return result["methods"][method]["seconds"]["meta"]


def check_tuning(tuning, family):
    """Every setting has a rate and a weight factor, each the best of what was measured on the training tasks."""
    assert set(tuning["lr"]) == set(tuning["weight"]) == set(bm.SETTINGS)
    assert np.allclose(tuning["tasks"], lampinn.get_family(family).train_tasks()[list(bm.TUNING_TASKS)])
    for name in bm.SETTINGS:
        rates, factors = tuning["mse"][name], tuning["weight_mse"][name]
        assert list(rates) == [str(v) for v in bm.TUNING_LRS] and list(factors) == [str(v) for v in bm.TUNING_WEIGHTS]
        assert rates[str(tuning["lr"][name])] == min(rates.values())
        assert factors[str(tuning["weight"][name])] == min(factors.values())
        assert factors["1.0"] == rates[str(tuning["lr"][name])]  # the factor sweep runs at the chosen rate


def test_tuned_choices_reach_the_methods(tmp_path, monkeypatch):
    """What Run.tune chooses is what each method trains with: rates in the protocol, factors in the weights."""
    fam = lampinn.get_family("helmholtz")
    run = bm.Run(fam, "ci", tmp_path)
    assert run.weighted("scratch_full") is fam and run.protocol(0, "maml").lr == run.protocol(0).lr  # before tuning
    run.done["_tuning"] = {"lr": {"scratch_full": 3e-4, "scratch_adapt": 1e-2, "finetune": 3e-3, "lampinn": 1e-2},
                           "weight": {"scratch_full": 10.0, "scratch_adapt": 1.0, "finetune": 0.1, "lampinn": 10.0}}
    assert run.protocol(0, "scratch_adapt").lr == 1e-2 and run.protocol(0, "lampinn").lr == run.protocol(0).lr
    assert (run.protocol(0, "transfer").lr, run.protocol(0, "reptile").adapt_lr) == (3e-4, 3e-3)
    assert run.weighted("finetune").loss_weights == {"residual": 1.0, "boundary": 1.0}
    lam = lampinn.LAMPINN(run.lampinn_config(0))
    lam.family = fam
    tuned = bm.with_tuning(lam, run.tuning)
    assert tuned.config.adapt_lr == 1e-2 and tuned.family.loss_weights["boundary"] == 100.0 and lam.config.adapt_lr == 2e-3


def test_full_mode_sizes_fit_each_family(tmp_path):
    assert bm.Run(lampinn.get_family("elasticity"), "full", tmp_path).sizes["n_interior"] == 500
    assert bm.Run(lampinn.get_family("burgers"), "full", tmp_path).sizes == bm.MODES["full"]
    assert bm.Run(lampinn.get_family("elasticity"), "ci", tmp_path / "ci").sizes == bm.MODES["ci"]


@pytest.mark.parametrize("family", ["helmholtz", "elasticity"])
def test_other_families_write_valid_results(tmp_path, family):
    methods = ["scratch_adapt", "reptile", "lampinn"]
    check_schema(bm.benchmark(family, "ci", tmp_path, methods=methods, progress=False), family, methods)


def test_resume_skips_finished_tasks(tmp_path, monkeypatch):
    bm.benchmark("helmholtz", "ci", tmp_path, methods=["scratch_adapt", "transfer"], progress=False)
    state = json.loads((tmp_path / "helmholtz.partial.json").read_text())
    assert sum(k.startswith("transfer/0/") for k in state) == 21  # 20 tasks and the meta-training time
    # drop three finished tasks, as if the run had been interrupted: only those run again
    for key in ("transfer/0/ood/7", "transfer/0/ood/8", "transfer/0/ood/9"):
        del state[key]
    (tmp_path / "helmholtz.partial.json").write_text(json.dumps(state))
    calls = []
    original = bm.Run.task
    monkeypatch.setattr(bm.Run, "task", lambda self, *a: calls.append(a[0]) or original(self, *a))
    bm.benchmark("helmholtz", "ci", tmp_path, methods=["scratch_adapt", "transfer"], progress=False)
    assert calls == ["transfer"] * 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["benchmark", "burgers", "--mode", "huge", "--out", "x"], "invalid choice: 'huge'"),
        (["benchmark", "burgers", "--mode", "ci", "--out", "x", "--seeds", "0"], "'0' is not a positive whole number"),
        (["benchmark", "burgers", "--mode", "ci", "--out", "x", "--methods", "magic"], "invalid choice: 'magic'"),
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


def test_a_run_in_one_mode_is_not_resumed_in_another(tmp_path):
    bm.benchmark("burgers", "ci", tmp_path, methods=["scratch_adapt"], progress=False)
    with pytest.raises(ValueError, match="holds a 'ci' run; expected 'default'"):
        bm.Run(lampinn.get_family("burgers"), "default", tmp_path)


def test_results_folder_lookup_and_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv("LAMPINN_RESULTS", raising=False)
    assert bm.results_dir(tmp_path) == tmp_path
    monkeypatch.setenv("LAMPINN_RESULTS", str(tmp_path))
    assert bm.results_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="helmholtz.json does not exist; make it with: lampinn benchmark helmholtz"):
        bm.load("helmholtz")
    with pytest.raises(FileNotFoundError, match="no result files"):
        bm.headline()
