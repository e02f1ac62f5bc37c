"""The committed results in results/: made by the command, complete, and consistent with the book.

Each family's ``FAMILY.json`` comes from ``lampinn benchmark FAMILY --mode full --out results``.
Its meta-trained LAM-PINN checkpoint must load (without unpickling code) and give, before any
adaptation and with each training task's stage-1 gates (its own cluster open, the others at
``closed_gate``), finite errors on all 27 training tasks whose mean relative L2 error is the
documented one of :data:`TRAINING_REL_L2` (within 5%). Those numbers are not small: the meta-trained
network is a starting point for adaptation, not a solution of its training tasks.
The README, the book's introduction and the reproducibility appendix carry tables generated from
these files, never typed by hand.
"""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import lampinn
from lampinn import settings
from lampinn.benchmark import CALIBRATION_RULE, DEFAULT_METHODS, Run
from lampinn.book import seed_zero
from lampinn.files import read_json
from lampinn.methods import PAPER_METHODS, get_method
from lampinn.report import update_blocks
from lampinn.results import FAMILY_ORDER, baseline_as_run, committed, load, load_model, results_dir, with_tuning

from lampinn.provenance import shown_command
from test_benchmark import check_schema, check_tuning

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
FAMILIES = ("burgers", "helmholtz", "elasticity")
# the meta-trained network's mean relative L2 error over its 27 training tasks (LAMPINN.training_errors), measured once
TRAINING_REL_L2 = {"burgers": 0.68, "helmholtz": 1.03, "elasticity": 0.224}


