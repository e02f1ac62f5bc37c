"""The closed-form methods around lampinn.solve (chapter 13): the registry's solve_* methods, a basis file's round
trip, the benchmark's solve rows, resumption and --tuning-from, the README's solve table, and the basis-size curve.

Every run here is tiny (tens of random features, a few hundred collocation points, B = 20) so that the file runs in
well under a minute on one thread; the numbers it checks are the solves' own (one step for a linear family, a
basis no larger than what it was made from), never the digits of one run.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lampinn import cli, methods, settings, solve
from lampinn.benchmark import Run, benchmark
from lampinn.files import read_json
from lampinn.pde import get_family
from lampinn.protocol import Protocol
from lampinn.report import solve_table
from lampinn.solve import Features, SolveConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
PROTOCOL = Protocol(budget=20, n_interior=200, n_boundary=80)
CONFIG = SolveConfig(size=40, bandwidths=(1.0, 2.0), tuning_rows=(0, 26))
TINY = {**settings.SIZES["ci"], "budget": 20, "n_interior": 200, "n_boundary": 80}


@pytest.fixture(scope="module")
def helmholtz():
    return get_family("helmholtz")


@pytest.fixture
def small_solves(monkeypatch):
    """Every mode's closed-form configuration shrunk to 20 random features, two bandwidths, two tuning tasks."""
    monkeypatch.setitem(solve.FEATURES, "ci", 20)
    monkeypatch.setattr(SolveConfig, "for_mode", classmethod(
        lambda cls, mode: cls(size=solve.FEATURES[mode], bandwidths=(1.0, 2.0), tuning_rows=(0, 26))))


# ---- (1) the registry's closed-form methods ----------------------------------------------------------------------

def test_solve_random_solves_each_task_in_one_step(helmholtz):
    tasks = helmholtz.unseen_tasks()[:2]
    result = methods.run("solve_random", helmholtz, tasks, PROTOCOL, config=CONFIG)
    assert result.method == "solve_random" and len(result.metrics) == 2
    for m in result.metrics:
        assert {"mse", "rel_l2", "residual", "iterations", "converged", "rank", "condition"} <= set(m)
        assert m["iterations"] == 1 and m["converged"] == 1.0  # Helmholtz is linear: one Gauss-Newton step
        assert np.isfinite(m["mse"]) and m["mse"] >= 0 and m["residual"] >= 0
        assert 1 <= m["rank"] <= CONFIG.size and m["condition"] >= 1
    assert all(model.basis.size == CONFIG.size for model in result.models)
    assert result.iterations["adapt_iterations"] == 2 and result.seconds["meta_seconds"] > 0
    # the residual is the loss of the least-squares head on the protocol's points, well below the zero head's
    again = solve.solve(helmholtz, result.models[0].basis, tasks[0], n_interior=200, n_boundary=80)
    assert again.loss < 0.1 * again.loss0 and result.metrics[0]["residual"] == pytest.approx(again.loss, rel=1e-6)


def test_solve_learned_basis_is_no_larger_than_the_training_tasks(helmholtz):
    result = methods.run("solve_learned", helmholtz, helmholtz.unseen_tasks()[:1], PROTOCOL, config=CONFIG)
    basis = result.models[0].basis
    assert basis.project is not None
    assert 1 <= basis.size <= len(helmholtz.train_tasks()) * helmholtz.out_dim
    assert basis.size <= CONFIG.size  # compressed from the random basis it was solved in
    assert result.metrics[0]["iterations"] == 1 and np.isfinite(result.metrics[0]["mse"])


def test_solve_transfer_reads_transfers_network(helmholtz):
    method = methods.get_method("solve_transfer")
    assert isinstance(method, methods.ClosedForm) and method.network_source == "transfer"
    assert methods.get_method("solve_lampinn").network_source == "lampinn"
    assert methods.get_method("solve_random").network_source is None
    assert methods.get_method("solve_learned").network_source is None
    result = methods.run("solve_transfer", helmholtz, helmholtz.unseen_tasks()[:1], PROTOCOL, config=CONFIG)
    assert result.models[0].basis.size == PROTOCOL.width + 1  # the last hidden layer and a constant
    assert result.metrics[0]["iterations"] == 1 and np.isfinite(result.metrics[0]["mse"])


def test_solve_lampinn_reads_every_module_of_lampinns_network(helmholtz):
    result = methods.run("solve_lampinn", helmholtz, helmholtz.unseen_tasks()[:1], PROTOCOL, config=CONFIG)
    basis = result.models[0].basis
    assert len(basis.blocks) >= 2  # LAM-PINN's basis and at least one cluster subnetwork, side by side
    assert basis.size == sum(solve._width(b) for b in basis.blocks) + 1
    assert result.metrics[0]["iterations"] == 1 and np.isfinite(result.metrics[0]["mse"])


def test_an_unknown_basis_is_refused(helmholtz):
    with pytest.raises(ValueError, match="basis 'spline' is not one"):
        solve.make_basis("spline", helmholtz, CONFIG, 200, 80, 0)


# ---- (2) a basis file ---------------------------------------------------------------------------------------------

