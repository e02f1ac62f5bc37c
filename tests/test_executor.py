"""The benchmark on an executor: the same numbers in one process, in two, and on a Dask cluster of two workers; a
resumed run with another worker count; a worker that dies; a job that raises; the command-line options."""
import functools
import json
import os

import numpy as np
import pytest

from lampinn import benchmark as bm
from lampinn import executor, settings
from lampinn.cli import main
from lampinn.pde.burgers import Burgers
from lampinn.report import measured

#: Small sizes under the ci mode's name, as tests/test_benchmark.py's ``small`` (each worker reads them from the run,
#: not from settings: a monkeypatch of the parent reaches no spawned process).
SMALL = {"budget": 60, "n_interior": 200, "n_boundary": 40, "stage1": 4, "stage2": 2, "maml": 3, "reptile": 2}
#: Every kind of job: tuning of all four settings, calibration, pretraining, meta-training, LAM-PINN, an ablation that
#: meta-trains again from its sessions, one that reuses its network, and a method without training.
METHODS = ["scratch_adapt", "transfer", "reptile", "lampinn", "ablation_k1", "ablation_fixed_routing", "zero"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same ci-mode run of Burgers (2 seeds, the ablations at 1) in this process, in two processes and on a local
    Dask cluster of two one-thread workers."""
    distributed = pytest.importorskip("distributed")
    folder = tmp_path_factory.mktemp("executors")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(settings.SIZES, "ci", SMALL)
        run = functools.partial(bm.benchmark, "burgers", "ci", seeds=2, methods=METHODS, device="cpu", progress=False,
                                ablation_seeds=1)
        out = {"inline": run(folder / "inline", workers=1), "processes": run(folder / "processes", workers=2)}
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            out["dask"] = run(folder / "dask", scheduler=cluster.scheduler_address)
    return folder, out


def test_the_numbers_are_the_same_whatever_the_executor(runs):
    _, out = runs
    assert measured(out["inline"]) == measured(out["processes"]) == measured(out["dask"])  # bit for bit
    assert out["inline"]["methods"]["lampinn"]["seeds"] == 2 and out["inline"]["methods"]["ablation_k1"]["seeds"] == 1
    workers = {k: r["provenance"]["workers"] for k, r in out.items()}
    assert workers["inline"] == ["inline"] and workers["processes"] == ["processes: 2"]
    assert len(workers["dask"]) == 1 and workers["dask"][0].startswith("dask: tcp://") and workers["dask"][0].endswith(
        ": 2 worker threads")
    for r in out.values():  # CPU seconds: every job's, added up
        assert r["provenance"]["cpu_seconds"] > 0 and r["provenance"]["seconds"] > 0


def test_a_resumed_run_with_another_worker_count_finishes_with_the_same_numbers(runs, tmp_path):
    folder, out = runs
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "burgers.models").mkdir()
    state = json.loads((folder / "processes" / "burgers.partial.json").read_text())
    for key in [k for k in state if k.startswith(("lampinn/1/", "transfer/0/unseen/")) or k.startswith("ablation_k1/")]:
        del state[key]  # as if killed: LAM-PINN's seed 1 and ablation_k1 not prepared, transfer half done
    (resumed / "burgers.partial.json").write_text(json.dumps(state))
    for model in (folder / "processes" / "burgers.models").glob("*.pt"):
        if model.name not in ("lampinn-seed1.pt", "ablation_k1-seed0.pt"):
            (resumed / "burgers.models" / model.name).write_bytes(model.read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(settings.SIZES, "ci", SMALL)
        again = bm.benchmark("burgers", "ci", resumed, 2, METHODS, "cpu", False, ablation_seeds=1, workers=1)
    assert measured(again) == measured(out["processes"])
    assert again["provenance"]["workers"] == ["processes: 2", "inline"]


class Poisoned(Burgers):
    """Burgers whose reference solution of one task kills its process (``"exit"``) or raises (``"raise"``): a
    worker that dies, a job that fails. Defined in a module, so that a spawned worker can import it."""

    def __init__(self, what: str, theta) -> None:
        super().__init__()
        self.what, self.theta = what, tuple(float(v) for v in theta)

    def reference(self, theta):
        if tuple(float(v) for v in theta) == self.theta:
            if self.what == "exit":
                os._exit(3)
            raise RuntimeError(f"poisoned task {self.theta}")
        return super().reference(theta)


def tuned_folder(folder):
    """A folder whose tuning and calibration are done, so that a run of ``zero`` only evaluates (no training)."""
    fam = Burgers()
    folder.mkdir()
    tuning = {"tasks": fam.train_tasks()[list(bm.TUNING_TASKS)].tolist(), "lr": {s: 1e-3 for s in bm.SETTINGS},
              "weight": {s: 1.0 for s in bm.SETTINGS}}
    calibration = {"rel_l2": [0.1], "solved": 1, "passed": True}
    (folder / "burgers.partial.json").write_text(json.dumps({"_mode": "ci", "_family": "burgers", "_tuning": tuning,
                                                             "_calibration": calibration}))
    return folder


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_that_raises_stops_the_run_and_keeps_what_finished(tmp_path, workers):
    folder = tuned_folder(tmp_path / "out")
    bad = Burgers().unseen_tasks()[6]
    with pytest.raises(RuntimeError, match="poisoned task"):
        bm.benchmark(Poisoned("raise", bad), "ci", folder, methods=["zero"], progress=False, workers=workers)
    state = bm.check_partial(json.loads((folder / "burgers.partial.json").read_text()), folder, "burgers", "ci")
    assert "zero/0/unseen/5" in state and "zero/0/unseen/6" not in state and not (folder / "burgers.json").exists()
    result = bm.benchmark("burgers", "ci", folder, methods=["zero"], progress=False, workers=workers)
    assert np.all(np.isfinite(result["methods"]["zero"]["per_task_mse"]))


def test_a_worker_that_dies_stops_the_run_in_one_line_and_a_resume_finishes(tmp_path):
    folder = tuned_folder(tmp_path / "out")
    bad = Burgers().ood_tasks()[2]
    with pytest.raises(executor.WorkerDied) as info:
        bm.benchmark(Poisoned("exit", bad), "ci", folder, methods=["zero"], progress=False, workers=2)
    message = str(info.value)
    assert "a worker died (BrokenProcessPool) while running one of: " in message and "task zero 0 ood 2" in message
    assert "run the same command again to resume" in message
    assert "\n" not in message and str(folder / "burgers.partial.json") in message
    state = json.loads((folder / "burgers.partial.json").read_text())
    assert "zero/0/unseen/9" in state and "zero/0/ood/2" not in state
    result = bm.benchmark("burgers", "ci", folder, methods=["zero"], progress=False, workers=2)
    assert result["ood"]["zero"]["diverged"] == 0 and result["provenance"]["workers"] == ["processes: 2"] * 2


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "'0' is not a positive whole number"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not allowed with argument"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler 'tcp://127.0.0.1:1': no Dask scheduler answered"),
])
def test_bad_executor_options_exit_2_in_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setattr(executor, "CONNECT_SECONDS", 2)
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "burgers", "--mode", "ci", "--out", str(tmp_path / "out"), "--methods", "zero", *argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and err.count("\n") == 1


def test_the_default_is_every_core_one_thread_each(monkeypatch):
    from lampinn.cli import parser

    args = parser().parse_args(["benchmark", "burgers", "--mode", "ci", "--out", "x"])
    assert args.workers is None and f"here {executor.cores()}" in parser()._subparsers._group_actions[0].choices[
        "benchmark"].format_help()  # None: every core (the command resolves it)
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    assert executor.call(torch.get_num_threads)["value"] == 1 and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="--workers must be a whole number >= 1, got 0"):
        with executor.executor(0):
            pass


def test_the_appendix_shows_the_committed_runs_at_one_and_two_workers():
    """results/executor/ holds the full-mode Helmholtz run at one and two workers: the same numbers bit for bit, two
    workers at most 55% of one's wall clock (#33's bar), about the same CPU time, both cores busy; the appendix's table
    is generated from them."""
    from pathlib import Path

    from lampinn.files import read_json
    from lampinn.report import EXECUTOR_RUNS, executor_table

    root = Path(__file__).resolve().parents[1]
    folder = root / "results" / EXECUTOR_RUNS
    one, two = (read_json(folder / f"workers-{n}" / "helmholtz.json") for n in (1, 2))
    assert one["mode"] == two["mode"] == "full" and one["provenance"]["seeds"] == two["provenance"]["seeds"] == 3
    assert (one["provenance"]["workers"], two["provenance"]["workers"]) == (["inline"], ["processes: 2"])
    assert measured(one) == measured(two)
    share = two["provenance"]["seconds"] / one["provenance"]["seconds"]
    assert share <= 0.55
    cpu = two["provenance"]["cpu_seconds"] / one["provenance"]["cpu_seconds"]
    assert 0.9 < cpu < 1.2
    assert two["provenance"]["cpu_seconds"] >= 0.99 * 2 * two["provenance"]["seconds"]  # both cores busy throughout
    table = executor_table(root / "results")
    assert f"| {share:.0%} | yes |" in table
    assert f"<!-- executor:start -->\n{table}<!-- executor:end -->" in (root / "book" / "reproducibility.md").read_text()
