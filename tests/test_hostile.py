"""Hostile inputs: nonsense settings, wrongly shaped or non-finite predictions, corrupt or tampered result,
partial and checkpoint files, unusable output folders and concurrent runs. Each ends in a one-line error naming
what is wrong (exit code 2 on the command line), or in a correct result with nothing lost or overwritten.

Everything is unit-level: benchmark folders are written by hand and a run's training is replaced by a stub,
so the whole battery takes seconds, not minutes. ``CASES`` counts the hostile inputs (see the last test).
"""
import copy
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

import lampinn
from lampinn import benchmark as bm
from lampinn import files, report, results
from lampinn.affinity import Clustering
from lampinn.cli import main
from lampinn.core import LAMPINN, LAMPINNConfig
from lampinn.nn import MLP, ModularPINN, load_state, save_state, state_sha256
from lampinn.train import TrainingDiverged

ROOT_USER = os.geteuid() == 0  # permissions do not stop root
BURGERS = lampinn.get_family("burgers")


def one_line(info) -> str:
    text = str(info.value)
    assert "\n" not in text and text
    return text


def exits_2(capsys, argv) -> str:
    """Run the command line; it must exit 2 with exactly one line on stderr, which is returned."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- 1. configurations and networks: refused when built -----------------------------------------------
BAD_CONFIGS = [
    ("budget", 0), ("budget", -5), ("budget", 1.5), ("budget", True), ("budget", "100"),
    ("n_clusters", 0), ("n_clusters", -1), ("n_clusters", 1000), ("n_clusters", 2.5),
    ("dropout", 1.5), ("dropout", 1.0), ("dropout", -0.1), ("dropout", float("nan")),
    ("width", 0), ("width", 10**6), ("meta_depth", 0), ("meta_depth", -2),
    ("closed_gate", 5.0), ("closed_gate", -0.1), ("lr", 0.0), ("lr", -1e-3), ("lr", float("inf")),
    ("adapt_lr", float("nan")), ("gate_lr", -0.1), ("stage1_iters", -1), ("stage2_iters", 0.5),
    ("affinity_fraction", 0.0), ("affinity_fraction", 2.0), ("k_range", (1, 3)), ("k_range", (5, 2)),
    ("k_range", (2,)), ("k_range", (2, 100)), ("features", "loss"), ("slope", "yes"), ("seed", -1),
    ("meta_weight_factor", 0.0), ("meta_weight_decay", -1.0), ("n_interior", 0), ("n_boundary", -3),
    ("device", 3),
]


@pytest.mark.parametrize("field, value", BAD_CONFIGS, ids=[f"{f}={v!r}" for f, v in BAD_CONFIGS])
def test_nonsense_config_is_refused_when_built(field, value):
    with pytest.raises(ValueError) as info:
        LAMPINNConfig(**{field: value})
    assert field in one_line(info)


def test_a_sensible_config_is_accepted():
    assert LAMPINNConfig(budget=10, n_clusters=1, dropout=0.0, closed_gate=0.0).budget == 10


BAD_NETWORKS = [
    (MLP, {"width": 0}), (MLP, {"depth": 0}), (MLP, {"width": 10**6}), (MLP, {"depth": 1000}),
    (MLP, {"in_dim": 0}), (MLP, {"out_dim": 100}), (MLP, {"width": 2.5}),
    (MLP, {"input_bounds": [(0, float("nan")), (0, 1)]}), (MLP, {"input_bounds": []}),
    (MLP, {"input_bounds": [(1, 1), (0, 1)]}), (MLP, {"input_bounds": [(2, 1), (0, 1)]}),
    (MLP, {"input_bounds": [(0, float("inf")), (0, 1)]}), (MLP, {"input_bounds": [("a", "b"), (0, 1)]}),
    (MLP, {"input_bounds": [(0, 1, 2), (0, 1)]}),
    (ModularPINN, {"meta_depth": 0}), (ModularPINN, {"n_clusters": 0}), (ModularPINN, {"n_clusters": 1000}),
    (ModularPINN, {"dropout": 1.5}), (ModularPINN, {"dropout": float("nan")}), (ModularPINN, {"width": 10**5}),
    (ModularPINN, {"input_bounds": [(0, float("nan")), (0, 1)]}), (ModularPINN, {"input_bounds": []}),
    (ModularPINN, {"width": 0}),
]


@pytest.mark.parametrize("cls, kwargs", BAD_NETWORKS, ids=[f"{c.__name__}-{k}" for c, k in BAD_NETWORKS])
def test_nonsense_network_is_refused_before_it_is_built(cls, kwargs):
    args = {"in_dim": 2, "out_dim": 1, **({"n_clusters": 2} if cls is ModularPINN else {}), **kwargs}
    with pytest.raises(ValueError) as info:
        cls(**args)
    one_line(info)


# ---- 2. evaluate: shape and finiteness --------------------------------------------------------------------
def constant(columns, value=0.0, rows=None):
    return lambda x: torch.full((len(x) if rows is None else rows, *columns), value)


BAD_PREDICTIONS = [
    ("burgers", constant((3,)), "shape"), ("burgers", constant((2,)), "shape"), ("burgers", constant((1, 2)), "shape"),
    ("burgers", constant((1,), rows=1), "one row per point"), ("burgers", lambda x: torch.tensor(0.0), "one row per point"),
    ("burgers", constant((1,), float("nan")), "NaN or infinite"), ("burgers", constant((1,), float("inf")), "NaN or infinite"),
    ("burgers", lambda x: torch.where(x[:, :1] > 0.9, float("nan"), 0.0), "NaN or infinite"),
    ("elasticity", constant((1,)), "shape"), ("elasticity", constant((4,)), "shape"),
    ("elasticity", constant((2,), float("-inf")), "NaN or infinite"), ("helmholtz", constant((2,)), "shape"),
]


@pytest.mark.parametrize("family, model, match", BAD_PREDICTIONS, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_PREDICTIONS)])
def test_wrong_or_non_finite_predictions_are_refused(family, model, match):
    fam = lampinn.get_family(family)
    with pytest.raises(ValueError, match=match) as info:
        lampinn.evaluate(model, fam, fam.unseen_tasks()[0])
    one_line(info)


@pytest.mark.parametrize("family", ["burgers", "elasticity"])
def test_a_well_shaped_prediction_gets_its_error(family):
    fam = lampinn.get_family(family)
    out = lampinn.evaluate(constant((fam.out_dim,)), fam, fam.unseen_tasks()[0])
    assert np.isfinite(out["mse"]) and out["mse"] >= 0 and out["rel_l2"] == pytest.approx(1.0)


BAD_THETAS = [("burgers", (1e-300, 1, 0.25)), ("burgers", (1e308, 1, 0.25)), ("burgers", (0.01, 1e308, 0.25)),
              ("burgers", (0.01, 1, -1e300)), ("burgers", (0.01, float("inf"), 0.2)), ("burgers", (0.01, 1)),
              ("elasticity", (0.0, 1.0, 2.0)), ("helmholtz", (1.0, float("nan"), 1.0))]


@pytest.mark.parametrize("family, theta", BAD_THETAS, ids=[f"{f}-{t}" for f, t in BAD_THETAS])
def test_unusable_tasks_fail_in_one_line_without_warnings(family, theta, recwarn):
    with pytest.raises(ValueError) as info:
        lampinn.get_family(family).reference(theta)
    one_line(info)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("theta", ["1e-300,1,0.25", "1e308,1,0.25", "0.01,1e308,0.25"])
def test_cli_reference_refuses_unusable_tasks(tmp_path, capsys, theta):
    err = exits_2(capsys, ["reference", "burgers", "--theta", theta, "--out", tmp_path / "r.npz"])
    assert "burgers: parameter" in err and list(tmp_path.iterdir()) == []


# ---- 3. result files ----------------------------------------------------------------------------------------
def fake(family="burgers", mode="ci", budget=100, lampinn_mse=0.25):
    mse = {"scratch_full": 1.0, "scratch_adapt": 4.0, "transfer": 2.0, "maml": 3.0, "reptile": 0.5, "lampinn": lampinn_mse,
           "zero": 5.0}

    def rows(scale):
        return {m: {"per_task_mse": [v * scale * f for f in (0.5, 1.0, 1.5)], "per_task_rel_l2": [0.1, 0.2, 0.3],
                    "mean_mse": v * scale, "std_over_seeds": 0.0, "seconds": {"meta": 12.0, "adapt": 3.0}}
                for m, v in mse.items()}
    return {"family": family, "mode": mode, "budget": {"full": budget, "adapt": budget // 10},
            "sizes": {"budget": budget, "n_interior": 500, "n_boundary": 200}, "methods": rows(1), "ood": rows(10),
            "tuning": {"lr": {"lampinn": 0.01}, "weight": {"lampinn": 10.0}},
            "provenance": {"version": "0.1.0", "git_commit": "0123456789abcdef", "torch": "2.0", "device": "cpu",
                           "mode": mode, "date": "2026-01-02T03:04:05+00:00", "command": "lampinn benchmark", "seeds": 1,
                           "seconds": 600.0}}


def setter(path, value):
    """A mutation setting ``path`` (keys separated by '.', list indices as numbers) to ``value``; DELETE removes it."""
    def apply(r):
        *head, last = path.split(".")
        for k in head:
            r = r[int(k)] if isinstance(r, list) else r[k]
        if value is DELETE:
            del r[last]
        elif isinstance(r, list):
            r[int(last)] = value
        else:
            r[last] = value
    return apply


DELETE = object()
BAD_RESULTS = {
    "mean nan": setter("methods.lampinn.mean_mse", float("nan")),
    "mean inf": setter("methods.lampinn.mean_mse", float("inf")),
    "mean negative": setter("methods.lampinn.mean_mse", -1.0),
    "mean string": setter("methods.lampinn.mean_mse", "0.1"),
    "mean bool": setter("methods.lampinn.mean_mse", True),
    "mean null without divergence": setter("methods.lampinn.mean_mse", None),
    "task negative": setter("methods.maml.per_task_mse.1", -0.5),
    "task nan": setter("ood.maml.per_task_mse.1", float("nan")),
    "rel nan": setter("methods.maml.per_task_rel_l2.0", float("nan")),
    "no tasks": setter("methods.maml.per_task_mse", []),
    "tasks not a list": setter("methods.maml.per_task_mse", 3.0),
    "task counts differ": setter("methods.maml.per_task_mse", [1.0, 2.0]),
    "method task counts differ": lambda r: r["methods"]["maml"].update(per_task_mse=[1.0] * 4, per_task_rel_l2=[0.1] * 4),
    "diverged count wrong": setter("methods.maml.diverged", 2),
    "null task without count": setter("methods.maml.per_task_mse.0", None),
    "missing methods": setter("methods", DELETE),
    "missing provenance": setter("provenance", DELETE),
    "missing per-task key": setter("methods.lampinn.std_over_seeds", DELETE),
    "other family": setter("family", "helmholtz"),
    "family number": setter("family", 3),
    "unknown mode": setter("mode", "huge"),
    "provenance mode differs": setter("provenance.mode", "full"),
    "provenance seconds missing": setter("provenance.seconds", DELETE),
    "provenance seconds negative": setter("provenance.seconds", -1.0),
    "provenance cpu seconds negative": setter("provenance.cpu_seconds", -1.0),
    "provenance cpu seconds string": setter("provenance.cpu_seconds", "long"),
    "provenance workers a string": setter("provenance.workers", "processes: 2"),
    "provenance workers numbers": setter("provenance.workers", [2]),
    "provenance seeds zero": setter("provenance.seeds", 0),
    "method seeds above the run's": setter("methods.lampinn.seeds", 2),
    "method seeds zero": setter("methods.lampinn.seeds", 0),
    "per-seed rows above the seeds": setter("methods.lampinn.per_seed_mse", [[0.1, 0.2, 0.3]] * 2),
    "per-seed row too short": setter("methods.lampinn.per_seed_mse", [[0.1, 0.2]]),
    "per-seed value negative": setter("ood.maml.per_seed_mse", [[0.1, -0.2, 0.3]]),
    "per-seed not a list": setter("methods.lampinn.per_seed_mse", 0.1),
    "provenance commit number": setter("provenance.git_commit", 12),
    "provenance changed files a string": setter("provenance.git_changed", "lampinn/methods.py"),
    "budget zero": setter("budget.full", 0),
    "budget extra key": setter("budget.half", 50),
    "sizes negative": setter("sizes.n_interior", -1),
    "seconds negative": setter("methods.lampinn.seconds.meta", -3.0),
    "seconds missing": setter("methods.lampinn.seconds.adapt", DELETE),
    "ood lacks a method": setter("ood.lampinn", DELETE),
    "no methods": setter("methods", {}),
    "tuning rate zero": setter("tuning.lr.lampinn", 0.0),
    "tuning weight string": setter("tuning.weight.lampinn", "x"),
    "method not an object": setter("methods.maml", [1, 2]),
}
BAD_TEXTS = {
    "bare NaN": lambda text: text.replace('"mean_mse": 0.25', '"mean_mse": NaN'),
    "bare Infinity": lambda text: text.replace('"mean_mse": 0.25', '"mean_mse": Infinity'),
    "overflowing number": lambda text: text.replace('"mean_mse": 0.25', '"mean_mse": 1e999'),
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "binary": lambda text: "\x00\xff\xfe garbage",
    "a list": lambda text: "[1, 2, 3]",
    "nested too deeply": lambda text: "[" * 100000 + "]" * 100000,
}


def write_result(folder, result=None, family="burgers", text=None):
    path = folder / f"{family}.json"
    if text is not None:
        path.write_bytes(text.encode("latin-1"))
    else:
        path.write_text(json.dumps(result if result is not None else fake(family)))
    return path


@pytest.mark.parametrize("name", BAD_RESULTS)
def test_result_file_with_a_bad_field_is_refused_naming_file_and_field(tmp_path, name):
    result = fake()
    BAD_RESULTS[name](result)
    path = write_result(tmp_path, result)
    with pytest.raises(ValueError) as info:
        results.load("burgers", tmp_path)
    assert str(path) in one_line(info)


@pytest.mark.parametrize("name", BAD_TEXTS)
def test_result_file_that_is_not_strict_json_is_refused(tmp_path, name):
    path = write_result(tmp_path, text=BAD_TEXTS[name](json.dumps(fake())))
    with pytest.raises(ValueError) as info:
        results.load("burgers", tmp_path)
    assert str(path) in one_line(info)


@pytest.mark.parametrize("name", ["mean nan", "task negative", "other family", "truncated", "bare NaN"])
def test_headline_update_with_a_bad_result_leaves_the_page_alone(tmp_path, capsys, name):
    if name in BAD_RESULTS:
        result = fake()
        BAD_RESULTS[name](result)
        write_result(tmp_path, result)
    else:
        write_result(tmp_path, text=BAD_TEXTS[name](json.dumps(fake())))
    page = tmp_path / "page.md"
    page.write_text("<!-- headline:start -->\nold\n<!-- headline:end -->\n")
    assert "burgers.json" in exits_2(capsys, ["headline", "--results", tmp_path, "--update", page])
    assert page.read_text() == "<!-- headline:start -->\nold\n<!-- headline:end -->\n"
    exits_2(capsys, ["headline", "--results", tmp_path])


def test_headline_refuses_mixed_modes_and_diverged_means_and_names_missing_families(tmp_path, capsys):
    write_result(tmp_path, fake("burgers", mode="full", budget=1000))
    write_result(tmp_path, fake("helmholtz", mode="ci"), "helmholtz")
    assert "mode" in exits_2(capsys, ["headline", "--results", tmp_path])
    write_result(tmp_path, fake("helmholtz", mode="full", budget=1000), "helmholtz")
    text = report.headline(tmp_path)
    assert "nan" not in text and "No elasticity result: it is left out." in text and "(full mode)" in text
    diverged = fake("elasticity", mode="full", budget=1000)
    diverged["methods"]["lampinn"].update(per_task_mse=[None, 0.1, 0.2], mean_mse=None, diverged=1)
    write_result(tmp_path, diverged, "elasticity")
    assert "lampinn diverged on 1" in exits_2(capsys, ["headline", "--results", tmp_path])


def test_a_result_with_a_diverged_task_loads_and_shows_as_diverged(tmp_path):
    result = fake()
    result["methods"]["maml"].update(per_task_mse=[None, 3.0, 4.5], per_task_rel_l2=[None, 0.2, 0.3], mean_mse=None,
                                     std_over_seeds=None, diverged=1)
    write_result(tmp_path, result)
    loaded = results.load("burgers", tmp_path)
    assert "| maml | diverged on 1 tasks | - |" in report.markdown_table(loaded)
    assert report.wins(loaded)["maml"] == 2
    report.plot(loaded, tmp_path / "bars.png")
    assert (tmp_path / "bars.png").read_bytes()[:4] == b"\x89PNG"


def test_json_is_written_strictly():
    with pytest.raises(ValueError):
        files.dumps({"mse": float("nan")})
    assert files.dumps({"mse": None}) == '{"mse": null}'


# ---- 4. partial (resume) files ------------------------------------------------------------------------------
ROW = {"mse": 0.5, "rel_l2": 0.1, "seconds": 1.0}
TUNING = {"tasks": BURGERS.train_tasks()[list(bm.TUNING_TASKS)].tolist(), "lr": {s: 1e-3 for s in bm.SETTINGS},
          "weight": {s: 1.0 for s in bm.SETTINGS}}


def partial(**extra):
    done = {"_mode": "ci", "_family": "burgers", "_tuning": copy.deepcopy(TUNING), "scratch_adapt/0/unseen/0": dict(ROW)}
    done.update(extra)
    return done


BAD_PARTIALS = {
    "mse nan text": '{"_mode": "ci", "scratch_adapt/0/unseen/0": {"mse": NaN, "rel_l2": 0.1, "seconds": 1}}',
    "mse overflow": '{"_mode": "ci", "scratch_adapt/0/unseen/0": {"mse": 1e999, "rel_l2": 0.1, "seconds": 1}}',
    "mse negative": partial(**{"scratch_adapt/0/unseen/1": {**ROW, "mse": -1.0}}),
    "mse string": partial(**{"scratch_adapt/0/unseen/1": {**ROW, "mse": "0.1"}}),
    "mse null": partial(**{"scratch_adapt/0/unseen/1": {**ROW, "mse": None}}),
    "missing rel_l2": partial(**{"scratch_adapt/0/unseen/1": {"mse": 0.1, "seconds": 1.0}}),
    "extra key": partial(**{"scratch_adapt/0/unseen/1": {**ROW, "note": "x"}}),
    "row not an object": partial(**{"scratch_adapt/0/unseen/1": 0.5}),
    "diverged with mse": partial(**{"scratch_adapt/0/unseen/1": {"diverged": True, "seconds": 1.0, "message": "x", "mse": 1.0}}),
    "diverged as string": partial(**{"scratch_adapt/0/unseen/1": {"diverged": "yes", "seconds": 1.0, "message": "x"}}),
    "unknown method": partial(**{"magic/0/unseen/0": dict(ROW)}),
    "unknown split": partial(**{"scratch_adapt/0/train/0": dict(ROW)}),
    "task not a number": partial(**{"scratch_adapt/0/unseen/x": dict(ROW)}),
    "seed not a number": partial(**{"scratch_adapt/a/unseen/0": dict(ROW)}),
    "short key": partial(**{"scratch_adapt/0": dict(ROW)}),
    "meta seconds negative": partial(**{"transfer/0/meta_seconds": -4.0}),
    "meta seconds object": partial(**{"transfer/0/meta_seconds": {"s": 1}}),
    "other mode": partial(_mode="full"),
    "no mode": {k: v for k, v in partial().items() if k != "_mode"},
    "other family": partial(_family="helmholtz"),
    "seconds string": partial(_seconds="long"),
    "seconds negative": partial(_seconds=-1.0),
    "cpu seconds negative": partial(_cpu_seconds=-1.0),
    "task cpu seconds negative": partial(**{"scratch_adapt/0/unseen/1": {**ROW, "cpu_seconds": -1.0}}),
    "workers not a list": partial(_workers="inline"),
    "workers numbers": partial(_workers=[1, 2]),
    "tuning rate zero": partial(_tuning={**TUNING, "lr": {**TUNING["lr"], "scratch_full": 0.0}}),
    "tuning unknown setting": partial(_tuning={**TUNING, "weight": {"magic": 1.0}}),
    "tuning not an object": partial(_tuning=[1, 2]),
    "tuning gates' rate negative": partial(_tuning={**TUNING, "gate_lr": {"lampinn": -0.3}}),
    "tuning gates' rate of no setting": partial(_tuning={**TUNING, "gate_lr": {"magic": 0.3}}),
    "unknown underscore key": partial(_extra=1),
    "a list": "[1, 2]",
    "truncated": json.dumps(partial())[:40],
    "empty": "",
}


def write_partial(folder, content):
    path = folder / "burgers.partial.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize("name", BAD_PARTIALS)
def test_bad_partial_file_is_refused_naming_the_file(tmp_path, name):
    path = write_partial(tmp_path, BAD_PARTIALS[name])
    with pytest.raises(ValueError) as info:
        bm.Run(BURGERS, "ci", tmp_path)
    assert str(path) in one_line(info)


@pytest.mark.parametrize("name", ["mse nan text", "unknown method", "truncated", "other mode"])
def test_cli_benchmark_with_a_bad_partial_file_exits_2_and_keeps_it(tmp_path, capsys, name):
    path = write_partial(tmp_path, BAD_PARTIALS[name])
    before = path.read_bytes()
    assert "burgers.partial.json" in exits_2(capsys, ["benchmark", "burgers", "--mode", "ci", "--out", tmp_path,
                                                      "--methods", "scratch_adapt", "--device", "cpu"])
    assert path.read_bytes() == before


# ---- 5. checkpoints ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small LAM-PINN checkpoint written by LAMPINN.save (made by hand: no training)."""
    fam = BURGERS
    torch.manual_seed(0)
    cfg = LAMPINNConfig(width=8, meta_depth=1, n_interior=50, n_boundary=10, budget=20)
    tasks = fam.train_tasks()
    labels = np.arange(len(tasks)) % 2
    model = LAMPINN(config=cfg, family=fam, model=ModularPINN(2, 1, 2, 8, 1, 0.2, input_bounds=fam.domain), tasks=tasks,
                    representation=np.zeros((len(tasks), 3)), rounds=[[0, 1]],
                    clustering=Clustering(labels, 2, np.zeros((2, 3)), {2: 0.5}, [1.0]))
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    model.save(path)
    return path


