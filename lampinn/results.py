"""Reading committed benchmark results (``results/``): the folder, the result files, the meta-trained
models, each run's tuning, and the paper's published numbers.

Reading results imports no training code: chapters 9-12 and ``lampinn headline`` start fast, and a
reader can inspect ``results/`` without PyTorch doing anything. (:func:`load_model` loads a
LAM-PINN, so it imports :mod:`lampinn.core` when called.)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import settings
from .files import fail, mapping, number, read_json

if TYPE_CHECKING:
    from .core import LAMPINN

#: The paper's Table 1 (average MSE on its 10 unseen tasks): another implementation, for Burgers and Helmholtz other
#: family definitions, and another protocol (the best of 1,000 adaptation iterations, baselines untuned); chapter 11
#: compares elasticity's with that protocol run here (``lampinn benchmark elasticity --mode paper``).
PUBLISHED = {
    "helmholtz": {"lampinn": 0.145, "transfer": 4.36, "maml": 4.06},
    "burgers": {"lampinn": 0.0588, "transfer": 0.508, "maml": 0.709},
    "elasticity": {"lampinn": 1.14e-3, "transfer": 3.54e-2, "maml": 2.91e-2},
}
#: The order of the families in the generated tables.
FAMILY_ORDER = ("burgers", "helmholtz", "elasticity")
#: The candidate name of a meta-validation record's baseline row: fine-tuning the central-task network
#: (written by :func:`lampinn.health.record`, read by :func:`meta_validation` and the report's tables).
BASELINE = "fine-tuning (transfer)"


def results_dir(folder: str | os.PathLike | None = None) -> Path:
    """The folder of committed results: ``folder``; else :func:`lampinn.settings.results_folder`
    (``LAMPINN_RESULTS``); else the first ``results/`` holding a result file in the working directory
    or above it; else the one beside the package."""
    if folder is None:
        folder = settings.results_folder()
    if folder is not None:
        return Path(folder)
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
    return check_result(read_json(path), path, family)


def diversity_map(family: str, folder: str | os.PathLike | None = None) -> dict:
    """The committed diversity map of ``family`` (``results/diversity/FAMILY.json``, chapter 12)."""
    path = results_dir(folder) / "diversity" / f"{family}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with: lampinn diversity {family} --out {path.parent}")
    return read_json(path)


#: The keys of a result file, of each method's entry, and of its provenance (which may also hold the run's
#: ``cpu_seconds``: absent from results made before the benchmark recorded them).
RESULT_KEYS = {"family", "mode", "budget", "sizes", "methods", "ood", "provenance"}
METHOD_KEYS = {"per_task_mse", "per_task_rel_l2", "mean_mse", "std_over_seeds", "seconds"}
PROVENANCE_KEYS = {"version", "git_commit", "torch", "device", "mode", "date", "command", "seeds", "seconds"}


def check_result(result, path: str | os.PathLike = "result", family: str | None = None) -> dict:
    """``result`` if it has the schema of a benchmark result (``lampinn.benchmark.Run.summarise``'s); else a
    one-line ``ValueError`` naming ``path``, the field, its value and what was expected.

    Every MSE is a finite number >= 0, or ``null`` for a task whose training diverged (then the method's
    ``diverged`` counts them and its ``mean_mse`` is ``null``); ``family`` is the name the file must carry.
    """
    mapping(path, "the file", result, required=RESULT_KEYS)
    if not isinstance(result["family"], str) or (family is not None and result["family"] != family):
        raise fail(path, "family", result["family"], repr(family) if family else "a family name")
    if result["mode"] not in settings.MODES:
        raise fail(path, "mode", result["mode"], "one of " + ", ".join(settings.MODES))
    budget = mapping(path, "budget", result["budget"], {"full", "adapt"})
    for k in budget:
        number(path, f"budget.{k}", budget[k], 1, integer=True)
    for k, v in mapping(path, "sizes", result["sizes"]).items():
        number(path, f"sizes.{k}", v, 0, integer=True)
    methods = mapping(path, "methods", result["methods"])
    if not methods:
        raise fail(path, "methods", methods, "at least one method")
    mapping(path, "ood", result["ood"], set(methods) if result["sizes"].get("ood", 1) else set())  # paper: unseen only
    n_tasks = {}
    for split in ("methods", "ood"):
        for name, m in result[split].items():
            where = f"{split}.{name}"
            mapping(path, where, m, required=METHOD_KEYS)
            mse, rel = m["per_task_mse"], m["per_task_rel_l2"]
            if not isinstance(mse, list) or not mse or not isinstance(rel, list) or len(rel) != len(mse):
                raise fail(path, f"{where}.per_task_mse", mse, "a non-empty list as long as per_task_rel_l2")
            if n_tasks.setdefault(split, len(mse)) != len(mse):
                raise fail(path, f"{where}.per_task_mse", f"{len(mse)} tasks", f"{n_tasks[split]} like the other methods")
            for i, (a, b) in enumerate(zip(mse, rel)):
                number(path, f"{where}.per_task_mse[{i}]", a, optional=True)
                number(path, f"{where}.per_task_rel_l2[{i}]", b, optional=True)
            diverged = sum(v is None for v in mse)
            if m.get("diverged", 0) != diverged:
                raise fail(path, f"{where}.diverged", m.get("diverged", 0), f"{diverged}, the tasks whose MSE is null")
            number(path, f"{where}.mean_mse", m["mean_mse"], optional=True)
            if (m["mean_mse"] is None) != (diverged > 0):
                raise fail(path, f"{where}.mean_mse", m["mean_mse"], "null exactly when some task diverged")
            number(path, f"{where}.std_over_seeds", m["std_over_seeds"], optional=True)
            if "seeds" in m:  # a method run with fewer seeds than the run (an ablation); absent in older results
                number(path, f"{where}.seeds", m["seeds"], 1, integer=True)
                if m["seeds"] > result["provenance"]["seeds"]:
                    raise fail(path, f"{where}.seeds", m["seeds"], f"at most provenance.seeds, {result['provenance']['seeds']}")
            if "per_seed_mse" in m:  # each seed's per-task MSE, seed 0 first; absent in older results
                rows = m["per_seed_mse"]
                if (not isinstance(rows, list) or len(rows) != m.get("seeds", result["provenance"]["seeds"])
                        or any(not isinstance(r, list) or len(r) != len(mse) for r in rows)):
                    raise fail(path, f"{where}.per_seed_mse", rows, f"one list of {len(mse)} tasks per seed")
                for j, r in enumerate(rows):
                    for i, a in enumerate(r):
                        number(path, f"{where}.per_seed_mse[{j}][{i}]", a, optional=True)
            if "mean_best_mse" in m:  # evaluated every sizes.eval_every iterations: each task's best and its curve
                number(path, f"{where}.mean_best_mse", m["mean_best_mse"], optional=True)
                curves = m.get("per_seed_curves")
                if not isinstance(curves, list) or any(len(c) != len(mse) for c in curves):
                    raise fail(path, f"{where}.per_seed_curves", curves, f"one list of {len(mse)} curves per seed")
                for j, (cs, best) in enumerate(zip(curves, m["per_seed_best_mse"])):
                    if any(not c or b is None or abs(min(c) - b) > 1e-12 * b for c, b in zip(cs, best)):
                        raise fail(path, f"{where}.per_seed_best_mse[{j}]", best, "each task's lowest MSE on its curve")
            seconds = mapping(path, f"{where}.seconds", m["seconds"], {"meta", "adapt"})
            for k in seconds:
                number(path, f"{where}.seconds.{k}", seconds[k])
    p = mapping(path, "provenance", result["provenance"], required=PROVENANCE_KEYS)
    if p["mode"] != result["mode"]:
        raise fail(path, "provenance.mode", p["mode"], f"{result['mode']!r}, the result's mode")
    number(path, "provenance.seeds", p["seeds"], 1, integer=True)
    number(path, "provenance.seconds", p["seconds"])
    if "cpu_seconds" in p:
        number(path, "provenance.cpu_seconds", p["cpu_seconds"])
    if "git_changed" in p and (not isinstance(p["git_changed"], list)
                               or not all(isinstance(f, str) for f in p["git_changed"])):
        raise fail(path, "provenance.git_changed", p["git_changed"], "a list of the files changed since the commit")
    if "workers" in p and (not isinstance(p["workers"], list) or not all(isinstance(w, str) for w in p["workers"])):
        raise fail(path, "provenance.workers", p["workers"], "a list of the executors of the run's stretches")
    for k in PROVENANCE_KEYS - {"seeds", "seconds"}:
        if not isinstance(p[k], str):
            raise fail(path, f"provenance.{k}", p[k], "a string")
    if "calibration" in result:
        c = mapping(path, "calibration", result["calibration"], required={"rel_l2", "solved", "passed"})
        if not isinstance(c["rel_l2"], list) or not c["rel_l2"]:
            raise fail(path, "calibration.rel_l2", c["rel_l2"], "a non-empty list")
        for i, v in enumerate(c["rel_l2"]):
            number(path, f"calibration.rel_l2[{i}]", v)
        number(path, "calibration.solved", c["solved"], 0, integer=True)
        if not isinstance(c["passed"], bool):
            raise fail(path, "calibration.passed", c["passed"], "true or false")
    if "tuning" in result:
        t = mapping(path, "tuning", result["tuning"], required={"lr", "weight"})
        for what in ("lr", "weight", "gate_lr"):
            for k, v in mapping(path, f"tuning.{what}", t.get(what, {})).items():
                number(path, f"tuning.{what}.{k}", v, 1e-12)
    return result


def committed(folder: str | os.PathLike | None = None) -> list[dict]:
    """The result files present in the results folder, in :data:`FAMILY_ORDER`; at least one."""
    folder = results_dir(folder)
    results = [load(f, folder) for f in FAMILY_ORDER if (folder / f"{f}.json").exists()]
    if not results:
        raise FileNotFoundError(f"{folder}: no result files ({', '.join(f + '.json' for f in FAMILY_ORDER)})")
    return results


def with_tuning(model: LAMPINN, tuning: dict) -> LAMPINN:
    """A copy of ``model`` that adapts with the ``"lampinn"`` setting of a run's ``tuning`` (as is, if none): its rate,
    loss weights and, where the run tuned it, its gates' rate."""
    from dataclasses import replace

    if "lampinn" not in tuning.get("lr", {}):
        return model
    gate = tuning.get("gate_lr", {}).get("lampinn", model.config.adapt_gate_lr)
    return replace(model, config=replace(model.config, adapt_lr=tuning["lr"]["lampinn"], adapt_gate_lr=gate),
                   family=model.family.scaled(tuning["weight"]["lampinn"]))


def baseline_as_run(result: dict, method: str, tasks: np.ndarray, seed: int = 0, device: str | None = None) -> np.ndarray:
    """Each task's MSE for ``method`` (scratch or transfer) trained as the run ``result`` trained it: its sizes, and
    its tuned Adam rates and loss weights (pretraining with the ``prepare_setting``'s, adapting with the ``setting``'s).

    For measuring a baseline on tasks the run did not cover, such as the meta-validation tasks (training tasks).
    The tasks train side by side, so the numbers are the run's up to rounding."""
    from .methods import LAMPINNMethod, MetaLearned, get_method, tuned_protocol
    from .pde import get_family

    m = get_method(method)
    if m.setting is None or isinstance(m, (MetaLearned, LAMPINNMethod)):
        raise ValueError(f"{method!r} has no tuned baseline setting; expected scratch_full, scratch_adapt or transfer "
                         f"(adapt a committed LAM-PINN network with load_model instead)")
    tuning, family = result["tuning"], get_family(result["family"])
    protocol = tuned_protocol(result["sizes"], tuning, seed, method, device)
    prepared = m.prepare(family.scaled(tuning["weight"][m.prepare_setting or m.setting]), protocol)
    return m.adapt(prepared, family.scaled(tuning["weight"][m.setting]), np.atleast_2d(tasks), protocol).mse


def load_model(family: str, folder: str | os.PathLike | None = None, method: str = "lampinn", seed: int = 0,
               device: str | None = None) -> LAMPINN:
    """The meta-trained LAM-PINN (or ablation) the committed benchmark of ``family`` adapted from, set to adapt
    as it did there (the run's tuned rate and loss weights, see :func:`with_tuning`)."""
    from .core import LAMPINN

    folder = results_dir(folder)
    model = LAMPINN.load(folder / f"{family}.models" / f"{method}-seed{seed}.pt", device)
    return with_tuning(model, load(family, folder).get("tuning", {}))


def meta_validation(family: str, folder: str | os.PathLike | None = None) -> dict[str, dict]:
    """The committed meta-validation of ``family`` (``results/meta_validation/FAMILY.jsonl``, written by
    ``lampinn meta-validation``), one row per candidate setting, by name (the last row of a name wins).

    Every row keeps the sizes it was measured at (``row["sizes"]``). Only the rows measured at the sizes of the
    file's last row are returned, so that one table never mixes two sizes (the committed rows are all at the
    benchmark's B = 1000 with 1000 points; the first ones ran as ``default`` mode, when it had those sizes)."""
    path = results_dir(folder) / "meta_validation" / f"{family}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with: lampinn meta-validation {family} --mode full "
                                f"--out {path} --models {path.with_suffix('.models')}")
    rows = _record_rows(path, set())
    return {row["candidate"]: row for row in rows if row["sizes"] == rows[-1]["sizes"]}


