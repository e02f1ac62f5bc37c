"""When does compositional meta-learning pay? The diversity map of chapter 12 (``lampinn diversity FAMILY``).

A family declares a *diversity knob* (its class attribute ``diversity``): the parameters whose design range widens,
each on its scale ("log": about the geometric centre, so Helmholtz's frequencies widen in octaves; "linear": about
the midpoint). :func:`widened` makes the box of one width: every knob range scaled by ``width`` about its centre on its
scale, the other ranges unchanged, each level kept at its place in its range (so width 1 is the committed design),
with 3 levels per parameter (the 27-task design) or the 2 outer ones (its 8 corners). The 10 unseen tasks of a box
are drawn by the committed families' rule (:func:`lampinn.pde.designs.draw_unseen`: same seed, inside the box, at
least 0.1 from every task of the 27-task design in the box's unit coordinates, the knob's log parameters on a log
scale), never by looking at a result; width 1 keeps the stored ones. Both designs of a box share its unseen tasks.

:func:`run` runs the benchmark (:func:`lampinn.benchmark.benchmark`, full sizes, unseen tasks only) at every width: the
27-task design with every method of :data:`METHODS` (tuned and calibrated on the box's training tasks as the benchmark
always is), then the 8-task design with those that use the training tasks (:data:`DESIGN_METHODS`). The two scratch
settings and the calibration use no training design, so the 8-task run takes them from the 27-task run of its box;
fine-tuning and LAM-PINN's adaptation are tuned again on the 8-task design's own networks. Both designs pretrain
transfer, and warm-start LAM-PINN, on the same task, the 27-task design's central one (the 8-task family's ``centre``):
a PINN needs no data to train on any task, so the number of training tasks changes nothing for transfer, and LAM-PINN
and the meta-learners differ between the designs by their training tasks alone.

Which meta-training? Meta-validation chose none for Burgers and Helmholtz on the committed box
(:data:`lampinn.methods.META_VALIDATED`), which would make LAM-PINN its own ``ablation_no_meta``. The map asks whether
meta-training pays on wider boxes, so its LAM-PINN meta-trains with :func:`meta_training`: the setting with the best
score on the family's tuned meta-validation record among those that meta-train (training tasks of the committed box
only, chosen as :func:`lampinn.health.choose` chooses), and ``ablation_no_meta`` (the same network without stages 1
and 2: the book's choice) shows what meta-training adds at each width. Each arm adapts as tuned on its own network:
``ablation_no_meta`` with a setting of its own, tuned on its network over the benchmark's grid exactly as the
benchmark tunes LAM-PINN (:meth:`lampinn.benchmark.Run.setting`), so at width 1 it is the committed benchmark's
LAM-PINN, which meta-validation left without meta-training.

A run is resumable as the benchmark is (its resume file and networks stay in ``OUT``). A step whose resume file is
gone (a fresh copy of the committed map) is not run again: :func:`run` reads its result, unless it asks for more seeds
than the result has or for methods to be ``redo``-ne; then the resume file is rebuilt from the result
(:func:`restore`) and the benchmark resumes, so only the new seeds and the redone methods run. At width 1 the 27-task
box is the committed one: the arms the map shares with the family's committed benchmark (the same network, tuned the
same) are taken from it (:func:`from_benchmark`), so the map cannot drift from the benchmark there; a rerun would
reproduce them only on the same kind of machine, since a PINN's training amplifies the last bits of the arithmetic.

:func:`summarise` gathers the runs into ``OUT/FAMILY.json`` (per step, per seed: each method's mean MSE and the two
ratios of :func:`lampinn.report.ratios`), ``.md`` and ``.png`` (:func:`plot`).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
from scipy.stats import gmean

from . import settings
from .files import atomic_write, dumps, read_json
from .pde import Family, get_family
from .pde.designs import draw_unseen
from .protocol import central_task
from .provenance import provenance
from .report import PAPER_BASELINES

#: The box widths of the map: equal steps on a log axis from the committed box (1) to twice its range.
WIDTHS = (1.0, round(2 ** (1 / 3), 2), round(2 ** (2 / 3), 2), 2.0)
#: The two training designs of every box: 3 levels per parameter (27 tasks) and 2 (8 tasks, the corners).
LEVELS = (3, 2)
#: The methods of the 27-task runs.
METHODS = ("scratch_full", "scratch_adapt", "transfer", "maml", "reptile", "lampinn", "ablation_no_meta")
#: The methods of the 8-task runs: all but the two scratch settings, which use no training design.
DESIGN_METHODS = METHODS[2:]


def _digits(value: float) -> float:
    """``value`` to 4 significant digits, as the stored task sets are written (:mod:`lampinn.pde.designs`)."""
    return float(f"{value:.4g}")


def _scale(kind: str):
    if kind not in ("log", "linear"):
        raise ValueError(f"diversity scale {kind!r} is not one; expected 'log' or 'linear'")
    return (np.log, np.exp) if kind == "log" else ((lambda v: v), (lambda v: v))


def widened(family: Family, width: float, levels: int = 3) -> Family:
    """``family`` with its knob's ranges ``width`` times as wide about their centres and a ``levels``-level design
    (3: 27 tasks, 2: the 8 corners), named ``NAME-wWIDTH-TASKS``; see the module docstring."""
    if not family.diversity:
        raise ValueError(f"{family.name}: the family declares no diversity knob; declare diversity = "
                         f"{{'PARAM': 'log' or 'linear', ...}} on its class")
    if not (np.isfinite(width) and width >= 1):
        raise ValueError(f"width {width!r} is invalid; expected a number >= 1 (1 is the committed box)")
    if levels not in LEVELS:
        raise ValueError(f"levels {levels!r} is not a design; expected 3 (27 tasks) or 2 (8 corners)")
    out = copy.copy(family)
    out._reference_owner = getattr(family, "_reference_owner", family)  # the same equation: the same solutions
    bounds, lv = dict(family.bounds), dict(family.levels)
    for name, kind in family.diversity.items():
        to, back = _scale(kind)
        lo, hi = (to(v) for v in family.bounds[name])
        centre, half = (lo + hi) / 2, width * (hi - lo) / 2
        new_lo, new_hi = centre - half, centre + half
        places = [(to(v) - lo) / (hi - lo) for v in family.levels[name]]
        bounds[name] = (_digits(back(new_lo)), _digits(back(new_hi)))
        lv[name] = tuple(_digits(back(new_lo + p * (new_hi - new_lo))) for p in places)
    out.bounds, out.levels = bounds, lv
    if levels == 2:  # the corners; transfer and LAM-PINN's warm start keep the 27-task design's central task
        out.centre = tuple(central_task(out).tolist())
        out.levels = {name: (v[0], v[-1]) for name, v in lv.items()}
    out.log_params = tuple(dict.fromkeys([*family.log_params, *(n for n, k in family.diversity.items() if k == "log")]))
    out.name = f"{family.name}-w{width:.2f}-{levels ** len(family.param_names)}"
    for row in out.train_tasks():
        out.validate(row)  # a box that leaves the solver's limits fails here, before anything runs
    if width != 1:
        box = out if levels == 3 else widened(family, width, 3)
        out.unseen = tuple(tuple(row) for row in draw_unseen(box).tolist())
    return out


def meta_training(family: str) -> tuple[str, dict]:
    """The map's LAM-PINN meta-training for ``family``: the name and the LAMPINNConfig changes of the candidate that
    :func:`lampinn.health.choose` picks on the family's committed tuned meta-validation record among those that
    meta-train (every tuned candidate but ``no-meta``)."""
    from .health import TUNED_CANDIDATES, choose
    from .results import tuned_validation

    rows = tuned_validation(family)
    if rows is None:
        raise FileNotFoundError(f"{family} has no tuned meta-validation record (results/meta_validation/{family}.tuned"
                                f".jsonl); make it with lampinn meta-validation-tuned (chapter 8)")
    name = choose(rows, tuple(c for c in TUNED_CANDIDATES if c != "no-meta"))
    return name, dict(TUNED_CANDIDATES[name])


def _seed_design_run(out: Path, box: dict, family: Family, mode: str) -> None:
    """Start the 8-task run of a box with what its 27-task run (``box``, its result) measured without the design: the
    calibration and the tuning of the two scratch settings."""
    partial = out / f"{family.name}.partial.json"
    if partial.exists() or (out / f"{family.name}.json").exists():
        return
    t = box["tuning"]
    keep = ("scratch_full", "scratch_adapt")
    tuning = {k: t[k] for k in ("tasks", "criterion", "weight_range")}
    tuning.update({k: {s: t[k][s] for s in keep if s in t.get(k, {})} for k in ("lr", "weight", "mse", "weight_mse", "seconds")})
    atomic_write(partial, dumps({"_mode": mode, "_family": family.name, "_tuning": tuning,
                                 "_calibration": box["calibration"]}))


def restore(result: dict, redo: tuple[str, ...] = ()) -> dict:
    """A resume file rebuilt from a finished step's ``result``, for the benchmark to resume from: its tuning, its
    calibration and its seconds, and every task of every method but those of ``redo``, each as the result keeps it
    (the MSE of each seed; the relative L2 error and the seconds as their means over the seeds, so that the result
    summarised again keeps them)."""
    prov = result["provenance"]
    done = {"_mode": result["mode"], "_family": result["family"], "_seconds": prov["seconds"],
            "_workers": list(prov.get("workers", [])), "_tuning": copy.deepcopy(result["tuning"]),
            "_calibration": result["calibration"]}
    if "cpu_seconds" in prov:
        done["_cpu_seconds"] = prov["cpu_seconds"]
    for name, m in result["methods"].items():
        if name in redo:
            continue
        seconds = m["seconds"]["adapt"] / len(m["per_task_mse"])
        for seed, row in enumerate(m["per_seed_mse"]):
            done[f"{name}/{seed}/meta_seconds"] = m["seconds"]["meta"]
            for i, (mse, rel) in enumerate(zip(row, m["per_task_rel_l2"])):
                done[f"{name}/{seed}/unseen/{i}"] = ({"mse": mse, "rel_l2": rel, "seconds": seconds} if mse is not None
                                                     else {"diverged": True, "seconds": seconds, "message": "diverged"})
    return done


#: The map's arms that are the benchmark's own at width 1 (the same network, tuned the same), and the setting each
#: adapts with there: the baselines always; the no-meta arm where meta-validation chose no meta-training, when the
#: benchmark's LAM-PINN is that network (:func:`from_benchmark`).
SHARED = {"scratch_full": "scratch_full", "scratch_adapt": "scratch_adapt", "transfer": "transfer", "maml": "maml",
          "reptile": "reptile"}
SHARED_SETTINGS = ("scratch_full", "scratch_adapt", "finetune")


def from_benchmark(done: dict, bench: dict, family: str, seeds: int) -> dict:
    """The resume file ``done`` of the width-1, 27-task step (the committed box, its tasks and unseen tasks) with what
    the family's committed benchmark ``bench`` has measured of the same arms, tuned the same, at the map's ``seeds``:
    the baselines (:data:`SHARED`), and, where meta-validation chose no meta-training
    (:data:`lampinn.methods.META_VALIDATED`), its LAM-PINN as the map's no-meta arm with its setting as ``no_meta``.
    What ``done`` already holds is kept; nothing is taken if a setting both tuned differs (another tuning, another
    network). The map then cannot drift from the benchmark at width 1, and runs only its own LAM-PINN there."""
    from .methods import META_VALIDATED

    t, b = done.setdefault("_tuning", {}), bench["tuning"]
    if any(t.get(k, {}).get(s, b[k].get(s)) != b[k].get(s) for k in ("lr", "weight") for s in SHARED_SETTINGS) or \
            t.get("tasks", b["tasks"]) != b["tasks"]:
        return done
    arms, settings_ = dict(SHARED), {s: s for s in SHARED_SETTINGS}
    chosen = META_VALIDATED.get(family, {})
    if chosen.get("stage1_iters") == 0 and chosen.get("stage2_iters") == 0 and "lampinn" in bench["methods"]:
        arms["ablation_no_meta"], settings_["no_meta"] = "lampinn", "lampinn"
    for key in ("tasks", "criterion", "weight_range"):
        t.setdefault(key, copy.deepcopy(b[key]))
    for key in ("lr", "weight", "mse", "weight_mse", "seconds", "pair", "gate_mse", "gate_lr"):
        for mine, theirs in settings_.items():
            if theirs in b.get(key, {}):
                t.setdefault(key, {}).setdefault(mine, copy.deepcopy(b[key][theirs]))
    rows = restore(bench)
    for mine, theirs in arms.items():
        for seed in range(min(seeds, bench["methods"][theirs]["seeds"])):
            for key in [k for k in rows if k.startswith(f"{theirs}/{seed}/")]:
                done.setdefault(f"{mine}/{key.split('/', 1)[1]}", rows[key])
    done.setdefault("_calibration", bench["calibration"])
    return done


def _step(out: Path, family: Family, seeds: int, redo: tuple[str, ...], mode: str,
          bench: dict | None = None) -> dict | None:
    """A finished step of ``family`` in ``out`` with nothing left to run (no resume file, enough seeds, nothing to
    redo): its result; else ``None``, with the resume file rebuilt from the result where there is one to resume, and
    from the committed benchmark ``bench`` (width 1, 27 tasks: :func:`from_benchmark`) if given."""
    path, partial = out / f"{family.name}.json", out / f"{family.name}.partial.json"
    if partial.exists() or not (path.exists() or bench):
        return None
    if path.exists():
        result = read_json(path)
        if not redo and min(m["seeds"] for m in result["methods"].values()) >= seeds:
            return result
        done = restore(result, redo)
    else:
        done = {"_mode": mode, "_family": family.name}
    if bench is not None:
        done = from_benchmark(done, bench, bench["family"], seeds)
    atomic_write(partial, dumps(done))
    return None


def _committed(family: Family, mode: str, sizes: dict) -> dict | None:
    """The family's committed benchmark, if it has one at the map's mode and sizes (but the OOD tasks)."""
    from .results import load

    try:
        bench = load(family.name)
    except (FileNotFoundError, ValueError):
        return None
    same = bench["mode"] == mode and {**bench["sizes"], "ood": 0} == sizes
    return bench if same else None


def run(family: str | Family, out: str | os.PathLike, mode: str = "full", widths: tuple[float, ...] = WIDTHS,
        seeds: int = 2, workers: int = 1, device: str | None = None, progress: bool = True,
        scheduler: str | None = None, meta: tuple[str, dict] | None = None, redo: tuple[str, ...] = (),
        designs: tuple[int, ...] = (27, 8)) -> dict:
    """Run (or resume) every step of ``family``'s map in ``out`` at the sizes of ``mode`` (the map's: ``full``), on
    the unseen tasks only, and write ``OUT/FAMILY.json``, ``.md`` and ``.png`` from every width whose steps are in
    ``out`` (the map's :data:`WIDTHS`, or ``widths`` if others). ``meta``: LAM-PINN's meta-training, a name and its
    LAMPINNConfig changes (default: :func:`meta_training`'s, which needs the family's tuned meta-validation record;
    give your own family's here). ``redo``: methods to run again at every step whose resume file is gone (see the
    module docstring); a step keeps the seeds it has beyond ``seeds``. ``designs``: the training designs to run, by
    their number of tasks (the map: both; an 8-task run needs its box's 27-task one)."""
    from .benchmark import benchmark

    fam = family if isinstance(family, Family) else get_family(family)
    out = Path(out)
    sizes = {**settings.sizes(fam.name, mode), "ood": 0}
    meta = meta or meta_training(fam.name)
    unknown = [m for m in redo if m not in METHODS]
    if unknown:
        raise ValueError(f"redo {unknown[0]!r} is not a method of the map; expected some of {', '.join(METHODS)}")
    if not designs or not set(designs) <= {27, 8}:
        raise ValueError(f"designs {designs!r} is not a choice of the map's; expected some of 27 and 8")
    boxes = [(widened(fam, width, 3), widened(fam, width, 2)) for width in widths]  # a bad width fails before any run
    bench = _committed(fam, mode, sizes) if 1.0 in widths else None
    for width, (full, corners) in zip(widths, boxes):
        if 27 not in designs:  # the box's 27-task run must be there: the 8-task one starts from it
            box = read_json(out / f"{full.name}.json")
        elif (box := _step(out, full, seeds, redo, mode, bench if width == 1 else None)) is None:
            n = max([seeds, *_seeds(out, full)])
            box = benchmark(full, mode, out, n, list(METHODS), device, progress, n, workers, scheduler, sizes, meta[1])
        _seed_design_run(out, box, corners, mode)
        if 8 in designs and _step(out, corners, seeds, redo, mode) is None:
            n = max([seeds, *_seeds(out, corners)])
            benchmark(corners, mode, out, n, list(DESIGN_METHODS), device, progress, n, workers, scheduler, sizes,
                      meta[1])
    done = tuple(w for w in WIDTHS if (out / f"{widened(fam, w, 2).name}.json").exists())
    widths = done if set(widths) <= set(done) else widths
    result = summarise(fam, out, widths, meta)
    atomic_write(out / f"{fam.name}.json", dumps(result, indent=1))
    atomic_write(out / f"{fam.name}.md", table(result))
    plot(result, out / f"{fam.name}.png")
    return result


def _seeds(out: Path, family: Family) -> list[int]:
    """The seeds of ``family``'s step in ``out`` so far (none before it starts): a resumed step keeps them all."""
    path, partial = out / f"{family.name}.json", out / f"{family.name}.partial.json"
    if partial.exists():
        return [1 + int(k.split("/")[1]) for k in read_json(partial) if not k.startswith("_")]
    return [min(m["seeds"] for m in read_json(path)["methods"].values())] if path.exists() else []


def _ratios(mse: dict[str, list[float]], scratch: list[float], lam: str) -> dict[str, list[float]]:
    """Per seed: the best of transfer, MAML and Reptile over ``lam``, and scratch at B over ``lam``."""
    best = np.min([mse[m] for m in PAPER_BASELINES], axis=0)
    return {"a": (best / np.array(mse[lam])).tolist(), "b": (np.array(scratch) / np.array(mse[lam])).tolist()}


def summarise(family: Family, out: str | os.PathLike, widths: tuple[float, ...] = WIDTHS,
              meta: tuple[str, dict] | None = None) -> dict:
    """The map from the step results in ``out``: per width and design, the box, the calibration, each method's mean
    MSE per seed on the unseen tasks (scratch from the box's 27-task run) and the ratios (a) and (b) per seed, for
    LAM-PINN and for its network without meta-training; ``meta`` as :func:`run`'s."""
    out, steps, seconds, cpu, first = Path(out), [], 0.0, 0.0, None
    for width in widths:
        box = None
        for levels in LEVELS:
            fam = widened(family, width, levels)
            result = read_json(out / f"{fam.name}.json")
            box, first = box or result, first or result
            mse = {m: [float(np.mean(s)) for s in r["per_seed_mse"]] for m, r in result["methods"].items()}
            n_seeds = min(len(v) for v in mse.values())  # the box may have a seed more than its 8-task design
            scratch = {m: [float(np.mean(s)) for s in box["methods"][m]["per_seed_mse"][:n_seeds]]
                       for m in METHODS[:2]}
            mse = {**scratch, **mse}
            steps.append({"width": width, "tasks": len(fam.train_tasks()), "name": fam.name,
                          "bounds": {n: list(fam.bounds[n]) for n in fam.diversity},
                          "levels": {n: list(fam.levels[n]) for n in fam.diversity},
                          "unseen": fam.unseen_tasks().tolist(),
                          "calibration": {k: box["calibration"][k] for k in ("solved", "passed", "rel_l2")},
                          "mse": mse, "ratios": {lam: _ratios(mse, scratch["scratch_full"], lam)
                                                 for lam in ("lampinn", "ablation_no_meta")},
                          # the setting the no-meta arm adapted with: its own, or (a run made before it had one) LAM-PINN's
                          "no_meta_setting": "no_meta" if "no_meta" in result["tuning"]["weight"] else "lampinn"})
            seconds += result["provenance"]["seconds"]
            cpu += result["provenance"].get("cpu_seconds", 0.0)
    seeds = min(len(v) for s in steps for v in s["mse"].values())
    prov = {**provenance(first["mode"], seeds, seconds, None, cpu), "device": first["provenance"]["device"]}
    name, changes = meta or meta_training(family.name)
    return {"family": family.name, "knob": dict(family.diversity), "widths": list(widths), "mode": first["mode"],
            "meta_training": {"candidate": name, "changes": changes},
            "sizes": first["sizes"], "steps": steps, "provenance": prov}


def series(result: dict, tasks: int, lam: str = "lampinn", ratio: str = "a") -> tuple[np.ndarray, list[np.ndarray]]:
    """The widths and the per-seed ratios (one array per width: a width may have more seeds than another) of one
    design (``tasks``: 27 or 8) from a map."""
    rows = [s for s in result["steps"] if s["tasks"] == tasks]
    return np.array([s["width"] for s in rows]), [np.array(s["ratios"][lam][ratio]) for s in rows]


def _untuned_text(result: dict) -> str:
    """The table's note on steps whose no-meta arm adapted with LAM-PINN's setting, not its own (none: empty)."""
    if all(s.get("no_meta_setting", "no_meta") == "no_meta" for s in result["steps"]):
        return ""
    return " †: the no-meta arm adapted with the setting tuned for LAM-PINN's network, not its own (not rerun yet)."


def _seeds_text(result: dict) -> str:
    """How many seeds the map has: ``2 seeds``, or ``2 seeds (3 at width 1.26)`` where some widths have more."""
    n = result["provenance"]["seeds"]
    more = sorted({(s["width"], len(s["mse"]["transfer"])) for s in result["steps"] if len(s["mse"]["transfer"]) > n})
    return f"{n} seeds" + (" (" + ", ".join(f"{k} at width {w:g}" for w, k in more) + ")" if more else "")


def table(result: dict) -> str:
    """A markdown table of the map: per width and design, the calibration, the methods' mean MSE and the ratios (mean
    over seeds, geometric)."""
    names = ("lampinn", "ablation_no_meta", "scratch_full", "transfer", "maml", "reptile")
    lines = ["| width | tasks | calibration | " + " | ".join(names) + " | (a) | (b) | (a) no meta | (b) no meta |",
             "|---" * (len(names) + 7) + "|"]
    for s in result["steps"]:
        gm = {k: float(gmean(s["ratios"][lam][r])) for k, lam, r in
              (("a", "lampinn", "a"), ("b", "lampinn", "b"), ("n", "ablation_no_meta", "a"), ("m", "ablation_no_meta", "b"))}
        cells = " | ".join(f"{np.mean(s['mse'][m]):.2e}" for m in names)
        mark = "" if s.get("no_meta_setting", "no_meta") == "no_meta" else " †"
        lines.append(f"| {s['width']:g} | {s['tasks']} | {s['calibration']['solved']}/10 | {cells} | {gm['a']:.3g} | "
                     f"{gm['b']:.3g} | {gm['n']:.3g}{mark} | {gm['m']:.3g}{mark} |")
    p = result["provenance"]
    lines += ["", f"Unseen mean MSE over {_seeds_text(result)}; (a) the best of transfer, MAML and Reptile over LAM-PINN, "
              f"(b) scratch at B over LAM-PINN (geometric means over seeds); calibration: training tasks of the box "
              f"that scratch at B solves (of 10).{_untuned_text(result)} Made by `{p['command']}` in {p['seconds'] / 60:.0f} min "
              f"({p.get('cpu_seconds', 0) / 60:.0f} CPU min), {p['device']}, commit {p['git_commit'][:7]}."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str | os.PathLike | None = None):
    """Ratio (a) and ratio (b) against the box width (log scale): each seed a dot, the geometric mean a line, the
    27-task and 8-task designs side by side, LAM-PINN without meta-training dashed (its seeds hollow; only where it is
    tuned on its own network), ratio 1 marked,
    and each width's calibration (training tasks scratch at B solves, of 10) along the top. Saved to ``path`` if
    given."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for ax, ratio, title in zip(axes, ("a", "b"), ("(a) best of transfer, MAML, Reptile / LAM-PINN",
                                                    "(b) scratch at B / LAM-PINN at B/10")):
        for tasks, colour in ((27, "C0"), (8, "C1")):
            for lam, style in (("lampinn", "-"), ("ablation_no_meta", "--")):
                w, r = series(result, tasks, lam, ratio)
                if lam != "lampinn":  # only where the no-meta arm is tuned on its own network
                    tuned = [s.get("no_meta_setting", "no_meta") == "no_meta" for s in result["steps"] if s["tasks"] == tasks]
                    w, r = w[tuned], [row for row, ok in zip(r, tuned) if ok]
                    if not r:
                        continue
                label = f"{tasks} tasks" + (", no meta-training" if lam != "lampinn" else "")
                ax.plot(w, [gmean(row) for row in r], style, color=colour, label=label,
                        alpha=1 if lam == "lampinn" else 0.6)
                dots = np.repeat(w, [len(row) for row in r]), np.concatenate(r)
                if lam == "lampinn":
                    ax.plot(*dots, "o", color=colour, ms=4, alpha=0.6)
                else:
                    ax.plot(*dots, "o", color=colour, ms=4, alpha=0.6, mfc="none")
        ax.axhline(1, color="k", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="box width (1: the committed box)", title=title)
        ax.set_xticks(result["widths"], [f"{w:g}" for w in result["widths"]])
        ax.minorticks_off()
        top = ax.secondary_xaxis("top")
        calib = {s["width"]: s["calibration"]["solved"] for s in result["steps"]}
        top.set_xticks(result["widths"], [f"{calib[w]}/10" for w in result["widths"]])
        top.minorticks_off()
        top.set_xlabel("calibration: tasks scratch at B solves", fontsize=8)
    axes[0].set_ylabel("ratio (above 1: LAM-PINN better)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{result['family']}: where LAM-PINN pays (unseen tasks, {_seeds_text(result)})")
    fig.tight_layout()
    if path is not None:
        atomic_write(path, lambda fh: fig.savefig(fh, dpi=110, format="png", bbox_inches="tight"))
        plt.close(fig)
    return fig


__all__ = ["DESIGN_METHODS", "LEVELS", "METHODS", "SHARED", "WIDTHS", "from_benchmark", "meta_training", "restore", "plot", "run", "series", "summarise", "table",
           "widened"]
