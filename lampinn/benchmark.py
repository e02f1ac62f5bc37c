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
wall-clock time of every stretch of a resumed run and ``_cpu_seconds`` their CPU time
(:class:`lampinn.provenance.Stopwatch`); the result's provenance keeps both.

Every method's Adam rate and loss weights are tuned on training tasks, never on the unseen ones
(:meth:`Run.tune`): on the four corner tasks of :data:`TUNING_TASKS`, each setting first takes the
rate of :data:`TUNING_LRS` with the lowest mean MSE, then, at that rate, the factor of
:data:`TUNING_WEIGHTS` on its constraint terms' weights (:meth:`~lampinn.pde.base.Family.scaled`), widened one
decade at a time while the best factor is the smallest or largest tried, up to :data:`TUNING_WEIGHT_RANGE`
(:func:`widen`): a family whose best weighting lies outside the first three factors still gets it.
The settings are scratch at B, scratch at B/10, fine-tuning at B/10 from the central-task network
(transfer, MAML and Reptile adapt with it) and LAM-PINN's adaptation from its meta-trained network
(its ablations adapt with it, so that only the ablated part differs). The transfer network is
pretrained with scratch at B's rate and weights; MAML and Reptile meta-train with their own rates
(chapter 4's) on the family weighted as fine-tuning is; LAM-PINN meta-trains with its configuration's
rates and the family's own weights.

The ablations reuse LAM-PINN's affinity sessions (they are identical: same budget, rate, points and
seed), and ``ablation_fixed_routing``, which changes only the adaptation, reuses its meta-trained
network; their ``meta`` seconds count only what they recompute.

