"""The ``lampinn`` command line.

    lampinn reference FAMILY --theta v1,v2,v3 --out FILE.npz [--force]
    lampinn benchmark FAMILY --mode {ci,default,full,paper} --out DIR [--seeds N] [--ablation-seeds N] [--methods ...] [--tuning-from RESULT.json] [--device ...] [--workers N | --scheduler ADDRESS]
    lampinn diversity FAMILY --out DIR [--mode full] [--widths W ...] [--seeds N] [--designs 27 8] [--redo METHOD ...] [--device ...] [--workers N | --scheduler ADDRESS]
    lampinn basis-curve FAMILY --out DIR [--mode full] [--seed N]
    lampinn headline [--results DIR] [--update FILE ...]
    lampinn meta-validation FAMILY --mode {ci,default,full} --out FILE.jsonl [--candidates ...] [--models DIR] [--n-interior N] [--workers N | --scheduler ADDRESS]
    lampinn meta-validation-tuned RESULT.json --out FILE.jsonl --candidates ... [--seeds N] [--device ...] [--workers N | --scheduler ADDRESS]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from .executor import WorkerDied, cores
from .files import atomic_write
from .pde import FAMILIES, get_family


def _theta(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--theta {text!r} is not a comma-separated list of numbers") from None


def _reference(args: argparse.Namespace) -> None:
    fam = get_family(args.family)
    theta = fam.validate(args.theta)
    out = os.path.abspath(args.out)
    if os.path.isdir(out):
        raise ValueError(f"--out {args.out!r} is a folder; expected a file name")
    if os.path.lexists(out) and not args.force:
        raise ValueError(f"--out {args.out!r} exists; pass --force to replace it")
    if not os.path.isdir(os.path.dirname(out)):
        raise ValueError(f"--out {args.out!r}: folder {os.path.dirname(out)!r} does not exist")
    sol = fam.reference(theta)
    if not np.all(np.isfinite(sol.values)):
        raise ValueError(f"{fam.name}: the reference solution at {theta.tolist()} is not finite; expected a task the solver handles")
    arrays = dict(points=sol.points, values=sol.values, shape=np.array(sol.shape), theta=theta,
                  param_names=np.array(fam.param_names), input_names=np.array(fam.input_names),
                  output_names=np.array(fam.output_names), family=np.array(fam.name))
    try:
        atomic_write(out, lambda fh: np.savez(fh, **arrays))
    except ValueError as err:
        raise ValueError(f"--out {args.out!r}: {str(err).split(': ', 1)[1]}") from None
    print(f"wrote {out}: {fam.name} reference at {dict(zip(fam.param_names, theta.tolist()))}, {len(sol.points)} points")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _benchmark(args: argparse.Namespace) -> None:
    from .benchmark import benchmark

    from .nn import check_device

    if args.device not in (None, "cpu", "cuda"):
        raise ValueError(f"--device {args.device!r} is not one of cpu, cuda")
    try:
        check_device(args.device)
    except ValueError as err:
        raise ValueError(f"--{err}") from None
    result = benchmark(args.family, args.mode, args.out, args.seeds, args.methods, args.device,
                       ablation_seeds=args.ablation_seeds, workers=args.workers or cores(), scheduler=args.scheduler,
                       tuning_from=args.tuning_from)
    print(f"wrote {os.path.join(args.out, args.family)}.json/.md/.png in {result['provenance']['seconds']:.0f} s")


def _diversity(args: argparse.Namespace) -> None:
    from .diversity import run

    result = run(args.family, args.out, args.mode, tuple(args.widths), args.seeds, args.workers or cores(), args.device,
                 scheduler=args.scheduler, redo=tuple(args.redo), designs=tuple(args.designs))
    print(f"wrote {os.path.join(args.out, args.family)}.json/.md/.png ({len(result['steps'])} runs, "
          f"{result['provenance']['seconds'] / 60:.0f} min)")


def _basis_curve(args: argparse.Namespace) -> None:
    from .files import dumps
    from .solve import plot_curve, size_curve

    os.makedirs(args.out, exist_ok=True)
    curve = size_curve(get_family(args.family), args.mode, args.seed)
    base = os.path.join(args.out, f"{args.family}-curve")
    atomic_write(base + ".json", dumps(curve, indent=1))
    plot_curve(curve, base + ".png")
    print(f"wrote {base}.json/.png in {curve['provenance']['seconds']:.0f} s")


def _headline(args: argparse.Namespace) -> None:
    from .report import headline, update_blocks
    from .results import results_dir

    missing = [path for path in args.update if not os.path.exists(path)]
    if missing:
        raise ValueError(f"--update {missing[0]!r} does not exist")
    try:
        folder = results_dir(args.results)
        if not args.update:
            print(headline(folder), end="")
        for path in args.update:
            print(f"{path}: {'updated' if update_blocks(path, folder) else 'already up to date'}")
    except FileNotFoundError as err:
        raise ValueError(str(err)) from None


def _meta_validation(args: argparse.Namespace) -> None:
    from .health import record
    from .nn import check_device

    check_device(args.device)
    rows = record(get_family(args.family), args.mode, args.out, args.candidates, args.device, models=args.models,
                  n_interior=args.n_interior, workers=args.workers or cores(), scheduler=args.scheduler)
    print(f"{args.out}: {len(rows)} rows for {args.family} at these sizes")


def _meta_validation_tuned(args: argparse.Namespace) -> None:
    from .health import record_tuned
    from .nn import check_device
    from .results import load

    check_device(args.device)
    path = os.path.abspath(args.result)
    result = load(os.path.basename(path).removesuffix(".json"), os.path.dirname(path))
    if "tuning" not in result or "finetune" not in result["tuning"].get("weight", {}):
        raise ValueError(f"{args.result} has no tuning of scratch and fine-tuning; expected a benchmark run's result")
    rows = record_tuned(result, args.out, args.candidates, args.seeds, args.device, workers=args.workers or cores(),
                        scheduler=args.scheduler)
    print(f"{args.out}: {len(rows)} rows for {result['family']} under this run's tuning")


def _executor_options(command: argparse.ArgumentParser) -> None:
    """Where a command's independent jobs run (:mod:`lampinn.executor`)."""
    where = command.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=None,
                       help=f"processes on this machine, one thread each (default: its cores, here {cores()})")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="a Dask scheduler (tcp://HOST:PORT) to run the jobs on instead (needs lampinn[cluster])")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (usage stays available with --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lampinn", description="Meta-learned PINNs: reference solutions and benchmarks.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ref = sub.add_parser("reference", help="write a family's reference solution on its evaluation grid to an .npz file")
    ref.add_argument("family", choices=sorted(FAMILIES))
    ref.add_argument("--theta", required=True, type=_theta, help="the task's parameters, comma-separated, e.g. 0.01,1,0.25 (write --theta=-1,2,3 when the first is negative)")
    ref.add_argument("--out", required=True, help="the .npz file to write")
    ref.add_argument("--force", action="store_true", help="replace --out if it exists")
    ref.set_defaults(run=_reference)

    from .benchmark import ABLATION_SEEDS
    from .methods import METHODS
    from .settings import MODES

    bench = sub.add_parser("benchmark", help="run every method on a family's unseen and OOD tasks (resumable)",
                           epilog="For a family of your own (a lampinn.pde.Family subclass), call the Python function "
                                  "lampinn.benchmark.benchmark(MyFamily(), mode, out), which takes any family.")
    bench.add_argument("family", choices=sorted(FAMILIES), help="a built-in family: %(choices)s")
    bench.add_argument("--mode", required=True, choices=list(MODES))
    bench.add_argument("--out", required=True, help="folder for FAMILY.json, .md, .png and the resume state")
    bench.add_argument("--seeds", type=_positive, default=1)
    bench.add_argument("--ablation-seeds", type=_positive, default=ABLATION_SEEDS,
                       help="at most this many seeds for each ablation (default: %(default)s; each meta-trains again)")
    bench.add_argument("--methods", nargs="+", choices=list(METHODS), default=None, metavar="METHOD",
                       help=f"some of: {', '.join(METHODS)} (default: all but transfer_joint, fomaml and the "
                       "paper protocol's; with --mode paper, the paper protocol's: lampinn.methods.PAPER_METHODS)")
    bench.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    bench.add_argument("--tuning-from", default=None, metavar="RESULT.json",
                       help="take the tuned rates and weights of this result (same family and mode) instead of tuning")
    _executor_options(bench)
    bench.set_defaults(run=_benchmark)

    from .diversity import WIDTHS

    div = sub.add_parser("diversity", help="the map of chapter 12: the benchmark on ever wider boxes, with 27 and 8 "
                                           "training tasks (resumable)")
    div.add_argument("family", choices=sorted(FAMILIES), help="a built-in family: %(choices)s")
    div.add_argument("--out", required=True, help="folder for each run's files and the map's FAMILY.json, .md, .png")
    div.add_argument("--mode", default="full", choices=list(MODES), help="the sizes (default: %(default)s)")
    div.add_argument("--widths", nargs="+", type=float, default=list(WIDTHS), metavar="W",
                     help="box widths, 1 the committed box (default: %(default)s)")
    div.add_argument("--seeds", type=_positive, default=2)
    div.add_argument("--designs", nargs="+", type=int, choices=[27, 8], default=[27, 8], metavar="TASKS",
                     help="the training designs to run, by their number of tasks (default: both)")
    div.add_argument("--redo", nargs="+", default=[], choices=list(METHODS), metavar="METHOD",
                     help="methods to run again at each step whose resume file is gone (the rest is read from its "
                          "result)")
    div.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    _executor_options(div)
    div.set_defaults(run=_diversity)

    curve = sub.add_parser("basis-curve", help="chapter 13's curves: error against the number of basis functions, "
                                                "random and learned bases, on the unseen tasks")
    curve.add_argument("family", choices=sorted(FAMILIES))
    curve.add_argument("--out", required=True, help="folder for FAMILY-curve.json and .png")
    curve.add_argument("--mode", default="full", choices=list(MODES), help="the sizes (default: %(default)s)")
    curve.add_argument("--seed", type=int, default=0, help="the random features' seed (default: %(default)s)")
    curve.set_defaults(run=_basis_curve)

    from .health import CANDIDATES

    val = sub.add_parser("meta-validation", help="score LAM-PINN's meta-training settings on held-out training tasks "
                                                  "(never the unseen or OOD ones); appends to a .jsonl file, resumable")
    val.add_argument("family", choices=sorted(FAMILIES))
    val.add_argument("--mode", required=True, choices=list(MODES))
    val.add_argument("--out", required=True, help="the .jsonl file to append to (rows already there are not rerun)")
    val.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=None, metavar="NAME",
                     help=f"some of: {', '.join(CANDIDATES)} (default: all)")
    val.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    val.add_argument("--models", default=None, help="a folder to save each candidate's meta-trained network in")
    val.add_argument("--n-interior", type=_positive, default=None, metavar="N",
                     help="collocation points, instead of the mode's (the committed record keeps 1000 for every family)")
    _executor_options(val)
    val.set_defaults(run=_meta_validation)

    from .health import TUNED_CANDIDATES

    tv = sub.add_parser("meta-validation-tuned", help="meta-validation as a benchmark run would run LAM-PINN: transfer's "
                                                       "start, its tuned baseline, the rate it would tune; per seed")
    tv.add_argument("result", help="a benchmark run's FAMILY.json (its tuning of scratch and fine-tuning is used)")
    tv.add_argument("--out", required=True, help="the .jsonl file to append to (rows already there are not rerun)")
    tv.add_argument("--candidates", nargs="+", choices=list(TUNED_CANDIDATES), required=True, metavar="NAME",
                    help=f"some of: {', '.join(TUNED_CANDIDATES)}")
    tv.add_argument("--seeds", type=_positive, default=3)
    tv.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    _executor_options(tv)
    tv.set_defaults(run=_meta_validation_tuned)

    head = sub.add_parser("headline", help="print the headline table of the committed results, or regenerate the "
                                            "generated blocks (headline, provenance) of some Markdown files")
    head.add_argument("--results", default=None, help="the results folder (default: results/ here or above)")
    head.add_argument("--update", nargs="+", default=[], metavar="FILE", help="files whose <!-- NAME:start --> blocks to regenerate")
    head.set_defaults(run=_headline)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lampinn`` command; returns 2 with a one-line error on bad input."""
    p = parser()
    args = p.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError, WorkerDied) as err:  # every expected failure: bad input, bad files, a device, the
        # disk, a worker process killed
        p.exit(2, f"lampinn {args.command}: error: {one_line(err)}\n")
    return 0


def one_line(err: BaseException) -> str:
    """The error as one line; an ``OSError`` as its reason and the file it concerns."""
    if isinstance(err, OSError) and err.strerror:
        files = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
        text = f"{err.strerror}: {files}" if files else err.strerror
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
