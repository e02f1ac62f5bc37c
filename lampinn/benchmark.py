"""The benchmark protocol of the book: every method on a family's unseen and OOD tasks, resumable.

``lampinn benchmark FAMILY --mode {ci,default,full} --out DIR`` writes ``DIR/FAMILY.json`` (the
schema is :meth:`Run.summarise`'s), ``DIR/FAMILY.md`` (a table) and ``DIR/FAMILY.png`` (per-task bars).
Every finished task is written to ``DIR/FAMILY.partial.json`` as it completes, and every
meta-trained model to ``DIR/FAMILY.models/``, so an interrupted run started again skips what
is done.

Every method's Adam rate and loss weights are tuned on training tasks, never on the unseen ones
(:meth:`Run.tune`): on the four corner tasks of :data:`TUNING_TASKS`, each setting first takes the
rate of :data:`TUNING_LRS` with the lowest mean MSE, then, at that rate, the factor of
:data:`TUNING_WEIGHTS` on its constraint terms' weights (:meth:`~lampinn.pde.base.Family.scaled`).
The settings are scratch at B, scratch at B/10, fine-tuning at B/10 from the central-task network
(transfer, MAML and Reptile adapt with it) and LAM-PINN's adaptation from its meta-trained network
(its ablations adapt with it, so that only the ablated part differs). Meta-training keeps the
published rates and the family's weights.

The ablations reuse LAM-PINN's affinity sessions (they are identical: same budget, rate, points and
seed), and ``ablation_fixed_routing``, which changes only the adaptation, reuses its meta-trained
network; their ``meta`` seconds count only what they recompute.

Methods: scratch with B and with B/10; ``transfer`` pretrained on the central training task
(chapter 3 measured it better than joint pretraining on Burgers); MAML (second order, one inner
step) and Reptile with chapter 4's settings; LAM-PINN with chapter 8's; and the ablations of
:data:`ABLATIONS`. Every adaptation gets B/10 iterations; each task is trained on its own.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .baselines import MetaConfig, Protocol, adapt, central_task, maml, pretrain, reptile, scratch
from .core import LAMPINN, LAMPINNConfig
from .files import atomic_write
from .nn import MLP, default_device
from .train import TrainingDiverged
from .pde import Family, evaluate, get_family

#: Sizes per mode: B, collocation points, LAM-PINN stage lengths, the baselines' meta-training lengths.
MODES: dict[str, dict] = {
    "ci": {"budget": 100, "n_interior": 300, "n_boundary": 50, "stage1": 10, "stage2": 5, "maml": 5, "reptile": 3},
    "default": {"budget": 1000, "n_interior": 1000, "n_boundary": 200, "stage1": 50, "stage2": 25, "maml": 100, "reptile": 50},
    # full: the committed results, sized to fit 45 minutes per family on a 2-core CPU (see FULL_OVERRIDES);
    # a GPU study would raise B to 10,000.
    "full": {"budget": 1000, "n_interior": 1000, "n_boundary": 200, "stage1": 50, "stage2": 25, "maml": 100, "reptile": 50},
}
#: Per-family changes to the full mode: elasticity's second-order stress residual makes each iteration about
#: three times Burgers', so it trains on 500 interior points to fit the 45-minute budget.
FULL_OVERRIDES: dict[str, dict] = {"elasticity": {"n_interior": 500}}
#: Each ablation: the LAM-PINN configuration it changes.
ABLATIONS = {
    "ablation_param_clusters": {"features": "params"},
    "ablation_affinity_only": {"features": "affinity"},
    "ablation_random_features": {"features": "random"},
    "ablation_fixed_routing": {"adapt_gate_lr": 0.0},
    "ablation_k1": {"n_clusters": 1},
}
#: The methods whose Adam rates :meth:`Run.tune` chooses.
BASELINES = ("scratch_full", "scratch_adapt", "transfer", "maml", "reptile")
#: Every method the benchmark knows, in table order.
METHODS = ("scratch_full", "scratch_adapt", "transfer", "maml", "reptile", "lampinn", *ABLATIONS)
SPLITS = ("unseen", "ood")
#: The Adam rates tried for each tuned setting.
TUNING_LRS = (3e-4, 1e-3, 3e-3, 1e-2)
#: The factors tried on the constraint terms' weights, at the setting's best rate.
TUNING_WEIGHTS = (0.1, 1.0, 10.0)
#: The settings :meth:`Run.tune` chooses a rate and a weight factor for.
SETTINGS = ("scratch_full", "scratch_adapt", "finetune", "lampinn")
#: LAM-PINN configuration fields that act only when adapting (an ablation changing only these reuses its network).
ADAPT_ONLY = frozenset({"adapt_lr", "adapt_gate_lr"})
#: Rows of the 27-task training design the rates are tuned on: four corners, none of them the central task.
TUNING_TASKS = (0, 8, 18, 26)


class Run:
    """One family's benchmark in one folder; methods are prepared once per seed, tasks run one by one."""

    def __init__(self, family: Family, mode: str, out: Path, seeds: int = 1, device: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {seeds}")
        self.family, self.mode, self.out, self.seeds, self.device = family, mode, Path(out), seeds, device
        self.sizes = {**MODES[mode], **(FULL_OVERRIDES.get(family.name, {}) if mode == "full" else {})}
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"{family.name}.models").mkdir(exist_ok=True)
        self.partial_path = self.out / f"{family.name}.partial.json"
        self.done: dict[str, dict] = json.loads(self.partial_path.read_text()) if self.partial_path.exists() else {}
        if self.done and self.done.get("_mode") != mode:
            raise ValueError(f"{self.partial_path} holds a {self.done.get('_mode')!r} run; expected {mode!r} (use another --out)")
        self.done["_mode"] = mode

    # ---- configuration ------------------------------------------------------------------------
    @property
    def tuning(self) -> dict:
        """What :meth:`tune` has chosen so far (empty before tuning)."""
        return self.done.get("_tuning", {})

    def protocol(self, seed: int, method: str | None = None) -> Protocol:
        """The shared protocol, with ``method``'s tuned Adam rates once :meth:`tune` has run."""
        s = self.sizes
        p = Protocol(budget=s["budget"], n_interior=s["n_interior"], n_boundary=s["n_boundary"], seed=seed, device=self.device)
        lr = self.tuning.get("lr", {})
        if method is None or method not in BASELINES or not lr:
            return p
        if method.startswith("scratch"):
            return replace(p, lr=lr[method])
        return replace(p, lr=lr["scratch_full"], adapt_lr=lr["finetune"])

    def weighted(self, setting: str) -> Family:
        """The family with ``setting``'s tuned loss-weight factor (1 before tuning)."""
        return self.family.scaled(self.tuning.get("weight", {}).get(setting, 1.0))

    def tune(self, settings: tuple[str, ...] = SETTINGS[:3], lampinn: LAMPINN | None = None) -> dict:
        """Choose each setting's Adam rate, then its loss-weight factor, by the mean MSE on the tuning tasks.

        Each setting is tuned once per run (seed 0) and kept in the resume file; ``lampinn`` is the
        meta-trained network the ``"lampinn"`` setting adapts from.
        """
        tuning = self.done.setdefault("_tuning", {"tasks": self.family.train_tasks()[list(TUNING_TASKS)].tolist(),
                                                  "criterion": "mean MSE over the tasks",
                                                  "lr": {}, "weight": {}, "mse": {}, "weight_mse": {}, "seconds": {}})
        fam, base = self.family, self.protocol(0)
        tasks = np.array(tuning["tasks"])

        def trial(setting: str, lr: float, factor: float) -> float:
            f = fam.scaled(factor)
            try:
                if setting == "lampinn":
                    tuned = replace(lampinn, config=replace(lampinn.config, adapt_lr=lr), family=f)
                    return float(np.mean([evaluate(tuned.adapt(t).model, fam, t)["mse"] for t in tasks]))
                p = replace(base, lr=lr, adapt_lr=lr)
                if setting == "finetune":
                    return float(np.mean(adapt(f, init, tasks, p).mse))
                return float(np.mean(scratch(f, tasks, p, p.budget if setting == "scratch_full" else p.adapt_budget).mse))
            except TrainingDiverged:
                return float("inf")

        for setting in settings:
            if setting in tuning["lr"]:
                continue
            if setting == "lampinn" and lampinn is None:
                raise ValueError("tuning the 'lampinn' setting needs its meta-trained network")
            start = time.perf_counter()
            if setting == "finetune":  # from the transfer network, pretrained with scratch at B's choices
                init = pretrain(self.weighted("scratch_full"), central_task(fam)[None], self.protocol(0, "scratch_full"))[0]
            rates = {str(lr): trial(setting, lr, 1.0) for lr in TUNING_LRS}
            lr = float(min(rates, key=rates.get))
            factors = {str(w): rates[str(lr)] if w == 1.0 else trial(setting, lr, w) for w in TUNING_WEIGHTS}
            tuning["mse"][setting], tuning["weight_mse"][setting] = rates, factors
            tuning["lr"][setting], tuning["weight"][setting] = lr, float(min(factors, key=factors.get))
            tuning["seconds"][setting] = time.perf_counter() - start
            atomic_write(self.partial_path, json.dumps(self.done))
        return tuning

    def lampinn_config(self, seed: int, **changes) -> LAMPINNConfig:
        s = self.sizes
        return LAMPINNConfig(budget=s["budget"], n_interior=s["n_interior"], n_boundary=s["n_boundary"],
                             stage1_iters=s["stage1"], stage2_iters=s["stage2"], seed=seed, device=self.device, **changes)

    # ---- preparing each method (meta-training), cached on disk --------------------------------------
    def prepare(self, method: str, seed: int):
        """What a method adapts from: ``None`` (scratch), an :class:`~lampinn.nn.MLP` or a :class:`~lampinn.core.LAMPINN`; and its seconds."""
        if method.startswith("scratch"):
            return None, 0.0
        if method in ABLATIONS and set(ABLATIONS[method]) <= ADAPT_ONLY:  # same network as LAM-PINN, adapted differently
            model, seconds = self.prepare("lampinn", seed)
            return replace(model, config=replace(model.config, **ABLATIONS[method])), seconds
        path = self.out / f"{self.family.name}.models" / f"{method}-seed{seed}.pt"
        key = f"{method}/{seed}/meta_seconds"
        if path.exists():
            return (LAMPINN.load(path, self.device, self.family) if method == "lampinn" or method.startswith("ablation") else
                    self._load_mlp(path, seed)), self.done.get(key, 0.0)
        start = time.perf_counter()
        protocol = self.protocol(seed, method)
        if method == "transfer":
            init = pretrain(self.weighted("scratch_full"), central_task(self.family)[None], protocol)[0]
        elif method in ("maml", "reptile"):
            cfg = MetaConfig(meta_iters=self.sizes[method], meta_batch=5, inner_steps=1 if method == "maml" else 20,
                             inner_lr=1e-3, outer_lr=1e-3 if method == "maml" else 0.5)
            init = (maml if method == "maml" else reptile)(self.weighted("finetune"), protocol, cfg)[0]
        elif method == "lampinn":
            init = LAMPINN(self.lampinn_config(seed)).meta_train(self.family)
        else:
            sessions = self.prepare("lampinn", seed)[0].sessions
            init = LAMPINN(self.lampinn_config(seed, **ABLATIONS[method])).meta_train(self.family, sessions=sessions)
        seconds = time.perf_counter() - start
        if isinstance(init, LAMPINN):
            init.save(path)
        else:
            state = {k: v.detach().cpu() for k, v in init.state_dict().items()}
            atomic_write(path, lambda fh: torch.save(state, fh))
        self.done[key] = seconds
        return init, seconds

    def _load_mlp(self, path: Path, seed: int) -> MLP:
        net = self.protocol(seed).network(self.family)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return net.to(default_device(self.device))

    # ---- one task ------------------------------------------------------------------------------------
    def task(self, method: str, init, theta: np.ndarray, seed: int) -> dict:
        protocol = self.protocol(seed, method)
        start = time.perf_counter()
        if method.startswith("scratch"):
            iters = protocol.budget if method == "scratch_full" else protocol.adapt_budget
            model = scratch(self.weighted(method), theta[None], protocol, iters).models[0]
        elif isinstance(init, LAMPINN):
            model = with_tuning(init, self.tuning).adapt(theta).model
        else:
            model = adapt(self.weighted("finetune"), init, theta[None], protocol).models[0]
        seconds = time.perf_counter() - start
        return {**evaluate(model, self.family, theta), "seconds": seconds}

    def run(self, methods: list[str], progress: bool = True) -> dict:
        start = time.perf_counter()
        if any(m in BASELINES for m in methods):
            self.tune()
        if any(m not in BASELINES for m in methods) and "lampinn" not in self.tuning.get("lr", {}):
            self.tune(("lampinn",), self.prepare("lampinn", 0)[0])
        tasks = {"unseen": self.family.unseen_tasks(), "ood": self.family.ood_tasks()}
        for method in methods:
            for seed in range(self.seeds):
                keys = [f"{method}/{seed}/{split}/{i}" for split in SPLITS for i in range(len(tasks[split]))]
                if all(k in self.done for k in keys):
                    continue
                init, _ = self.prepare(method, seed)
                for split in SPLITS:
                    for i, theta in enumerate(tasks[split]):
                        key = f"{method}/{seed}/{split}/{i}"
                        if key in self.done:
                            continue
                        self.done[key] = self.task(method, init, theta, seed)
                        atomic_write(self.partial_path, json.dumps(self.done))
                        if progress:
                            print(f"{self.family.name} {method} seed {seed} {split} task {i}: "
                                  f"MSE {self.done[key]['mse']:.3e}", flush=True)
        return self.summarise(methods, time.perf_counter() - start)

    # ---- results -------------------------------------------------------------------------------------
    def summarise(self, methods: list[str], seconds: float) -> dict:
        """The result file's content (see the module docstring)."""
        budget = {"full": self.sizes["budget"], "adapt": max(1, self.sizes["budget"] // 10)}
        out = {"family": self.family.name, "mode": self.mode, "budget": budget, "sizes": self.sizes, "methods": {}, "ood": {}}
        for split, target in (("unseen", out["methods"]), ("ood", out["ood"])):
            n = len(self.family.unseen_tasks() if split == "unseen" else self.family.ood_tasks())
            for method in methods:
                rows = [[self.done[f"{method}/{s}/{split}/{i}"] for i in range(n)] for s in range(self.seeds)]
                mse = np.array([[r["mse"] for r in seed_rows] for seed_rows in rows])
                rel = np.array([[r["rel_l2"] for r in seed_rows] for seed_rows in rows])
                target[method] = {
                    "per_task_mse": mse.mean(axis=0).tolist(), "per_task_rel_l2": rel.mean(axis=0).tolist(),
                    "mean_mse": float(mse.mean()), "std_over_seeds": float(mse.mean(axis=1).std()),
                    "seconds": {"meta": float(np.mean([self.done.get(f"{method}/{s}/meta_seconds", 0.0) for s in range(self.seeds)])),
                                "adapt": float(np.sum([[r["seconds"] for r in seed_rows] for seed_rows in rows]) / self.seeds)},
                }
        if self.tuning:
            out["tuning"] = self.tuning
        out["provenance"] = provenance(self.mode, self.seeds, seconds, self.device)
        return out


def with_tuning(model: LAMPINN, tuning: dict) -> LAMPINN:
    """A copy of ``model`` that adapts with the ``"lampinn"`` setting of a run's ``tuning`` (as is, if none)."""
    if "lampinn" not in tuning.get("lr", {}):
        return model
    return replace(model, config=replace(model.config, adapt_lr=tuning["lr"]["lampinn"]),
                   family=model.family.scaled(tuning["weight"]["lampinn"]))


def provenance(mode: str, seeds: int, seconds: float, device: str | None) -> dict:
    """Where a result came from: package, commit, torch, device, date, command, seeds, wall-clock seconds."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    dev = default_device(device)
    return {"version": __version__, "git_commit": commit, "torch": torch.__version__,
            "device": f"{dev.type} ({platform.machine()}, {torch.get_num_threads()} threads)", "mode": mode,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["lampinn", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("lampinn") else " ".join(sys.argv),
            "seeds": seeds, "seconds": seconds}


def markdown_table(result: dict) -> str:
    """The result as a Markdown table: mean MSE per method, unseen and OOD, with the ratio to LAM-PINN."""
    ref = result["methods"].get("lampinn", {}).get("mean_mse")
    lines = ["| method | unseen mean MSE | ratio to LAM-PINN | OOD mean MSE | meta s | adapt s |", "|---|---|---|---|---|---|"]
    for name, m in result["methods"].items():
        ratio = f"{m['mean_mse'] / ref:.2f}" if ref else "-"
        lines.append(f"| {name} | {m['mean_mse']:.3e} | {ratio} | {result['ood'][name]['mean_mse']:.3e} | "
                     f"{m['seconds']['meta']:.0f} | {m['seconds']['adapt']:.0f} |")
    p = result["provenance"]
    lines.append(f"\n{result['family']}, mode {result['mode']}, B = {result['budget']['full']}, seeds {p['seeds']}, "
                 f"{p['device']}, torch {p['torch']}, lampinn {p['version']} ({p['git_commit'][:10]}), {p['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def plot_bars(ax, result: dict, methods: list[str] | None = None, split: str = "methods") -> None:
    """Per-task MSE bars of ``methods`` (default: all) on the unseen tasks (``split="ood"``: the OOD tasks)."""
    rows = {k: v for k, v in result[split].items() if methods is None or k in methods}
    width = 0.85 / len(rows)
    for i, (name, m) in enumerate(rows.items()):
        ax.bar(np.arange(len(m["per_task_mse"])) + i * width, m["per_task_mse"], width, label=name)
    ax.set_xticks(np.arange(len(m["per_task_mse"])) + 0.425 - width / 2, range(len(m["per_task_mse"])))
    which = "unseen" if split == "methods" else "OOD"
    ax.set(yscale="log", xlabel=f"{which} task", ylabel="MSE on the evaluation grid",
           title=f"{result['family']} ({result['mode']} mode, B = {result['budget']['full']})")
    ax.legend(fontsize=7, ncol=3)


def plot(result: dict, path: Path) -> None:
    """Write the per-task bars of every method on the unseen tasks to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(13, 4.5))
    plot_bars(ax, result)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- committed results: loading them, and the tables generated from them ---------------------------
# Table 1 of the paper (average MSE over its 10 unseen tasks): another implementation, and for
# Burgers and Helmholtz other family definitions, so only elasticity's absolute values compare.
#: The paper's Table 1 (average MSE on its unseen tasks).
PUBLISHED = {
    "helmholtz": {"lampinn": 0.145, "transfer": 4.36, "maml": 4.06},
    "burgers": {"lampinn": 0.0588, "transfer": 0.508, "maml": 0.709},
    "elasticity": {"lampinn": 1.14e-3, "transfer": 3.54e-2, "maml": 2.91e-2},
}
#: The order of the families in the generated tables.
FAMILY_ORDER = ("burgers", "helmholtz", "elasticity")


def results_dir(folder: str | os.PathLike | None = None) -> Path:
    """The folder of committed results: ``folder``; else ``$LAMPINN_RESULTS``; else the first ``results/``
    holding a result file in the working directory or above it; else the one beside the package."""
    if folder is not None or os.environ.get("LAMPINN_RESULTS"):
        return Path(folder if folder is not None else os.environ["LAMPINN_RESULTS"])
    here = Path.cwd().resolve()
    for base in (here, *here.parents, Path(__file__).resolve().parents[1]):
        if any((base / "results").glob("*.json")):
            return base / "results"
    raise FileNotFoundError("no results/ folder with result files here or above; set LAMPINN_RESULTS=DIR "
                            "(or run from a clone of the book's repository)")


def load(family: str, folder: str | os.PathLike | None = None) -> dict:
    """The committed benchmark result of ``family`` (``results/FAMILY.json``)."""
    path = results_dir(folder) / f"{family}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with: lampinn benchmark {family} --mode full --out {path.parent}")
    return json.loads(path.read_text())