def rewrite(src, dst, meta=None, state=None, rehash=False):
    blob = torch.load(src, weights_only=True)
    m = json.loads(blob["meta"])
    if meta:
        meta(m)
    if state:
        state(blob["state"])
    if rehash:
        m["sha256"] = state_sha256(blob["state"])
    blob["meta"] = json.dumps(m)
    torch.save(blob, dst)


def add_to_weight(s):
    s["meta.0.weight"][0, 0] += 990.0


BAD_CHECKPOINTS = {
    "weight off by 990": dict(state=add_to_weight),
    "weight nan, rehashed": dict(state=lambda s: s["meta.0.weight"].fill_(float("nan")), rehash=True),
    "hash wrong": dict(meta=setter("sha256", "0" * 64)),
    "hash missing in format 2": dict(meta=setter("sha256", DELETE)),
    "budget missing": dict(meta=setter("config.budget", DELETE)),
    "config extra key": dict(meta=setter("config.turbo", True)),
    "config budget zero": dict(meta=setter("config.budget", 0)),
    "config dropout 1.5": dict(meta=setter("config.dropout", 1.5)),
    "config k_range nonsense": dict(meta=setter("config.k_range", "wide")),
    "meta key missing": dict(meta=setter("labels", DELETE)),
    "meta extra key": dict(meta=setter("secret", 1)),
    "unknown format": dict(meta=setter("format", "lampinn-lampinn-9")),
    "width huge": dict(meta=setter("model.width", 10**9)),
    "meta_depth zero": dict(meta=setter("model.meta_depth", 0)),
    "n_clusters string": dict(meta=setter("model.n_clusters", "2")),
    "model key missing": dict(meta=setter("model.dropout", DELETE)),
    "input bounds nan": dict(meta=setter("model.input_bounds", [[0, float("nan")], [0, 1]])),
    "input bounds empty": dict(meta=setter("model.input_bounds", [])),
    "k differs from network": dict(meta=setter("k", 3)),
    "label out of range": dict(meta=setter("labels.0", 7)),
    "labels too few": dict(meta=setter("labels", [0, 1])),
    "tasks nan": dict(meta=setter("tasks.0.0", float("nan"))),
    "unknown family": dict(meta=setter("family", "poisson")),
    "other family's dimensions": dict(meta=setter("family", "elasticity")),
    "weights of another shape, rehashed": dict(state=lambda s: s.__setitem__("gates", torch.zeros(7)), rehash=True),
}


