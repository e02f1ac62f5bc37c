"""The benchmark protocol of the book: every method on a family's unseen and OOD tasks, resumable.

``lampinn benchmark FAMILY --mode {ci,default,full} --out DIR`` writes ``DIR/FAMILY.json`` (the
schema is :meth:`Run.summarise`'s), ``DIR/FAMILY.md`` (a table) and ``DIR/FAMILY.png`` (per-task bars),
made by :mod:`lampinn.report`; :mod:`lampinn.results` reads them back. The sizes of each mode are
:data:`lampinn.settings.SIZES`; the methods are :data:`lampinn.methods.METHODS`.
Every finished task is written to ``DIR/FAMILY.partial.json`` as it completes, and every
meta-trained model to ``DIR/FAMILY.models/``, so an interrupted run started again skips what
is done. A run holds an exclusive lock on its family's files in ``DIR`` (:func:`lampinn.files.lock`): a
second run on the same folder stops at once. A task whose training diverges is recorded as
``{"diverged": true, "seconds": ..., "message": ...}`` with no MSE, so the run finishes and a resumed run
moves on; the result shows ``null`` for its MSE and counts it in the method's ``diverged``. The partial
file is checked against its schema when read (:func:`check_partial`); ``_seconds`` in it adds up the
wall-clock time of every stretch of a resumed run, ``_cpu_seconds`` the CPU time of every job and ``_workers``
the executor of each stretch; the result's provenance keeps all three.

A run is a queue of independent jobs (:meth:`Run.jobs`): tuning trials, the calibration, each method's
preparation per seed, one adaptation per task. They go to an executor (:mod:`lampinn.executor`: this
process, ``--workers N`` processes, or a Dask cluster with ``--scheduler``) as their inputs become ready,
and each result is recorded as it arrives (:meth:`Run.record`). Each job seeds itself and runs on one thread,
so the numbers do not depend on the executor.

Every method's Adam rate and loss weights are tuned on training tasks, never on the unseen ones
(:meth:`Run.trials`): on the four corner tasks of :data:`TUNING_TASKS`, each setting first takes the
rate of :data:`TUNING_LRS` with the lowest mean MSE, then, at that rate, the factor of
:data:`TUNING_WEIGHTS` on its constraint terms' weights (:meth:`~lampinn.pde.base.Family.scaled`), widened one
decade at a time while the best factor is the smallest or largest tried, up to :data:`TUNING_WEIGHT_RANGE`
(:func:`next_factor`): a family whose best weighting lies outside the first three factors still gets it.
The settings are scratch at B, scratch at B/10, fine-tuning at B/10 from the central-task network
(transfer, MAML and Reptile adapt with it) and LAM-PINN's adaptation from its meta-trained network
(its ablations adapt with it, so that only the ablated part differs). LAM-PINN's setting then weighs
fine-tuning's chosen rate and weights against its own sweeps' and keeps the better, and last tries the
gates' rates of :data:`TUNING_GATE_LRS`. The transfer network is pretrained with scratch at B's rate and
weights; MAML and Reptile meta-train with their own rates (chapter 4's) on the family weighted as
fine-tuning is. LAM-PINN starts where transfer starts (:meth:`Run.config`): its affinity sessions start
from transfer's very network and, like its modular network's warm start, train at scratch at B's rate
and weights; stages 1 and 2 run at their configuration's rates with the weights meta-validation chose.

The ablations reuse LAM-PINN's affinity sessions (they are identical: same budget, rate, weights, points
and seed; a resumed run whose LAM-PINN has adapted to every task and kept no network makes them again rather than
meta-train LAM-PINN only to reuse them), and ``ablation_fixed_routing``, which changes only the adaptation, reuses its meta-trained
network; their ``meta`` seconds count only what they recompute. ``ablation_no_meta`` adapts LAM-PINN's
warm-started modular network with stages 1 and 2 skipped: what meta-training adds is LAM-PINN's error
against it. In the benchmark it adapts with LAM-PINN's setting, as every ablation does: meta-validation (chapter 8)
has already weighed that network, tuned on itself, against meta-training, and where it chose no meta-training
LAM-PINN *is* that network. A run that meta-trains LAM-PINN with its own settings instead (``meta``: the diversity
map's) has had no such weighing, so there ``ablation_no_meta`` is meta-validation's ``no-meta`` candidate (none of
the run's meta-training settings, :meth:`Run.config`) with a setting of its own, ``no_meta`` (:meth:`Run.setting`),
tuned on its own network exactly as LAM-PINN's is (the rate and weight sweeps, fine-tuning's pair, the gates' rates):
it is then the benchmark's LAM-PINN had meta-validation chosen no meta-training.

``--mode paper`` runs the paper's protocol (chapter 11; :data:`lampinn.methods.PAPER_METHODS`): B = 10,000, LAM-PINN as
the authors released it (``lampinn_released``, untuned) and every baseline twice, untuned (``*_untuned``: the released
rate 2e-3 and the family's own weights, as a paper would run them) and tuned as below. Its sizes evaluate every task
every ``eval_every`` iterations, so each task keeps its final MSE, its curve and its best iteration's MSE (chosen
against the reference: an oracle, recorded only to compare with the paper's numbers), on the unseen tasks only and
with no calibration.

Methods (:data:`DEFAULT_METHODS`): scratch with B and with B/10; ``transfer`` pretrained on the
central training task (chapter 3 measured it better than joint pretraining on Burgers); MAML
(second order, one inner step) and Reptile with chapter 4's settings; LAM-PINN with chapter 8's;
and the ablations of :data:`lampinn.methods.ABLATIONS`. Any other name of the registry may be asked
for. Every adaptation gets B/10 iterations; each task is trained on its own.
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from . import settings
from .core import LAMPINN
from .executor import Inline, WorkerDied, executor, run_jobs
from .files import atomic_write, dumps, fail, lock, mapping, number, read_json, remove_orphans
from .solve import Features, SolveConfig
from .methods import (ABLATIONS, Anchor, ClosedForm, METHODS, PAPER_METHODS, LAMPINNMethod, MetaLearned, Method, Prepared, get_method,
                      tuned_protocol)
from .nn import MLP, check_device, default_device, load_state, save_state
from .pde import Family, get_family
from .protocol import Protocol
from .provenance import Stopwatch, provenance
from .report import markdown_table, plot
from .train import TrainingDiverged

#: The methods a run covers unless told otherwise, in table order.
DEFAULT_METHODS = ("scratch_full", "scratch_adapt", "transfer", "maml", "reptile", "lampinn", *ABLATIONS, "zero")
SPLITS = ("unseen", "ood")
#: The Adam rates tried for each tuned setting.
TUNING_LRS = (3e-4, 1e-3, 3e-3, 1e-2)
#: The factors first tried on the constraint terms' weights, at the setting's best rate.
TUNING_WEIGHTS = (0.1, 1.0, 10.0)
#: The smallest and largest factor :func:`widen` may try: a best factor at an edge of what was tried is one of these.
TUNING_WEIGHT_RANGE = (1e-3, 1e3)
#: The gates' adaptation rates LAM-PINN's setting tries last, at its chosen rate and weights (published: 0.3).
TUNING_GATE_LRS = (0.03, 0.1, 0.3, 1.0)
#: The gates' rate of LAM-PINN's sweeps before its own is chosen: the published one.
DEFAULT_GATE_LR = 0.3
#: The settings the tuning chooses a rate and a weight factor for, and the method each is measured with.
SETTINGS = {"scratch_full": "scratch_full", "scratch_adapt": "scratch_adapt", "finetune": "transfer", "lampinn": "lampinn"}
#: The setting ``ablation_no_meta`` adapts with in a run whose LAM-PINN meta-trains with the run's own settings (the
#: diversity map's, :meth:`Run.setting`): tuned on its own network, as LAM-PINN's is tuned on LAM-PINN's.
NO_META_SETTING = {"no_meta": "ablation_no_meta"}
#: Every setting a run may tune, and the method each is measured with.
ALL_SETTINGS = {**SETTINGS, **NO_META_SETTING}
#: Rows of the 27-task training design the rates are tuned on: four corners, none of them the central task.
TUNING_TASKS = (0, 8, 18, 26)
#: The calibration rule of every family (chapter 2), blind to LAM-PINN: scratch at B, with its tuned rate and
#: weights, reaches a relative L2 error below ``rel_l2`` on at least ``count`` of the :data:`CALIBRATION_TASKS`.
#: A family that fails it is too hard for the budget: every method would fail it too, and nothing is ranked.
CALIBRATION_RULE = {"rel_l2": 0.3, "count": 8}
#: Rows of the training design the rule is checked on: the four tuning corners, the central task and the six
#: meta-validation tasks (:data:`lampinn.health.VALIDATION_TASKS`); never an unseen or OOD task.
CALIBRATION_TASKS = (0, 4, 8, 10, 13, 15, 18, 20, 21, 26)
#: The most seeds an ablation runs with unless told otherwise (``--ablation-seeds``): as many as the committed runs'
#: other methods (each ablation but fixed routing meta-trains LAM-PINN again: a full run's largest cost).
ABLATION_SEEDS = 3


class Run:
    """One family's benchmark in one folder: a queue of independent jobs (tuning trials, the calibration,
    preparations, one adaptation per task) that :meth:`run` hands to an executor as their inputs become ready.

    The same class is the worker's view of the run (:func:`work`): built with the run's ``sizes`` and the
    tuning so far (``done``), it reads nothing from the folder but the meta-trained networks and writes
    nothing but the network a preparation makes.
    """

    def __init__(self, family: Family, mode: str, out: Path, seeds: int = 1, device: str | None = None,
                 ablation_seeds: int = ABLATION_SEEDS, *, sizes: dict | None = None, done: dict | None = None,
                 meta: dict | None = None) -> None:
        if mode not in settings.MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(settings.MODES)}")
        if seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {seeds}")
        if ablation_seeds < 1:
            raise ValueError(f"--ablation-seeds must be >= 1, got {ablation_seeds}")
        self.family, self.mode, self.out, self.seeds, self.device = family, mode, Path(out), seeds, device
        self.ablation_seeds, self.meta = ablation_seeds, meta
        self.sizes = sizes or settings.sizes(family.name, mode)
        self.partial_path = self.out / f"{family.name}.partial.json"
        self.models = self.out / f"{family.name}.models"
        self.failed: set[tuple[str, int]] = set()  # (method, seed) of the preparations that diverged in this run
        self.splits = SPLITS if self.sizes.get("ood", 1) else ("unseen",)
        self.n_tasks = {"unseen": len(family.unseen_tasks()), "ood": len(family.ood_tasks())}
        if done is not None:  # a worker's view
            self.done = done
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(exist_ok=True)
        self.done = {}
        if self.partial_path.exists():
            self.done = check_partial(read_json(self.partial_path), self.partial_path, family.name, mode)
        self.done["_mode"], self.done["_family"] = mode, family.name
        # CPU seconds add up like the wall-clock ones; a resume file timed before they were recorded has none
        self.cpu_timed = "_cpu_seconds" in self.done or "_seconds" not in self.done

    def save(self) -> None:
        """Write the resume file (atomically)."""
        atomic_write(self.partial_path, dumps(self.done))

    def spec(self) -> dict:
        """What a worker needs to rebuild this run (with :func:`work`): picklable, no open files, and a new ``run`` id
        each time (a worker keeps one family object per run)."""
        return {"family": self.family, "mode": self.mode, "out": self.out, "seeds": self.seeds, "device": self.device,
                "ablation_seeds": self.ablation_seeds, "sizes": self.sizes, "meta": self.meta, "run": uuid.uuid4().hex}

    # ---- configuration ------------------------------------------------------------------------
    @property
    def tuning(self) -> dict:
        """What the tuning has measured and chosen so far (empty before it starts)."""
        return self.done.get("_tuning", {})

    def tuned(self, setting: str) -> bool:
        """Whether ``setting``'s rate and weight factor (and LAM-PINN's gates' rate) are all chosen."""
        return setting in self.tuning.get("weight", {})

    def protocol(self, seed: int, method: str | None = None) -> Protocol:
        """The shared protocol at this run's sizes, with ``method``'s tuned rates once they are chosen
        (:func:`lampinn.methods.tuned_protocol`)."""
        return tuned_protocol(self.sizes, self.tuning, seed, method, self.device,
                              None if method is None else self.setting(method))

    def weighted(self, setting: str | None) -> Family:
        """The family with ``setting``'s tuned loss-weight factor (1 before tuning, or for ``None``)."""
        return self.family.scaled(self.tuning.get("weight", {}).get(setting, 1.0))

    def setting(self, name: str) -> str | None:
        """The tuned setting method ``name`` adapts with: its own (the method's ``setting``), but for
        ``ablation_no_meta`` in a run whose LAM-PINN meta-trains with the run's own settings, ``no_meta``: its own
        network's (see the module docstring), made with none of those settings (:meth:`config`). Where LAM-PINN does
        not meta-train the two are the same network and share LAM-PINN's setting."""
        if name == "ablation_no_meta" and self.meta is not None:
            lam = self.config(get_method("lampinn"), 0)
            if lam.stage1_iters or lam.stage2_iters:
                return "no_meta"
        return get_method(name).setting

    def config(self, method: Method, seed: int):
        """The method's own settings at this run's sizes: a MetaConfig, a LAMPINNConfig, or None.

        LAM-PINN starts where transfer starts: its warm start, the affinity sessions and their source network are
        trained at scratch at B's tuned rate and loss weights, as transfer's source is (the source *is* transfer's
        network, bit for bit); stages 1 and 2 use the weights meta-validation chose
        (:data:`lampinn.methods.META_VALIDATED`), or the run's own ``meta`` settings where it has them (the diversity
        map's; a value :data:`lampinn.health.SCRATCH_WEIGHTS` stands for scratch at B's tuned weight factor). Those are
        meta-training settings (a decay, for one, acts on the warm start too): the no-meta arm of such a run takes none
        of them, so that it is meta-validation's ``no-meta`` candidate, the network the benchmark adapts where
        meta-validation chose no meta-training."""
        if isinstance(method, LAMPINNMethod) and method.untuned:  # as released: the untuned rate, the family's weights
            return method.default_config(self.protocol(seed, method.name), self.sizes, self.family.name)
        if isinstance(method, LAMPINNMethod):
            chosen_for = self.family.name if self.meta is None else None  # the run's own meta settings replace it
            config = method.default_config(self.protocol(seed, "scratch_full"), self.sizes, chosen_for)
            scratch = self.tuning.get("weight", {}).get("scratch_full", 1.0)
            own = {} if self.setting(method.name) == "no_meta" else self.meta or {}  # no meta-training: none of it
            meta = {k: scratch if v == "scratch_full" else v for k, v in own.items()}
            return replace(config, warm_weight_factor=scratch, **meta)
        if isinstance(method, MetaLearned):
            return method.default_config(self.sizes)
        if isinstance(method, ClosedForm):
            return SolveConfig.for_mode(self.mode)
        return None

    # ---- the jobs, as a worker runs them ----------------------------------------------------------------
    def do(self, job: tuple):
        """Run one job (see :meth:`jobs`) and return what :meth:`record` keeps of it."""
        kind, *args = job
        if kind == "trial":
            return self.trial(*args)
        if kind == "calibrate":
            return calibration(self.weighted("scratch_full"), self.protocol(0, "scratch_full"))
        if kind == "prepare":
            try:
                return {"seconds": self.prepare(*args).seconds}
            except TrainingDiverged as err:
                return {"diverged": str(err)}
        method, seed, split, i = args
        theta = (self.family.unseen_tasks() if split == "unseen" else self.family.ood_tasks())[i]
        start = time.perf_counter()
        try:
            return self.task(method, self.prepare(method, seed), theta, seed)
        except TrainingDiverged as err:
            return {"diverged": True, "seconds": time.perf_counter() - start, "message": str(err)}

    def trial(self, setting: str, lr: float, factor: float, gate_lr: float | None = None) -> float | None:
        """One point of a setting's tuning sweep: the mean MSE on the tuning tasks at Adam rate ``lr`` and loss-weight
        factor ``factor`` (LAM-PINN: and gates' rate ``gate_lr``, default the published one), measured with the method
        of :data:`SETTINGS` from what it adapts from at seed 0 (the transfer network, pretrained with scratch at B's
        choices, for fine-tuning; the meta-trained network for LAM-PINN); ``None`` if training diverged."""
        method = get_method(ALL_SETTINGS[setting])
        base = replace(self.protocol(0), adapt_gate_lr=gate_lr)
        try:
            result = method.adapt(self.prepare(method.name, 0), self.family.scaled(factor),
                                  np.array(self.tuning["tasks"]), replace(base, lr=lr, adapt_lr=lr))
        except TrainingDiverged:
            return None
        return float(np.mean(result.mse))

    def prepare(self, name: str, seed: int) -> Prepared:
        """What method ``name`` adapts from, made once per seed and kept in ``FAMILY.models/``."""
        method = get_method(name)
        if not method.prepares:  # scratch
            return Prepared()
        source = self.source(name)
        if source != name:  # an ablation that changes only the adaptation: LAM-PINN's network
            return self.prepare(source, seed)
        path, key = self.model(name, seed), f"{name}/{seed}/meta_seconds"
        if path.exists():
            if isinstance(method, ClosedForm):
                return Prepared(Features.load(path), self.done.get(key, 0.0))
            if not isinstance(method, LAMPINNMethod):
                return Prepared(self._load_mlp(path, seed), self.done.get(key, 0.0))
            init = LAMPINN.load(path, self.device, self.family)
            wanted = replace(self.config(method, seed), **method.changes)
            changed = [f"{f.name} {getattr(init.config, f.name)!r} (now {getattr(wanted, f.name)!r})"
                       for f in fields(wanted) if f.name != "device" and getattr(init.config, f.name) != getattr(wanted, f.name)]
            if changed:  # a resume must not reuse a network meta-trained with other settings
                raise ValueError(f"{path} was meta-trained with {', '.join(changed)}; delete it (and its tasks in the "
                                 f"resume file) to meta-train again")
            return Prepared(init, self.done.get(key, 0.0))
        start = time.perf_counter()
        if isinstance(method, LAMPINNMethod):
            lam = name in ABLATIONS and (self.model("lampinn", seed).exists() or not self._adapted("lampinn", seed))
            sessions = self.prepare("lampinn", seed).init.sessions if lam else None  # else: made again, the same
            prepared = method.prepare(self.family, self.protocol(seed), self.config(method, seed), sessions=sessions)
        else:
            prepared = method.prepare(self.weighted(method.prepare_setting), self.protocol(seed, name),
                                      self.config(method, seed))
        prepared.seconds = time.perf_counter() - start
        if isinstance(prepared.init, (LAMPINN, Features)):
            prepared.init.save(path)
        else:
            save_state(prepared.init, path)
        self.done[key] = prepared.seconds
        return prepared

    def _load_mlp(self, path: Path, seed: int) -> MLP:
        net = self.protocol(seed).network(self.family)
        load_state(net, path)
        return net.to(default_device(self.device))

    def task(self, name: str, prepared: Prepared, theta: np.ndarray, seed: int) -> dict:
        """Adapt method ``name`` to one task with its tuned rate and weights; the MSE, relative L2 and seconds."""
        method = get_method(name)
        start = time.perf_counter()
        result = method.adapt(prepared, self.weighted(self.setting(name)), theta[None], self.protocol(seed, name))
        seconds = time.perf_counter() - start
        return {**result.metrics[0], "seconds": seconds}

    # ---- which jobs are ready ------------------------------------------------------------------------
    def source(self, name: str) -> str | None:
        """The method whose prepared network ``name`` adapts from (itself, LAM-PINN's for an ablation of the
        adaptation only), or ``None`` for a method that prepares nothing."""
        method = get_method(name)
        if not method.prepares:
            return None
        if isinstance(method, ClosedForm) and method.network_source:  # a basis read from another method's network
            return method.network_source
        return "lampinn" if isinstance(method, LAMPINNMethod) and method.adapt_only else name

    def model(self, name: str, seed: int) -> Path:
        """Where method ``name``'s network of ``seed`` is kept."""
        return self.models / f"{name}-seed{seed}.pt"

    def settings_needed(self, methods: list[str]) -> list[str]:
        """The settings a run of ``methods`` tunes: scratch at B's always (the calibration, transfer's source and
        LAM-PINN's warm start use it), scratch at B/10's and fine-tuning's if any method is not LAM-PINN-based,
        LAM-PINN's if any is, and ``no_meta`` where ``ablation_no_meta`` has its own (:meth:`setting`); none for a run of
        untuned methods only."""
        tuned = [m for m in methods if not get_method(m).untuned]
        closed = [m for m in tuned if isinstance(get_method(m), (ClosedForm, Anchor))]  # they tune nothing; some read a network
        tuned = [m for m in tuned if m not in closed]
        if not tuned:
            return ["scratch_full"] if any(getattr(get_method(m), "network_source", None) for m in closed) else []
        lam = [isinstance(get_method(m), LAMPINNMethod) for m in tuned]
        own = ("no_meta",) if "ablation_no_meta" in tuned and self.setting("ablation_no_meta") == "no_meta" else ()
        return ["scratch_full", *(("scratch_adapt", "finetune") if not all(lam) else ()), *(("lampinn",) if any(lam) else ()),
                *own]

    def preparation(self, name: str, seed: int) -> list[tuple]:
        """The jobs still needed before ``name``'s network of ``seed`` exists and whose inputs are ready: its
        preparation, or first LAM-PINN's for an ablation (it reuses LAM-PINN's affinity sessions); none once the
        network exists, or while a tuned setting its preparation uses is not chosen yet."""
        if (name, seed) in self.failed or self.model(name, seed).exists():
            return []
        method = get_method(name)
        if isinstance(method, LAMPINNMethod):  # its warm start is pretrained as transfer's source: at scratch at B's choices
            if not method.untuned and not self.tuned("scratch_full"):
                return []
            if name in ABLATIONS and not self.model("lampinn", seed).exists() and not self._adapted("lampinn", seed):
                return self.preparation("lampinn", seed)
            return [("prepare", name, seed)]
        return [("prepare", name, seed)] if method.prepare_setting is None or self.tuned(method.prepare_setting) else []

    def _adapted(self, name: str, seed: int) -> bool:
        """Whether every task of ``name`` at ``seed`` is done (a resumed run that redoes an ablation then makes its
        affinity sessions itself, the same ones, rather than meta-train LAM-PINN again only to reuse them)."""
        return all(key in self.done for _, _, key in self.task_keys(name, seed))

    def trials(self, setting: str) -> list[tuple]:
        """The tuning jobs of ``setting`` that can run now: the rates of :data:`TUNING_LRS`, then the weight factors
        :func:`next_factor` asks for at the chosen rate; first the network the setting adapts from, if any."""
        t = self.tuning
        if self.tuned(setting):
            return []
        source = self.source(ALL_SETTINGS[setting])
        if source is not None and not self.model(source, 0).exists():
            return self.preparation(source, 0)
        rates = t["mse"].get(setting, {})
        todo = [("trial", setting, lr, 1.0) for lr in TUNING_LRS if str(lr) not in rates]
        if todo or setting not in t["lr"]:
            return todo
        lr, factors = t["lr"][setting], {float(k): v for k, v in t["weight_mse"][setting].items()}
        todo = [("trial", setting, lr, float(f)) for f in TUNING_WEIGHTS if float(f) not in factors]
        nxt = next_factor(factors, tuple(t["weight_range"]))
        if todo or nxt is not None:
            return todo or [("trial", setting, lr, nxt)]
        return self._gate_trials(setting) if _modular(setting) else []

    def _gate_trials(self, setting: str = "lampinn") -> list[tuple]:
        """A LAM-PINN setting's tuning after its rate and weight sweeps: fine-tuning's chosen rate and weights (once
        chosen, if this run tunes them) against the sweeps' pair, then the gates' rates of :data:`TUNING_GATE_LRS` at
        the better pair."""
        t, pair = self.tuning, self.tuning.get("pair", {}).get(setting, {})
        if "chosen" not in pair:  # waiting for fine-tuning's choice, or measuring it
            ft = "finetune" in t["weight"]
            return [("trial", setting, t["lr"]["finetune"], t["weight"]["finetune"], DEFAULT_GATE_LR)] if ft else []
        lr, factor = pair[pair["chosen"]]["lr"], pair[pair["chosen"]]["weight"]
        gates = t.get("gate_mse", {}).get(setting, {})
        return [("trial", setting, lr, factor, g) for g in TUNING_GATE_LRS if str(g) not in gates]

    def jobs(self, methods: list[str]) -> list[tuple]:
        """Every job not done yet whose inputs are ready, most urgent first: tuning (every other job waits for it),
        the calibration, preparations (the longest jobs), then the tasks, each once."""
        jobs: list[tuple] = []
        names = self.settings_needed(methods)
        for setting in names:
            jobs += self.trials(setting)
        calibrate = self.sizes.get("calibrate", 1) and "finetune" in names  # baselines run, and the mode checks the rule
        if calibrate and "_calibration" not in self.done and self.tuned("scratch_full"):
            jobs.append(("calibrate",))
        tasks: list[tuple] = []
        for method in methods:
            m, source = get_method(method), self.source(method)
            for seed in range(self.method_seeds(method)):
                missing = [("task", method, seed, split, i) for split, i, key in self.task_keys(method, seed)
                           if key not in self.done]
                if not missing:
                    continue
                if source is not None and not self.model(source, seed).exists():
                    jobs += self.preparation(source, seed)
                elif self.setting(method) is None or self.tuned(self.setting(method)):
                    tasks += missing
        return list(dict.fromkeys(jobs + tasks))

    # ---- recording what a job returned ---------------------------------------------------------------
    def record(self, job: tuple, out: dict, methods: list[str], progress: bool) -> None:
        """Keep what ``job`` returned (``out`` from :func:`work`) in the resume file, and say so if ``progress``."""
        kind, *args = job
        value = out["value"]
        if self.cpu_timed:
            self.done["_cpu_seconds"] = self.done.get("_cpu_seconds", 0.0) + out["cpu_seconds"]
        if kind == "trial":
            self._record_trial(*args[:3], args[3] if len(args) > 3 else None, value, out["seconds"], progress, methods)
        elif kind == "calibrate":
            self.done["_calibration"] = {**value, "seconds": out["seconds"]}
        elif kind == "prepare":
            name, seed = args
            if "diverged" not in value:
                self.done[f"{name}/{seed}/meta_seconds"] = value["seconds"]
                if progress:
                    print(f"{self.family.name} {name} seed {seed}: prepared in {value['seconds']:.0f} s", flush=True)
            else:
                self._prepare_diverged(name, seed, value["diverged"], methods)
        else:
            method, seed, split, i = args
            row = value if value.get("diverged") else {**value, "cpu_seconds": out["cpu_seconds"]}
            self.done[f"{method}/{seed}/{split}/{i}"] = row
            if progress:
                what = "diverged" if row.get("diverged") else f"MSE {row['mse']:.3e}"
                print(f"{self.family.name} {method} seed {seed} {split} task {i}: {what}", flush=True)
        self.save()

    def _prepare_diverged(self, name: str, seed: int, message: str, methods: list[str]) -> None:
        """A preparation diverged: every task of every method that adapts from its network is diverged (LAM-PINN's
        ablations too: they reuse its affinity sessions); if the tuning needs the network, the run cannot go on."""
        self.failed.add((name, seed))
        for setting in self.settings_needed(methods):
            if seed == 0 and self.source(ALL_SETTINGS[setting]) == name and not self.tuned(setting):
                raise TrainingDiverged(f"preparing {name} (seed 0) diverged, so the {setting!r} setting cannot be "
                                       f"tuned: {message}", None)
        for method in methods:
            lam_based = name == "lampinn" and isinstance(get_method(method), LAMPINNMethod)
            if (self.source(method) == name or lam_based) and seed < self.method_seeds(method):
                for _, _, key in self.task_keys(method, seed):
                    self.done.setdefault(key, {"diverged": True, "seconds": 0.0,
                                               "message": f"preparing {method} diverged: {message}"})

    def _record_trial(self, setting: str, lr: float, factor: float, gate_lr: float | None, mse: float | None,
                      seconds: float, progress: bool, methods: list[str]) -> None:
        t = self.tuning
        t["seconds"][setting] = t["seconds"].get(setting, 0.0) + seconds
        if gate_lr is not None:  # LAM-PINN's last phases (:meth:`_gate_trials`)
            self._record_gate_trial(lr, factor, gate_lr, mse, progress, setting)
            return
        if setting not in t["lr"]:  # a rate, at factor 1
            rates = t["mse"].setdefault(setting, {})
            rates[str(lr)] = mse
            if all(str(r) in rates for r in TUNING_LRS):
                t["mse"][setting] = rates = {str(r): rates[str(r)] for r in TUNING_LRS}
                t["lr"][setting] = best = float(min(rates, key=lambda r: _score(rates[r])))
                t["weight_mse"][setting] = {"1.0": rates[str(best)]}
        else:
            t["weight_mse"][setting][str(factor)] = mse
        if setting in t["lr"]:
            factors = {float(k): v for k, v in t["weight_mse"][setting].items()}
            if all(float(f) in factors for f in TUNING_WEIGHTS) and next_factor(factors, tuple(t["weight_range"])) is None:
                t["weight_mse"][setting] = ordered = {str(f): factors[f] for f in sorted(factors)}
                best = float(min(ordered, key=lambda f: _score(ordered[f])))
                if _modular(setting):  # then fine-tuning's pair, then the gates' rate
                    sweep = {"lr": t["lr"][setting], "weight": best, "mse": ordered[str(best)]}
                    t.setdefault("pair", {})[setting] = {"sweep": sweep}
                    if "finetune" not in self.settings_needed(methods) and not self.tuned("finetune"):
                        self._record_gate_trial(None, None, None, None, progress, setting)
                    return
                t["weight"][setting] = best
                if progress:
                    print(f"{self.family.name} tuned {setting}: rate {t['lr'][setting]:g}, weight factor "
                          f"{t['weight'][setting]:g}", flush=True)

    def _record_gate_trial(self, lr: float | None, factor: float | None, gate_lr: float | None, mse: float | None,
                           progress: bool, setting: str = "lampinn") -> None:
        """Record a trial of a LAM-PINN setting's last phases: fine-tuning's pair (``lr``, ``factor``) at the published
        gates' rate, or one gates' rate at the chosen pair (all ``None``: this run tunes no fine-tuning to compare
        with)."""
        t = self.tuning
        pair, gates = t["pair"][setting], t.setdefault("gate_mse", {}).setdefault(setting, {})
        if "chosen" not in pair:
            pair["finetune"] = None if lr is None else {"lr": lr, "weight": factor, "mse": mse}
            better = pair["finetune"] is not None and _score(mse) < _score(pair["sweep"]["mse"])
            pair["chosen"] = "finetune" if better else "sweep"
            gates[str(DEFAULT_GATE_LR)] = pair[pair["chosen"]]["mse"]
        else:
            gates[str(gate_lr)] = mse
        if all(str(g) in gates for g in TUNING_GATE_LRS):
            t["gate_mse"][setting] = ordered = {str(g): gates[str(g)] for g in TUNING_GATE_LRS}
            t.setdefault("gate_lr", {})[setting] = float(min(ordered, key=lambda g: _score(ordered[g])))
            chosen = pair[pair["chosen"]]
            t["lr"][setting], t["weight"][setting] = chosen["lr"], chosen["weight"]
            if progress:
                print(f"{self.family.name} tuned {setting}: rate {chosen['lr']:g}, weight factor {chosen['weight']:g} "
                      f"({pair['chosen']}'s), gates' rate {t['gate_lr'][setting]:g}", flush=True)

    # ---- the run -------------------------------------------------------------------------------------
    def run(self, methods: list[str], progress: bool = True, pool: cf.Executor | None = None, slots: int = 1,
            workers: str = "inline") -> dict:
        """Tune, prepare and adapt every method on every task not done yet, with the jobs on ``pool`` (at most
        ``slots`` at a time; default: this process, one at a time), recording each as it finishes; the result
        (see :meth:`summarise`). ``workers`` describes the executor for the provenance."""
        clock, before = Stopwatch(), self.done.get("_seconds", 0.0)
        tuning = self.done.setdefault("_tuning", {})
        if "tasks" not in tuning:  # a run given its tuning tasks (the diversity map's 8-task runs) keeps them
            tuning["tasks"] = self.family.train_tasks()[list(TUNING_TASKS)].tolist()
        for key, value in {"criterion": "mean MSE over the tasks", "weight_range": list(TUNING_WEIGHT_RANGE),
                           "lr": {}, "weight": {}, "mse": {}, "weight_mse": {}, "seconds": {}}.items():
            tuning.setdefault(key, value)
        self.done["_workers"] = [*self.done.get("_workers", []), workers]
        self.save()  # an unwritable folder fails here, before anything is computed
        spec, errors = self.spec(), []

        def ready() -> dict:  # nothing new once a network the tuning needs has failed
            return {} if errors else {job: (work, spec, {"_tuning": self.tuning}, job) for job in self.jobs(methods)}

        try:
            for job, out in run_jobs(pool or Inline(), slots, ready):
                self.done["_seconds"] = before + clock.seconds()
                try:
                    self.record(job, out, methods, progress)
                except TrainingDiverged as err:
                    errors.append(err)
        except WorkerDied as err:
            raise WorkerDied(f"{err}; what finished is kept in {self.partial_path}: run the same command again to "
                             f"resume") from None
        finally:
            self.done["_seconds"] = before + clock.seconds()
            self.save()
        if errors:
            raise errors[0]
        left = self.jobs(methods) or [k for k in self.expected(methods) if k not in self.done]
        if left:
            raise RuntimeError(f"the run stopped with work left that nothing could start (first: {left[0]}); "
                               f"this is a bug in lampinn.benchmark")
        return self.summarise(methods, self.done["_seconds"], self.done.get("_cpu_seconds"))

    def task_keys(self, method: str, seed: int) -> list[tuple[str, int, str]]:
        """Each task of ``method`` at ``seed``: its split, its index and its key in the resume file."""
        return [(split, i, f"{method}/{seed}/{split}/{i}") for split in self.splits for i in range(self.n_tasks[split])]

    def expected(self, methods: list[str]) -> list[str]:
        """The keys of every task of a run of ``methods``."""
        return [key for m in methods for s in range(self.method_seeds(m)) for _, _, key in self.task_keys(m, s)]

    def method_seeds(self, method: str) -> int:
        """How many seeds ``method`` runs with: this run's, or at most ``ablation_seeds`` for an ablation."""
        return min(self.seeds, self.ablation_seeds) if method in ABLATIONS else self.seeds

    # ---- results -------------------------------------------------------------------------------------
    def summarise(self, methods: list[str], seconds: float, cpu_seconds: float | None = None) -> dict:
        """The result file's content. Per method, on the unseen tasks (``methods``) and the OOD ones (``ood``):
        each task's MSE and relative L2 error as means over seeds, each seed's per-task MSE (``per_seed_mse``,
        seed 0 first: the seed of the saved checkpoints), the mean MSE and the standard deviation of the seeds'
        means, how many tasks diverged, the seeds run and the seconds; then tuning, calibration and provenance
        (with the run's wall-clock ``seconds`` and, where known, its ``cpu_seconds``)."""
        budget = {"full": self.sizes["budget"], "adapt": max(1, self.sizes["budget"] // 10)}
        out = {"family": self.family.name, "mode": self.mode, "budget": budget, "sizes": self.sizes, "methods": {}, "ood": {}}
        for split, target in (("unseen", out["methods"]), ("ood", out["ood"])):
            if split not in self.splits:
                continue
            n = self.n_tasks[split]
            for method in methods:
                seeds = range(self.method_seeds(method))
                # a closed-form basis read from another method's network costs that network's making
                closed = isinstance(get_method(method), ClosedForm) and get_method(method).network_source
                offline = self.source(method) if closed else method
                rows = [[self.done[f"{method}/{s}/{split}/{i}"] for i in range(n)] for s in seeds]
                mse = np.array([[r.get("mse", np.nan) for r in seed_rows] for seed_rows in rows])  # NaN: diverged
                rel = np.array([[r.get("rel_l2", np.nan) for r in seed_rows] for seed_rows in rows])
                target[method] = {
                    "per_task_mse": _nulls(mse.mean(axis=0)), "per_task_rel_l2": _nulls(rel.mean(axis=0)),
                    "per_seed_mse": [_nulls(row) for row in mse],
                    "mean_mse": _null(mse.mean()), "std_over_seeds": _null(mse.mean(axis=1).std()),
                    "diverged": int(np.isnan(mse.mean(axis=0)).sum()), "seeds": len(seeds),
                    "seconds": {"meta": float(np.mean([self.done.get(f"{offline}/{s}/meta_seconds", 0.0) for s in seeds])),
                                "adapt": float(np.sum([[r["seconds"] for r in seed_rows] for seed_rows in rows]) / len(seeds))},
                }
                solved = [r for seed_rows in rows for r in seed_rows if "residual" in r]
                if solved:  # a closed-form method: what its solves measured (means over seeds and tasks; condition: max)
                    target[method]["solve"] = {k: float(np.max([r[k] for r in solved]) if k == "condition" else
                                                        np.mean([r[k] for r in solved])) for k in SOLVE_KEYS}
                    if all("cpu_seconds" in r for r in solved):  # the online cost: CPU seconds of one task's job
                        target[method]["solve"]["cpu_seconds_per_task"] = float(np.mean([r["cpu_seconds"] for r in solved]))
                if all("curve" in r for seed_rows in rows for r in seed_rows):  # evaluated every eval_every iterations
                    target[method].update(_trajectories(rows))
        if self.tuning:
            out["tuning"] = self.tuning
        if "_calibration" in self.done:
            out["calibration"] = self.done["_calibration"]
        out["provenance"] = provenance(self.mode, self.seeds, seconds, self.device, cpu_seconds)
        out["provenance"]["workers"] = self.done.get("_workers", [])
        return out



def _trajectories(rows: list[list[dict]]) -> dict:
    """A method's evaluations during training (``rows``: each seed's task rows): each seed's per-task curve, best
    MSE and its iteration, and the best MSE per task (mean over seeds) and overall. The best is chosen against the
    reference (an oracle, as the paper's released code reports it), never a headline."""
    best = np.array([[r["best_mse"] for r in seed_rows] for seed_rows in rows])
    return {"per_task_best_mse": _nulls(best.mean(axis=0)), "mean_best_mse": _null(best.mean()),
            "per_seed_best_mse": [_nulls(row) for row in best],
            "per_seed_best_iteration": [[r["best_iteration"] for r in seed_rows] for seed_rows in rows],
            "per_seed_curves": [[r["curve"] for r in seed_rows] for seed_rows in rows]}


def work(spec: dict, state: dict, job: tuple) -> dict:
    """Run one job of a benchmark run wherever the executor put it: the run's view is rebuilt from ``spec``
    (:meth:`Run.spec`) and ``state`` (the tuning so far); returns what :meth:`Run.do` returns (the executor runs it
    through :func:`lampinn.executor.call`, on one thread, timed)."""
    spec = dict(spec)
    run = spec.pop("run")  # one run's family is one object in each process, so that its reference solutions
    if run not in _FAMILIES:  # are computed once per process, not once per job
        _FAMILIES.clear()
        _FAMILIES[run] = spec["family"]
    return Run(**{**spec, "family": _FAMILIES[run]}, done=state).do(job)


#: The family of the run this process last served a job of (see :func:`work`).
_FAMILIES: dict[str, Family] = {}


def next_factor(scores: dict[float, float | None], limits: tuple[float, float] = TUNING_WEIGHT_RANGE) -> float | None:
    """The weight factor the sweep tries next: one decade beyond the best of ``scores`` (factor: mean MSE, ``None``
    for a diverged trial) while it is the smallest or largest tried and within ``limits``; ``None`` when done."""
    order = sorted(scores)
    best = min(order, key=lambda f: _score(scores[f]))
    low, high = order[0], order[-1]
    if best == low and low / 10 >= limits[0] * (1 - 1e-9):
        return float(f"{low / 10:.12g}")
    if best == high and high * 10 <= limits[1] * (1 + 1e-9):
        return float(f"{high * 10:.12g}")
    return None


def widen(score: Callable[[float], float | None], start: tuple[float, ...] = TUNING_WEIGHTS,
          limits: tuple[float, float] = TUNING_WEIGHT_RANGE) -> dict[str, float | None]:
    """Score every factor of ``start``, then the factors :func:`next_factor` asks for, one at a time: the sweep a run's
    tuning makes (as jobs); each factor's score, keyed by ``str(factor)`` in increasing order."""
    scores = {float(f): score(float(f)) for f in start}
    while (factor := next_factor(scores, limits)) is not None:
        scores[factor] = score(factor)
    return {str(f): scores[f] for f in sorted(scores)}


def _modular(setting: str) -> bool:
    """Whether ``setting`` is a LAM-PINN network's (tuned further: fine-tuning's pair, then the gates' rates)."""
    return isinstance(get_method(ALL_SETTINGS[setting]), LAMPINNMethod)


def _score(mse: float | None) -> float:
    """A trial's mean MSE for comparing: a diverged one (``None``) is the worst."""
    return math.inf if mse is None else mse


def calibration(family: Family, protocol: Protocol, rows: tuple[int, ...] = CALIBRATION_TASKS) -> dict:
    """Scratch at B (``protocol``'s budget and rate, ``family``'s weights) on the given rows of the training design:
    each task's relative L2 error, how many are below the rule's threshold, and whether the family passes."""
    tasks = family.train_tasks()[list(rows)]
    rel = get_method("scratch_full").adapt(Prepared(), family, tasks, protocol).rel_l2
    solved = int(np.sum(rel < CALIBRATION_RULE["rel_l2"]))
    return {"tasks": tasks.tolist(), "rel_l2": rel.tolist(), "rule": dict(CALIBRATION_RULE), "solved": solved,
            "passed": solved >= CALIBRATION_RULE["count"]}


def _null(x: float) -> float | None:
    """``x`` as a float, ``None`` (JSON ``null``) where a diverged task made it NaN."""
    return float(x) if math.isfinite(x) else None


def _nulls(xs: np.ndarray) -> list[float | None]:
    return [_null(x) for x in xs]


#: A finished task in the partial file: its metrics (and, since runs record them, its CPU seconds), or the mark of a
#: diverged one.
#: What a closed-form method's task also records (:meth:`lampinn.solve.Solved.summary`).
SOLVE_KEYS = ("residual", "iterations", "converged", "rank", "condition")
TASK_KEYS, DIVERGED_KEYS = {"mse", "rel_l2", "seconds"}, {"diverged", "seconds", "message"}
#: What else a finished task may hold: its CPU seconds, and with ``eval_every`` its evaluations (:func:`lampinn.protocol.trajectory`).
TASK_EXTRA = {"cpu_seconds", "best_mse", "best_iteration", "curve", *SOLVE_KEYS}
#: The run-wide entries of a partial file.
PARTIAL_KEYS = ("_mode", "_family", "_seconds", "_cpu_seconds", "_workers", "_tuning", "_calibration")


def check_partial(done, path: str | os.PathLike, family: str, mode: str) -> dict:
    """The content of a partial (resume) file if it has the schema :meth:`Run.run` writes for this family and
    mode; else a one-line ``ValueError`` naming the file and the field."""
    mapping(path, "the file", done)
    if done.get("_mode") != mode:
        raise ValueError(f"{path} holds a {done.get('_mode')!r} run; expected {mode!r} (use another --out)")
    if done.get("_family", family) != family:
        raise fail(path, "_family", done["_family"], repr(family))
    number(path, "_seconds", done.get("_seconds", 0.0))
    number(path, "_cpu_seconds", done.get("_cpu_seconds", 0.0))
    if "_calibration" in done:
        mapping(path, "_calibration", done["_calibration"], required={"rel_l2", "solved", "passed"})
    workers = done.get("_workers", [])
    if not isinstance(workers, list) or not all(isinstance(w, str) for w in workers):
        raise fail(path, "_workers", workers, "a list of the executors of the run's stretches")
    if "_tuning" in done:
        t = mapping(path, "_tuning", done["_tuning"], required={"lr", "weight"})
        for what in ("lr", "weight", "gate_lr"):
            for k, v in mapping(path, f"_tuning.{what}", t.get(what, {})).items():
                if k not in ALL_SETTINGS:
                    raise fail(path, f"_tuning.{what}", k, "one of " + ", ".join(ALL_SETTINGS))
                number(path, f"_tuning.{what}.{k}", v, 1e-12)
    for key, value in done.items():
        if key.startswith("_"):
            if key not in PARTIAL_KEYS:
                raise fail(path, key, value, f"no other '_' keys than {', '.join(PARTIAL_KEYS)}")
            continue
        parts = key.split("/")
        ok = len(parts) in (3, 4) and parts[0] in METHODS and parts[1].isdigit()
        if len(parts) == 3:
            ok = ok and parts[2] == "meta_seconds"
        else:
            ok = ok and parts[2] in SPLITS and parts[3].isdigit() and int(parts[3]) < 100
        if not ok:
            raise fail(path, "key", key, "METHOD/SEED/meta_seconds or METHOD/SEED/SPLIT/TASK")
        if len(parts) == 3:
            number(path, key, value)
        elif isinstance(value, dict) and value.get("diverged") is True:
            mapping(path, key, value, DIVERGED_KEYS)
            number(path, f"{key}.seconds", value["seconds"])
        else:
            mapping(path, key, value, required=TASK_KEYS)
            for k in value:
                if k not in TASK_KEYS | TASK_EXTRA:
                    raise fail(path, f"{key}.{k}", value[k], "only " + ", ".join(sorted(TASK_KEYS | TASK_EXTRA)))
                if k == "curve":
                    if not isinstance(value[k], list) or not value[k]:
                        raise fail(path, f"{key}.curve", value[k], "a non-empty list of MSEs")
                    for j, v in enumerate(value[k]):
                        number(path, f"{key}.curve[{j}]", v)
                else:
                    number(path, f"{key}.{k}", value[k])
    return done


def benchmark(family: str | Family, mode: str, out: str | os.PathLike, seeds: int = 1, methods: list[str] | None = None,
              device: str | None = None, progress: bool = True, ablation_seeds: int = ABLATION_SEEDS,
              workers: int = 1, scheduler: str | None = None, sizes: dict | None = None,
              meta: dict | None = None, tuning_from: str | os.PathLike | None = None) -> dict:
    """Run (or resume) the benchmark of ``family`` (a name, or a :class:`~lampinn.pde.base.Family` of your own)
    and write ``OUT/FAMILY.json``, ``.md`` and ``.png``; returns the result. The ablations run
    ``min(seeds, ablation_seeds)`` seeds. The jobs run in this process (``workers=1``), in ``workers`` processes,
    or on the Dask cluster at ``scheduler`` (:func:`lampinn.executor.executor`); the numbers are the same. A family
    of your own needs ``workers=1`` unless the workers can import its class (define it in a module, not a
    notebook). ``sizes`` replaces the mode's sizes (:func:`lampinn.settings.sizes`) and ``meta`` the
    meta-training of :data:`lampinn.methods.META_VALIDATED` (LAMPINNConfig fields), as the diversity map's runs do.
    ``tuning_from`` (a result file of the same family and mode) gives the run that result's tuned rates and weights
    instead of tuning them again, so methods added later adapt from the same networks (chapter 13's closed-form
    methods read transfer's and LAM-PINN's); the result's tuning names the file (``from``)."""
    methods = list(methods or (PAPER_METHODS if mode == "paper" else DEFAULT_METHODS))
    for m in methods:
        get_method(m)  # an unknown name fails here, before anything runs
    fam = family if isinstance(family, Family) else get_family(family)
    if mode not in settings.MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(settings.MODES)}")
    check_device(device)  # an unavailable device fails here, before any folder is made
    source = None
    if tuning_from is not None:  # a tuning to take: checked before any folder is made
        if not os.path.isfile(tuning_from):
            raise ValueError(f"--tuning-from {str(tuning_from)!r} does not exist; expected a result file")
        source = read_json(tuning_from)
        if not isinstance(source, dict) or (source.get("family"), source.get("mode")) != (fam.name, mode) \
                or not isinstance(source.get("tuning"), dict):
            raise ValueError(f"--tuning-from {str(tuning_from)!r} is not a tuned {mode} result of {fam.name}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; expected a folder")
    out.mkdir(parents=True, exist_ok=True)
    with lock(out, fam.name):
        remove_orphans(out, fam.name)  # what a killed run left half-written
        if (out / f"{fam.name}.models").is_dir():
            remove_orphans(out / f"{fam.name}.models", "")
        run = Run(fam, mode, out, seeds, device, ablation_seeds, sizes=sizes, meta=meta)
        if source is not None:
            tuning = run.done.setdefault("_tuning", {})
            for key, value in source["tuning"].items():
                tuning.setdefault(key, value)
            tuning["from"] = str(tuning_from)
        with executor(workers, scheduler) as (pool, slots, description):
            result = run.run(methods, progress, pool, slots, description)
        atomic_write(out / f"{fam.name}.json", dumps(result, indent=1))
        atomic_write(out / f"{fam.name}.md", markdown_table(result))
        plot(result, out / f"{fam.name}.png")
    return result


__all__ = ["ABLATION_SEEDS", "CALIBRATION_RULE", "CALIBRATION_TASKS", "DEFAULT_GATE_LR", "DEFAULT_METHODS", "NO_META_SETTING", "ALL_SETTINGS", "TUNING_GATE_LRS", "calibration", "check_partial", "SETTINGS", "SPLITS", "TUNING_LRS", "TUNING_TASKS", "TUNING_WEIGHTS", "TUNING_WEIGHT_RANGE", "Run", "benchmark", "next_factor", "widen", "work"]