Methods (:data:`DEFAULT_METHODS`): scratch with B and with B/10; ``transfer`` pretrained on the
central training task (chapter 3 measured it better than joint pretraining on Burgers); MAML
(second order, one inner step) and Reptile with chapter 4's settings; LAM-PINN with chapter 8's;
and the ablations of :data:`lampinn.methods.ABLATIONS`. Any other name of the registry may be asked
for. Every adaptation gets B/10 iterations; each task is trained on its own.
"""
from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from . import settings
from .core import LAMPINN
from .files import atomic_write, dumps, fail, lock, mapping, number, read_json, remove_orphans
from .methods import ABLATIONS, METHODS, LAMPINNMethod, MetaLearned, Method, Prepared, get_method, tuned_protocol
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
#: The settings :meth:`Run.tune` chooses a rate and a weight factor for, and the method each is measured with.
SETTINGS = {"scratch_full": "scratch_full", "scratch_adapt": "scratch_adapt", "finetune": "transfer", "lampinn": "lampinn"}
#: Rows of the 27-task training design the rates are tuned on: four corners, none of them the central task.
TUNING_TASKS = (0, 8, 18, 26)
#: The calibration rule of every family (chapter 2), blind to LAM-PINN: scratch at B, with its tuned rate and
#: weights, reaches a relative L2 error below ``rel_l2`` on at least ``count`` of the :data:`CALIBRATION_TASKS`.
#: A family that fails it is too hard for the budget: every method would fail it too, and nothing is ranked.
CALIBRATION_RULE = {"rel_l2": 0.3, "count": 8}
#: Rows of the training design the rule is checked on: the four tuning corners, the central task and the six
#: meta-validation tasks (:data:`lampinn.health.VALIDATION_TASKS`); never an unseen or OOD task.
CALIBRATION_TASKS = (0, 4, 8, 10, 13, 15, 18, 20, 21, 26)
#: The most seeds an ablation runs with unless told otherwise (``--ablation-seeds``): each meta-trains LAM-PINN
#: again, and three seeds of every ablation do not fit the CPU time of a family's full run (chapter 12 says so).
#: Every other method runs every seed.
ABLATION_SEEDS = 1


class Run:
    """One family's benchmark in one folder; methods are prepared once per seed, tasks run one by one."""

    def __init__(self, family: Family, mode: str, out: Path, seeds: int = 1, device: str | None = None,
                 ablation_seeds: int = ABLATION_SEEDS) -> None:
        if mode not in settings.MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(settings.MODES)}")
        if seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {seeds}")
        if ablation_seeds < 1:
            raise ValueError(f"--ablation-seeds must be >= 1, got {ablation_seeds}")
        self.family, self.mode, self.out, self.seeds, self.device = family, mode, Path(out), seeds, device
        self.ablation_seeds = ablation_seeds
        self.sizes = settings.sizes(family.name, mode)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"{family.name}.models").mkdir(exist_ok=True)
        self.partial_path = self.out / f"{family.name}.partial.json"
        self.done: dict[str, dict] = {}
        if self.partial_path.exists():
            self.done = check_partial(read_json(self.partial_path), self.partial_path, family.name, mode)
        self.done["_mode"], self.done["_family"] = mode, family.name

    def save(self) -> None:
        """Write the resume file (atomically)."""
        atomic_write(self.partial_path, dumps(self.done))

    # ---- configuration ------------------------------------------------------------------------
    @property
    def tuning(self) -> dict:
        """What :meth:`tune` has chosen so far (empty before tuning)."""
        return self.done.get("_tuning", {})

    def protocol(self, seed: int, method: str | None = None) -> Protocol:
        """The shared protocol at this run's sizes, with ``method``'s tuned rates once :meth:`tune` has chosen them
        (:func:`lampinn.methods.tuned_protocol`)."""
        return tuned_protocol(self.sizes, self.tuning, seed, method, self.device)

    def weighted(self, setting: str | None) -> Family:
        """The family with ``setting``'s tuned loss-weight factor (1 before tuning, or for ``None``)."""
        return self.family.scaled(self.tuning.get("weight", {}).get(setting, 1.0))

    def tune(self, names: tuple[str, ...] = ("scratch_full", "scratch_adapt", "finetune"), lampinn: LAMPINN | None = None) -> dict:
        """Choose each setting's Adam rate, then its loss-weight factor, by the mean MSE on the tuning tasks.

        Each setting is tuned once per run (seed 0) and kept in the resume file; it is measured with the
        method of :data:`SETTINGS` (fine-tuning from the transfer network); ``lampinn`` is the
        meta-trained network the ``"lampinn"`` setting adapts from.
        """
        tuning = self.done.setdefault("_tuning", {"tasks": self.family.train_tasks()[list(TUNING_TASKS)].tolist(),
                                                  "criterion": "mean MSE over the tasks",
                                                  "lr": {}, "weight": {}, "mse": {}, "weight_mse": {}, "seconds": {}})
        limits = tuple(tuning.setdefault("weight_range", list(TUNING_WEIGHT_RANGE)))
        fam, base = self.family, self.protocol(0)
        tasks = np.array(tuning["tasks"])

        def trial(method: Method, prepared: Prepared, lr: float, factor: float) -> float:
            try:
                return float(np.mean(method.adapt(prepared, fam.scaled(factor), tasks, replace(base, lr=lr, adapt_lr=lr)).mse))
            except TrainingDiverged:
                return float("inf")

        for name in names:
            if name in tuning["lr"]:
                continue
            if name == "lampinn" and lampinn is None:
                raise ValueError("tuning the 'lampinn' setting needs its meta-trained network")
            start = time.perf_counter()
            method = get_method(SETTINGS[name])
            if name == "lampinn":
                prepared = Prepared(lampinn)
            else:  # the transfer network is pretrained with scratch at B's choices
                prepared = method.prepare(self.weighted(method.prepare_setting), self.protocol(0, "scratch_full"))
            rates = {str(lr): trial(method, prepared, lr, 1.0) for lr in TUNING_LRS}
            lr = float(min(rates, key=rates.get))
            factors = widen(lambda w: rates[str(lr)] if w == 1.0 else trial(method, prepared, lr, w),
                            limits=limits)
            tuning["mse"][name], tuning["weight_mse"][name] = rates, factors
            tuning["lr"][name], tuning["weight"][name] = lr, float(min(factors, key=factors.get))
            tuning["seconds"][name] = time.perf_counter() - start
            self.save()
        return tuning

    def calibrate(self) -> dict:
        """Check :data:`CALIBRATION_RULE` once per run (seed 0) with scratch at B's tuned rate and weights; kept in
        the resume file and the result (``calibration``)."""
        if "_calibration" not in self.done:
            start = time.perf_counter()
            self.done["_calibration"] = {**calibration(self.weighted("scratch_full"), self.protocol(0, "scratch_full")),
                                         "seconds": time.perf_counter() - start}
            self.save()
        return self.done["_calibration"]

    def config(self, method: Method, seed: int):
        """The method's own settings at this run's sizes: a MetaConfig, a LAMPINNConfig, or None."""
        if isinstance(method, LAMPINNMethod):
            return method.default_config(self.protocol(seed), self.sizes, self.family.name)
        if isinstance(method, MetaLearned):
            return method.default_config(self.sizes)
        return None

    # ---- preparing each method (meta-training), cached on disk --------------------------------------
    def prepare(self, name: str, seed: int) -> Prepared:
        """What method ``name`` adapts from, made once per seed and kept in ``FAMILY.models/``."""
        method = get_method(name)
        if isinstance(method, LAMPINNMethod) and method.adapt_only and name != "lampinn":
            return self.prepare("lampinn", seed)  # the same network, adapted differently
        path = self.out / f"{self.family.name}.models" / f"{name}-seed{seed}.pt"
        key = f"{name}/{seed}/meta_seconds"
        if not method.prepares:  # scratch
            return Prepared()
        if path.exists():
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
            sessions = None if name == "lampinn" else self.prepare("lampinn", seed).init.sessions
            prepared = method.prepare(self.family, self.protocol(seed), self.config(method, seed), sessions=sessions)
        else:
            prepared = method.prepare(self.weighted(method.prepare_setting), self.protocol(seed, name),
                                      self.config(method, seed))
        prepared.seconds = time.perf_counter() - start
        if isinstance(prepared.init, LAMPINN):
            prepared.init.save(path)
        else:
            save_state(prepared.init, path)
        self.done[key] = prepared.seconds
        return prepared

    def _load_mlp(self, path: Path, seed: int) -> MLP:
        net = self.protocol(seed).network(self.family)
        load_state(net, path)
        return net.to(default_device(self.device))

    # ---- one task ------------------------------------------------------------------------------------
    def task(self, name: str, prepared: Prepared, theta: np.ndarray, seed: int) -> dict:
        """Adapt method ``name`` to one task with its tuned rate and weights; the MSE, relative L2 and seconds."""
        method = get_method(name)
        start = time.perf_counter()
        result = method.adapt(prepared, self.weighted(method.setting), theta[None], self.protocol(seed, name))
        seconds = time.perf_counter() - start
        return {**result.metrics[0], "seconds": seconds}

    def run(self, methods: list[str], progress: bool = True) -> dict:
        """Tune, prepare and adapt every method on every task not done yet; the result (see :meth:`summarise`)."""
        clock, before = Stopwatch(), self.done.get("_seconds", 0.0)
        # CPU seconds add up like the wall-clock ones; a resume file timed before they were recorded has none
        cpu_before = self.done.get("_cpu_seconds", None if "_seconds" in self.done else 0.0)

        def timed() -> None:
            self.done["_seconds"] = before + clock.seconds()
            if cpu_before is not None:
                self.done["_cpu_seconds"] = cpu_before + clock.cpu_seconds()

        def record(key: str, value: dict) -> None:
            self.done[key] = value
            timed()
            self.save()

        self.save()  # an unwritable folder fails here, before anything is computed
        lam_based = [m for m in methods if isinstance(get_method(m), LAMPINNMethod)]
        if len(lam_based) < len(methods):
            self.tune()
            self.calibrate()
        if lam_based and "lampinn" not in self.tuning.get("lr", {}):
            self.tune(("lampinn",), self.prepare("lampinn", 0).init)
        tasks = {"unseen": self.family.unseen_tasks(), "ood": self.family.ood_tasks()}
        for method in methods:
            for seed in range(self.method_seeds(method)):
                keys = [f"{method}/{seed}/{split}/{i}" for split in SPLITS for i in range(len(tasks[split]))]
                if all(k in self.done for k in keys):
                    continue
                try:
                    prepared, failed = self.prepare(method, seed), None
                except TrainingDiverged as err:  # meta-training diverged: every task of the method is diverged
                    prepared, failed = None, str(err)
                for split in SPLITS:
                    for i, theta in enumerate(tasks[split]):
                        key = f"{method}/{seed}/{split}/{i}"
                        if key in self.done:
                            continue
                        t0 = time.perf_counter()
                        try:
                            if failed:
                                raise TrainingDiverged(f"preparing {method} diverged: {failed}", None)
                            row = self.task(method, prepared, theta, seed)
                        except TrainingDiverged as err:
                            row = {"diverged": True, "seconds": time.perf_counter() - t0, "message": str(err)}
                        record(key, row)
                        if progress:
                            what = "diverged" if row.get("diverged") else f"MSE {row['mse']:.3e}"
                            print(f"{self.family.name} {method} seed {seed} {split} task {i}: {what}", flush=True)
        timed()
        self.save()
        return self.summarise(methods, self.done["_seconds"], self.done.get("_cpu_seconds"))

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
            n = len(self.family.unseen_tasks() if split == "unseen" else self.family.ood_tasks())
            for method in methods:
                seeds = range(self.method_seeds(method))
                rows = [[self.done[f"{method}/{s}/{split}/{i}"] for i in range(n)] for s in seeds]
                mse = np.array([[r.get("mse", np.nan) for r in seed_rows] for seed_rows in rows])  # NaN: diverged
                rel = np.array([[r.get("rel_l2", np.nan) for r in seed_rows] for seed_rows in rows])
                target[method] = {
                    "per_task_mse": _nulls(mse.mean(axis=0)), "per_task_rel_l2": _nulls(rel.mean(axis=0)),
                    "per_seed_mse": [_nulls(row) for row in mse],
                    "mean_mse": _null(mse.mean()), "std_over_seeds": _null(mse.mean(axis=1).std()),
                    "diverged": int(np.isnan(mse.mean(axis=0)).sum()), "seeds": len(seeds),
                    "seconds": {"meta": float(np.mean([self.done.get(f"{method}/{s}/meta_seconds", 0.0) for s in seeds])),
                                "adapt": float(np.sum([[r["seconds"] for r in seed_rows] for seed_rows in rows]) / len(seeds))},
                }
        if self.tuning:
            out["tuning"] = self.tuning
        if "_calibration" in self.done:
            out["calibration"] = self.done["_calibration"]
        out["provenance"] = provenance(self.mode, self.seeds, seconds, self.device, cpu_seconds)
        return out