@pytest.mark.parametrize("family", FAMILIES)
def test_committed_result_is_a_full_run_of_every_method(family):
    """Every committed run is under the fair protocol (LAM-PINN from transfer's start, its gates' rate tuned): every
    method and every ablation, ablation_no_meta included, at three seeds, with its CPU seconds."""
    result = load(family, RESULTS)
    assert "gate_lr" in result["tuning"]
    check_schema(result, family, list(DEFAULT_METHODS), mode="full")
    assert result["calibration"]["rule"] == CALIBRATION_RULE and len(result["calibration"]["rel_l2"]) == 10
    assert shown_command(result["provenance"]["command"]).startswith(f"lampinn benchmark {family} --mode full")
    check_tuning(result["tuning"], family)
    assert result["provenance"]["seeds"] == 3
    assert result["provenance"]["cpu_seconds"] > 0
    for split in ("methods", "ood"):  # every method ran three seeds, the ablations too
        for name, m in result[split].items():
            per_seed = np.array(m["per_seed_mse"], dtype=float)
            assert len(per_seed) == 3, (family, split, name)
            assert np.allclose(m["per_task_mse"], per_seed.mean(axis=0))
            assert m["std_over_seeds"] == pytest.approx(per_seed.mean(axis=1).std(), abs=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_committed_checkpoint_loads_and_fits_its_training_tasks(family):
    """Seed 0's network is the one the chapters adapt; any other seed kept (chapter 10 measures each seed's) loads too."""
    kept = sorted((RESULTS / f"{family}.models").glob("lampinn-seed*.pt"))
    assert kept[0].name == "lampinn-seed0.pt"
    for path in kept:
        assert path.stat().st_size < 1_000_000
        lam = load_model(family, RESULTS, device="cpu", seed=int(path.stem.removeprefix("lampinn-seed")))
        fam = lam.family
        assert fam.name == family and np.allclose(lam.tasks, fam.train_tasks())
        rel = lam.training_errors()
        assert np.all(np.isfinite(rel)), path
        if path == kept[0]:
            assert np.mean(rel) == pytest.approx(TRAINING_REL_L2[family], rel=0.05), np.round(rel, 3)


@pytest.mark.parametrize("family", FAMILIES)
def test_committed_networks_are_meta_trained_as_the_benchmark_now_would(family, tmp_path):
    """Every kept LAM-PINN network has the configuration a run of today's code gives its seed under the run's tuning
    (chapter 8's chosen meta-training; from transfer's start): a committed result made with other settings fails here
    until it is rerun."""
    run = Run(lampinn.get_family(family), "full", tmp_path)
    tuning = load(family, RESULTS)["tuning"]
    run.done["_tuning"] = tuning
    for path in sorted((RESULTS / f"{family}.models").glob("lampinn-seed*.pt")):
        have = lampinn.LAMPINN.load(path, "cpu").config
        wanted = run.config(get_method("lampinn"), int(path.stem.removeprefix("lampinn-seed")))
        assert have == replace(wanted, device=have.device), path.name
        assert (have.lr, have.warm_weight_factor) == (tuning["lr"]["scratch_full"], tuning["weight"]["scratch_full"])


@pytest.mark.parametrize("family", FAMILIES)
def test_readapting_the_committed_model_reproduces_its_best_and_worst_tasks(family):
    """Chapters 9-11 adapt the committed model again to LAM-PINN's best and worst unseen tasks and print the error
    beside the committed one; at the book's one CPU thread they agree (within a factor 2, as chapter 9 says: a
    hundred steps on a hard task can amplify rounding differences between machines)."""
    settings.set_threads(1)
    result, lam = load(family, RESULTS), load_model(family, RESULTS, device="cpu")
    mean, per_task = np.array(result["methods"]["lampinn"]["per_task_mse"]), seed_zero(result)  # the model is seed 0's
    for i in (int(mean.argmin()), int(mean.argmax())):
        theta = lam.family.unseen_tasks()[i]
        mse = lampinn.evaluate(lam.adapt(theta).model, lam.family, theta)["mse"]
        assert abs(np.log(mse / per_task[i])) < np.log(2), f"{family} task {i}: MSE {mse:.3e} now, {per_task[i]:.3e} committed"


@pytest.mark.parametrize("path", ["README.md", "book/intro.md", "book/reproducibility.md"])
def test_generated_tables_match_the_results(path, tmp_path):
    copy = tmp_path / Path(path).name
    copy.write_text((ROOT / path).read_text())
    assert "<!-- headline:start -->" in copy.read_text() or "<!-- provenance:start -->" in copy.read_text()
    assert not update_blocks(copy, RESULTS), f"{path} is out of date: run `lampinn headline --update {path}`"


def test_committed_model_adapts_with_its_runs_tuning():
    tuning = load("burgers", RESULTS)["tuning"]
    lam = load_model("burgers", RESULTS, device="cpu")
    assert lam.config.adapt_lr == tuning["lr"]["lampinn"]
    factor = tuning["weight"]["lampinn"]
    base = lampinn.get_family("burgers")
    assert lam.family.loss_weights == {k: w if k == "residual" else w * factor for k, w in base.loss_weights.items()}
    plain = lampinn.LAMPINN.load(RESULTS / "burgers.models" / "lampinn-seed0.pt", "cpu")
    assert with_tuning(plain, {}) is plain and with_tuning(plain, tuning).config == lam.config


def test_a_baseline_trained_as_the_run_trained_it(tmp_path):
    """baseline_as_run gives what the run's own pretraining and adaptation give a task, with its tuned settings."""
    run = Run(lampinn.get_family("burgers"), "ci", tmp_path)
    run.done["_tuning"] = {"lr": {"scratch_full": 3e-3, "scratch_adapt": 1e-2, "finetune": 1e-3, "lampinn": 1e-3},
                           "weight": {"scratch_full": 10.0, "scratch_adapt": 1.0, "finetune": 0.1, "lampinn": 1.0}}
    theta = run.family.train_tasks()[4]
    expected = run.task("transfer", run.prepare("transfer", 0), theta, 0)["mse"]
    result = {"family": "burgers", "sizes": run.sizes, "tuning": run.tuning}
    assert baseline_as_run(result, "transfer", theta)[0] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="'maml' has no tuned baseline setting"):
        baseline_as_run(result, "maml", theta)