def load_model(family: str, folder: str | os.PathLike | None = None, method: str = "lampinn", seed: int = 0,
               device: str | None = None) -> LAMPINN:
    """The meta-trained LAM-PINN (or ablation) the committed benchmark of ``family`` adapted from, set to adapt
    as it did there (the run's tuned rate and loss weights, see :func:`with_tuning`)."""
    folder = results_dir(folder)
    model = LAMPINN.load(folder / f"{family}.models" / f"{method}-seed{seed}.pt", device)
    return with_tuning(model, load(family, folder).get("tuning", {}))


def _committed(folder: str | os.PathLike | None = None) -> list[dict]:
    """The result files present in the results folder, in :data:`FAMILY_ORDER`; at least one."""
    folder = results_dir(folder)
    results = [load(f, folder) for f in FAMILY_ORDER if (folder / f"{f}.json").exists()]
    if not results:
        raise FileNotFoundError(f"{folder}: no result files ({', '.join(f + '.json' for f in FAMILY_ORDER)})")
    return results


def headline(folder: str | os.PathLike | None = None) -> str:
    """The headline table, generated from the committed results: unseen mean MSE per family and method."""
    results = _committed(folder)
    cols = ("lampinn", "scratch_full", "scratch_adapt", "transfer", "maml", "reptile")
    lines = ["| family | LAM-PINN (B/10) | scratch (B) | scratch (B/10) | transfer (B/10) | MAML (B/10) | Reptile (B/10) "
             "| scratch (B) / LAM-PINN | LAM-PINN beats transfer, MAML, Reptile |", "|---" * 9 + "|"]
    ratios = []
    for r in results:
        mse = {c: r["methods"][c]["mean_mse"] for c in cols}
        ratios.append(mse["scratch_full"] / mse["lampinn"])
        beats = ", ".join("yes" if mse["lampinn"] < mse[c] else "no" for c in ("transfer", "maml", "reptile"))
        lines.append(f"| {r['family']} | " + " | ".join(f"{mse[c]:.3g}" for c in cols) + f" | {ratios[-1]:.3g} | {beats} |")
    if results:
        lines.append(f"\nGeometric mean of scratch (B) / LAM-PINN over the families: {np.exp(np.mean(np.log(ratios))):.3g} "
                     f"(the paper reports 19.7). Mean MSE over the 10 unseen tasks, B = {results[0]['budget']['full']} "
                     f"({results[0]['mode']} mode); generated from `results/` by `lampinn headline`.")
    return "\n".join(lines) + "\n"


