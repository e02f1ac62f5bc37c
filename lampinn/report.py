"""Tables and figures of benchmark results, and the generated blocks of the README and the book.

Everything here reads result dictionaries (:mod:`lampinn.results` loads them); nothing trains.
Chapters 9-11 call :func:`tuning_table`, :func:`markdown_table`, :func:`walk` and
:func:`plot_bars`; ``lampinn headline --update FILE`` calls :func:`update_blocks`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import atomic_write, read_json
from .results import BASELINE, FAMILY_ORDER, committed, results_dir
from .provenance import shown_command


def _mse(m: dict, seeds: int = 1, fmt: str = ".3e") -> str:
    """A method's mean MSE, with its standard deviation over seeds when it ran several (``m["seeds"]``, else the
    run's ``seeds``) and they differ, or how many of its tasks diverged (then it has none)."""
    if m["mean_mse"] is None:
        return f"diverged on {m.get('diverged', '?')} tasks"
    # a deterministic method (zero) has seeds that agree up to the rounding of their mean: no spread to show
    several = m.get("seeds", seeds) > 1 and (m.get("std_over_seeds") or 0.0) > 1e-9 * m["mean_mse"]
    return f"{m['mean_mse']:{fmt}}" + (f" ± {m['std_over_seeds']:.1g}" if several else "")

#: The baselines LAM-PINN is compared with, in table order.
BASELINES = ("scratch_full", "scratch_adapt", "transfer", "maml", "reptile")
#: The benchmark chapters' main comparison: the baselines, LAM-PINN, and predicting zero (the level of a method
#: that has learned nothing).
MAIN_METHODS = (*BASELINES, "lampinn", "zero")
#: The fine-tuned baselines of the paper's headline ratio (each adapts for B/10, like LAM-PINN).
PAPER_BASELINES = ("transfer", "maml", "reptile")
#: The tuned settings and how the tables name them.
SETTING_LABELS = {"scratch_full": "scratch at B", "scratch_adapt": "scratch at B/10", "finetune": "fine-tuning at B/10",
                  "lampinn": "LAM-PINN at B/10"}


