"""How to tell whether meta-training worked (chapter 8): saturation, loss scales and meta-validation.

A meta-trained network cannot be judged by how well it fits its own training tasks before
adaptation: with K gate patterns it can express at most K fields. What matters is how fast it
adapts to tasks it did not train on. :func:`meta_validation` measures exactly that, on training
tasks held out of meta-training, so that every meta-training choice is made without looking at
the unseen or out-of-distribution tasks. Two cheaper diagnostics say *why* a network adapts
slowly: :func:`saturation` (tanh units stuck at +-1 pass no gradient) and :func:`loss_scales`
(a term that is orders of magnitude larger than the others decides the training alone).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from . import settings
from .core import LAMPINN, RELEASED
from .executor import executor, run_jobs
from .files import lock
from .methods import get_method, run
from .pde import Family, evaluate, get_family
from .protocol import Protocol
from .provenance import provenance
from .results import BASELINE

#: Rows of the 27-task training design held out by :func:`meta_validation`: the six tasks (a, b, c) with
#: c = (a + b) mod 3 and a != b, so every level of every parameter appears twice, and the central task
#: (which the basis and the transfer baseline are pretrained on) stays in meta-training.
VALIDATION_TASKS = (4, 8, 10, 15, 20, 21)


def saturation(model: nn.Module, x: torch.Tensor, gates: torch.Tensor | None = None, threshold: float = 0.99) -> list[float]:
    """The share of tanh units with ``|activation| > threshold`` in each hidden tanh layer, over the points ``x``.

    For a :class:`~lampinn.nn.ModularPINN` the layers are its meta network's (``gates`` as given, default
    its own); for an :class:`~lampinn.nn.MLP` every hidden layer. A freshly initialised network is near 0;
    a share near 1 means the layer passes almost no gradient.
    """
    modular = hasattr(model, "meta")
    layers = model.meta if modular else getattr(model, "net", model)
    tanhs = [m for m in layers.modules() if isinstance(m, nn.Tanh)]
    if not tanhs:
        raise ValueError(f"{type(model).__name__} has no tanh layers to inspect")
    shares: list[float] = []
    hooks = [t.register_forward_hook(lambda _m, _i, out: shares.append(float((out.abs() > threshold).float().mean())))
             for t in tanhs]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x, gates) if modular else model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return shares


def meta_saturation(lam) -> list[float]:
    """A meta-trained LAM-PINN's :func:`saturation` per meta layer, on its family's evaluation grid with every gate
    at 0.5 (no task's routing): the measure of the meta-validation record and of chapter 8's health rule."""
    device = next(lam.model.parameters()).device
    grid = torch.tensor(lam.family.grid().points, dtype=torch.float32, device=device)
    return saturation(lam.model, grid, torch.full((lam.clustering.k,), 0.5, device=device))


def loss_scales(family: Family, model, points: dict[str, torch.Tensor], tasks: np.ndarray) -> dict[str, np.ndarray]:
    """Each weighted loss term of ``model`` on each task, ``{term: (T,) array}``: which term dominates where.

    ``model`` is a network or a callable ``x -> u``; the weights are the family's.
    """
    tasks = np.atleast_2d(tasks)
    out: dict[str, list[float]] = {}
    for theta in tasks:
        terms = family.loss_terms(model, points, theta)
        for name, value in terms.items():
            out.setdefault(name, []).append(float(family.loss_weights.get(name, 1.0) * value.detach()))
    return {k: np.array(v) for k, v in out.items()}


def weight_response(lam, family: Family, tasks: np.ndarray, factors: tuple[float, ...], lr: float) -> dict:
    """How a meta-trained LAM-PINN's adaptation answers its loss weights: the mean MSE over ``tasks`` before any
    adaptation (``start``), and after B/10 iterations at rate ``lr`` with ``family``'s constraint terms' weights times
    each of ``factors`` (``mse``, by factor), with each term's weighted value at the last step (``terms``, mean over
    tasks) and the unweighted residual at the first and the last step (``residual``, mean over tasks). A flat sweep
    whose every factor ends above ``start`` is a network the adaptation cannot improve at those weights."""
    tasks = np.atleast_2d(tasks)
    fam = family
    start = [evaluate(replace(lam, family=fam).adapt(t, iters=0).model, fam, t)["mse"] for t in tasks]
    mse, terms, residual = {}, {}, {}
    for f in factors:
        weighted = fam.scaled(f)
        runs = [replace(lam, family=weighted, config=replace(lam.config, adapt_lr=lr)).adapt(t) for t in tasks]
        mse[f] = float(np.mean([evaluate(r.model, fam, t)["mse"] for r, t in zip(runs, tasks)]))
        terms[f] = {k: float(np.mean([weighted.loss_weights.get(k, 1.0) * r.history.terms[k][-1] for r in runs]))
                    for k in runs[0].history.terms}
        residual[f] = [float(np.mean([r.history.terms["residual"][i] for r in runs])) for i in (0, -1)]
    return {"start": float(np.mean(start)), "mse": mse, "terms": terms, "residual": residual}


@dataclass
class MetaValidation:
    """The meta-validation of one LAM-PINN configuration: the adapted MSE of every held-out task, the
    mean adaptation loss curve, the meta-trained network and what it cost."""

    tasks: np.ndarray
    mse: np.ndarray
    curve: np.ndarray
    model: object
    seconds: float

    @property
    def score(self) -> float:
        """The criterion: the mean MSE over the held-out tasks after B/10 adaptation iterations."""
        return float(self.mse.mean())


def split(family: Family, held_out: tuple[int, ...] = VALIDATION_TASKS) -> tuple[np.ndarray, np.ndarray]:
    """The training design split into (meta-training tasks, held-out meta-validation tasks)."""
    tasks = family.train_tasks()
    bad = [i for i in held_out if not 0 <= i < len(tasks)]
    if bad or not held_out:
        raise ValueError(f"held_out rows {list(held_out)} must be some of 0..{len(tasks) - 1}")
    keep = np.setdiff1d(np.arange(len(tasks)), held_out)
    return tasks[keep], tasks[list(held_out)]


def meta_validation(config, family: Family, held_out: tuple[int, ...] = VALIDATION_TASKS, **changes) -> MetaValidation:
    """Meta-train LAM-PINN with ``config`` (plus ``changes``) on the training tasks outside ``held_out``,
    adapt it to each held-out task for B/10 iterations, and score the adapted MSE.

    Looks at training tasks only: use it to choose any meta-training setting.
    """
    train_tasks, val_tasks = split(family, held_out)
    start = time.perf_counter()
    model = LAMPINN(replace(config, **changes)).meta_train(family, tasks=train_tasks)
    adapted = [model.adapt(theta) for theta in val_tasks]
    mse = np.array([evaluate(a.model, family, t)["mse"] for a, t in zip(adapted, val_tasks)])
    curve = np.mean([a.history.total for a in adapted], axis=0)
    return MetaValidation(val_tasks, mse, curve, model, time.perf_counter() - start)


# The authors' released meta-training, as changes to ours (two candidates below build on it).
_RELEASED = {k: v for k, v in RELEASED.items() if k not in ("plateau", "balanced_visits", "stage2_last")}
#: The meta-training settings compared by ``lampinn meta-validation`` (chapter 12's "released vs ours" table):
#: changes to LAM-PINN's configuration at the run's sizes (:meth:`lampinn.methods.LAMPINNMethod.default_config`).
#: "ours" is the family's setting in :data:`lampinn.methods.META_VALIDATED` when its row is made (in the committed
#: records, that record's own choice; the tuned record, :func:`record_tuned`, chose the benchmark's since); every
#: other one is a change to :class:`~lampinn.core.LAMPINNConfig`'s defaults and names its stage-1 step, since most
#: were first run before the step was an option, at the published full step.
CANDIDATES = {
    "ours": {},
    "full-step": {"stage1_step": 1.0},
    "step-0.3": {"stage1_step": 0.3},
    "step-0.1": {"stage1_step": 0.1},
    "step-0.3-decay": {"stage1_step": 0.3, "meta_decay": 1.0},
    "step-0.3-decay-0.3": {"stage1_step": 0.3, "meta_decay": 0.3},
    "no-scale": {"output_scale": False, "stage1_step": 1.0},
    "no-normalize": {"normalize_features": False, "stage1_step": 1.0},
    "no-decay": {"meta_weight_decay": 0.0, "stage1_step": 1.0},
    "multi-task": {"warm_start": "tasks", "stage1_step": 1.0},
    "stage2-last": {"stage2_last": True, "stage1_step": 1.0},
    "plateau": {"plateau": True, "stage1_step": 1.0},
    "balanced-visits": {"balanced_visits": True, "stage1_step": 1.0},
    "k3": {"n_clusters": 3, "stage1_step": 1.0},
    "previous": {"output_scale": False, "normalize_features": False, "meta_weight_decay": 0.0, "stage1_step": 1.0},
    "released": _RELEASED,
    "all-released": RELEASED,
}
#: What each candidate is, for tables.
LABELS = {
    "ours": "ours (output scale, normalised features, weight decay 1e-3; the first record's choice)",
    "full-step": "ours with the full stage-1 step (as published)",
    "step-0.3": "ours with a stage-1 step of 0.3",
    "step-0.1": "ours with a stage-1 step of 0.1",
    "step-0.3-decay": "ours with a step of 0.3 and a decoupled decay of 1 on the meta network",
    "step-0.3-decay-0.3": "ours with a step of 0.3 and a decoupled decay of 0.3",
    "no-scale": "full step, without the output scale",
    "no-normalize": "full step, without normalised features",
    "no-decay": "full step, without weight decay",
    "multi-task": "full step, warm start on every training task",
    "stage2-last": "full step, stage 2 on the round's last task (as released)",
    "plateau": "full step, the rate falls by 0.7 when a stage's loss stalls (as released)",
    "balanced-visits": "full step, small clusters revisited so every round sees every cluster (as released)",
    "k3": "full step, K = 3 clusters (as released) instead of the silhouette's",
    "previous": "previous (the first benchmark runs')",
    "released": "K = 3 and 200 / 100 iterations per task as released, none of our additions",
    "all-released": "as released: the row above with their rate schedule, visiting order and stage 2",
}
#: The candidates that :func:`choose` picks each family's meta-training from (:data:`lampinn.methods.META_VALIDATED`).
CHOICES = ("full-step", "step-0.3", "step-0.1", "step-0.3-decay", "step-0.3-decay-0.3")
#: A meta network is called healthy when every layer has a saturated share below this.
HEALTHY = 0.1
#: In a candidate's changes, "the loss-weight factor the benchmark chose for scratch at B" (resolved per family).
SCRATCH_WEIGHTS = "scratch_full"
#: The candidates of the tuned meta-validation (:func:`record_tuned`): every one starts where transfer starts and
#: adapts at the rate the benchmark would tune for it; they differ in the stage-1 step and in the loss weights of
#: stages 1 and 2 (the family's own, or scratch at B's tuned ones); ``no-meta`` skips stages 1 and 2.
TUNED_CANDIDATES = {
    **{name: CANDIDATES[name] for name in CHOICES},
    **{f"{name}-scratch-weights": {**CANDIDATES[name], "meta_weight_factor": SCRATCH_WEIGHTS} for name in CHOICES},
    "no-meta": {"stage1_iters": 0, "stage2_iters": 0},
}


def choose(rows: dict[str, dict], candidates: tuple[str, ...] = CHOICES) -> str:
    """The candidate to meta-train with, from one family's meta-validation ``rows`` (those of ``candidates`` it has):
    the lowest score among those that beat fine-tuning with a healthy meta network; if none does, the lowest score.

    Health decides only between settings that already adapt better than the baseline: a healthy network that
    adapts worse than fine-tuning is no better a choice than a saturated one that adapts well.
    """
    tried = {c: rows[c] for c in candidates if c in rows}
    if not tried:
        raise ValueError(f"none of the candidates {list(candidates)} is in the rows; run lampinn meta-validation first")
    good = {c: r for c, r in tried.items()
            if r["score"] < rows[BASELINE]["score"] and max(r["saturation"]) < HEALTHY}
    pool = good or tried
    return min(pool, key=lambda c: pool[c]["score"])


def record(family: Family, mode: str, out, candidates: list[str] | None = None, device: str | None = None,
           progress: bool = True, models: str | None = None, n_interior: int | None = None, workers: int = 1,
           scheduler: str | None = None) -> list[dict]:
    """Meta-validate each candidate of :data:`CANDIDATES` (and the fine-tuning baseline) at the sizes of ``mode``
    (with ``n_interior`` collocation points, if given) and append one JSON line per row to ``out``
    (``FAMILY.jsonl``), with its provenance. Rows already in ``out`` at the same sizes are kept, not rerun, whatever
    mode they ran under: the sizes, not the mode's name, make two rows comparable. A candidate whose configuration
    equals a measured row's (``"ours"`` is the family's setting in :data:`lampinn.methods.META_VALIDATED` at the time) is
    not rerun either: its row repeats that row's numbers and provenance, with ``same_as`` naming it. Returns every
    row at these sizes.

    Each row: the score (mean adapted MSE on the held-out training tasks), each task's MSE, the meta network's
    saturation per layer (evaluation grid, gates at 0.5), the weighted loss terms at the start of adaptation
    (median over the held-out tasks), K and the seconds. With ``models``, each candidate's meta-trained network
    is saved there as ``CANDIDATE.pt`` (chapter 8 inspects them). The candidates are independent jobs: they run
    in this process, in ``workers`` processes or on the Dask cluster at ``scheduler``, as the benchmark's jobs do
    (:mod:`lampinn.executor`), each row appended as it arrives.
    """
    names = list(CANDIDATES) if candidates is None else list(candidates)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise ValueError(f"unknown candidate {unknown[0]!r}; expected some of: {', '.join(CANDIDATES)}")
    s = settings.sizes(family.name, mode)
    if n_interior is not None:
        s = {**s, "n_interior": n_interior}
    protocol = Protocol(budget=s["budget"], n_interior=s["n_interior"], n_boundary=s["n_boundary"], device=device)
    lampinn = get_method("lampinn")
    base, chosen = lampinn.default_config(protocol, s), lampinn.default_config(protocol, s, family.name)

    def resolve(name: str, changes: dict):  # "ours" is the family's chosen setting; every other name, the defaults'
        return replace(chosen if name == "ours" else base, **changes)

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if models is not None:
        os.makedirs(models, exist_ok=True)

    def rows() -> list[dict]:
        if not os.path.exists(out):
            return []
        with open(out) as fh:
            return [r for r in map(json.loads, fh) if r["sizes"] == s and r["family"] == family.name]

    def append(row: dict) -> None:
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def write(row: dict, result: dict) -> None:
        append({"family": family.name, "mode": mode, "sizes": s, "held_out": list(VALIDATION_TASKS), **row,
                "provenance": provenance(mode, 1, result["seconds"], device, result["cpu_seconds"])})
        if progress:
            print(f"{family.name} {row['candidate']}: score {row['score']:.3g}"
                  + (f", saturation {row['saturation']}" if "saturation" in row else ""), flush=True)

    def twin_of(name: str) -> dict | None:  # a measured row of the same configuration: same seed, same numbers
        return next((r for r in rows() if r["candidate"] != BASELINE
                     and resolve(r["candidate"], r["changes"]) == resolve(name, CANDIDATES[name])), None)

    with lock(os.path.dirname(os.path.abspath(out)), os.path.basename(out)):  # one run per file at a time
        done = {r["candidate"] for r in rows()}
        jobs = {} if BASELINE in done else {BASELINE: (finetune_validation, family, protocol)}
        later = []  # twins of a candidate measured in this run: written once it is
        for name in names:
            config = resolve(name, CANDIDATES[name])
            if name in done or name in jobs:
                continue
            if twin_of(name) is not None or any(resolve(n, CANDIDATES[n]) == config for n in jobs if n != BASELINE):
                later.append(name)
            else:
                path = None if models is None else os.path.join(models, f"{name}.pt")
                jobs[name] = (_candidate_row, family, config, path)
        with executor(workers, scheduler) as (pool, slots, _):
            for name, result in run_jobs(pool, slots, jobs):
                if name == BASELINE:
                    mse = result["value"]
                    write({"candidate": BASELINE, "score": float(mse.mean()), "mse": mse.tolist()}, result)
                else:
                    write({"candidate": name, "changes": CANDIDATES[name], **result["value"]}, result)
        for name in later:
            twin = twin_of(name)
            if models is not None and os.path.exists(os.path.join(models, f"{twin['candidate']}.pt")):
                shutil.copyfile(os.path.join(models, f"{twin['candidate']}.pt"), os.path.join(models, f"{name}.pt"))
            append({**twin, "candidate": name, "changes": CANDIDATES[name], "same_as": twin["candidate"]})
        return rows()


def record_tuned(result: dict, out, candidates: list[str], seeds: int = 3, device: str | None = None,
                 progress: bool = True, workers: int = 1, scheduler: str | None = None) -> list[dict]:
    """Meta-validation as the benchmark ``result`` (a committed run's file) would run LAM-PINN, one row per candidate of
    :data:`TUNED_CANDIDATES` and seed, appended to ``out`` (rows already there are kept, not rerun).

    Each candidate starts where transfer starts (pretraining and affinity sessions at scratch at B's tuned rate and
    weights), adapts with fine-tuning's tuned loss weights at the rate of :data:`lampinn.benchmark.TUNING_LRS` with the
    lowest mean MSE on the benchmark's tuning tasks (as the benchmark tunes LAM-PINN's), and is scored on the held-out
    tasks; the baseline is fine-tuning as the run tuned it (:func:`lampinn.results.baseline_as_run`), per seed. Every
    task is a training task. :func:`lampinn.results.aggregate` averages the seeds for :func:`choose`.
    """
    unknown = [n for n in candidates if n not in TUNED_CANDIDATES]
    if unknown:
        raise ValueError(f"unknown candidate {unknown[0]!r}; expected some of: {', '.join(TUNED_CANDIDATES)}")
    family, s, t = get_family(result["family"]), result["sizes"], result["tuning"]
    tuned = {"scratch_full": [t["lr"]["scratch_full"], t["weight"]["scratch_full"]],
             "finetune": [t["lr"]["finetune"], t["weight"]["finetune"]]}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    def rows() -> list[dict]:
        if not os.path.exists(out):
            return []
        with open(out) as fh:
            return [r for r in map(json.loads, fh) if r["sizes"] == s and r["tuned"] == tuned]

    with lock(os.path.dirname(os.path.abspath(out)), os.path.basename(out)):
        done = {(r["candidate"], r["seed"]) for r in rows()}
        jobs = {}
        for seed in range(seeds):
            if (BASELINE, seed) not in done:
                jobs[(BASELINE, seed)] = (_baseline_row, result, seed, device)
            for name in candidates:
                if (name, seed) not in done:
                    changes = {k: t["weight"]["scratch_full"] if v == SCRATCH_WEIGHTS else v
                               for k, v in TUNED_CANDIDATES[name].items()}
                    jobs[(name, seed)] = (_tuned_row, family, s, tuned, changes, seed, device)
        with executor(workers, scheduler) as (pool, slots, _):
            for (name, seed), res in run_jobs(pool, slots, jobs):
                row = {"family": family.name, "mode": result["mode"], "sizes": s, "held_out": list(VALIDATION_TASKS),
                       "tuned": tuned, "candidate": name, "seed": seed, **res["value"],
                       "provenance": provenance(result["mode"], 1, res["seconds"], device, res["cpu_seconds"])}
                with open(out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                if progress:
                    print(f"{family.name} {name} seed {seed}: score {row['score']:.3g}", flush=True)
        return rows()


def _baseline_row(result: dict, seed: int, device: str | None) -> dict:
    """Fine-tuning as the benchmark ``result`` tuned it, on the held-out tasks (a job of :func:`record_tuned`)."""
    from .results import baseline_as_run

    mse = baseline_as_run(result, "transfer", split(get_family(result["family"]))[1], seed, device)
    return {"score": float(mse.mean()), "mse": mse.tolist()}


def _tuned_row(family: Family, sizes: dict, tuned: dict, changes: dict, seed: int, device: str | None) -> dict:
    """One candidate at one seed (a job of :func:`record_tuned`): meta-trained on the kept tasks from transfer's
    start, its adaptation rate chosen on the tuning tasks, scored on the held-out ones."""
    from .benchmark import TUNING_LRS, TUNING_TASKS

    (lr, warm), (_, weight) = tuned["scratch_full"], tuned["finetune"]
    protocol = Protocol(budget=sizes["budget"], lr=lr, n_interior=sizes["n_interior"], n_boundary=sizes["n_boundary"],
                        seed=seed, device=device)
    config = replace(get_method("lampinn").default_config(protocol, sizes), warm_weight_factor=warm, **changes)
    train_tasks, val_tasks = split(family)
    lam = LAMPINN(config).meta_train(family, tasks=train_tasks)
    weighted, corners = family.scaled(weight), family.train_tasks()[list(TUNING_TASKS)]

    def mse(rate: float, tasks: np.ndarray) -> np.ndarray:
        adapting = replace(lam, family=weighted, config=replace(lam.config, adapt_lr=rate))
        return np.array([evaluate(adapting.adapt(theta).model, family, theta)["mse"] for theta in tasks])

    rates = {str(r): float(mse(r, corners).mean()) for r in TUNING_LRS}
    rate = float(min(rates, key=rates.get))
    val = mse(rate, val_tasks)
    return {"changes": changes, "score": float(val.mean()), "mse": val.tolist(), "adapt_lr": rate, "rates": rates,
            "k": lam.clustering.k, "saturation": [round(v, 3) for v in meta_saturation(lam)]}


def _candidate_row(family: Family, config, path: str | None) -> dict:
    """Meta-validate one configuration (a job of :func:`record`): its score, each task's MSE, K, the saturation and
    the loss scales; the network saved at ``path`` if given."""
    mv = meta_validation(config, family)
    lam = mv.model
    gates = torch.full((lam.clustering.k,), 0.5, device=lam.points["interior"].device)
    scales = loss_scales(family, lambda x: lam.model(x, gates), lam.points, mv.tasks)
    if path is not None:
        lam.save(path)
    return {"score": mv.score, "mse": mv.mse.tolist(), "k": lam.clustering.k,
            "saturation": [round(v, 3) for v in meta_saturation(lam)],
            "loss_scales": {k: float(np.median(v)) for k, v in scales.items()}}


def finetune_validation(family: Family, protocol, held_out: tuple[int, ...] = VALIDATION_TASKS) -> np.ndarray:
    """The baseline of meta-validation: fine-tuning the central-task network for B/10 on each held-out task
    (``methods.run("transfer", ...)``); returns each task's MSE."""
    return run("transfer", family, split(family, held_out)[1], protocol).mse


__all__ = ["CANDIDATES", "CHOICES", "HEALTHY", "LABELS", "SCRATCH_WEIGHTS", "TUNED_CANDIDATES", "choose",
           "record_tuned", "VALIDATION_TASKS", "MetaValidation", "finetune_validation", "loss_scales",
           "meta_saturation", "meta_validation", "record", "saturation", "split", "weight_response"]
