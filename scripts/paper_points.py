"""Would more collocation points change the paper protocol's ranking? Adapt its networks at several point counts.

The paper's protocol uses 10,000 interior points; ``lampinn benchmark elasticity --mode paper`` trains on the 500
the benchmark uses, which a 2-core CPU affords at B = 10,000. This script takes the networks that run prepared
(``FOLDER/FAMILY.models``: LAM-PINN as released, and transfer, MAML and Reptile untuned and tuned) and adapts each,
as that run did (its rates and weights, 1,000 iterations, evaluated every 10), to a few *training* tasks at each
point count of ``--n-interior``, then reports each method's mean final and best MSE per count and their ranking.
It checks the adaptation's points only: the networks were pretrained and meta-trained on the run's points.

    python scripts/paper_points.py --results results/paper --family elasticity --n-interior 500 2000 \\
        --out results/paper/elasticity.points.json
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

import lampinn
from lampinn.benchmark import TUNING_TASKS, Run
from lampinn.core import LAMPINN
from lampinn.executor import cores, executor, run_jobs
from lampinn.files import atomic_write, dumps, read_json
from lampinn.provenance import Stopwatch, provenance
from lampinn.results import check_result

#: The methods of a paper run that adapt for B/10 from a prepared network.
ADAPTED = ("lampinn_released", "transfer_untuned", "maml_untuned", "reptile_untuned", "transfer", "maml", "reptile")


def adapt_at(run: Run, name: str, tasks: np.ndarray, n_interior: int) -> dict[str, list[float]]:
    """Method ``name``'s final and best MSE on each task after adapting on ``n_interior`` interior points."""
    prepared = run.prepare(name, 0)  # loaded at the run's own sizes (a LAM-PINN checks its configuration against them)
    if isinstance(prepared.init, LAMPINN):  # LAM-PINN adapts on the points it keeps: give it the new ones
        lam = prepared.init
        config = replace(lam.config, n_interior=n_interior)
        points = lam.family.points(n_interior, config.n_boundary, seed=config.seed, device=config.device)
        prepared = replace(prepared, init=replace(lam, config=config, points=points))
    sizes = run.sizes
    run.sizes = {**sizes, "n_interior": n_interior}
    try:
        rows = [run.task(name, prepared, theta, 0) for theta in tasks]
    finally:
        run.sizes = sizes
    return {"final": [r["mse"] for r in rows], "best": [r["best_mse"] for r in rows],
            "seconds": float(sum(r["seconds"] for r in rows))}


def job(folder: str, family: str, name: str, rows: list[int], n_interior: int) -> dict[str, list[float]]:
    """One method at one point count, wherever the executor runs it: the paper run's view rebuilt from its file."""
    result = read_json(Path(folder) / f"{family}.json")
    fam = lampinn.get_family(family)
    run = Run(fam, "paper", Path(folder), sizes=result["sizes"], done={"_tuning": result["tuning"]})
    return adapt_at(run, name, fam.train_tasks()[rows], n_interior)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results/paper", help="the folder of the paper run (default results/paper)")
    ap.add_argument("--family", default="elasticity")
    ap.add_argument("--n-interior", type=int, nargs="+", default=[500, 2000], help="interior point counts to compare")
    ap.add_argument("--tasks", type=int, nargs="+", default=list(TUNING_TASKS),
                    help="rows of the training design (default: the four tuning corners)")
    ap.add_argument("--methods", nargs="+", default=list(ADAPTED), choices=ADAPTED, help="the methods to adapt")
    ap.add_argument("--workers", type=int, default=cores(), help="processes, one job each (default: every core)")
    ap.add_argument("--out", default=None, help="the JSON file to write (default FOLDER/FAMILY.points.json)")
    args = ap.parse_args(argv)
    folder = Path(args.results)
    path = folder / f"{args.family}.json"
    if not path.exists():
        print(f"{path} does not exist; make it first with: lampinn benchmark {args.family} --mode paper --out {folder}",
              file=sys.stderr)
        return 2
    result = check_result(read_json(path), path, args.family)
    if result["mode"] != "paper":
        print(f"{path} is a {result['mode']!r} run; expected one of --mode paper", file=sys.stderr)
        return 2
    tasks = lampinn.get_family(args.family).train_tasks()[args.tasks]
    names = [m for m in args.methods if m in result["methods"]]
    jobs = {(m, n): (job, str(folder), args.family, m, args.tasks, n) for m in names for n in args.n_interior}
    clock, cpu, out = Stopwatch(), 0.0, {m: {} for m in names}
    with executor(args.workers) as (pool, slots, workers):
        for (name, n), done in run_jobs(pool, slots, jobs):
            out[name][str(n)], cpu = done["value"], cpu + done["cpu_seconds"]
            print(f"{name} at {n} points: final {np.mean(done['value']['final']):.3g}, "
                  f"best {np.mean(done['value']['best']):.3g}", flush=True)
    out = {m: {str(n): out[m][str(n)] for n in args.n_interior} for m in names}
    ranking = {str(n): sorted(names, key=lambda m: np.mean(out[m][str(n)]["final"])) for n in args.n_interior}
    for n, order in ranking.items():
        print(f"ranking at {n} points (final):", " < ".join(order))
    record = {"family": args.family, "tasks": tasks.tolist(), "rows": args.tasks, "n_interior": args.n_interior,
              "n_boundary": result["sizes"]["n_boundary"], "methods": out, "ranking": ranking,
              "run": {"commit": result["provenance"]["git_commit"], "sizes": result["sizes"]},
              "provenance": {**provenance("paper", 1, clock.seconds(), None, cpu), "workers": [workers]}}
    atomic_write(Path(args.out) if args.out else folder / f"{args.family}.points.json", dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