def widen(score: Callable[[float], float], start: tuple[float, ...] = TUNING_WEIGHTS,
          limits: tuple[float, float] = TUNING_WEIGHT_RANGE) -> dict[str, float]:
    """Score every factor of ``start``, then one decade beyond the best while it is the smallest or largest tried
    and the next decade is within ``limits``; each factor's score, keyed by ``str(factor)`` in increasing order."""
    scores = {float(f): score(float(f)) for f in start}
    while True:
        best, low, high = min(scores, key=scores.get), min(scores), max(scores)
        if best == low and low / 10 >= limits[0] * (1 - 1e-9):
            factor = float(f"{low / 10:.12g}")
        elif best == high and high * 10 <= limits[1] * (1 + 1e-9):
            factor = float(f"{high * 10:.12g}")
        else:
            return {str(f): scores[f] for f in sorted(scores)}
        scores[factor] = score(factor)


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


#: A finished task in the partial file: its metrics, or the mark of a diverged one.
TASK_KEYS, DIVERGED_KEYS = {"mse", "rel_l2", "seconds"}, {"diverged", "seconds", "message"}


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
    if "_tuning" in done:
        t = mapping(path, "_tuning", done["_tuning"], required={"lr", "weight"})
        for what in ("lr", "weight"):
            for k, v in mapping(path, f"_tuning.{what}", t[what]).items():
                if k not in SETTINGS:
                    raise fail(path, f"_tuning.{what}", k, "one of " + ", ".join(SETTINGS))
                number(path, f"_tuning.{what}.{k}", v, 1e-12)
    for key, value in done.items():
        if key.startswith("_"):
            if key not in ("_mode", "_family", "_seconds", "_cpu_seconds", "_tuning", "_calibration"):
                raise fail(path, key, value,
                           "no other '_' keys than _mode, _family, _seconds, _cpu_seconds, _tuning and _calibration")
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
            mapping(path, key, value, TASK_KEYS)
            for k in TASK_KEYS:
                number(path, f"{key}.{k}", value[k])
    return done