@pytest.mark.parametrize("name", BAD_CHECKPOINTS)
def test_tampered_checkpoint_is_refused_naming_the_file(checkpoint, tmp_path, name):
    bad = tmp_path / "bad.pt"
    rewrite(checkpoint, bad, **BAD_CHECKPOINTS[name])
    with pytest.raises(ValueError) as info:
        LAMPINN.load(bad)
    assert str(bad) in one_line(info)


@pytest.mark.parametrize("how", ["flip 64 bytes", "truncate", "garbage", "empty", "zeros"])
def test_damaged_checkpoint_bytes_are_refused(checkpoint, tmp_path, how):
    data = bytearray(checkpoint.read_bytes())
    if how == "flip 64 bytes":
        weights = torch.load(checkpoint, weights_only=True)["state"]["meta.0.weight"].numpy().tobytes()
        at = bytes(data).find(weights[:64])
        assert at > 0
        data[at:at + 64] = bytes(b ^ 0x5A for b in data[at:at + 64])
    elif how == "truncate":
        data = data[: len(data) // 3]
    elif how == "garbage":
        data = bytearray(b"PK\x03\x04 not really a zip")
    elif how == "empty":
        data = bytearray()
    else:
        data = bytearray(len(data))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError) as info:
        LAMPINN.load(bad)
    assert str(bad) in one_line(info)