def test_a_basis_saved_and_loaded_gives_the_same_features(helmholtz, tmp_path):
    x = torch.rand(7, helmholtz.in_dim, dtype=torch.float64)
    plain = solve.random_features(helmholtz, 12, 2.0, seed=3)
    projected = Features(list(plain.blocks), plain.shift, plain.scale, torch.randn(12, 5, dtype=torch.float64))
    for basis in (plain, projected):
        path = tmp_path / "basis.pt"
        basis.save(path)
        back = Features.load(path)
        assert back.size == basis.size
        assert torch.equal(back(x), basis(x))


def test_a_corrupt_or_foreign_basis_file_is_refused_by_name(helmholtz, tmp_path):
    path = tmp_path / "basis.pt"
    solve.random_features(helmholtz, 12, 2.0).save(path)
    blob = torch.load(path, weights_only=True)
    blob["state"]["scale"] = blob["state"]["scale"] * 2  # weights changed after the SHA was taken
    torch.save(blob, path)
    with pytest.raises(ValueError, match=r"basis\.pt: not an intact basis file"):
        Features.load(path)
    text = tmp_path / "notes.pt"
    text.write_text("not a tensor file\n")
    with pytest.raises(ValueError, match=r"notes\.pt: not a readable basis file"):
        Features.load(text)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else", "state": {}}, other)
    with pytest.raises(ValueError, match=r"other\.pt: not an intact basis file"):
        Features.load(other)


# ---- (3) the benchmark's closed-form rows -----------------------------------------------------------------------

def test_only_a_network_basis_needs_a_tuned_setting(helmholtz, tmp_path):
    run = Run(helmholtz, "ci", tmp_path)
    assert run.settings_needed(["solve_random"]) == []
    assert run.settings_needed(["solve_random", "solve_learned"]) == []
    assert run.settings_needed(["solve_transfer"]) == ["scratch_full"]
    assert run.source("solve_transfer") == "transfer" and run.source("solve_random") == "solve_random"


def test_benchmark_records_the_solves_and_a_resumed_run_recomputes_nothing(small_solves, tmp_path, monkeypatch):
    result = benchmark("helmholtz", "ci", tmp_path, methods=["solve_random"], sizes=TINY, progress=False)
    assert read_json(tmp_path / "helmholtz.json") == json.loads(json.dumps(result))
    row = result["methods"]["solve_random"]
    assert set(row["solve"]) == {"residual", "iterations", "converged", "rank", "condition", "cpu_seconds_per_task"}
    assert row["solve"]["iterations"] == 1 and row["solve"]["converged"] == 1
    assert 1 <= row["solve"]["rank"] <= 20 and row["solve"]["cpu_seconds_per_task"] > 0
    assert len(row["per_task_mse"]) == 10 and row["diverged"] == 0 and row["seconds"]["meta"] > 0
    assert "solve_random" in result["ood"]
    assert (tmp_path / "helmholtz.models" / "solve_random-seed0.pt").exists()
    partial = read_json(tmp_path / "helmholtz.partial.json")

    def refuse(*args, **kwargs):
        raise AssertionError("a resumed run solved or made a basis again")

    original = solve.solve
    monkeypatch.setattr(solve, "solve", refuse)
    monkeypatch.setattr(solve, "make_basis", refuse)
    again = benchmark("helmholtz", "ci", tmp_path, methods=["solve_random"], sizes=TINY, progress=False)
    resumed = read_json(tmp_path / "helmholtz.partial.json")
    tasks = {k: v for k, v in partial.items() if not k.startswith("_")}
    assert {k: v for k, v in resumed.items() if not k.startswith("_")} == tasks
    assert again["methods"]["solve_random"]["per_task_mse"] == row["per_task_mse"]
    # a task left undone is solved again in the basis kept in FAMILY.models/, not in a basis made again
    del resumed["solve_random/0/unseen/3"]
    (tmp_path / "helmholtz.partial.json").write_text(json.dumps(resumed))
    monkeypatch.setattr(solve, "solve", original)
    redone = benchmark("helmholtz", "ci", tmp_path, methods=["solve_random"], sizes=TINY, progress=False)
    assert redone["methods"]["solve_random"]["per_task_mse"] == row["per_task_mse"]


def test_tuning_from_must_be_a_tuned_result_of_the_same_family_and_mode(small_solves, tmp_path):
    tuning = {"lr": {"scratch_full": 1e-3}, "weight": {"scratch_full": 1.0}}
    for name, content in (("burgers.json", {"family": "burgers", "mode": "ci", "tuning": tuning}),
                          ("full.json", {"family": "helmholtz", "mode": "full", "tuning": tuning}),
                          ("untuned.json", {"family": "helmholtz", "mode": "ci"})):
        source = tmp_path / name
        source.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=f"--tuning-from .*{name}.* is not a tuned ci result of helmholtz"):
            benchmark("helmholtz", "ci", tmp_path / "out", methods=["solve_random"], sizes=TINY, progress=False,
                      tuning_from=source)
    good = tmp_path / "helmholtz.json"
    good.write_text(json.dumps({"family": "helmholtz", "mode": "ci", "tuning": tuning}))
    result = benchmark("helmholtz", "ci", tmp_path / "run", methods=["solve_transfer"], sizes=TINY, progress=False,
                       tuning_from=good)
    partial = read_json(tmp_path / "run" / "helmholtz.partial.json")
    assert partial["_tuning"]["from"] == str(good) and result["tuning"]["from"] == str(good)
    assert partial["_tuning"]["lr"] == tuning["lr"]
    assert not any(k.startswith("scratch_full/") for k in partial)  # nothing tuned or trained for scratch itself
    # the basis is transfer's network, pretrained once; its offline cost is that network's
    assert (tmp_path / "run" / "helmholtz.models" / "transfer-seed0.pt").exists()
    assert result["methods"]["solve_transfer"]["seconds"]["meta"] == partial["transfer/0/meta_seconds"]
    assert result["methods"]["solve_transfer"]["solve"]["iterations"] == 1