def markdown_table(result: dict) -> str:
    """The result as a Markdown table: mean MSE per method, unseen and OOD, with the ratio to LAM-PINN (as released,
    in a run of the paper's protocol); where the run evaluated every few iterations, also the mean of each task's best
    iteration's MSE (chosen against the reference: for comparing with the paper only)."""
    methods = result["methods"]
    lam = next((methods[n]["mean_mse"] for n in ("lampinn", "lampinn_released") if n in methods), None)
    best = all("mean_best_mse" in m for m in methods.values())
    p = result["provenance"]
    lines = ["| method | unseen mean MSE" + (" | best iteration's (oracle)" if best else "")
             + " | ratio to LAM-PINN | OOD mean MSE | meta s | adapt s |", "|---" * (6 + best) + "|"]
    for name, m in methods.items():
        ratio = f"{m['mean_mse'] / lam:.2f}" if lam and m["mean_mse"] is not None else "-"
        fewer = f" ({m['seeds']} seed{'s' if m['seeds'] > 1 else ''})" if m.get("seeds", p["seeds"]) < p["seeds"] else ""
        oracle = (" | -" if m["mean_best_mse"] is None else f" | {m['mean_best_mse']:.3e}") if best else ""
        ood = _mse(result["ood"][name], p["seeds"]) if name in result["ood"] else "not run"
        lines.append(f"| {name}{fewer} | {_mse(m, p['seeds'])}{oracle} | {ratio} | {ood} | "
                     f"{m['seconds']['meta']:.0f} | {m['seconds']['adapt']:.0f} |")
    lines.append(f"\n{result['family']}, mode {result['mode']}, B = {result['budget']['full']}, seeds {p['seeds']}, "
                 f"{p['device']}, torch {p['torch']}, lampinn {p['version']} ({p['git_commit'][:10]}), {p['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def meta_validation_table(rows: dict[str, dict[str, dict]], candidates: tuple[str, ...], labels: dict[str, str]) -> str:
    """Meta-validation scores as a Markdown table: one row per setting (fine-tuning first), one column per family
    (``rows[family][candidate]``), each cell the mean MSE on the held-out training tasks and the meta network's
    largest saturation share; a setting a family lacks shows "not run"."""
    families = [f for f in FAMILY_ORDER if f in rows]
    lines = ["| setting | " + " | ".join(families) + " |", "|---" * (len(families) + 1) + "|"]
    for name in (BASELINE, *candidates):
        cells = []
        for f in families:
            r = rows[f].get(name)
            if r is None:
                cells.append("not run")
            else:
                sat = f" (sat. {max(r['saturation']):.2f})" if "saturation" in r else ""
                cells.append(f"{r['score']:.2e}{sat}")
        lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def tuned_validation_table(agg: dict[str, dict]) -> str:
    """One family's tuned meta-validation (:func:`lampinn.results.tuned_validation`) as a Markdown table: per candidate
    (fine-tuning first), each seed's score, their mean, the largest saturated share and the adaptation rates chosen."""
    lines = ["| setting | per seed | mean | largest saturated share | adaptation rate per seed |", "|---|---|--:|--:|---|"]
    for name in (BASELINE, *sorted((c for c in agg if c != BASELINE), key=lambda c: agg[c]["score"])):
        r = agg[name]
        sat = f"{max(r['saturation']):.2f}" if "saturation" in r else "–"
        rates = ", ".join(_short(v) for v in r["adapt_lr"]) if "adapt_lr" in r else "as tuned"
        lines.append(f"| {name} | {', '.join(f'{v:.2g}' for v in r['scores'])} | {r['score']:.2e} | {sat} | {rates} |")
    return "\n".join(lines) + "\n"


def _changed(p: dict) -> str:
    """The files a run's checkout had changed since its commit, as the provenance lines show them (none: nothing)."""
    return f" with uncommitted changes to {', '.join(p['git_changed'])}" if p.get("git_changed") else ""


def provenance_lines(result: dict) -> str:
    """How a result was made, in five lines: command, commit, machine, budget, points."""
    p = result["provenance"]
    return "\n".join([
        f"command : {shown_command(p['command'])}",
        f"commit  : {p['git_commit'][:10]}{_changed(p)}   lampinn {p['version']}   torch {p['torch']}",
        f"machine : {p['device']}; {p['date']}; {p['seconds'] / 60:.1f} min in all",
        f"budget  : B = {result['budget']['full']} Adam iterations from scratch, B/10 = {result['budget']['adapt']} per adaptation",
        f"points  : {result['sizes']['n_interior']} interior, {result['sizes']['n_boundary']} boundary"])


def _short(x: float) -> str:
    """A tried value in a header, short: 0.0003 as 3e-4, 0.01 as 1e-2, 0.1 as 0.1, 10.0 as 10."""
    text = f"{x:g}"
    if "e" in text or (0 < abs(x) < 0.1):
        mantissa, exponent = f"{x:.0e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


#: How the tuning table names the pair LAM-PINN adapts with.
_PAIRS = {"finetune": "fine-tuning's pair", "sweep": "its own sweeps' pair"}


def tuning_table(result: dict) -> str:
    """The run's tuning as a narrow Markdown table: each setting's mean MSE (2 significant digits) per Adam rate,
    then per factor on the loss weights at its chosen rate; the chosen value of each sweep in bold. The columns are
    every value any setting tried (the weight sweep widens per setting); a dash where a setting did not try one."""
    tuning = result["tuning"]
    sweeps = (("mse", "lr", "Adam rate "), ("weight_mse", "weight", "weights ×"))
    columns = {key: sorted({float(v) for tried in tuning[key].values() for v in tried}) for key, _, _ in sweeps}
    head = [f"{prefix if i == 0 else ''}{_short(v)}" for key, _, prefix in sweeps for i, v in enumerate(columns[key])]
    rows = ["| setting | " + " | ".join(head) + " |", "|---" + "|--:" * len(head) + "|"]
    for what, label in SETTING_LABELS.items():
        cells = []
        for key, choice, _ in sweeps:  # LAM-PINN's sweeps chose a pair that fine-tuning's may then replace
            chosen = tuning.get("pair", {}).get(what, {}).get("sweep", {choice: tuning[choice][what]})[choice]
            tried = {float(v): m for v, m in tuning[key][what].items()}
            if chosen not in tried:
                raise ValueError(f"the tuning of {what} chose {choice} {chosen:g}, which it did not try "
                                 f"({', '.join(tuning[key][what])})")
            cells += ["–" if v not in tried else f"**{tried[v]:.2g}**" if v == chosen else f"{tried[v]:.2g}"
                      for v in columns[key]]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    text = ("Mean MSE on the four tuning (training) tasks, per Adam rate, then per factor on the loss weights "
            "at the chosen rate; **bold**: the value chosen.\n\n" + "\n".join(rows) + "\n")
    pair = tuning.get("pair", {}).get("lampinn")
    if pair is not None and "gate_lr" in tuning:
        sweep, ft, gates = pair["sweep"], pair["finetune"], tuning["gate_mse"]["lampinn"]
        text += (f"\nLAM-PINN's sweeps chose rate {_short(sweep['lr'])} and weights ×{_short(sweep['weight'])} "
                 f"(MSE {sweep['mse']:.2g})"
                 + (f"; fine-tuning's choice, rate {_short(ft['lr'])} and weights ×{_short(ft['weight'])}, "
                    f"scored {ft['mse']:.2g} with LAM-PINN" if ft else "")
                 + f": it adapts with {_PAIRS[pair['chosen']]}. "
                 + "At that pair, per gates' rate: "
                 + ", ".join(f"{_short(float(g))}: {'diverged' if m is None else f'{m:.2g}'}" for g, m in gates.items())
                 + f"; chosen {_short(tuning['gate_lr']['lampinn'])}.\n")
    return text


#: The rows of the walk from the paper's protocol to the benchmark's (:func:`walk`), each one change from the row above.
WALK_ROWS = (
    "the paper's protocol: best iteration of 1,000, untuned baselines, LAM-PINN as published",
    "the final iteration, not the best",
    "baselines tuned on training tasks",
    "100 adaptation iterations (read at iteration 100)",
    "B = 1,000 for pretraining and meta-training too (the benchmark's sizes)",
    "LAM-PINN as run here, not as published (several changes at once, named in chapter 11)",
    "three seeds (the benchmark's result)",
)


def _seed0(m: dict, at: int | None = None, every: int = 1, best: bool = False) -> float:
    """A method's mean over tasks at seed 0: of the final MSE, the best iteration's (``best``), or the MSE at
    iteration ``at`` (read off its curve, evaluated every ``every`` iterations)."""
    if best:
        return float(np.mean(m["per_seed_best_mse"][0]))
    if at is not None:
        return float(np.mean([curve[at // every] for curve in m["per_seed_curves"][0]]))
    return float(np.mean(m["per_seed_mse"][0]))


def walk(paper: dict, released: dict, ours: dict) -> list[dict]:
    """The walk from the paper's protocol to the benchmark's, one change per row (:data:`WALK_ROWS`): at each, LAM-PINN's
    mean MSE over the unseen tasks, the best of transfer, MAML and Reptile (its name and mean MSE) and ratio (a), the
    second over the first. ``paper`` is a ``--mode paper`` result, ``released`` a full-mode run of ``lampinn_released``
    and ``ours`` the committed benchmark result, all of one family; every row but the last reads seed 0. Each row's
    baselines come from the same run as its LAM-PINN: the fifth row's from ``released`` where that run holds them
    (``--methods lampinn_released transfer maml reptile``), else from ``ours`` at seed 0."""
    every = paper["sizes"]["eval_every"]
    at = paper["budget"]["adapt"] // 10  # the benchmark's adaptation budget is a tenth of the paper's
    pm, rm, om = paper["methods"], released["methods"], ours["methods"]
    untuned = {b: pm[f"{b}_untuned"] for b in PAPER_BASELINES}
    tuned = {b: pm[b] for b in PAPER_BASELINES}
    ours_base = {b: om[b] for b in PAPER_BASELINES}
    released_base = {b: rm[b] for b in PAPER_BASELINES} if all(b in rm for b in PAPER_BASELINES) else ours_base
    cells = [
        (pm["lampinn_released"], untuned, dict(best=True)),
        (pm["lampinn_released"], untuned, {}),
        (pm["lampinn_released"], tuned, {}),
        (pm["lampinn_released"], tuned, dict(at=at, every=every)),
        (rm["lampinn_released"], released_base, {}),
        (om["lampinn"], ours_base, {}),
    ]
    rows = []
    for change, (lam, bases, how) in zip(WALK_ROWS, cells):
        scores = {b: _seed0(m, **how) for b, m in bases.items()}
        best = min(scores, key=scores.get)
        lam_mse = _seed0(lam, **how)
        rows.append({"change": change, "lampinn": lam_mse, "baseline": best, "baseline_mse": scores[best],
                     "ratio": scores[best] / lam_mse})
    scores = {b: om[b]["mean_mse"] for b in PAPER_BASELINES}
    best = min(scores, key=scores.get)
    rows.append({"change": WALK_ROWS[-1], "lampinn": om["lampinn"]["mean_mse"], "baseline": best,
                 "baseline_mse": scores[best], "ratio": scores[best] / om["lampinn"]["mean_mse"]})
    return rows


def walk_table(rows: list[dict]) -> str:
    """:func:`walk`'s rows as a Markdown table."""
    lines = ["| | change from the row above | LAM-PINN | best baseline | ratio (a) |", "|--:|---|--:|---|--:|"]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['change']} | {r['lampinn']:.3g} | {r['baseline']} {r['baseline_mse']:.3g} | "
                     f"{r['ratio']:.3g} |")
    return "\n".join(lines) + "\n"


def wins(result: dict, against: tuple[str, ...] = BASELINES, method: str = "lampinn") -> dict[str, int]:
    """On how many unseen tasks ``method`` has a lower MSE than each of ``against``."""
    per_task = {m: np.array(result["methods"][m]["per_task_mse"], dtype=float) for m in (*against, method)}  # NaN: diverged
    return {m: int(np.sum(per_task[method] < per_task[m])) for m in against}


def plot_bars(ax, result: dict, methods: list[str] | None = None, split: str = "methods") -> None:
    """Per-task MSE bars of ``methods`` (default: all) on the unseen tasks (``split="ood"``: the OOD tasks)."""
    rows = {k: v for k, v in result[split].items() if methods is None or k in methods}
    width = 0.85 / len(rows)
    for i, (name, m) in enumerate(rows.items()):
        ax.bar(np.arange(len(m["per_task_mse"])) + i * width, np.array(m["per_task_mse"], dtype=float), width,
               label=name if not m.get("diverged") else f"{name} ({m['diverged']} diverged)")
    ax.set_xticks(np.arange(len(m["per_task_mse"])) + 0.425 - width / 2, range(len(m["per_task_mse"])))
    which = "unseen" if split == "methods" else "OOD"
    measured = any(v for m in rows.values() for v in m["per_task_mse"])  # every task diverged: no log axis
    ax.set(yscale="log" if measured else "linear", xlabel=f"{which} task", ylabel="MSE on the evaluation grid",
           title=f"{result['family']} ({result['mode']} mode, B = {result['budget']['full']})")
    ax.legend(fontsize=9, ncol=min(len(rows), 6), loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)


def plot(result: dict, path: str | os.PathLike) -> None:
    """Write the per-task bars of every method on the unseen tasks to the PNG file ``path`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(13, 5.5))
    plot_bars(ax, result)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, dpi=110, format="png", bbox_inches="tight"))
    plt.close(fig)


def ratios(result: dict) -> dict[str, float]:
    """The two headline ratios of one family's result (unseen tasks, mean MSE):

    ``paper``: the best of transfer, MAML and Reptile at B/10 divided by LAM-PINN at B/10 (what the paper's
    "19.7x" compares); ``cost``: scratch at B divided by LAM-PINN at B/10 (LAM-PINN at a tenth of the iterations).
    """
    mse = {m: result["methods"][m]["mean_mse"] for m in ("lampinn", "scratch_full", *PAPER_BASELINES)}
    return {"paper": min(mse[m] for m in PAPER_BASELINES) / mse["lampinn"], "cost": mse["scratch_full"] / mse["lampinn"]}


def headline(folder: str | os.PathLike | None = None) -> str:
    """The headline table, generated from the committed results: unseen mean MSE per family and method (with its
    spread over seeds), predicting zero for scale, and the two ratios of :func:`ratios` with their geometric means.

    Every result must be of the same mode and budget, and have a mean MSE for each column (a ``ValueError``
    naming the file otherwise); a family without a result file is named under the table, never dropped silently.
    """
    results = committed(folder)
    cols = ("lampinn", "scratch_full", "scratch_adapt", "transfer", "maml", "reptile", "zero")
    first = results[0]
    for r in results:
        where = f"{r['family']}.json"
        if (r["mode"], r["budget"]["full"]) != (first["mode"], first["budget"]["full"]):
            raise ValueError(f"{where} is a {r['mode']} run with B = {r['budget']['full']}, {first['family']}.json a "
                             f"{first['mode']} run with B = {first['budget']['full']}; the headline needs one mode and budget")
        for c in cols:
            if c not in r["methods"]:
                raise ValueError(f"{where} has no {c} result; the headline needs {', '.join(cols)}")
            if r["methods"][c]["mean_mse"] is None:
                raise ValueError(f"{where}: {c} diverged on {r['methods'][c].get('diverged')} unseen tasks; "
                                 f"the headline needs a mean MSE for every method")
    # short headers, so the table fits a book page at 1280 px; the sentences under it say what each column is
    lines = ["| family | LAM-PINN | scratch B | scratch B/10 | transfer | MAML | Reptile | zero | (a) | (b) |",
             "|---" * 10 + "|"]
    both = []
    for r in results:
        both.append(ratios(r))
        seeds = r["provenance"]["seeds"]
        lines.append(f"| {r['family']} | " + " | ".join(_mse(r["methods"][c], seeds, ".3g") for c in cols)
                     + f" | {both[-1]['paper']:.3g} | {both[-1]['cost']:.3g} |")
    gmean = {k: float(np.exp(np.mean([np.log(b[k]) for b in both]))) for k in ("paper", "cost")}
    seeds = sorted({r["provenance"]["seeds"] for r in results})
    lines.append(
        f"\n(a) The paper's ratio: the best of transfer, MAML and Reptile, each fine-tuned for B/10, divided by LAM-PINN "
        f"adapted for B/10; geometric mean over the families {gmean['paper']:.3g} (the paper's 19.7 is measured under "
        f"another protocol: chapter 11 walks from it to this one). "
        f"(b) The cost claim: scratch training for the full B divided by LAM-PINN at B/10; geometric mean "
        f"{gmean['cost']:.3g}. Mean MSE over the 10 unseen tasks, B = {first['budget']['full']} ({first['mode']} mode), "
        f"{' or '.join(map(str, seeds))} seed{'s' if seeds != [1] else ''}"
        f"{' (± one standard deviation over seeds)' if max(seeds) > 1 else ''}; zero: "
        f"predicting u = 0 everywhere, the level of a method that has learned nothing. Generated from `results/` by "
        f"`lampinn headline`."
        + "".join(f" No {f} result: it is left out." for f in FAMILY_ORDER if f not in {r["family"] for r in results}))
    return "\n".join(lines) + "\n"


def provenance_table(folder: str | os.PathLike | None = None) -> str:
    """Where each committed result came from: command, commit, machine, date and wall-clock time."""
    lines = ["| family | command | commit | device | torch | date | minutes |", "|---" * 7 + "|"]
    for r in committed(folder):
        p = r["provenance"]
        lines.append(f"| {r['family']} | `{shown_command(p['command'])}` | {p['git_commit'][:10]} | {p['device']} | {p['torch']} | "
                     f"{p['date'][:16].replace('T', ' ')} UTC | {p['seconds'] / 60:.1f} |")
    return "\n".join(lines) + "\n"


def step_table(folder: str | os.PathLike | None = None) -> str:
    """The PINN step's cost by both derivative paths, from ``results/step_benchmark.json``
    (``python scripts/step_benchmark.py``): milliseconds per call at one thread, and each path's ratio to a plain
    forward + backward pass over the same points."""
    path = results_dir(folder) / "step_benchmark.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with: python scripts/step_benchmark.py --out {path}")
    step = read_json(path)
    lines = ["| family | network | forward | forward + backward | PINN loss + backward, carried forward | "
             "by nested autograd | speed-up | ratio, carried forward | ratio, autograd |", "|---" * 9 + "|"]
    for r in step["rows"]:
        lines.append(f"| {r['family']} | {r['network']} | {r['forward_ms']:.2f} ms | {r['forward_backward_ms']:.2f} ms | "
                     f"{r['loss_backward_ms']:.2f} ms | {r['loss_backward_autograd_ms']:.2f} ms | {r['speedup']:.2f} | "
                     f"{r['ratio']:.1f} | {r['ratio_autograd']:.1f} |")
    p = step["provenance"]
    lines += ["", f"Measured by `{shown_command(p['command'])}` at commit {p['git_commit'][:10]}, {p['device']}, torch {p['torch']}, "
                  f"{p['date'][:16].replace('T', ' ')} UTC; {step['sizes']['n_interior']} interior points and "
                  f"{step['sizes']['n_boundary']} per boundary part, the fastest of {step['sizes']['repeats']} rounds of "
                  f"{step['sizes']['calls']} calls."]
    return "\n".join(lines) + "\n"


#: Where the runs of one family at several worker counts are kept (``results/executor/workers-N/FAMILY.json``).
EXECUTOR_RUNS = "executor"


def executor_table(folder: str | os.PathLike | None = None) -> str:
    """The same benchmark run with one worker and with more (``results/executor/workers-N/``): each run's wall-clock
    and CPU minutes, its wall clock as a fraction of one worker's, and whether every number it measured is the
    one-worker run's, bit for bit."""
    root = results_dir(folder) / EXECUTOR_RUNS
    runs = sorted(root.glob("workers-*/*.json"), key=lambda p: (p.stem, int(p.parent.name.split("-")[1])))
    if not runs:
        raise FileNotFoundError(f"{root} holds no runs; make one with: lampinn benchmark FAMILY --mode full "
                                f"--out {root}/workers-N --workers N")
    lines = ["| family | workers | wall-clock minutes | CPU minutes (every job's) | of one worker's wall clock | "
             "same numbers as one worker | commit |", "|---" * 7 + "|"]
    one: dict[str, dict] = {}
    for path in runs:
        r = read_json(path)
        p, n = r["provenance"], int(path.parent.name.split("-")[1])
        if n == 1:  # sorted: a family's one-worker run comes first
            one[r["family"]] = r
        base = one.get(r["family"])
        share = f"{p['seconds'] / base['provenance']['seconds']:.0%}" if base else "–"
        same = "–" if base is None or base is r else ("yes" if measured(r) == measured(base) else "no")
        lines.append(f"| {r['family']} | {n} ({', '.join(p.get('workers', []))}) | {p['seconds'] / 60:.1f} | "
                     f"{p['cpu_seconds'] / 60:.1f} | {share} | {same} | {p['git_commit'][:10]} |")
    return "\n".join(lines) + "\n"


def measured(result: dict) -> dict:
    """Every number a benchmark run measured (errors, tuning, calibration), without its seconds."""
    t = result.get("tuning", {})
    return {"tasks": {(split, m): (r["per_seed_mse"], r["per_task_rel_l2"]) for split in ("methods", "ood")
                      for m, r in result[split].items()},
            "tuning": {k: t.get(k) for k in ("lr", "weight", "mse", "weight_mse", "pair", "gate_lr", "gate_mse")},
            "calibration": result.get("calibration", {}).get("rel_l2")}


#: The closed-form methods of chapter 13, in table order, and the methods that adapt by B/10 Adam steps they face.
SOLVE_METHODS = ("solve_random", "solve_learned", "solve_transfer", "solve_lampinn")
ADAM_METHODS = ("transfer", "lampinn", "maml", "reptile", "scratch_adapt")


def solve_table(folder: str | os.PathLike | None = None) -> str:
    """Chapter 13's rows for the README: per family, the best method that adapts by B/10 Adam steps (from
    ``FAMILY.json``) beside each closed-form method (from ``solve/FAMILY.json``): mean MSE over the 10 unseen tasks
    and the cost per task (wall-clock seconds of an adaptation; CPU seconds of a solve), and the offline cost."""
    folder = results_dir(folder)
    lines = ["| family | method | mean MSE | per task (s) | offline (s) |", "|---" * 5 + "|"]
    missing = []
    for r in committed(folder):
        path = Path(folder) / "solve" / f"{r['family']}.json"
        if not path.exists():
            missing.append(r["family"])
            continue
        solved, seeds = read_json(path), r["provenance"]["seeds"]
        best = min((m for m in ADAM_METHODS if r["methods"][m]["mean_mse"] is not None),
                   key=lambda m: r["methods"][m]["mean_mse"])
        n = len(r["methods"][best]["per_task_mse"])
        lines.append(f"| {r['family']} | {best} (best of B/10 Adam) | {_mse(r['methods'][best], seeds, '.2g')} | "
                     f"{r['methods'][best]['seconds']['adapt'] / n:.2g} wall | {r['methods'][best]['seconds']['meta']:.0f} |")
        for m in SOLVE_METHODS:
            if m in solved["methods"]:
                row = solved["methods"][m]
                cpu = row.get("solve", {}).get("cpu_seconds_per_task")
                one = " (1 seed)" if row.get("seeds", solved["provenance"]["seeds"]) == 1 else ""
                lines.append(f"| | {m}{one} | {_mse(row, solved['provenance']['seeds'], '.2g')} | "
                             f"{'-' if cpu is None else f'{cpu:.2g} CPU'} | {row['seconds']['meta']:.0f} |")
        anchor = Path(folder) / "anchor" / f"{r['family']}.json"
        if anchor.exists():  # what a user would pick instead: an outside package (lampinn.anchor)
            row = read_json(anchor)["methods"]["fastlsq"]
            lines.append(f"| | fastlsq (outside package) | {_mse(row, row.get('seeds', 1), '.2g')} | "
                         f"{row['seconds']['adapt'] / len(row['per_task_mse']):.2g} wall | {row['seconds']['meta']:.0f} |")
    lines.append("\nMean MSE over the 10 unseen tasks (± one standard deviation over seeds); per task: the wall-clock "
                 "seconds of one B/10 adaptation, or the CPU seconds of one solve job; offline: the seconds to make what a "
                 "method adapts from (pretraining, meta-training, a basis). fastlsq: the outside package a user might pick "
                 "instead (`lampinn[anchor]`, its default 1,500 features), wall-clock seconds of a solve. Generated from "
                 "`results/`, `results/solve/` and `results/anchor/` by `lampinn headline`." + "".join(f" No closed-form result for {f} yet." for f in missing))
    return "\n".join(lines) + "\n"


#: The generated blocks of :func:`update_blocks`, by name.
BLOCKS = {"headline": headline, "solve": solve_table, "provenance": provenance_table, "step": step_table, "executor": executor_table}


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


__all__ = ["ADAM_METHODS", "BASELINES", "BLOCKS", "SOLVE_METHODS", "solve_table", "EXECUTOR_RUNS", "MAIN_METHODS", "PAPER_BASELINES", "ratios", "SETTING_LABELS", "headline", "markdown_table", "meta_validation_table", "walk", "walk_table", "WALK_ROWS", "plot",
           "plot_bars", "provenance_lines", "provenance_table", "executor_table", "measured", "step_table", "tuning_table", "tuned_validation_table", "update_blocks", "wins"]