def test_results_folder_lookup_and_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv("LAMPINN_RESULTS", raising=False)
    assert results_dir(tmp_path) == tmp_path
    monkeypatch.setenv("LAMPINN_RESULTS", str(tmp_path))
    assert results_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="helmholtz.json does not exist; make it with: lampinn benchmark helmholtz"):
        load("helmholtz")
    with pytest.raises(FileNotFoundError, match="no result files"):
        committed()
    settings.set_results(RESULTS)  # the setter wins over the environment
    assert results_dir() == RESULTS and [r["family"] for r in committed()] == list(FAMILY_ORDER)
    # with neither: the first results/ holding a result file, from the working directory up
    settings.set_results(None)
    monkeypatch.delenv("LAMPINN_RESULTS")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "burgers.json").write_text("{}")
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert results_dir() == tmp_path / "results"
    (tmp_path / "results" / "burgers.json").unlink()  # an empty results/ is passed over: the one beside the package
    assert results_dir() == RESULTS


@pytest.mark.parametrize("family", FAMILIES)
def test_each_familys_meta_training_is_the_one_meta_validation_chose(family):
    """methods.META_VALIDATED holds health.choose's pick from the committed tuned record (transfer's start, the tuned
    baseline, three seeds of every candidate). The first record stays for chapters 8 and 12: its "ours" row is its
    own pick (every stage-1 step tried; the same configuration, so the same numbers, not rerun)."""
    from lampinn import health
    from lampinn.methods import META_VALIDATED
    from lampinn.results import meta_validation, tuned_validation

    tuned = tuned_validation(family, RESULTS)
    chosen = health.choose(tuned, tuple(health.TUNED_CANDIDATES))
    assert META_VALIDATED[family] == tuned[chosen]["changes"] and tuned[chosen]["seeds"] == 3
    assert tuned[health.BASELINE]["seeds"] == 3
    rows = meta_validation(family, RESULTS)
    assert {"full-step", "step-0.3", "step-0.1"} <= set(rows)
    first = health.choose(rows)
    assert rows["ours"]["same_as"] == first and rows["ours"]["mse"] == rows[first]["mse"]


PAPER = RESULTS / "paper"