def tuned_validation(family: str, folder: str | os.PathLike | None = None) -> dict[str, dict] | None:
    """The committed tuned meta-validation of ``family`` (``results/meta_validation/FAMILY.tuned.jsonl``, written by
    ``lampinn meta-validation-tuned``), averaged over seeds per candidate (:func:`aggregate`); ``None``
    where the family has none yet."""
    path = results_dir(folder) / "meta_validation" / f"{family}.tuned.jsonl"
    if not path.exists():
        return None
    rows = _record_rows(path, {"seed", "tuned"})
    return aggregate([r for r in rows if r["sizes"] == rows[-1]["sizes"] and r["tuned"] == rows[-1]["tuned"]])


def aggregate(rows: list[dict]) -> dict[str, dict]:
    """The tuned meta-validation's rows (:func:`lampinn.health.record_tuned`) per candidate, over seeds: ``score`` the
    mean of the seeds' scores (``scores`` each; ``mse`` each seed's per-task MSEs), ``saturation`` each layer's
    largest share over seeds, ``seeds`` how many; what :func:`lampinn.health.choose` reads."""
    out: dict[str, dict] = {}
    for r in rows:
        out.setdefault(r["candidate"], []).append(r)
    agg = {}
    for name, rs in out.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        agg[name] = {"candidate": name, "seeds": len(rs), "scores": [r["score"] for r in rs],
                     "score": float(np.mean([r["score"] for r in rs])), "mse": [r["mse"] for r in rs],
                     "changes": rs[0].get("changes", {})}
        if "saturation" in rs[0]:
            agg[name]["saturation"] = [max(v) for v in zip(*(r["saturation"] for r in rs))]
            agg[name]["adapt_lr"] = [r["adapt_lr"] for r in rs]
    return agg


def _record_rows(path: Path, extra: set[str]) -> list[dict]:
    """The rows of a meta-validation record (one JSON object per line), each with a candidate, its sizes, a numeric
    score, its MSEs, its provenance and the ``extra`` keys; a one-line ``ValueError`` naming the line otherwise."""
    import json

    rows = []
    with open(path) as fh:
        for i, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}: line {i} is not JSON") from None
            mapping(f"{path}:{i}", "row", row, required={"candidate", "sizes", "score", "mse", "provenance"} | extra)
            number(f"{path}:{i}", "score", row["score"])
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def load_candidate(family: str, candidate: str, folder: str | os.PathLike | None = None,
                   device: str | None = None) -> LAMPINN:
    """The network meta-trained for meta-validation with setting ``candidate`` (on the 21 tasks it keeps)."""
    from .core import LAMPINN

    return LAMPINN.load(results_dir(folder) / "meta_validation" / f"{family}.models" / f"{candidate}.pt", device)


__all__ = ["BASELINE", "FAMILY_ORDER", "PUBLISHED", "baseline_as_run", "committed", "diversity_map", "load", "load_candidate", "load_model", "meta_validation", "results_dir", "tuned_validation", "aggregate",
           "with_tuning", "check_result"]