def merge(into: str | os.PathLike, other: str | os.PathLike, family: str, mode: str) -> dict:
    """Merge the run in folder ``other`` into the run in folder ``into``: two processes of one family's run, started
    on empty folders at the same commit, each on its own methods (``--methods``), side by side on a machine's cores.

    Finished tasks and meta-training seconds must be disjoint; each setting's tuning is taken from the file that
    has it (the tuning tasks and weight range must agree), the calibration from the one that ran it; the seconds add
    up (one-core seconds, as every stretch of a resumed run), and so do the CPU seconds where both files have them.
    ``other``'s meta-trained models are copied in (an
    existing file of the same name must be identical). Rerunning the benchmark command on ``into`` then writes the
    result from the merged resume file. Returns the merged content, also written to ``into``'s resume file.
    """
    into, other = Path(into), Path(other)
    with lock(into, family), lock(other, family):  # neither run may be going on
        return _merge(into, other, family, mode)


def _merge(into: Path, other: Path, family: str, mode: str) -> dict:
    paths = [folder / f"{family}.partial.json" for folder in (into, other)]
    a, b = (check_partial(read_json(path), path, family, mode) for path in paths)
    shared = sorted(k for k in set(a) & set(b) if not k.startswith("_"))
    if shared:
        raise ValueError(f"{paths[1]} repeats {len(shared)} entries of {paths[0]} (first {shared[0]!r}); merge runs of "
                         f"disjoint methods")
    if "_tuning" in b:
        ta = a.setdefault("_tuning", b["_tuning"])
        if ta is not b["_tuning"]:
            for k in ("tasks", "criterion", "weight_range"):
                if ta.get(k) != b["_tuning"].get(k):
                    raise ValueError(f"{paths[1]} tuned with another {k} than {paths[0]}: {b['_tuning'].get(k)!r}")
            for k in ("lr", "weight", "mse", "weight_mse", "seconds"):
                twice = set(ta.get(k, {})) & set(b["_tuning"].get(k, {}))
                if twice:
                    raise ValueError(f"{paths[1]} tuned {sorted(twice)[0]!r} too, as {paths[0]} did; merge runs of "
                                     f"disjoint methods")
                ta.setdefault(k, {}).update(b["_tuning"].get(k, {}))
    if "_calibration" in b:
        if "_calibration" in a:
            raise ValueError(f"both {paths[0]} and {paths[1]} ran the calibration; merge runs of disjoint methods")
        a["_calibration"] = b["_calibration"]
    a.update({k: v for k, v in b.items() if not k.startswith("_")})
    # CPU seconds add up where both runs recorded them (a run timed before they were recorded has _seconds only)
    cpu = [d.get("_cpu_seconds", None if "_seconds" in d else 0.0) for d in (a, b)]
    a.pop("_cpu_seconds", None)
    if None not in cpu:
        a["_cpu_seconds"] = cpu[0] + cpu[1]
    a["_seconds"] = a.get("_seconds", 0.0) + b.get("_seconds", 0.0)
    models = into / f"{family}.models"
    models.mkdir(exist_ok=True)
    for source in sorted((other / f"{family}.models").glob("*.pt")):
        target = models / source.name
        if target.exists() and target.read_bytes() != source.read_bytes():
            raise ValueError(f"{target} exists and differs from {source}; delete the stale one")
        shutil.copyfile(source, target)
    atomic_write(paths[0], dumps(a))
    return a