def test_a_missing_tuning_from_file_is_named_as_the_option(tmp_path):
    with pytest.raises(ValueError, match="--tuning-from"):
        benchmark("helmholtz", "ci", tmp_path / "out", methods=["solve_random"], sizes=TINY, progress=False,
                  tuning_from=tmp_path / "nofile.json")
    assert not (tmp_path / "out").exists()  # refused before any folder is made


# ---- (4) the README's closed-form table ------------------------------------------------------------------------

def test_solve_table_puts_the_best_adam_method_beside_the_solves(tmp_path):
    (tmp_path / "solve").mkdir()
    for name in ("helmholtz.json", "burgers.json"):
        shutil.copy(RESULTS / name, tmp_path / name)
    shutil.copy(RESULTS / "solve" / "helmholtz.json", tmp_path / "solve" / "helmholtz.json")
    table = solve_table(tmp_path)
    lines = table.splitlines()
    assert lines[0] == "| family | method | mean MSE | per task (s) | offline (s) |"
    full, solved = read_json(tmp_path / "helmholtz.json"), read_json(tmp_path / "solve" / "helmholtz.json")
    adam = {m: full["methods"][m]["mean_mse"] for m in ("transfer", "lampinn", "maml", "reptile", "scratch_adapt")}
    best = min((m for m in adam if adam[m] is not None), key=adam.get)
    assert lines[2].startswith(f"| helmholtz | {best} (best of B/10 Adam) |")
    rows = [line.split(" | ")[1] for line in lines[3:] if line.startswith("| |")]
    assert rows == [m for m in ("solve_random", "solve_learned", "solve_transfer", "solve_lampinn") if m in solved["methods"]]
    assert "No closed-form result for burgers yet." in table and "No closed-form result for elasticity" not in table
    assert not any(line.startswith("| burgers") for line in lines)


def test_the_readme_solve_block_is_the_committed_results_table():
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- solve:start -->\n", "<!-- solve:end -->"
    assert start in text and end in text
    block = text.split(start, 1)[1].split(end, 1)[0]
    assert block == solve_table(RESULTS), "README.md's solve block is out of date: run `lampinn headline --update README.md`"


# ---- (5) the basis-size curve -----------------------------------------------------------------------------------

def test_basis_curve_command_line():
    args = cli.parser().parse_args(["basis-curve", "helmholtz", "--out", "curves", "--mode", "ci", "--seed", "2"])
    assert (args.family, args.out, args.mode, args.seed) == ("helmholtz", "curves", "ci", 2)
    args = cli.parser().parse_args(["basis-curve", "burgers", "--out", "x"])
    assert (args.mode, args.seed) == ("full", 0)
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["basis-curve", "helmholtz"])  # --out is required


def test_size_curve_measures_random_and_learned_bases(helmholtz, monkeypatch):
    monkeypatch.setitem(solve.CURVE_SIZES, "ci", (10, 20))
    monkeypatch.setitem(solve.FEATURES, "ci", 20)
    monkeypatch.setattr(SolveConfig, "for_mode", classmethod(
        lambda cls, mode: cls(size=solve.FEATURES[mode], bandwidths=(1.0, 2.0), tuning_rows=(0, 26))))
    monkeypatch.setitem(settings.SIZES, "ci", TINY)
    curve = solve.size_curve(helmholtz, "ci", progress=False)
    assert (curve["family"], curve["mode"], curve["seed"]) == ("helmholtz", "ci", 0)
    assert curve["bandwidth"] in (1.0, 2.0) and set(curve["bandwidth_scores"]) == {1.0, 2.0}
    assert curve["points"] == {"n_interior": 200, "n_boundary": 80}
    assert [r["size"] for r in curve["random"]] == [10, 20]
    sizes = [r["size"] for r in curve["learned"]]
    assert sizes == sorted(set(sizes)) and sizes[0] == 1 and sizes[-1] <= 20
    for row in curve["random"] + curve["learned"]:
        assert row["mean_mse"] <= row["max_mse"] and np.isfinite(row["mean_mse"]) and row["cpu_seconds"] >= 0
    assert len(curve["training_losses"]) == len(helmholtz.train_tasks())
    assert {"command", "git_commit", "seconds", "cpu_seconds", "device"} <= set(curve["provenance"])