def test_untouched_checkpoint_and_the_committed_format_load(checkpoint, tmp_path):
    back = LAMPINN.load(checkpoint)
    assert back.clustering.k == 2 and back.config.width == 8
    # format 1 (the committed checkpoints, written before weights were hashed) loads without a hash
    old = tmp_path / "old.pt"
    rewrite(checkpoint, old, meta=lambda m: (m.pop("sha256"), m.update(format="lampinn-lampinn-1"),
                                           [m["config"].pop(k) for k in ("term_balance", "stage2_balance")]))
    assert torch.equal(LAMPINN.load(old).model.meta[0].weight, back.model.meta[0].weight)


BAD_STATES = {
    "altered weight": lambda blob: blob["state"]["net.0.weight"].add_(990.0),
    "hash wrong": lambda blob: blob.update(sha256="f" * 64),
    "no format": lambda blob: blob.pop("format"),
    "plain state dict": lambda blob: (blob.clear(), blob.update(MLP(2, 1, width=4, depth=1).state_dict())),
}


@pytest.mark.parametrize("name", BAD_STATES)
def test_tampered_weights_file_is_refused(tmp_path, name):
    path = tmp_path / "w.pt"
    save_state(MLP(2, 1, width=4, depth=1), path)
    blob = torch.load(path, weights_only=True)
    BAD_STATES[name](blob)
    torch.save(blob, path)
    with pytest.raises(ValueError) as info:
        load_state(MLP(2, 1, width=4, depth=1), path)
    assert str(path) in one_line(info)