def provenance_table(folder: str | os.PathLike | None = None) -> str:
    """Where each committed result came from: command, commit, machine, date and wall-clock time."""
    lines = ["| family | command | commit | device | torch | date | minutes |", "|---" * 7 + "|"]
    for r in _committed(folder):
        p = r["provenance"]
        lines.append(f"| {r['family']} | `{p['command']}` | {p['git_commit'][:10]} | {p['device']} | {p['torch']} | "
                     f"{p['date'][:16].replace('T', ' ')} UTC | {p['seconds'] / 60:.1f} |")
    return "\n".join(lines) + "\n"


#: The generated blocks of :func:`update_blocks`, by name.
BLOCKS = {"headline": headline, "provenance": provenance_table}


def update_blocks(path: str | os.PathLike, folder: str | os.PathLike | None = None) -> bool:
    """Regenerate every ``<!-- NAME:start -->...<!-- NAME:end -->`` block of :data:`BLOCKS` in a text file;
    returns whether the file changed."""
    path = Path(path)
    text = path.read_text()
    new = text
    for name, make in BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in new:
            head, _, rest = new.partition(start)
            _, _, tail = rest.partition(end)
            new = f"{head}{start}\n{make(folder)}{end}{tail}"
    if new != text:
        atomic_write(path, new)
    return new != text