def test_the_paper_protocol_run_keeps_final_and_best_of_every_method():
    """``lampinn benchmark elasticity --mode paper``: LAM-PINN as released and every baseline untuned and tuned (not
    LAM-PINN: the paper's protocol does not tune it), each task's curve every 10 iterations to the end of its budget."""
    result = load("elasticity", PAPER)
    assert result["mode"] == "paper" and result["sizes"] == settings.sizes("elasticity", "paper")
    assert list(result["methods"]) == list(PAPER_METHODS) and result["ood"] == {} and "calibration" not in result
    assert shown_command(result["provenance"]["command"]).startswith("lampinn benchmark elasticity --mode paper")
    check_tuning(result["tuning"], "elasticity", tuned=("scratch_full", "scratch_adapt", "finetune"))
    every = result["sizes"]["eval_every"]
    for name, m in result["methods"].items():
        iters = result["budget"]["full" if name.startswith("scratch_full") else "adapt"]
        assert all(len(c) == iters // every + 1 for c in m["per_seed_curves"][0]), name
        assert m["per_seed_mse"][0] == [c[-1] for c in m["per_seed_curves"][0]], name
    lam = lampinn.LAMPINN.load(PAPER / "elasticity.models" / "lampinn_released-seed0.pt", "cpu")
    assert lam.config.n_clusters == 3 and lam.config.plateau and not lam.config.output_scale
    # the walk's fifth row: LAM-PINN as released at the benchmark's sizes, one seed, nothing tuned, with the
    # baselines of the same run
    released = load("elasticity", PAPER / "benchmark_sizes")
    assert released["mode"] == "full" and set(released["methods"]) == {"lampinn_released", "transfer", "maml", "reptile"}
    assert released["sizes"] == load("elasticity", RESULTS)["sizes"] and released["provenance"]["seeds"] == 1


def test_the_released_network_and_points_checks_are_committed_with_their_commands():
    released = read_json(PAPER / "released_network.json")
    assert released["command"].startswith("python scripts/released_network.py --released")
    assert len(released["tasks"]) == 10 and released["settings"]["iters"] == 1000
    for task in released["tasks"]:
        assert task["best_mse"] <= min(task["final_mse"], task["mse_100"]) and task["diverged"] is None
    compared = [t for t in released["tasks"] if "released" in t]
    assert compared and all(t["released"]["loss_first"] == pytest.approx(t["loss_first"], rel=1e-4) for t in compared)
    points = read_json(PAPER / "elasticity.points.json")
    assert points["run"]["sizes"] == load("elasticity", PAPER)["sizes"] and len(points["n_interior"]) >= 2
    ours = read_json(PAPER / "released_network.ours_loss.json")
    assert ours["settings"]["loss"] == "ours" and "rollers" in ours["settings"]["loss_weights"]
    assert [t["theta"] for t in ours["tasks"]] == [t["theta"] for t in released["tasks"]]


DIVERSITY = RESULTS / "diversity"


@pytest.mark.parametrize("family", ["helmholtz"])
def test_the_diversity_map_is_made_from_its_committed_runs_by_its_command(family):
    """``lampinn diversity FAMILY``: every width of the knob, both designs, at least two seeds; the map is what
    :func:`lampinn.diversity.summarise` makes of the committed runs; each run's unseen tasks are the box's drawn ones."""
    from lampinn import diversity
    from lampinn.results import diversity_map

    result = diversity_map(family, RESULTS)
    fam = lampinn.get_family(family)
    assert result["widths"] == list(diversity.WIDTHS) and result["mode"] == "full"
    assert [(s["width"], s["tasks"]) for s in result["steps"]] == [(w, n) for w in diversity.WIDTHS for n in (27, 8)]
    assert result["provenance"]["seeds"] >= 2
    assert shown_command(result["provenance"]["command"]).startswith(f"lampinn diversity {family}")
    made = diversity.summarise(fam, DIVERSITY, tuple(result["widths"]))
    assert made["steps"] == result["steps"] and made["provenance"]["seconds"] == result["provenance"]["seconds"]
    for step in result["steps"]:
        run = load(step["name"], DIVERSITY)
        box = diversity.widened(fam, step["width"], 3 if step["tasks"] == 27 else 2)
        assert step["unseen"] == box.unseen_tasks().tolist() and step["name"] == box.name
        assert run["sizes"] == {**settings.sizes(family, "full"), "ood": 0} and run["ood"] == {}
        expected = diversity.METHODS if step["tasks"] == 27 else diversity.DESIGN_METHODS
        assert list(run["methods"]) == list(expected) and all(m["seeds"] >= 2 for m in run["methods"].values())
    for box, corners in zip(result["steps"][::2], result["steps"][1::2]):
        # the same source task, tuned on the same corners: transfer cannot tell the designs apart (at the seeds
        # both have: a box may have a third seed its corners do not)
        n = len(corners["mse"]["transfer"])
        assert corners["mse"]["transfer"] == box["mse"]["transfer"][:n]
        assert corners["mse"]["scratch_full"] == box["mse"]["scratch_full"][:n]


@pytest.mark.parametrize("path", ["README.md", "book/intro.md"])
def test_the_papers_ratios_quoted_in_the_headline_are_its_published_ones(path):
    """README and introduction quote the paper's ratio (a) per family: the best of its transfer and MAML over its
    LAM-PINN, from lampinn.results.PUBLISHED (the paper's table), to the digits they print."""
    from lampinn.results import PUBLISHED

    text = (ROOT / path).read_text()
    ratio = {f: min(p["transfer"], p["maml"]) / p["lampinn"] for f, p in PUBLISHED.items()}
    quoted = f"ratio (a) of {ratio['burgers']:.2g} on Burgers, {ratio['helmholtz']:.2g} on\nHelmholtz"
    assert " ".join(quoted.split()) in " ".join(text.split())
    assert f"{ratio['elasticity']:.3g} on elasticity (`lampinn.results.PUBLISHED`)" in " ".join(text.split())