def benchmark(family: str | Family, mode: str, out: str | os.PathLike, seeds: int = 1, methods: list[str] | None = None,
              device: str | None = None, progress: bool = True, ablation_seeds: int = ABLATION_SEEDS) -> dict:
    """Run (or resume) the benchmark of ``family`` (a name, or a :class:`~lampinn.pde.base.Family` of your own)
    and write ``OUT/FAMILY.json``, ``.md`` and ``.png``; returns the result. The ablations run
    ``min(seeds, ablation_seeds)`` seeds."""
    methods = list(methods or DEFAULT_METHODS)
    for m in methods:
        get_method(m)  # an unknown name fails here, before anything runs
    fam = family if isinstance(family, Family) else get_family(family)
    if mode not in settings.MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(settings.MODES)}")
    check_device(device)  # an unavailable device fails here, before any folder is made
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; expected a folder")
    out.mkdir(parents=True, exist_ok=True)
    with lock(out, fam.name):
        remove_orphans(out, fam.name)  # what a killed run left half-written
        if (out / f"{fam.name}.models").is_dir():
            remove_orphans(out / f"{fam.name}.models", "")
        run = Run(fam, mode, out, seeds, device, ablation_seeds)
        result = run.run(methods, progress)
        base = out / fam.name
        atomic_write(base.with_suffix(".json"), dumps(result, indent=1))
        atomic_write(base.with_suffix(".md"), markdown_table(result))
        plot(result, base.with_suffix(".png"))
    return result


__all__ = ["ABLATION_SEEDS", "CALIBRATION_RULE", "CALIBRATION_TASKS", "DEFAULT_METHODS", "calibration", "check_partial", "SETTINGS", "SPLITS", "TUNING_LRS", "TUNING_TASKS", "TUNING_WEIGHTS", "TUNING_WEIGHT_RANGE", "Run", "benchmark", "merge", "widen"]