def benchmark(family: str | Family, mode: str, out: str | os.PathLike, seeds: int = 1, methods: list[str] | None = None,
              device: str | None = None, progress: bool = True) -> dict:
    """Run (or resume) the benchmark of ``family`` (a name, or a :class:`~lampinn.pde.base.Family` of your own)
    and write ``OUT/FAMILY.json``, ``.md`` and ``.png``; returns the result."""
    methods = list(methods or METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {', '.join(METHODS)}")
    fam = family if isinstance(family, Family) else get_family(family)
    run = Run(fam, mode, Path(out), seeds, device)
    result = run.run(methods, progress)
    base = Path(out) / fam.name
    atomic_write(base.with_suffix(".json"), json.dumps(result, indent=1))
    atomic_write(base.with_suffix(".md"), markdown_table(result))
    plot(result, base.with_suffix(".png"))
    return result


__all__ = ["ABLATIONS", "ADAPT_ONLY", "BASELINES", "BLOCKS", "FAMILY_ORDER", "FULL_OVERRIDES", "METHODS", "MODES",
           "PUBLISHED", "SETTINGS", "TUNING_LRS", "TUNING_TASKS", "TUNING_WEIGHTS", "Run", "benchmark", "headline", "load",
           "load_model", "markdown_table", "plot", "plot_bars", "provenance", "provenance_table", "results_dir",
           "update_blocks", "with_tuning"]