def test_weights_of_another_network_are_refused(tmp_path):
    path = tmp_path / "w.pt"
    save_state(MLP(2, 1, width=4, depth=1), path)
    with pytest.raises(ValueError, match="do not match the network"):
        load_state(MLP(2, 1, width=5, depth=1), path)


# ---- 6. the command line: folders, devices, overwriting ------------------------------------------------------
BENCH = ["benchmark", "burgers", "--mode", "ci", "--methods", "scratch_adapt", "--workers", "1"]  # the stubs run in this process


def test_reference_refuses_to_overwrite_without_force_and_keeps_the_umask(tmp_path, capsys):
    out = tmp_path / "ref.npz"
    out.write_bytes(b"precious")
    os.chmod(out, 0o640)
    assert "exists; pass --force" in exits_2(capsys, ["reference", "burgers", "--theta", "0.01,1,0.25", "--out", out])
    assert out.read_bytes() == b"precious"
    resume = tmp_path / "burgers.partial.json"
    resume.write_text("{}")
    exits_2(capsys, ["reference", "burgers", "--theta", "0.01,1,0.25", "--out", resume])
    assert resume.read_text() == "{}"
    old = os.umask(0o022)
    try:
        assert main(["reference", "burgers", "--theta", "0.01,1,0.25", "--out", str(out), "--force"]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644 and np.load(out)["values"].shape[1] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["burgers.partial.json", "ref.npz"]  # no temporary file left


@pytest.mark.parametrize("target", ["folder", "missing folder", "read-only folder", "link to a folder"])
def test_reference_to_an_unusable_out_is_one_line(tmp_path, capsys, target):
    if target == "read-only folder" and ROOT_USER:
        pytest.skip("root writes into read-only folders")
    (tmp_path / "dir").mkdir()
    out = {"folder": tmp_path / "dir", "missing folder": tmp_path / "no" / "x.npz",
           "read-only folder": tmp_path / "dir" / "x.npz", "link to a folder": tmp_path / "link"}[target]
    if target == "read-only folder":
        os.chmod(tmp_path / "dir", 0o500)
    if target == "link to a folder":
        os.symlink(tmp_path / "dir", out)
    try:
        exits_2(capsys, ["reference", "burgers", "--theta", "0.01,1,0.25", "--out", out])
    finally:
        os.chmod(tmp_path / "dir", 0o700)
    assert list((tmp_path / "dir").iterdir()) == []


def test_benchmark_out_that_is_a_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("keep")
    assert "is a file" in exits_2(capsys, [*BENCH, "--out", out])
    assert out.read_text() == "keep"


def test_benchmark_out_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("keep")
    exits_2(capsys, [*BENCH, "--out", tmp_path / "file" / "sub"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a build without CUDA")
def test_benchmark_on_an_unavailable_device_is_one_line_and_makes_nothing(tmp_path, capsys):
    assert "cuda" in exits_2(capsys, [*BENCH, "--out", tmp_path / "out", "--device", "cuda"])
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError) as info:
        bm.benchmark("burgers", "ci", tmp_path / "out2", methods=["scratch_adapt"], device="cuda:0", progress=False)
    one_line(info)
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("device", ["tpu", "gpu0", ""])
def test_benchmark_on_an_unknown_device_is_one_line(tmp_path, capsys, device):
    exits_2(capsys, [*BENCH, "--out", tmp_path / "out", "--device", device])
    assert not (tmp_path / "out").exists()


# ---- 7. benchmark runs: lock, diverged tasks, resume, seconds, read-only folders -----------------------------
@pytest.fixture
def stub(monkeypatch):
    """Run.task without training: a fixed MSE per task, TrainingDiverged for the keys in ``stub.diverge``;
    ``stub.calls`` records each task run."""
    class Stub:
        calls: list = []
        diverge: set = set()

    def task(self, name, prepared, theta, seed):
        index = len(Stub.calls)
        Stub.calls.append((name, tuple(theta)))
        if (name, tuple(theta)) in Stub.diverge:
            raise TrainingDiverged("training diverged at iteration 3 (adam): loss = nan", None)
        return {"mse": 0.01 * (index + 1), "rel_l2": 0.1, "seconds": 0.001}

    Stub.calls, Stub.diverge = [], set()
    monkeypatch.setattr(bm.Run, "task", task)
    return Stub


def tuned_folder(folder, **extra):
    """A benchmark folder whose tuning is done, so that a run of scratch_adapt goes straight to its tasks."""
    folder.mkdir(exist_ok=True)
    write_partial(folder, {"_mode": "ci", "_tuning": TUNING, **extra})
    return folder


def run_cli(folder):
    return main([*BENCH, "--out", str(folder), "--device", "cpu"])


def test_a_second_run_on_a_folder_in_use_stops_in_one_line_and_loses_nothing(tmp_path, capsys, stub):
    folder = tuned_folder(tmp_path / "out", **{"scratch_adapt/0/unseen/0": ROW})
    before = (folder / "burgers.partial.json").read_bytes()
    with files.lock(folder, "burgers"):
        assert "is in use" in exits_2(capsys, [*BENCH, "--out", folder, "--device", "cpu"])
    assert (folder / "burgers.partial.json").read_bytes() == before and stub.calls == []
    assert not (folder / "burgers.json").exists()
    assert run_cli(folder) == 0 and len(stub.calls) == 19  # once free, the run finishes what the first left
    assert json.loads((folder / "burgers.partial.json").read_text())["scratch_adapt/0/unseen/0"] == ROW


def test_a_run_locked_by_another_process_stops_in_one_line(tmp_path, capsys, stub):
    folder = tuned_folder(tmp_path / "out")
    code = ("import sys; from lampinn.files import lock\n"
            f"with lock({str(folder)!r}, 'burgers'):\n    print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert "in use" in exits_2(capsys, [*BENCH, "--out", folder, "--device", "cpu"])
    finally:
        holder.communicate("", timeout=60)
    assert stub.calls == [] and run_cli(folder) == 0


def test_the_lock_is_per_family(tmp_path, stub):
    folder = tuned_folder(tmp_path / "out")
    with files.lock(folder, "helmholtz"):
        assert run_cli(folder) == 0


def test_a_diverged_task_is_recorded_the_run_finishes_and_resume_moves_on(tmp_path, stub, capsys):
    folder = tuned_folder(tmp_path / "out")
    stub.diverge = {("scratch_adapt", tuple(BURGERS.unseen_tasks()[2])), ("scratch_adapt", tuple(BURGERS.ood_tasks()[0]))}
    assert run_cli(folder) == 0
    done = json.loads((folder / "burgers.partial.json").read_text())
    assert done["scratch_adapt/0/unseen/2"]["diverged"] is True and "mse" not in done["scratch_adapt/0/unseen/2"]
    result = results.load("burgers", folder)
    m = result["methods"]["scratch_adapt"]
    assert m["per_task_mse"][2] is None and m["diverged"] == 1 and m["mean_mse"] is None
    assert result["ood"]["scratch_adapt"]["diverged"] == 1
    assert "diverged on 1 tasks" in (folder / "burgers.md").read_text()
    assert "NaN" not in (folder / "burgers.json").read_text()
    calls = len(stub.calls)
    assert run_cli(folder) == 0 and len(stub.calls) == calls  # resumed: nothing runs again, the run finishes


def test_a_diverged_meta_training_marks_the_methods_tasks(tmp_path, stub, monkeypatch):
    folder = tuned_folder(tmp_path / "out")

    def prepare(self, name, seed):
        raise TrainingDiverged("training diverged at iteration 1", None)

    monkeypatch.setattr(bm.Run, "prepare", prepare)
    result = bm.benchmark("burgers", "ci", folder, methods=["reptile"], device="cpu", progress=False)
    assert result["methods"]["reptile"]["diverged"] == 10 and stub.calls == []


def test_a_diverged_network_the_tuning_needs_stops_the_run_and_keeps_the_file(tmp_path, stub, monkeypatch):
    """Fine-tuning's rate is tuned from transfer's seed-0 network: if its pretraining diverges, nothing can adapt
    with the setting, and the run stops saying why (a resume tries again)."""
    untuned = {**TUNING, "lr": {s: 1e-3 for s in bm.SETTINGS if s != "finetune"},
               "weight": {s: 1.0 for s in bm.SETTINGS if s != "finetune"}}
    folder = tuned_folder(tmp_path / "out", _tuning=untuned,
                          _calibration={"rel_l2": [0.1], "solved": 1, "passed": True})

    def prepare(self, name, seed):
        raise TrainingDiverged("training diverged at iteration 1", None)

    monkeypatch.setattr(bm.Run, "prepare", prepare)
    with pytest.raises(TrainingDiverged, match="preparing transfer \\(seed 0\\) diverged, so the 'finetune' setting "
                                               "cannot be tuned: training diverged at iteration 1"):
        bm.benchmark("burgers", "ci", folder, methods=["reptile"], device="cpu", progress=False)
    done = bm.check_partial(json.loads((folder / "burgers.partial.json").read_text()), folder, "burgers", "ci")
    assert "finetune" not in done["_tuning"]["weight"] and stub.calls == []


def test_seconds_add_up_over_resumed_runs_and_orphans_are_removed(tmp_path, stub):
    folder = tuned_folder(tmp_path / "out", _seconds=1000.0)
    orphan = folder / ".burgers.partial.json.abc123.tmp"
    orphan.write_text("half")
    other = folder / ".helmholtz.json.xyz.tmp"  # another family's: not this run's to remove
    other.write_text("half")
    old = os.umask(0o022)
    try:
        assert run_cli(folder) == 0
    finally:
        os.umask(old)
    result = results.load("burgers", folder)
    assert 1000.0 <= result["provenance"]["seconds"] < 1100.0
    assert "cpu_seconds" not in result["provenance"]  # a resume file timed before CPU seconds were recorded
    assert not orphan.exists() and other.exists()
    for name in ("burgers.json", "burgers.md", "burgers.png", "burgers.partial.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644


def test_cpu_seconds_add_up_over_resumed_runs(tmp_path, stub):
    folder = tuned_folder(tmp_path / "out", _seconds=1000.0, _cpu_seconds=400.0)
    assert run_cli(folder) == 0
    p = results.load("burgers", folder)["provenance"]
    assert 1000.0 <= p["seconds"] < 1100.0 and 400.0 <= p["cpu_seconds"] < 500.0
    fresh = tuned_folder(tmp_path / "fresh")
    assert run_cli(fresh) == 0
    assert results.load("burgers", fresh)["provenance"]["cpu_seconds"] >= 0.0


@pytest.mark.skipif(ROOT_USER, reason="root writes into read-only folders")
def test_a_read_only_folder_fails_before_any_task_runs(tmp_path, capsys, stub):
    folder = tuned_folder(tmp_path / "out")
    before = (folder / "burgers.partial.json").read_bytes()
    os.chmod(folder, 0o500)
    try:
        exits_2(capsys, [*BENCH, "--out", folder, "--device", "cpu"])
    finally:
        os.chmod(folder, 0o700)
    assert stub.calls == [] and (folder / "burgers.partial.json").read_bytes() == before


def test_a_failing_write_loses_nothing_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")

    def boom(fh):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        files.atomic_write(path, boom)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]
    with pytest.raises(ValueError, match="is a folder"):
        files.atomic_write(tmp_path, "x")


def test_the_battery_has_at_least_150_hostile_inputs():
    cases = (len(BAD_CONFIGS) + len(BAD_NETWORKS) + len(BAD_PREDICTIONS) + len(BAD_THETAS) + 3 + len(BAD_RESULTS)
             + len(BAD_TEXTS) + 5 + 3 + len(BAD_PARTIALS) + 4 + len(BAD_CHECKPOINTS) + 5 + len(BAD_STATES) + 1
             + 2 + 4 + 2 + 2 + 3 + 8 + 1 + 1 + 1
             + len(BAD_SOLVE_THETAS) + 2 + 3 + 1 + 4 + len(BAD_FEATURES) + 1)
    print(f"{cases} hostile inputs")
    assert cases >= 150


def test_an_unwritable_folder_fails_before_any_task_runs_even_as_root(tmp_path, capsys, stub, monkeypatch):
    """The same case as the read-only folder, simulated where permissions do not stop the user (root)."""
    folder = tuned_folder(tmp_path / "out")
    before = (folder / "burgers.partial.json").read_bytes()

    def refuse(path, write):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(bm, "atomic_write", refuse)
    assert "Permission denied: " in exits_2(capsys, [*BENCH, "--out", folder, "--device", "cpu"])
    assert stub.calls == [] and (folder / "burgers.partial.json").read_bytes() == before


# ---- 8. the closed-form solve (lampinn.solve): refused in one line, or a failure the benchmark records ---------
def solve_case():
    from lampinn import solve

    fam = lampinn.get_family("helmholtz")
    return solve, fam, solve.random_features(fam, 10, 3.0, seed=0), (1.397, 1.188, 2.912)


BAD_SOLVE_THETAS = [((float("nan"), 1.0, 1.0), "a1"), ((1.0, float("inf"), 1.0), "a2"), ((1.0, 1.0, float("-inf")), "k"),
                    ((1.0, 1.0), "expected 3")]


@pytest.mark.parametrize("theta, name", BAD_SOLVE_THETAS, ids=[str(t) for t, _ in BAD_SOLVE_THETAS])
def test_a_solve_of_a_non_finite_task_is_refused_naming_the_parameter(theta, name):
    solve, fam, basis, _ = solve_case()
    with pytest.raises(ValueError, match=name) as info:
        solve.solve(fam, basis, theta, n_interior=30, n_boundary=10)
    one_line(info)


def family_like_helmholtz(**methods):
    """A Family subclass (not a Helmholtz one) with Helmholtz's declarations and only the given PINN methods."""
    from lampinn.pde import Family

    base = lampinn.get_family("helmholtz")
    names = ("param_names", "bounds", "levels", "input_names", "output_names", "domain", "loss_weights", "unseen",
             "ood")
    attrs = {n: getattr(type(base), n) for n in names}
    attrs.update(name="homemade", sample=lambda self, *a, **k: base.sample(*a, **k), grid=lambda self: base.grid(),
                 solve=lambda self, theta: base.solve(theta), **methods)
    return type("Homemade", (Family,), attrs)()


def test_a_family_without_residuals_cannot_be_solved_but_still_trains():
    solve, helm, basis, theta = solve_case()

    def loss_terms(self, model, points, theta):
        return helm.loss_terms(model, points, theta)

    fam = family_like_helmholtz(loss_terms=loss_terms)
    assert not fam.has_residuals()
    with pytest.raises(ValueError, match="residuals") as info:
        solve.solve(fam, basis, theta, n_interior=30, n_boundary=10)
    assert "homemade" in one_line(info)
    pts = solve.collocation(helm, 30, 10)
    head = solve.Head(basis, torch.ones(basis.size, 1, dtype=torch.float64))
    assert float(fam.loss(head, pts, theta)) == pytest.approx(float(helm.loss(head, pts, theta)), rel=1e-12)
    with pytest.raises(NotImplementedError, match="residuals"):
        fam.residuals(head, pts, theta)


def test_a_family_with_neither_loss_terms_nor_residuals_says_so():
    solve, helm, basis, theta = solve_case()
    fam = family_like_helmholtz()
    with pytest.raises(NotImplementedError, match="neither loss_terms nor residuals") as info:
        fam.loss_terms(basis, solve.collocation(helm, 30, 10), theta)
    assert "homemade" in one_line(info)


def projected(basis, matrix):
    from lampinn.solve import Features

    return Features(list(basis.blocks), basis.shift, basis.scale, matrix)


def test_a_basis_that_cannot_move_the_loss_fails_the_solve():
    solve, fam, basis, theta = solve_case()
    dead = projected(basis, torch.zeros(basis.size, 3, dtype=torch.float64))  # every function is zero
    with pytest.raises(solve.SolveFailed, match="Jacobian .* is zero") as info:
        solve.solve(fam, dead, theta, n_interior=60, n_boundary=20)
    one_line(info)
    assert issubclass(solve.SolveFailed, TrainingDiverged)  # so the benchmark records it as a failed task


def test_a_basis_with_non_finite_values_fails_the_solve():
    solve, fam, basis, theta = solve_case()
    matrix = torch.eye(basis.size, dtype=torch.float64)[:, :3].clone()
    matrix[0, 0] = float("nan")
    with pytest.raises(solve.SolveFailed, match="NaN or infinite") as info:
        solve.solve(fam, projected(basis, matrix), theta, n_interior=60, n_boundary=20)
    one_line(info)


def test_a_basis_too_poor_for_the_task_returns_its_large_loss_not_silence():
    solve, fam, basis, theta = solve_case()
    constant = projected(basis, torch.eye(basis.size, dtype=torch.float64)[:, -1:])  # the constant feature alone
    s = solve.solve(fam, constant, theta, n_interior=300, n_boundary=100)
    assert s.size == s.rank == 1 and s.converged
    # measured: loss 130 from 131; the PDE residual keeps almost all of it
    assert s.loss > 0.5 * s.loss0 and s.terms["residual"] > 0.5 * s.loss0
    assert s.summary()["residual"] == s.loss


def test_gauss_newton_out_of_steps_raises_when_strict_and_says_so_otherwise():
    from lampinn import solve

    fam = lampinn.get_family("burgers")
    basis = solve.random_features(fam, 60, 3.0, seed=0)
    pts = solve.collocation(fam, 300, 100)
    with pytest.raises(solve.SolveFailed, match="did not converge in 1 steps") as info:
        solve.solve(fam, basis, (0.03, 0.5, 0.0), points=pts, max_iter=1)
    one_line(info)
    s = solve.solve(fam, basis, (0.03, 0.5, 0.0), points=pts, max_iter=1, strict=False)
    assert not s.converged and s.iterations == 1 and s.loss < s.loss0


@pytest.mark.parametrize("shape", [(10, 2), (9, 1), (10,), (1, 10)])
def test_an_init_of_the_wrong_shape_is_refused(shape):
    solve, fam, basis, theta = solve_case()
    with pytest.raises(ValueError, match="init has shape") as info:
        solve.solve(fam, basis, theta, n_interior=30, n_boundary=10, init=torch.zeros(shape))
    one_line(info)


BAD_FEATURES = [("size", 1), ("size", 0), ("size", -3), ("size", 2.5), ("size", True), ("size", "10"),
                ("bandwidth", 0.0), ("bandwidth", -1.0), ("bandwidth", float("nan")), ("bandwidth", float("inf"))]


@pytest.mark.parametrize("field, value", BAD_FEATURES, ids=[f"{f}={v!r}" for f, v in BAD_FEATURES])
def test_nonsense_random_features_are_refused(field, value):
    from lampinn import solve

    kwargs = {"size": 10, "bandwidth": 3.0, field: value}
    with pytest.raises(ValueError, match=field) as info:
        solve.random_features(lampinn.get_family("helmholtz"), **kwargs)
    one_line(info)


def test_network_features_need_a_tanh_network():
    from lampinn import solve

    with pytest.raises(ValueError, match="tanh") as info:
        solve.network_features(MLP(2, 1, width=8, depth=2, activation="sin"))
    one_line(info)
